// Runs the runtime examples as child processes (under `node --import tsx` and `npx tsx`) and checks their output.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/runtime-session.ts describes, runs on two replicas, and rejects a bad input", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/runtime-session.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /inputs {2}input: float32 \[batch, 16\]/);
  assert.match(r.stdout, /outputs logits: float32 \[batch, 3\]; probabilities: float32 \[batch, 3\]/);
  assert.match(r.stdout, /opsets \{"":17\}, \d+ bytes, sha256 [0-9a-f]{12}/);
  assert.match(r.stdout, /provider cpu, replicas 2/);
  assert.match(r.stdout, /row 0 sums to 1\.0000/);
  assert.match(r.stdout, /replicas used: 0,1/);
  assert.match(
    r.stdout,
    /E_INPUT_INVALID: demo-mlp@1: invalid inputs: inputs.input.shape\[1\]: dim 1: expected 16/,
  );
});

test("examples/runtime-registry.ts serves the latest version and isolates the broken model (npx tsx)", () => {
  const r = spawnSync("npx", ["tsx", "examples/runtime-registry.ts"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /broken@1: failed \(.*not a valid ONNX model/);
  assert.match(r.stdout, /iris@1: unavailable \(not served by the version policy/);
  assert.match(r.stdout, /iris@2: ready/);
  assert.match(r.stdout, /ready: false/);
  assert.match(r.stdout, /iris@2 says (setosa|versicolor|virginica) \(p=0\.\d{3}\)/);
});
