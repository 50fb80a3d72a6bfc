import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { openSource, type RecordBatch, scoreFiles } from "../../src/pipeline/index.ts";
import { TextEmbedder } from "../../src/text/index.ts";
import { makeModelFolder, sampleTexts, type TempFolder } from "../text/helpers.ts";
import { rowsOf, tmpDir } from "./helpers.ts";

const dir = tmpDir();
let folder: TempFolder;
let emb: TextEmbedder;
before(async () => {
  folder = makeModelFolder({ normalize: true });
  emb = await TextEmbedder.load(folder.dir, { session: { replicas: 1, intraOpThreads: 1 } });
});
after(async () => {
  await emb.close();
  folder.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a text column is embedded with TextEmbedder into an embedding vector column; null texts are rejected", async () => {
  const texts = sampleTexts(12);
  const input = path.join(dir, "texts.jsonl");
  const lines = texts.map((t, i) => JSON.stringify({ id: i, text: i === 5 ? null : t }));
  fs.writeFileSync(input, `${lines.join("\n")}\n`);
  const output = path.join(dir, "emb.parquet");
  const s = await scoreFiles({
    embedder: emb,
    model: { name: "tiny-bert", version: "1", sha256: "x" },
    inputs: [input],
    output,
    textColumn: "text",
    keyColumns: ["id"],
    batchSize: 4,
    onError: "skip",
    progress: false,
  });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [11, 1]);
  const src = await openSource(output);
  const got: RecordBatch[] = [];
  for await (const c of src.chunks()) got.push(c.batch);
  const rows = rowsOf(got, ["id", "embedding"]);
  const kept = texts.filter((_, i) => i !== 5);
  const ref = await emb.embed(kept);
  assert.equal(rows.length, 11);
  for (const [r, row] of rows.entries()) {
    const v = row[1] as number[];
    assert.equal(v.length, ref.shape[1]);
    for (let k = 0; k < v.length; k++) assert.ok(Math.abs(v[k]! - (ref.get(r, k) as number)) < 1e-5);
  }
  assert.deepEqual(
    rows.map((r) => r[0]),
    [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11],
  );
  await assert.rejects(
    scoreFiles({
      embedder: emb,
      model: { name: "m", version: "1", sha256: "x" },
      inputs: [input],
      output: `${output}2.parquet`,
      progress: false,
    }),
    { code: "E_PIPELINE_TEXT" },
  );
});
