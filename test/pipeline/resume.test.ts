/**
 * Crash safety: a `tessera score` child process is SIGKILLed after it committed a part, resumed with
 * --resume, and its output must equal (byte for byte) a clean run's.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { type Column, openSink } from "../../src/pipeline/index.ts";
import { lcg, tmpDir } from "./helpers.ts";

const dir = tmpDir();
const ROWS = 60_000;
const F = 16;
const modelPath = path.join(dir, "model.onnx");
const input = path.join(dir, "in.parquet");
const CLI = ["--import", "tsx", path.resolve("src/cli/main.ts"), "score"];

before(async () => {
  fs.writeFileSync(modelPath, mlpClassifier({ inputDim: F, hidden: [128], classes: 4, seed: 1 }).bytes);
  const rnd = lcg(5);
  const cols = new Map<string, Column>();
  cols.set("id", {
    kind: "int64",
    length: ROWS,
    valid: null,
    values: new BigInt64Array(ROWS).map((_, i) => BigInt(i)),
  });
  for (let f = 0; f < F; f++)
    cols.set(`f${f}`, {
      kind: "float32",
      length: ROWS,
      valid: null,
      values: new Float32Array(ROWS).map(() => rnd()),
    });
  const sink = await openSink(
    input,
    "parquet",
    [...cols].map(([name, c]) => ({ name, kind: c.kind })),
    { rowGroupRows: 8_000 },
  );
  await sink.write({ numRows: ROWS, columns: cols });
  await sink.close();
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function args(output: string, extra: string[] = []): string[] {
  return [
    ...CLI,
    "--model",
    modelPath,
    "--input",
    input,
    "--output",
    output,
    "--key-columns",
    "id",
    "--batch-size",
    "1000",
    "--part-rows",
    "4000",
    "--replicas",
    "2",
    "--progress",
    "json",
    ...extra,
  ];
}

test("SIGKILL mid-job, then --resume: output identical to a clean run", { timeout: 120_000 }, async () => {
  for (const ext of ["parquet", "csv"]) {
    const clean = path.join(dir, `clean.${ext}`);
    const r = spawnSync(process.execPath, args(clean), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);

    const out = path.join(dir, `killed.${ext}`);
    const ckpt = `${out}.parts/checkpoint.json`;
    const child = spawn(process.execPath, args(out), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    // wait until at least two parts are committed, then kill without warning
    let parts = 0;
    while (parts < 2) {
      await new Promise((res) => setTimeout(res, 10));
      try {
        parts = JSON.parse(fs.readFileSync(ckpt, "utf8")).parts.length;
      } catch {
        // not written yet, or being replaced
      }
      assert.ok(child.exitCode === null, `the job finished before it could be killed: ${stderr}`);
    }
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    assert.ok(!fs.existsSync(out), "no final output after the crash");
    const committed = JSON.parse(fs.readFileSync(ckpt, "utf8")).parts.length;
    assert.ok(committed >= 2 && committed < 20, `committed ${committed} parts`);

    // a plain rerun refuses to clobber the unfinished run
    const again = spawnSync(process.execPath, args(out), { encoding: "utf8" });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /E_PIPELINE_OUTPUT_EXISTS.*--resume/);

    const resumed = spawnSync(process.execPath, args(out, ["--resume"]), { encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(
      fs.readFileSync(out).equals(fs.readFileSync(clean)),
      `${ext}: resumed output differs from the clean run`,
    );
    const m = JSON.parse(fs.readFileSync(`${out}.manifest.json`, "utf8"));
    assert.deepEqual(m.rows, { read: ROWS, scored: ROWS, rejected: 0 });
    assert.equal(m.runs, 2);
    assert.ok(!fs.existsSync(`${out}.parts`));
    // resuming a finished job is a no-op
    const done = spawnSync(process.execPath, args(out, ["--resume"]), { encoding: "utf8" });
    assert.equal(done.status, 0);
    assert.match(done.stderr, /already complete/);
  }
});

test("Ctrl-C (SIGINT) commits the batches in flight, exits 130, and --resume finishes identically", {
  timeout: 60_000,
}, async () => {
  const clean = path.join(dir, "clean-int.jsonl");
  const r = spawnSync(process.execPath, args(clean), { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = path.join(dir, "interrupted.jsonl");
  const ckpt = `${out}.parts/checkpoint.json`;
  const child = spawn(process.execPath, args(out), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  for (;;) {
    await new Promise((res) => setTimeout(res, 10));
    try {
      if (JSON.parse(fs.readFileSync(ckpt, "utf8")).parts.length >= 1) break;
    } catch {
      // not yet
    }
    assert.ok(child.exitCode === null, `finished before the interrupt: ${stderr}`);
  }
  child.kill("SIGINT");
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /interrupted: .*--resume/);
  const resumed = spawnSync(process.execPath, args(out, ["--resume"]), { encoding: "utf8" });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(clean)));
});
