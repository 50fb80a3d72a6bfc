import assert from "node:assert/strict";
import { test } from "node:test";
import { Tensor } from "../../src/tensor/index.ts";

test("slice with negative step is a view", () => {
  const t = Tensor.wrap(new Float32Array([0, 1, 2, 3, 4]));
  const r = t.slice([null, null, -2]);
  assert.deepEqual(r.toArray(), [4, 2, 0]);
  assert.equal(r.storage, t.storage);
});
