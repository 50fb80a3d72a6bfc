/**
 * float64 → float16 must round once, as NumPy's `astype(np.float16)` and PyTorch's `.half()` do. Going through
 * float32 first rounds twice: a value just above a float16 tie lands exactly on the tie in float32, and the tie then
 * goes to even, one float16 ulp off. Expected bits below are NumPy 2.4's.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cast, f64ToF16, Tensor, tensor } from "../../src/tensor/index.ts";

const CASES: [number, number][] = [
  [1 + 2 ** -11 + 2 ** -40, 0x3c01], // just above the tie between 1 and 1+2^-10: up
  [1 + 2 ** -11, 0x3c00], // the tie itself: to even
  [1 + 2 ** -11 - 2 ** -40, 0x3c00],
  [-(1 + 2 ** -11 + 2 ** -40), 0xbc01],
  [2 ** -25 + 2 ** -60, 0x0001], // just above half the smallest subnormal: the smallest subnormal, not zero
  [2 ** -25, 0x0000],
  [65519.99, 0x7bff],
  [65520, 0x7c00],
  [1e300, 0x7c00],
  [-1e-300, 0x8000],
  [0.1, 0x2e66],
];

test("float64 numbers round to float16 once (tensor(), cast, f64ToF16), as NumPy does", () => {
  for (const [x, bits] of CASES) assert.equal(f64ToF16(x), bits, `f64ToF16(${x})`);
  const xs = CASES.map(([x]) => x);
  const want = CASES.map(([, b]) => b);
  assert.deepEqual([...(tensor(xs, "float16").data as Uint16Array)], want);
  assert.deepEqual([...(cast(Tensor.wrap(Float64Array.from(xs)), "float16").data as Uint16Array)], want);
  // through a strided (non-contiguous) float64 view as well
  const strided = Tensor.wrap(Float64Array.from(xs.flatMap((x) => [x, 0])), [xs.length, 2]).select(1, 0);
  assert.deepEqual([...(cast(strided, "float16").data as Uint16Array)], want);
  assert.ok(Number.isNaN(cast(Tensor.wrap(Float64Array.from([Number.NaN])), "float32").item() as number));
  assert.equal(f64ToF16(Number.NaN) & 0x7c00, 0x7c00);
  assert.notEqual(f64ToF16(Number.NaN) & 0x3ff, 0);
});
