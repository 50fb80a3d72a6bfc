import assert from "node:assert/strict";
import { test } from "node:test";
import * as T from "../../src/tensor/index.ts";
import { assertClose, flat, randomShape, randomTensor, size, unravel } from "./helpers.ts";

const g = T.rng(2002);

/** Reference reduction: groups elements by their kept index and applies `f` to each group (float64). */
function refReduce(
  x: T.Tensor,
  axes: number[],
  f: (v: number[]) => number,
): { shape: number[]; vals: number[] } {
  const keptAxes = [...Array(x.ndim).keys()].filter((k) => !axes.includes(k));
  const shape = keptAxes.map((k) => x.shape[k]!);
  const groups: number[][] = Array.from({ length: size(shape) }, () => []);
  flat(x).forEach((v, i) => {
    const idx = unravel(i, x.shape);
    let p = 0;
    for (const k of keptAxes) p = p * x.shape[k]! + idx[k]!;
    groups[p]!.push(v);
  });
  return { shape, vals: groups.map(f) };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v: number[], c: number) => {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(v.length - c, 0);
};

test("reductions over random axes match float64 references (strided views, keepdims, zero-size)", () => {
  const cases: [string, (t: T.Tensor, o: T.ReduceOptions) => T.Tensor, (v: number[]) => number, boolean][] = [
    ["sum", T.sum, (v) => v.reduce((a, b) => a + b, 0), true],
    ["mean", T.mean, mean, true],
    ["var", (t, o) => T.variance(t, o), (v) => variance(v, 1), true],
    ["var0", (t, o) => T.variance(t, { ...o, correction: 0 }), (v) => variance(v, 0), true],
    ["std", T.std, (v) => Math.sqrt(variance(v, 1)), true],
    ["norm", T.norm, (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0)), true],
    ["logsumexp", T.logsumexp, (v) => Math.log(v.reduce((a, b) => a + Math.exp(b), 0)), true],
    ["max", T.max, (v) => Math.max(...v), false],
    ["min", T.min, (v) => Math.min(...v), false],
  ];
  for (const [name, op, f, allowEmpty] of cases) {
    for (let c = 0; c < 30; c++) {
      const x = randomTensor(g, randomShape(g, 0, 4, 5, allowEmpty), (s) =>
        g.uniform(s, { low: -2, high: 2 }),
      );
      const axes = [...Array(x.ndim).keys()].filter(() => g.nextFloat() < 0.5);
      const useAll = g.nextFloat() < 0.2;
      const keepdims = g.nextFloat() < 0.5;
      const ax = useAll ? [...Array(x.ndim).keys()] : axes;
      const r = op(x, useAll ? { keepdims } : { axis: axes, keepdims });
      const ref = refReduce(x, ax, f);
      const wantShape = keepdims ? x.shape.map((d, k) => (ax.includes(k) ? 1 : d)) : ref.shape;
      assert.deepEqual(r.shape, wantShape, `${name} shape`);
      assertClose(
        flat(r),
        ref.vals.map(Math.fround),
        2e-6,
        1e-6,
        `${name} ${JSON.stringify(x.shape)} axes ${ax}`,
      );
    }
  }
});

test("argmax/argmin match a reference and pick the first of ties", () => {
  for (let c = 0; c < 40; c++) {
    const x = randomTensor(g, randomShape(g, 1, 4, 5, false), (s) => T.cast(g.integers(s, 0, 4), "float32"));
    const axis = g.nextBelow(x.ndim);
    for (const [op, better] of [
      [T.argmax, (a: number, b: number) => a > b],
      [T.argmin, (a: number, b: number) => a < b],
    ] as const) {
      const r = op(x, { axis });
      const ref = refReduce(x, [axis], (v) => v.reduce((bi, val, i) => (better(val, v[bi]!) ? i : bi), 0));
      assert.equal(r.dtype, "int32");
      assert.deepEqual(flat(r), ref.vals);
    }
  }
  const t = T.tensor([
    [1, 9, 9],
    [7, 0, 7],
  ]);
  assert.equal(T.argmax(t).item(), 1);
  assert.deepEqual(T.argmax(t, { axis: 1, keepdims: true }).shape, [2, 1]);
  assert.deepEqual(T.argmin(t, { keepdims: true }).shape, [1, 1]);
  assert.equal(T.argmax(T.tensor([1, Number.NaN, 3])).item(), 1);
});

test("reduction edge cases: empty axes, dtypes, errors", () => {
  assert.equal(T.sum(T.zeros([0])).item(), 0);
  assert.ok(Number.isNaN(T.mean(T.zeros([0])).item() as number));
  assert.deepEqual(T.sum(T.zeros([2, 0]), { axis: 1 }).toArray(), [0, 0]);
  assert.deepEqual(T.sum(T.zeros([0, 3]), { axis: 1 }).shape, [0]);
  assert.throws(() => T.max(T.zeros([2, 0]), { axis: 1 }), { code: "E_REDUCE_EMPTY" });
  assert.throws(() => T.argmax(T.zeros([0])), { code: "E_REDUCE_EMPTY" });
  assert.throws(() => T.sum(T.zeros([2]), { axis: 1 }), { code: "E_AXIS_OUT_OF_RANGE" });
  assert.throws(() => T.sum(T.zeros([2, 2]), { axis: [0, -2] }), { code: "E_AXIS_OUT_OF_RANGE" });
  assert.equal(T.sum(T.tensor([1, 2], "int32")).dtype, "int32");
  assert.equal(T.sum(T.tensor([true, true, false])).item(), 2);
  assert.equal(T.sum(T.tensor([1n, 2n])).item(), 3n);
  assert.equal(T.mean(T.tensor([1, 2], "int32")).dtype, "float32");
  assert.equal(T.max(T.tensor([1, 5], "int8")).dtype, "int8");
  assert.equal(T.sum(T.tensor([1, 2], "float16")).dtype, "float16");
  assert.equal(T.logsumexp(T.tensor([1000, 1000])).item(), Math.fround(1000 + Math.log(2)));
  assert.equal(T.logsumexp(T.tensor([-Infinity, -Infinity])).item(), -Infinity);
  assert.ok(Number.isNaN(T.max(T.tensor([1, Number.NaN, 3])).item() as number));
  // the column path (last axis kept) has the same NaN / infinity semantics
  const col = T.tensor([
    [1, Number.NaN, -Infinity],
    [3, 4, -Infinity],
  ]);
  assert.deepEqual(flat(T.max(col, { axis: 0 })), [3, Number.NaN, -Infinity]);
  assert.deepEqual(flat(T.min(col, { axis: 0 })), [1, Number.NaN, -Infinity]);
  assert.deepEqual(flat(T.logsumexp(col, { axis: 0 })).slice(2), [-Infinity]);
  assert.equal(
    T.sum(
      T.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        "int64",
      ),
      { axis: 0 },
    ).dtype,
    "int64",
  );
  assert.deepEqual(
    T.sum(
      T.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        "int64",
      ),
      { axis: 0 },
    ).toArray(),
    [4n, 6n],
  );
});

test("naive float32 summation of 16M values misses the float64 reference; sum does not", () => {
  const n = 16 * 1024 * 1024;
  const x = T.rng(77).uniform([n], { low: 0, high: 1 });
  const d = x.data as Float32Array;
  let ref = 0;
  for (let i = 0; i < n; i++) ref += d[i]!;
  // (ref is a float64 sum: its own error is ~n·2^-53 relative, far below the tolerances here)
  let naive = Math.fround(0);
  for (let i = 0; i < n; i++) naive = Math.fround(naive + d[i]!);
  const naiveErr = Math.abs(naive - ref) / ref;
  const got = T.sum(T.cast(x, "float64")).item() as number;
  const got32 = T.sum(x).item() as number;
  assert.ok(naiveErr > 1e-6, `naive float32 error ${naiveErr}`);
  assert.ok(Math.abs(got - ref) / ref < 1e-7, `sum (float64 out) error ${Math.abs(got - ref) / ref}`);
  // the float32 result is the float64 accumulation rounded once: within float32's half-ulp (6e-8)
  assert.ok(Math.abs(got32 - ref) / ref < 1e-7, `sum (float32 out) error ${Math.abs(got32 - ref) / ref}`);
});
