// float16 models: inputs and outputs are float16 tensors (raw half bits in Uint16Array) end to end.
// Runs on cpu everywhere; test/gpu/webgpu.test.ts runs the same model on webgpu.
import assert from "node:assert/strict";
import { test } from "node:test";
import { openSession } from "../../src/runtime/index.ts";
import { cast, f16ArrayToF32, Tensor } from "../../src/tensor/index.ts";
import { assertClose } from "./helpers.ts";
import { mlpInput, mlpModel, mlpWeights } from "./models.ts";

/** The MLP in float64 on the float16-rounded weights and input; returned as float16 bits. */
function reference(x: Tensor): Tensor {
  const w = mlpWeights();
  const half = (t: Tensor) => f16ArrayToF32(cast(t, "float16").data as Uint16Array);
  const [w1, b1, w2, b2] = [half(w.w1), half(w.b1), half(w.w2), half(w.b2)];
  const xs = f16ArrayToF32(x.data as Uint16Array);
  const batch = x.shape[0] ?? 0;
  const out = new Float32Array(batch * 4);
  for (let b = 0; b < batch; b++) {
    const h = new Float64Array(32);
    for (let j = 0; j < 32; j++) {
      let s = b1[j] as number;
      for (let i = 0; i < 16; i++) s += (xs[b * 16 + i] as number) * (w1[i * 32 + j] as number);
      h[j] = Math.max(0, s);
    }
    const logits = [0, 1, 2, 3].map((k) => {
      let s = b2[k] as number;
      for (let j = 0; j < 32; j++) s += (h[j] as number) * (w2[j * 4 + k] as number);
      return s;
    });
    const m = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - m));
    const z = e.reduce((a, v) => a + v, 0);
    e.forEach((v, k) => {
      out[b * 4 + k] = v / z;
    });
  }
  return cast(Tensor.wrap(out, [batch, 4], "float32"), "float16");
}

test("float16 MLP on cpu: Uint16Array in and out, matches a float64 reference within float16 tolerance", async () => {
  const session = await openSession(mlpModel("float16"), { providers: ["cpu"], replicas: 1 });
  try {
    assert.deepEqual(
      session.description.inputs.map((i) => [i.name, i.dtype]),
      [["x", "float16"]],
    );
    assert.deepEqual(
      session.description.outputs.map((o) => [o.name, o.dtype]),
      [["probs", "float16"]],
    );
    const x = mlpInput(6, "float16");
    assert.ok(x.data instanceof Uint16Array);
    const probs = (await session.run({ x })).outputs.probs;
    assert.ok(probs);
    assert.equal(probs.dtype, "float16");
    assert.ok(probs.data instanceof Uint16Array);
    assertClose(probs, reference(x), "fp16 mlp vs float64 reference");
  } finally {
    await session.close();
  }
});

test("a float16 model refuses float32 inputs before reaching onnxruntime", async () => {
  const session = await openSession(mlpModel("float16"), { providers: ["cpu"], replicas: 1 });
  try {
    await assert.rejects(session.run({ x: mlpInput(2, "float32") }), /float16/);
  } finally {
    await session.close();
  }
});
