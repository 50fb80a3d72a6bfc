/**
 * The manifest's input hashes are computed one file at a time behind the scoring; a run that fails stops them, so
 * a failed or interrupted `tessera score` exits without first reading every remaining input to the end.
 * (Its own file: it counts node:fs's createReadStream calls, patched for this process only.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { scoreFiles } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { tmpDir } from "./helpers.ts";

const dir = tmpDir();
const createReadStream = fs.createReadStream;
const opened: string[] = [];
let session: InferenceSession;

before(async () => {
  session = await openSession(mlpClassifier({ inputDim: 2, hidden: [4], classes: 2, seed: 3 }).bytes, {
    replicas: 1,
    intraOpThreads: 1,
  });
  // score.ts reads node:fs through its ES module namespace: syncBuiltinESMExports carries the patch there
  fs.createReadStream = ((file: fs.PathLike, o?: Parameters<typeof createReadStream>[1]) => {
    opened.push(String(file));
    return createReadStream(file, o);
  }) as typeof createReadStream;
  syncBuiltinESMExports();
});
after(async () => {
  fs.createReadStream = createReadStream;
  syncBuiltinESMExports();
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a run that fails stops hashing the inputs it has not reached", async () => {
  const bad = path.join(dir, "bad.csv");
  fs.writeFileSync(bad, "id,a,b\n1,x,2\n");
  // large (sparse: no disk) inputs after it, which take a while to hash
  const big = Array.from({ length: 6 }, (_, k) => path.join(dir, `big${k}.csv`));
  for (const f of big) {
    fs.writeFileSync(f, "id,a,b\n1,1,2\n");
    fs.truncateSync(f, 256 << 20);
  }
  await assert.rejects(
    scoreFiles({
      session,
      model: { name: "mlp", version: "1", sha256: "x" },
      inputs: [bad, ...big],
      output: path.join(dir, "out.jsonl"),
      columns: ["a", "b"],
      keyColumns: ["id"],
      progress: false,
    }),
    { code: "E_PIPELINE_BAD_ROW" },
  );
  const hashedAtFailure = opened.filter((f) => big.includes(f)).length;
  assert.ok(hashedAtFailure < big.length, `${hashedAtFailure} of ${big.length} hashed before the failure`);
  // hashing every input would go on here (1.5 GB of zeros); none more is opened once the run has failed
  await sleep(500);
  assert.equal(opened.filter((f) => big.includes(f)).length, hashedAtFailure);
});
