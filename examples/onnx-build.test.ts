// Runs examples/onnx-build.ts as a child process, checks what it prints, and loads the file it writes in ORT.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";

test("examples/onnx-build.ts builds a model that ORT runs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-onnx-build-"));
  try {
    const file = join(dir, "tiny.onnx");
    const r = spawnSync(process.execPath, ["--import", "tsx", "examples/onnx-build.ts", file], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /IR 8, opsets \{"":17,"com.microsoft":1\}/);
    assert.match(r.stdout, /input {2}features: float32 \[batch, 4\]/);
    assert.match(r.stdout, /ops: .*com\.microsoft\.Gelu×1/);
    assert.match(r.stdout, /parameters: 64 in 3 initializers \(256 bytes\)/);
    const s = await ort.InferenceSession.create(readFileSync(file));
    try {
      const out = await s.run({ features: new ort.Tensor("float32", new Float32Array(8).fill(0.5), [2, 4]) });
      const p = out.probabilities!.data as Float32Array;
      assert.ok(Math.abs(p[0]! + p[1]! + p[2]! - 1) < 1e-6);
      assert.deepEqual(out.leaky!.data, out.logits!.data); // alpha forced to FLOAT 1 → identity
    } finally {
      await s.release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
