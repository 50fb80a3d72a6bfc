import assert from "node:assert/strict";
import { test } from "node:test";
import * as T from "../../src/tensor/index.ts";
import { assertClose, flat, randInt, randomShape, randomTensor, size, unravel } from "./helpers.ts";

const g = T.rng(4004);

/** Reference row-wise map along `axis`: applies f to each row (float64) and scatters back. */
function refAlong(x: T.Tensor, axis: number, f: (row: number[]) => number[]): number[] {
  const ax = axis < 0 ? axis + x.ndim : axis;
  const fx = flat(x);
  const out = new Array<number>(fx.length);
  const n = x.shape[ax]!;
  const rows = new Map<string, number[]>();
  fx.forEach((_, i) => {
    const idx = unravel(i, x.shape);
    const key = idx.map((v, k) => (k === ax ? "*" : v)).join(",");
    if (!rows.has(key)) rows.set(key, []);
    rows.get(key)!.push(i);
  });
  for (const pos of rows.values()) {
    assert.equal(pos.length, n);
    const res = f(pos.map((p) => fx[p]!));
    pos.forEach((p, j) => {
      out[p] = res[j]!;
    });
  }
  return out;
}

const softmaxRef = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

test("softmax and logSoftmax match references along any axis", () => {
  for (let c = 0; c < 40; c++) {
    const x = randomTensor(g, randomShape(g, 1, 4, 5), (s) => g.uniform(s, { low: -20, high: 20 }));
    const axis = randInt(g, -x.ndim, x.ndim - 1);
    assertClose(
      flat(T.softmax(x, { axis })),
      refAlong(x, axis, softmaxRef).map(Math.fround),
      1e-5,
      1e-7,
      "softmax",
    );
    const lsm = (r: number[]) => softmaxRef(r).map(Math.log);
    assertClose(
      flat(T.logSoftmax(x, { axis })),
      refAlong(x, axis, lsm).map(Math.fround),
      1e-5,
      1e-5,
      "logSoftmax",
    );
  }
  // stability: huge logits do not overflow
  assertClose(flat(T.softmax(T.tensor([1000, 1001, 1002]))), softmaxRef([0, 1, 2]).map(Math.fround), 1e-6, 0);
  assertClose(flat(T.logSoftmax(T.tensor([-1000, 0]))), [-1000, 0], 1e-6, 0);
  const out = T.zeros([2, 3]);
  T.softmax(T.ones([2, 3]), { out });
  assertClose(flat(out), [1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3], 1e-6, 0);
});

test("layerNorm, l2Normalize and cosineSimilarity match references", () => {
  for (let c = 0; c < 20; c++) {
    const x = randomTensor(g, randomShape(g, 1, 3, 6, false), (s) => g.normal(s, { mean: 3, std: 2 }));
    const d = x.shape[x.ndim - 1]!;
    const w = g.uniform([d]);
    const b = g.uniform([d]);
    const fw = flat(w);
    const fb = flat(b);
    const ln = (r: number[]) => {
      const m = r.reduce((a, v) => a + v, 0) / r.length;
      const v = r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length;
      return r.map((x, i) => ((x - m) / Math.sqrt(v + 1e-5)) * fw[i]! + fb[i]!);
    };
    assertClose(
      flat(T.layerNorm(x, { weight: w, bias: b })),
      refAlong(x, -1, ln).map(Math.fround),
      1e-5,
      1e-5,
      "layerNorm",
    );
    const l2 = (r: number[]) => {
      const n = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
      return r.map((v) => v / Math.max(n, 1e-12));
    };
    const axis = randInt(g, 0, x.ndim - 1);
    assertClose(
      flat(T.l2Normalize(x, { axis })),
      refAlong(x, axis, l2).map(Math.fround),
      1e-5,
      1e-6,
      "l2Normalize",
    );
  }
  assert.deepEqual(flat(T.l2Normalize(T.zeros([2]))), [0, 0]);
  assert.throws(() => T.layerNorm(T.zeros([2, 3]), { weight: T.ones([2]) }), { code: "E_SHAPE_MISMATCH" });
  const a = g.normal([5, 8]);
  const bm = randomTensor(g, [7, 8], (s) => g.normal(s));
  const cs = T.cosineSimilarity(a, bm);
  assert.deepEqual(cs.shape, [5, 7]);
  const fa = flat(a);
  const fbm = flat(bm);
  const want: number[] = [];
  for (let i = 0; i < 5; i++)
    for (let j = 0; j < 7; j++) {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let k = 0; k < 8; k++) {
        dot += fa[i * 8 + k]! * fbm[j * 8 + k]!;
        na += fa[i * 8 + k]! ** 2;
        nb += fbm[j * 8 + k]! ** 2;
      }
      want.push(dot / Math.sqrt(na * nb));
    }
  assertClose(flat(cs), want, 1e-5, 1e-6, "cosine");
  assert.throws(() => T.cosineSimilarity(T.zeros([2, 3]), T.zeros([2, 4])), { code: "E_SHAPE_MISMATCH" });
});

test("topk matches a sort-based reference (largest and smallest, any axis, ties by index)", () => {
  for (let c = 0; c < 30; c++) {
    const x = randomTensor(g, randomShape(g, 1, 3, 6), (s) => T.cast(g.integers(s, 0, 5), "float32"));
    const axis = randInt(g, 0, x.ndim - 1);
    const n = x.shape[axis]!;
    const k = randInt(g, 0, n);
    const largest = g.nextFloat() < 0.5;
    const { values, indices } = T.topk(x, k, { axis, largest });
    const wantShape = x.shape.map((d, i) => (i === axis ? k : d));
    assert.deepEqual(values.shape, wantShape);
    assert.deepEqual(indices.shape, wantShape);
    // reference: per row, stable sort of indices
    const fx = flat(x);
    const fi = flat(indices);
    const fv = flat(values);
    for (let i = 0; i < size(wantShape); i++) {
      const idx = unravel(i, wantShape);
      const row = Array.from({ length: n }, (_, j) => {
        const full = [...idx];
        full[axis] = j;
        let p = 0;
        for (let q = 0; q < full.length; q++) p = p * x.shape[q]! + full[q]!;
        return fx[p]!;
      });
      const order = [...row.keys()].sort(
        (p, q) => (largest ? row[q]! - row[p]! : row[p]! - row[q]!) || p - q,
      );
      assert.equal(fi[i], order[idx[axis]!]);
      assert.equal(fv[i], row[order[idx[axis]!]!]);
    }
  }
  assert.deepEqual(T.topk(T.tensor([3, 1, 4, 1, 5]), 2).indices.toArray(), [4, 2]);
  assert.deepEqual(T.topk(T.tensor([1, Number.NaN, 3]), 1).indices.toArray(), [1]);
  assert.deepEqual(T.topk(T.tensor([1, Number.NaN, 3]), 3, { largest: false }).indices.toArray(), [0, 2, 1]);
  assert.deepEqual(T.topk(T.tensor([Number.NaN, 5, Number.NaN]), 2).indices.toArray(), [0, 2]);
  // a long row with many ties against a full stable sort
  const long = T.cast(g.integers([5000], 0, 50), "float32");
  const fl = flat(long);
  const order = [...fl.keys()].sort((p, q) => fl[q]! - fl[p]! || p - q);
  const t = T.topk(long, 37);
  assert.deepEqual(flat(t.indices), order.slice(0, 37));
  assert.deepEqual(
    flat(t.values),
    order.slice(0, 37).map((i) => fl[i]!),
  );
  assert.throws(() => T.topk(T.tensor([1, 2]), 3), { code: "E_TOPK_K" });
});

test("concat and stack fill one buffer and match nested-array joins", () => {
  for (let c = 0; c < 20; c++) {
    const base = randomShape(g, 1, 3, 4);
    const axis = randInt(g, 0, base.length - 1);
    const parts = Array.from({ length: randInt(g, 1, 4) }, () => {
      const s = [...base];
      s[axis] = randInt(g, 0, 3);
      return randomTensor(g, s, (sh) => g.uniform(sh));
    });
    const r = T.concat(parts, { axis });
    const join = (arrs: unknown[], ax: number): unknown =>
      ax === 0
        ? arrs.flatMap((a) => a as unknown[])
        : (arrs[0] as unknown[]).map((_, i) =>
            join(
              arrs.map((a) => (a as unknown[])[i]),
              ax - 1,
            ),
          );
    const allNonEmpty = parts.every((p) => p.shape.slice(0, axis).every((d) => d > 0));
    if (allNonEmpty)
      assert.deepEqual(
        r.toArray(),
        join(
          parts.map((p) => p.toArray()),
          axis,
        ),
      );
    assert.equal(
      r.shape[axis],
      parts.reduce((a, p) => a + p.shape[axis]!, 0),
    );
    const same = parts.map(() => randomTensor(g, base, (sh) => g.uniform(sh)));
    const st = T.stack(same, { axis });
    assert.deepEqual(st.shape, [...base.slice(0, axis), same.length, ...base.slice(axis)]);
    for (let j = 0; j < same.length; j++) assert.deepEqual(st.select(axis, j).toArray(), same[j]!.toArray());
  }
  assert.equal(T.concat([T.tensor([1], "int32"), T.tensor([0.5])]).dtype, "float32");
  assert.throws(() => T.concat([T.zeros([2, 2]), T.zeros([2, 3])]), { code: "E_SHAPE_MISMATCH" });
  assert.throws(() => T.stack([T.zeros([2]), T.zeros([3])]), { code: "E_SHAPE_MISMATCH" });
  assert.throws(() => T.concat([]), { code: "E_SHAPE_INVALID" });
});

test("float16 tensors go through every op family and stay float16", () => {
  const h = T.tensor(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    "float16",
  );
  const f = T.cast(h, "float32");
  const pairs: [string, T.Tensor, T.Tensor][] = [
    ["softmax", T.softmax(h), T.softmax(f)],
    ["layerNorm", T.layerNorm(h), T.layerNorm(f)],
    ["l2Normalize", T.l2Normalize(h, { axis: 0 }), T.l2Normalize(f, { axis: 0 })],
    ["matmul", T.matmul(h, h.transpose()), T.matmul(f, f.transpose())],
    ["exp", T.exp(h), T.exp(f)],
    ["sum", T.sum(h, { axis: 0 }), T.sum(f, { axis: 0 })],
    ["mean", T.mean(h, { axis: 1 }), T.mean(f, { axis: 1 })],
    ["topk", T.topk(h, 2).values, T.topk(f, 2).values],
    ["concat", T.concat([h, h]), T.concat([f, f])],
    ["where", T.where(T.gt(h, 2), h, 0), T.where(T.gt(f, 2), f, 0)],
  ];
  for (const [name, half, single] of pairs) {
    assert.equal(half.dtype, "float16", name);
    // float16 has an 11-bit significand: results agree to ~1e-3 relative
    assertClose(flat(half), flat(single), 1e-3, 1e-3, name);
  }
});

test("WASM SIMD softmax matches the float64 row reference (chunks, ragged tails, -inf, NaN, long rows)", () => {
  for (const [rows, cols] of [
    [37, 1000],
    [3, 5003],
    [2, 40000],
    [5, 3],
  ] as const) {
    const x = g.uniform([rows, cols], { low: -60, high: 60 });
    const d = x.data as Float32Array;
    d[1] = -Infinity;
    const got = T.softmax(x);
    assertClose(
      flat(got),
      refAlong(x, -1, softmaxRef).map(Math.fround),
      2e-6,
      1e-9,
      `softmax [${rows},${cols}]`,
    );
    const out = T.zeros([rows, cols]);
    assert.equal(T.softmax(x, { out }), out);
    assert.deepEqual(out.data, got.data);
  }
  const nan = T.softmax(
    T.tensor([
      [1, Number.NaN, 3],
      [1, 2, 3],
    ]),
  );
  assert.ok(flat(nan).slice(0, 3).every(Number.isNaN));
  T.setWasmSoftmaxEnabled(false);
  try {
    const x = g.normal([4, 100]);
    const js = T.softmax(x);
    T.setWasmSoftmaxEnabled(true);
    assertClose(flat(T.softmax(x)), flat(js), 1e-6, 1e-9, "wasm vs js");
  } finally {
    T.setWasmSoftmaxEnabled(true);
  }
});
