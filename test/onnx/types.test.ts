// Type tests: the calls below must compile, and the ones marked @ts-expect-error must not (checked by
// `npx tsc --noEmit`; a @ts-expect-error that stops erroring fails the type check). At runtime the bad calls
// also throw E_ONNX_BUILD, which the test checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AttributeValue,
  type Dim,
  GraphBuilder,
  type ModelInfo,
  mlpClassifier,
  type ZooModel,
} from "../../src/onnx/index.ts";
import { tensor } from "../../src/tensor/index.ts";

test("GraphBuilder's public types accept what ONNX accepts and reject the rest", () => {
  const g = new GraphBuilder({ opset: 17, domainOpsets: { "com.microsoft": 1 } });
  const dims: Dim[] = ["batch", 3, null];
  g.input("x", "float32", dims);
  const attrs: Record<string, AttributeValue> = {
    axis: 1,
    perm: [0, 1],
    names: ["a"],
    mode: "constant",
    value: tensor([1]),
    eps: { type: "float", value: 1 },
    big: 5n,
  };
  assert.ok(attrs);
  assert.throws(() => {
    // @ts-expect-error "float128" is not a DType
    g.input("y", "float128", [1]);
  }, /unknown dtype/);
  assert.throws(() => {
    // @ts-expect-error dims must be numbers, strings or null
    g.input("z", "float32", [true]);
  }, /dim 0/);
  assert.throws(() => {
    // @ts-expect-error an object is not an attribute value unless it is a typed wrapper
    g.node("Relu", ["x"], ["r"], { bad: { foo: 1 } });
  }, /attribute bad/);
  assert.throws(() => {
    // @ts-expect-error wrapper type and value must agree
    g.node("Relu", ["x"], ["r2"], { alpha: { type: "float", value: "1" } });
  });
  const m: ZooModel<{ inputDim: number }> = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2 });
  // @ts-expect-error zoo weights are float32 tensors, not int64
  const w: import("../../src/tensor/index.ts").Tensor<"int64"> = m.weights["fc0.weight"]!;
  assert.equal(w.dtype, "float32");
  const info: Pick<ModelInfo, "opsets"> = { opsets: { "": 17 } };
  assert.equal(info.opsets[""], 17);
});
