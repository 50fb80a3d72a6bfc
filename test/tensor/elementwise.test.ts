import assert from "node:assert/strict";
import { test } from "node:test";
import * as T from "../../src/tensor/index.ts";
import {
  assertClose,
  bcastPos,
  broadcastableTo,
  flat,
  randomShape,
  randomTensor,
  size,
  unravel,
} from "./helpers.ts";

const g = T.rng(1001);
const rand = (lo: number, hi: number) => (s: number[]) => g.uniform(s, { low: lo, high: hi });

const BINARY: [
  string,
  (a: T.Operand, b: T.Operand, o?: T.OutOptions) => T.Tensor,
  (x: number, y: number) => number,
  number,
  number,
][] = [
  ["add", T.add, (x, y) => x + y, -3, 3],
  ["sub", T.sub, (x, y) => x - y, -3, 3],
  ["mul", T.mul, (x, y) => x * y, -3, 3],
  ["div", T.div, (x, y) => x / y, 0.5, 3],
  ["pow", T.pow, (x, y) => x ** y, 0.5, 2],
  ["maximum", T.maximum, Math.max, -3, 3],
  ["minimum", T.minimum, Math.min, -3, 3],
];

test("binary ops match a float64 reference on random broadcast shapes and strided views", () => {
  for (const [name, op, ref, lo, hi] of BINARY) {
    for (let c = 0; c < 40; c++) {
      const out = randomShape(g);
      const sa = broadcastableTo(g, out);
      const sb = broadcastableTo(g, out);
      // make sure the broadcast result is `out` by giving one side the full shape
      const a = randomTensor(g, c % 2 ? out : sa, rand(lo, hi));
      const b = randomTensor(g, c % 2 ? sb : out, rand(lo, hi));
      const r = op(a, b);
      assert.deepEqual(r.shape, out, `${name} shape`);
      assert.equal(r.dtype, "float32");
      const fa = flat(a);
      const fb = flat(b);
      const want = Array.from({ length: size(out) }, (_, i) => {
        const idx = unravel(i, out);
        return Math.fround(ref(fa[bcastPos(idx, a.shape)]!, fb[bcastPos(idx, b.shape)]!));
      });
      assertClose(flat(r), want, 1e-6, 1e-6, `${name} ${JSON.stringify(a.shape)} ${JSON.stringify(b.shape)}`);
    }
  }
});

test("scalars, out and in-place variants", () => {
  const a = T.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(T.sub(10, a).toArray(), [
    [9, 8, 7],
    [6, 5, 4],
  ]);
  assert.deepEqual(T.div(a, 2).toArray(), [
    [0.5, 1, 1.5],
    [2, 2.5, 3],
  ]);
  const out = T.zeros([2, 3]);
  assert.equal(T.mul(a, a, { out }), out);
  assert.deepEqual(out.toArray(), [
    [1, 4, 9],
    [16, 25, 36],
  ]);
  // in place on a strided view writes through to the base storage only at the view's elements
  const base = T.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const col = base.slice(null, [0, 3, 2]);
  T.addInPlace(col, T.tensor([100, 200]));
  assert.deepEqual(base.toArray(), [
    [101, 2, 203],
    [104, 5, 206],
  ]);
  T.mulInPlace(base.transpose(), 2);
  assert.deepEqual(base.toArray(), [
    [202, 4, 406],
    [208, 10, 412],
  ]);
  T.subInPlace(base, 2);
  T.divInPlace(base, 2);
  assert.deepEqual(base.toArray(), [
    [100, 1, 202],
    [103, 4, 205],
  ]);
  assert.throws(() => T.add(a, a, { out: T.zeros([3, 2]) }), { code: "E_OUT_SHAPE" });
  assert.throws(() => T.add(a, a, { out: T.zeros([2, 3], "float64") }), { code: "E_OUT_DTYPE" });
  assert.throws(() => T.addInPlace(T.zeros([3]), T.zeros([2, 3])), { code: "E_OUT_SHAPE" });
  assert.throws(
    () => T.add(T.zeros([2, 3]), T.zeros([4])),
    (e: unknown) => {
      assert.ok(e instanceof T.TesseraError);
      assert.equal(e.code, "E_SHAPE_BROADCAST");
      assert.equal(e.message, "add: cannot broadcast [2,3] with [4]");
      return true;
    },
  );
});

test("dtype promotion and integer arithmetic", () => {
  const i = T.tensor([1, 2, 3], "int32");
  assert.equal(T.add(i, 1).dtype, "int32");
  assert.equal(T.add(i, 0.5).dtype, "float32");
  assert.deepEqual(T.add(i, 0.5).toArray(), [1.5, 2.5, 3.5]);
  assert.equal(T.div(i, 2).dtype, "float32");
  assert.deepEqual(T.div(i, 2).toArray(), [0.5, 1, 1.5]);
  assert.equal(T.add(i, T.tensor([1], "float64")).dtype, "float64");
  assert.equal(T.add(T.tensor([1], "uint8"), T.tensor([1], "int8")).dtype, "int16");
  assert.deepEqual(T.add(T.tensor([2147483647], "int32"), 1).toArray(), [-2147483648]);
  assert.deepEqual(T.mul(T.tensor([3n, -4n]), 2).toArray(), [6n, -8n]);
  const h = T.add(T.tensor([1, 2.5], "float16"), T.tensor([0.25, 1], "float16"));
  assert.equal(h.dtype, "float16");
  assert.deepEqual(flat(h), [1.25, 3.5]);
  assert.deepEqual(T.maximum(T.tensor([1, Number.NaN]), 0).toArray(), [1, Number.NaN]);
});

test("comparisons and where broadcast and give bool", () => {
  for (let c = 0; c < 30; c++) {
    const out = randomShape(g);
    const a = randomTensor(g, out, (s) => T.cast(g.integers(s, 0, 3), "float32"));
    const b = randomTensor(g, broadcastableTo(g, out), (s) => T.cast(g.integers(s, 0, 3), "float32"));
    const fa = flat(a);
    const fb = flat(b);
    const pairs: [(x: T.Operand, y: T.Operand) => T.Tensor, (x: number, y: number) => boolean][] = [
      [T.eq, (x, y) => x === y],
      [T.ne, (x, y) => x !== y],
      [T.lt, (x, y) => x < y],
      [T.le, (x, y) => x <= y],
      [T.gt, (x, y) => x > y],
      [T.ge, (x, y) => x >= y],
    ];
    for (const [op, ref] of pairs) {
      const r = op(a, b);
      assert.equal(r.dtype, "bool");
      assert.deepEqual(r.shape, out);
      const want = Array.from({ length: size(out) }, (_, i) =>
        ref(fa[i]!, fb[bcastPos(unravel(i, out), b.shape)]!) ? 1 : 0,
      );
      assert.deepEqual(flat(r), want);
    }
    const w = T.where(T.gt(a, 1), a, T.neg(b));
    const want = Array.from({ length: size(out) }, (_, i) =>
      fa[i]! > 1 ? fa[i]! : -fb[bcastPos(unravel(i, out), b.shape)]!,
    );
    assertClose(flat(w), want, 0, 0, "where");
  }
  assert.deepEqual(T.where(T.tensor([true, false]), 1, T.tensor([[5], [6]])).toArray(), [
    [1, 5],
    [1, 6],
  ]);
  assert.deepEqual(T.eq(T.tensor([Number.NaN]), T.tensor([Number.NaN])).toArray(), [0]);
});

test("unary ops match float64 references (incl. non-contiguous and zero-size)", () => {
  const erfRef = (x: number) => {
    // independent reference: high-order Abramowitz–Stegun 7.1.26 is too coarse, so integrate numerically
    const n = 2000;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const t = ((i + 0.5) / n) * x;
      s += Math.exp(-t * t);
    }
    return ((2 / Math.sqrt(Math.PI)) * s * x) / n;
  };
  const cases: [string, (t: T.Tensor) => T.Tensor, (x: number) => number, number, number][] = [
    ["exp", T.exp, Math.exp, -5, 5],
    ["log", T.log, Math.log, 0.01, 10],
    ["sqrt", T.sqrt, Math.sqrt, 0, 10],
    ["abs", T.abs, Math.abs, -5, 5],
    ["neg", T.neg, (x) => -x, -5, 5],
    ["tanh", T.tanh, Math.tanh, -5, 5],
    ["sigmoid", T.sigmoid, (x) => 1 / (1 + Math.exp(-x)), -30, 30],
    ["relu", T.relu, (x) => Math.max(x, 0), -5, 5],
    ["gelu", T.gelu, (x) => 0.5 * x * (1 + erfRef(x / Math.SQRT2)), -5, 5],
    ["erf", T.erfOp, erfRef, -3, 3],
  ];
  for (const [name, op, ref, lo, hi] of cases) {
    for (let c = 0; c < 8; c++) {
      const x = randomTensor(g, randomShape(g), rand(lo, hi));
      const r = op(x);
      assert.deepEqual(r.shape, x.shape);
      assertClose(
        flat(r),
        flat(x).map((v) => Math.fround(ref(v))),
        2e-6,
        1e-6,
        name,
      );
    }
  }
  assert.equal(T.relu(T.tensor([-1, 2], "int32")).dtype, "int32");
  assert.equal(T.exp(T.tensor([0], "int32")).dtype, "float32");
  assert.deepEqual(flat(T.sigmoid(T.tensor([-1000, 1000]))), [0, 1]);
  const x = T.tensor([1, 4, 9]);
  T.sqrt(x, { out: x });
  assert.deepEqual(x.toArray(), [1, 2, 3]);
});

test("long-row fast paths (flat kernels, row broadcasting, float64) agree with the reference", () => {
  for (const [name, op, ref] of BINARY.slice(0, 4)) {
    for (const dtype of ["float32", "float64"] as const) {
      const a = g.uniform([3, 130], { low: 0.5, high: 2, dtype });
      const row = g.uniform([130], { low: 0.5, high: 2, dtype });
      const fa = flat(a);
      const fr = flat(row);
      const round = dtype === "float32" ? Math.fround : (x: number) => x;
      const r1 = op(a, row);
      assertClose(
        flat(r1),
        fa.map((v, i) => round(ref(v, fr[i % 130]!))),
        1e-6,
        1e-7,
        `${name} row ${dtype}`,
      );
      const r2 = op(a, a.slice(null, [null, null, -1]));
      assertClose(
        flat(r2),
        fa.map((v, i) => round(ref(v, fa[Math.floor(i / 130) * 130 + 129 - (i % 130)]!))),
        1e-6,
        1e-7,
        `${name} rev`,
      );
      assertClose(
        flat(op(a, 1.5)),
        fa.map((v) => round(ref(v, 1.5))),
        1e-6,
        1e-7,
        `${name} scalar rhs`,
      );
      assertClose(
        flat(op(1.5, a)),
        fa.map((v) => round(ref(1.5, v))),
        1e-6,
        1e-7,
        `${name} scalar lhs`,
      );
      assert.equal(r1.dtype, dtype);
    }
  }
});

test("large float32 add/sub/mul/div (chunked WASM SIMD path) equal the JS loops exactly, in place too", () => {
  assert.ok(T.wasmEwiseAvailable(), "ewise.wasm loads");
  const n = 2 * 32768 + 7; // two full 32768-element chunks (kernels/ewise-wasm.ts) plus a ragged tail
  const a = g.uniform([n], { low: 0.5, high: 2 });
  const b = g.uniform([n], { low: 0.5, high: 2 });
  for (const [name, op] of BINARY.slice(0, 4).map(([nm, f]) => [nm, f] as const)) {
    const viaWasm = [op(a, b), op(a, 0.75), op(0.75, a)];
    T.setWasmEwiseEnabled(false);
    let viaJs: T.Tensor[];
    try {
      viaJs = [op(a, b), op(a, 0.75), op(0.75, a)];
    } finally {
      T.setWasmEwiseEnabled(true);
    }
    viaWasm.forEach((w, i) => {
      assert.deepEqual(w.data, viaJs[i]!.data, `${name} case ${i}`);
    });
    const inPlace = a.clone();
    op(inPlace, b, { out: inPlace });
    assert.deepEqual(inPlace.data, viaJs[0]!.data, `${name} in place`);
  }
});

test("int64 arithmetic is exact beyond 2^53 and wraps at 64 bits", () => {
  const big = T.tensor([2n ** 60n + 1n, -(2n ** 62n), 9007199254740993n]);
  assert.deepEqual(T.add(big, 1).toArray(), [2n ** 60n + 2n, -(2n ** 62n) + 1n, 9007199254740994n]);
  assert.deepEqual(T.sub(big, T.tensor([1n])).toArray(), [2n ** 60n, -(2n ** 62n) - 1n, 9007199254740992n]);
  assert.deepEqual(T.mul(T.tensor([2n ** 62n]), 4).toArray(), [0n]);
  assert.deepEqual(T.maximum(big, T.tensor([0n])).toArray(), [2n ** 60n + 1n, 0n, 9007199254740993n]);
  assert.deepEqual(T.add(T.tensor([[1n], [2n]]), T.tensor([10, 20], "int32")).toArray(), [
    [11n, 21n],
    [12n, 22n],
  ]);
  const x = T.tensor([1n, 2n]);
  T.addInPlace(x, x);
  assert.deepEqual(x.toArray(), [2n, 4n]);
});

test("float32 ops with a number give the same elements at every length (WASM path or JS loop)", () => {
  // 0.1 and 1e40 are not float32 values: rounding them to float32 first would change results (1e-10 * 1e40
  // would overflow to Infinity), so a long tensor must give what a short one gives, element for element.
  const n = 4099;
  const x = g.uniform([n], { low: 1e-10, high: 2e-10 });
  for (const [name, op] of BINARY.slice(0, 4).map(([nm, f]) => [nm, f] as const)) {
    for (const s of [0.1, 1e40, 1e-40, 0.75]) {
      for (const [long, short] of [
        [op(x, s), op(x.narrow(0, 0, 8), s)],
        [op(s, x), op(s, x.narrow(0, 0, 8))],
      ] as const) {
        assert.deepEqual(
          Array.from(long.data as Float32Array).slice(0, 8),
          Array.from(short.data as Float32Array),
          `${name} ${s}`,
        );
      }
    }
  }
});
