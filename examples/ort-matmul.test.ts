// Runs examples/ort-matmul.ts as a child process and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/ort-matmul.ts runs matmul and matmulAsync on ORT, then releases it", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/ort-matmul.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /matmulAsync: \[4,256,128\] via ORT \(1 run\)/);
  assert.match(r.stdout, /matmul: \[4,256,128\] via onnxruntime \(worker, sync\) \(4 GEMMs\)/);
  assert.match(r.stdout, /small problems stay local: 8,8, still 4 GEMMs/);
  const diff = Number(/max \|async - sync\| = (\S+)/.exec(r.stdout)![1]);
  assert.ok(diff < 1e-3, `async and sync results differ by ${diff}`);
  assert.match(r.stdout, /after close: matmul uses wasm-simd/);
});
