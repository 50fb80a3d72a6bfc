// Runs examples/tensor-basics.ts as a child process and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/tensor-basics.ts prints views, ops, rng and safetensors results", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/tensor-basics.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /x\.T shape \[3,2\] strides \[1,3\], shares storage: true/);
  assert.match(r.stdout, /x\[:, ::-1\] = \[\[3,2,1\],\[6,5,4\]\]/);
  assert.match(r.stdout, /x \+ \[10, 20, 30\] = \[\[11,22,33\],\[14,25,36\]\]/);
  assert.match(r.stdout, /sum over axis 0 = \[5,7,9\] mean = 3\.5/);
  assert.match(r.stdout, /x @ x\.T = \[\[14,32\],\[32,77\]\]/);
  assert.match(r.stdout, /softmax rows = \["0\.090","0\.245","0\.665"\]/);
  assert.match(r.stdout, /rng\(42\)\.normal\(\[4,8\]\)\[0,0\] = 1\.234542; nearest to row 0: \[0,\d\]/);
  assert.match(r.stdout, /metadata \{"created_by":"tensor-basics"\}, view of file: true/);
});
