import assert from "node:assert/strict";
import { test } from "node:test";
import { arange, Tensor } from "../../src/tensor/index.ts";

/** split must give exactly the views narrow gives: same layout, same elements, frozen. */
function assertSameAsNarrow(t: Tensor, sizes: number[], axis: number): void {
  const parts = t.split(sizes, axis);
  assert.equal(parts.length, sizes.length);
  let start = 0;
  for (let k = 0; k < sizes.length; k++) {
    const want = t.narrow(axis, start, sizes[k]!);
    const got = parts[k]!;
    assert.deepEqual(got.shape, want.shape);
    assert.deepEqual(got.strides, want.strides);
    assert.equal(got.offset, want.offset);
    assert.equal(got.storage, t.storage);
    assert.deepEqual(got.toArray(), want.toArray());
    assert.ok(Object.isFrozen(got.layout) && Object.isFrozen(got.shape) && Object.isFrozen(got.strides));
    start += sizes[k]!;
  }
}

test("split returns the views narrow returns, for contiguous, offset and transposed tensors", () => {
  const base = arange(0, 60, { dtype: "float32" }).reshape([5, 12]);
  assertSameAsNarrow(base, [1, 1, 1, 2], 0);
  assertSameAsNarrow(base, [0, 5, 0], 0);
  assertSameAsNarrow(base, [3, 3, 3, 3], 1);
  const offsetView = base.narrow(0, 1, 3); // offset 12
  assertSameAsNarrow(offsetView, [1, 1, 1], 0);
  assertSameAsNarrow(offsetView, [4, 0, 8], 1);
  const transposed = base.transpose(0, 1); // shape [12, 5], strides [1, 12]
  assertSameAsNarrow(transposed, [5, 5, 2], 0);
  assertSameAsNarrow(transposed, [2, 3], 1);
});

test("equal-size pieces are independent views (writing one does not touch the others)", () => {
  const t = Tensor.wrap(new Float32Array(6), [3, 2]);
  const [a, b, c] = t.split(1, 0);
  a!.set(1, 0, 0);
  b!.set(2, 0, 1);
  c!.set(3, 0, 0);
  assert.deepEqual(t.toArray(), [
    [1, 0],
    [0, 2],
    [3, 0],
  ]);
  assert.deepEqual(a!.shape, [1, 2]);
  assert.equal(c!.offset, 4);
});

test("split and chunk still reject sizes that do not tile the axis", () => {
  const t = Tensor.wrap(new Float32Array(6), [3, 2]);
  assert.throws(() => t.split([1, 1], 0), { code: "E_SHAPE_SIZE" });
  assert.throws(() => t.split([2, -1, 2], 0), { code: "E_SHAPE_SIZE" });
  assert.throws(() => t.split(0, 0), { code: "E_SHAPE_INVALID" });
  assert.deepEqual(
    t.chunk(2, 0).map((p) => p.shape),
    [
      [2, 2],
      [1, 2],
    ],
  );
});
