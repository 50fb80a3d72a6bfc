// Tensor ↔ TensorProto round trips (property-based over dtypes, shapes and values), including the unaligned
// raw_data views that decoding a whole model produces.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  DataType,
  onnxDataType,
  rawBytes,
  TensorProtoType,
  tensorFromProto,
  tensorToProto,
  type TensorProto,
} from "../../src/onnx/index.ts";
import { DTYPE_NAMES, type DType, Tensor } from "../../src/tensor/index.ts";

function valuesFor(dtype: DType, n: number): fc.Arbitrary<number[] | bigint[]> {
  const ints = (min: number, max: number) =>
    fc.array(fc.integer({ min, max }), { minLength: n, maxLength: n });
  switch (dtype) {
    case "float32":
      return fc
        .array(fc.float({ noNaN: true }), { minLength: n, maxLength: n })
        .map((a) => a.map(Math.fround));
    case "float64":
      return fc.array(fc.double({ noNaN: true }), { minLength: n, maxLength: n });
    case "float16":
      return ints(0, 0x7bff); // raw half bits, finite
    case "int8":
      return ints(-128, 127);
    case "uint8":
      return ints(0, 255);
    case "int16":
      return ints(-32768, 32767);
    case "int32":
      return ints(-(2 ** 31), 2 ** 31 - 1);
    case "int64":
      return fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { minLength: n, maxLength: n });
    case "bool":
      return ints(0, 1);
  }
}

const caseArb = fc
  .record({
    dtype: fc.constantFrom(...DTYPE_NAMES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return valuesFor(dtype, n).map((values) => ({ dtype, shape, values }));
  });

test("tensorToProto → protobuf bytes → tensorFromProto is the identity", () => {
  fc.assert(
    fc.property(caseArb, fc.integer({ min: 0, max: 7 }), ({ dtype, shape, values }, pad) => {
      const t = Tensor.empty(dtype, shape);
      (t.storage as unknown as { set(v: ArrayLike<number | bigint>): void }).set(values);
      const bytes = TensorProtoType.encode(tensorToProto("t", t)).finish();
      // Shift the encoded bytes by `pad` so raw_data lands at an arbitrary (unaligned) offset.
      const shifted = new Uint8Array(bytes.length + pad);
      shifted.set(bytes, pad);
      const back = tensorFromProto(TensorProtoType.decode(shifted.subarray(pad)) as unknown as TensorProto);
      assert.equal(back.dtype, dtype);
      assert.deepEqual(back.shape, shape);
      assert.deepEqual([...(back.data as Iterable<unknown>)], [...(t.data as Iterable<unknown>)]);
    }),
    { numRuns: 300, seed: 42 },
  );
});

test("every Tessera dtype has an ONNX code; raw bytes are little-endian", () => {
  assert.deepEqual(
    DTYPE_NAMES.map((d) => onnxDataType(d)),
    DTYPE_NAMES.map(
      (d) =>
        ({ float32: 1, float64: 11, float16: 10, int8: 3, uint8: 2, int16: 5, int32: 6, int64: 7, bool: 9 })[
          d
        ],
    ),
  );
  assert.equal(DataType.BFLOAT16, 16);
  const t = Tensor.wrap(Int32Array.from([0x01020304]), [1]);
  assert.deepEqual([...rawBytes(t)], [4, 3, 2, 1]);
  // A contiguous tensor's raw bytes are a view of its storage (no copy).
  const f = Tensor.wrap(new Float32Array(4), [4]);
  assert.equal(rawBytes(f).buffer, f.storage.buffer);
});

test("a strided view is written in logical order (copied), a narrowed view without copying", () => {
  const base = Tensor.wrap(Int16Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const col = base.slice(null, 1); // [2] with stride 3 → 2, 5
  assert.deepEqual([...tensorFromProto(tensorToProto("c", col)).data], [2, 5]);
  const row = base.select(0, 1); // contiguous view at offset 3
  const raw = rawBytes(row);
  assert.equal(raw.buffer, base.storage.buffer);
  assert.deepEqual([...tensorFromProto(tensorToProto("r", row)).data], [4, 5, 6]);
});
