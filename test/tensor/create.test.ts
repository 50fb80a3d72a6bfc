import assert from "node:assert/strict";
import { test } from "node:test";
import {
  arange,
  eye,
  fromBuffer,
  full,
  linspace,
  ones,
  scalar,
  Tensor,
  tensor,
  zeros,
} from "../../src/tensor/index.ts";

test("tensor() infers shape and dtype", () => {
  const t = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal(t.dtype, "float32");
  assert.deepEqual(t.shape, [2, 3]);
  assert.deepEqual(t.toArray(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal(tensor([true, false]).dtype, "bool");
  assert.equal(tensor([1n, 2n]).dtype, "int64");
  assert.deepEqual(tensor(5).shape, []);
  assert.deepEqual(tensor([]).shape, [0]);
  assert.deepEqual(tensor([[], []]).shape, [2, 0]);
  assert.deepEqual([...(tensor([1.5, 2], "float16").data as Uint16Array)], [0x3e00, 0x4000]); // stored as bits
  assert.deepEqual(tensor([1.5, 2], "float16").toArray(), [1.5, 2]); // read as numbers
  assert.deepEqual(tensor([new Float32Array([1, 2]), new Float32Array([3, 4])]).shape, [2, 2]);
});

test("ragged and bad nested input is rejected", () => {
  assert.throws(() => tensor([[1, 2], [3]]), { code: "E_RAGGED" });
  assert.throws(() => tensor([[1, 2], 3] as never), { code: "E_RAGGED" });
  assert.throws(() => tensor([1, [2]] as never), { code: "E_RAGGED" });
  assert.throws(() => tensor(["a"] as never), { code: "E_VALUE_TYPE" });
});

test("fromBuffer wraps without copying and checks alignment and bounds", () => {
  const buf = Buffer.alloc(32);
  const t = fromBuffer(buf, "float32", [2, 2], 8);
  t.set(7, 1, 1);
  assert.equal(buf.readFloatLE(8 + 12), 7);
  const ab = new ArrayBuffer(16);
  const u = fromBuffer(ab, "int32", [4]);
  assert.equal(u.storage.buffer, ab);
  assert.throws(() => fromBuffer(ab, "float32", [2], 2), { code: "E_BUFFER_ALIGNMENT" });
  assert.throws(() => fromBuffer(ab, "float32", [5]), { code: "E_BUFFER_BOUNDS" });
  assert.throws(() => fromBuffer(ab, "float64", [2], 8), { code: "E_BUFFER_BOUNDS" });
  assert.throws(() => fromBuffer(ab, "float32", [-1]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => fromBuffer(ab, "float32", [1.5]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => fromBuffer(ab, "float32", [1], -4), { code: "E_BUFFER_BOUNDS" });
  assert.throws(() => fromBuffer(ab, "complex" as never, [1]), { code: "E_DTYPE_UNKNOWN" });
  // an unaligned Uint8Array view whose own offset makes the absolute offset aligned is fine
  const v = new Uint8Array(ab, 3, 13);
  assert.equal(fromBuffer(v, "float32", [3], 1).storage.byteOffset, 4);
});

test("filled tensors", () => {
  assert.deepEqual(zeros([2, 2]).toArray(), [
    [0, 0],
    [0, 0],
  ]);
  assert.deepEqual(ones([3], "int64").toArray(), [1n, 1n, 1n]);
  assert.deepEqual(full([2], 2.5, "float64").toArray(), [2.5, 2.5]);
  assert.deepEqual(full([2], true, "bool").toArray(), [1, 1]);
  assert.deepEqual(arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.equal(arange(5).dtype, "int32");
  assert.deepEqual(arange(1, 2, { step: 0.25 }).toArray(), [1, 1.25, 1.5, 1.75]);
  assert.deepEqual(arange(5, 0, -2).toArray(), [5, 3, 1]);
  assert.throws(() => arange(0, 1, 0), { code: "E_ARGUMENT" });
  assert.deepEqual(linspace(0, 1, 3).toArray(), [0, 0.5, 1]);
  assert.deepEqual(linspace(0, 1, 1).toArray(), [0]);
  assert.deepEqual(eye(2, 3).toArray(), [
    [1, 0, 0],
    [0, 1, 0],
  ]);
  assert.equal(scalar(3).item(), 3);
  assert.ok(Tensor.wrap(new Float32Array(4), [2, 2]).isContiguous());
});
