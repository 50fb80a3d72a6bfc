/**
 * Models exported in the wild often carry values Tessera tensors cannot hold: scikit-learn classifiers end in a
 * ZipMap (`output_probability`: a sequence of maps), some graphs output string labels or uint32 tensors, and a
 * few take string inputs. Such a model must still run for what Tessera can carry, and say clearly what it cannot.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeModel, GraphBuilder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";

const ONE = { replicas: 1, intraOpThreads: 1 } as const;

/** label = argmax(x), probs = ZipMap(x) (seq(map(int64, float))), u = Cast(x → uint32): the sklearn-onnx shape. */
function sklearnLike(): Uint8Array {
  const g = new GraphBuilder({ opset: 17, domainOpsets: { "ai.onnx.ml": 1 } });
  g.input("x", "float32", ["N", 3]);
  g.node("ArgMax", ["x"], ["label"], { axis: 1, keepdims: 0 });
  g.node("ZipMap", ["x"], ["probs"], { classlabels_int64s: [0, 1, 2] }, { domain: "ai.onnx.ml" });
  g.node("Cast", ["x"], ["u"], { to: 12 });
  g.output("label", "int64", ["N"]);
  const m = g.toModel();
  m.graph!.output!.push(
    {
      name: "probs",
      type: {
        sequence_type: {
          elem_type: { map_type: { key_type: 7, value_type: { tensor_type: { elem_type: 1 } } } },
        },
      },
    },
    {
      name: "u",
      type: { tensor_type: { elem_type: 12, shape: { dim: [{ dim_param: "N" }, { dim_value: 3 }] } } },
    },
  );
  return encodeModel(m);
}

test("outputs Tessera cannot carry (ZipMap sequence, uint32) are described and skipped by a default run", async () => {
  const s = await openSession(sklearnLike(), { ...ONE, label: "sk@1" });
  try {
    assert.deepEqual(
      s.description.outputs.map((o) => o.name),
      ["label"],
    );
    assert.deepEqual(s.description.unsupported, [
      { name: "probs", io: "output", type: "non-tensor (sequence or map)" },
      { name: "u", io: "output", type: "uint32" },
    ]);
    const x = Tensor.wrap(Float32Array.from([0.1, 0.7, 0.2, 0.9, 0.05, 0.05]), [2, 3]);
    const r = await s.run({ x });
    assert.deepEqual(Object.keys(r.outputs), ["label"]);
    assert.deepEqual(r.outputs.label!.toArray(), [1n, 0n]);
    // asking for one of them by name is refused before ORT, naming why
    await assert.rejects(s.run({ x }, { outputs: ["probs"] }), (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_INPUT_INVALID");
      assert.match(e.message, /probs/);
      assert.match(e.message, /non-tensor/);
      return true;
    });
  } finally {
    await s.close();
  }
});

test("a string input is described, and a run names it instead of failing inside ORT", async () => {
  const g = new GraphBuilder({ opset: 17 });
  g.input("x", "float32", ["N", 3]);
  g.node("Relu", ["x"], ["y"]);
  g.output("y", "float32", ["N", 3]);
  const m = g.toModel();
  m.graph!.input!.push({
    name: "text",
    type: { tensor_type: { elem_type: 8, shape: { dim: [{ dim_param: "N" }] } } },
  });
  m.graph!.node!.push({ input: ["text"], output: ["text_out"], op_type: "Identity", name: "id" });
  m.graph!.output!.push({
    name: "text_out",
    type: { tensor_type: { elem_type: 8, shape: { dim: [{ dim_param: "N" }] } } },
  });
  const s = await openSession(encodeModel(m), { ...ONE, label: "strings@1" });
  try {
    assert.deepEqual(s.description.unsupported, [
      { name: "text", io: "input", type: "string" },
      { name: "text_out", io: "output", type: "string" },
    ]);
    await assert.rejects(s.run({ x: Tensor.wrap(new Float32Array(3), [1, 3]) }), (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_DTYPE_UNSUPPORTED");
      assert.match(e.message, /^strings@1: input "text" is a string tensor/);
      return true;
    });
  } finally {
    await s.close();
  }
});

test("a model ORT refuses (opset too new, unknown op) is reported by its reason, not as a provider failure", async () => {
  const tooNew = new GraphBuilder({ opset: 30 });
  tooNew.input("x", "float32", ["n"]);
  tooNew.node("Relu", ["x"], ["y"]);
  tooNew.output("y", "float32", ["n"]);
  const custom = new GraphBuilder({ opset: 17, domainOpsets: { "com.example": 1 } });
  custom.input("x", "float32", ["n"]);
  custom.node("MyOp", ["x"], ["y"], {}, { domain: "com.example" });
  custom.output("y", "float32", ["n"]);
  for (const [bytes, re] of [
    [tooNew.toBytes(), /Current official support for domain ai\.onnx is till opset \d+/],
    [custom.toBytes(), /com\.example:MyOp\(-1\) is not a registered function\/op/],
  ] as const) {
    await assert.rejects(openSession(bytes, { ...ONE, label: "odd@1" }), (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_SESSION_CREATE");
      assert.match(e.message, /^odd@1: onnxruntime could not create a session: /);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /no execution provider/);
      assert.doesNotMatch(e.message, /onnxruntime_src|model_load_utils\.h/); // ORT's source location and C++ signature
      return true;
    });
  }
});
