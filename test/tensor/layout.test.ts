import assert from "node:assert/strict";
import { test } from "node:test";
import { Tensor } from "../../src/tensor/index.ts";

test("slice with negative step is a view", () => {
  const t = Tensor.wrap(new Float32Array([0, 1, 2, 3, 4]));
  const r = t.slice([null, null, -2]);
  assert.deepEqual(r.toArray(), [4, 2, 0]);
  assert.equal(r.storage, t.storage);
});

test("clone of strided views copies every dtype, through short rows and long unit-stride rows", () => {
  for (const [dtype, make] of [
    ["int64", (n: number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 2n ** 40n)],
    ["float16", (n: number) => Uint16Array.from({ length: n }, (_, i) => i)],
    ["bool", (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 2)],
    ["float32", (n: number) => Float32Array.from({ length: n }, (_, i) => i)],
  ] as const) {
    const base = new Tensor(dtype, make(3 * 4 * 20) as never, {
      shape: [3, 4, 20],
      strides: [80, 20, 1],
      offset: 0,
    });
    const raw = base.storage as ArrayLike<number | bigint>;
    for (const v of [
      base.narrow(2, 1, 18), // rows of 18 (unit stride, copied with set), offset 1
      base.transpose(0, 2), // rows of 3 with stride 80
      base.slice(null, [null, null, -1], [2, 5]), // negative stride on a middle axis
      base.select(1, 2).unsqueeze(0), // size-1 axis
    ]) {
      const c = v.clone();
      assert.equal(c.dtype, dtype);
      assert.ok(c.isContiguous());
      assert.notEqual(c.storage, base.storage);
      const want: (number | bigint)[] = [];
      v.forEachIndex((p) => {
        want.push(raw[p]!);
      });
      assert.deepEqual(Array.from(c.storage as ArrayLike<number | bigint>), want, `${dtype} ${v.shape}`);
    }
  }
});
