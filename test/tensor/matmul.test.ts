import assert from "node:assert/strict";
import { test } from "node:test";
import * as T from "../../src/tensor/index.ts";
import { assertClose, flat, randInt, randomTensor, size, unravel } from "./helpers.ts";

const g = T.rng(3003);

/** float64 reference with NumPy matmul semantics. */
function refMatmul(a: T.Tensor, b: T.Tensor): { shape: number[]; vals: number[] } {
  const as = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const M = as[as.length - 2]!;
  const K = as[as.length - 1]!;
  const N = bs[bs.length - 1]!;
  const ab = as.slice(0, -2);
  const bb = bs.slice(0, -2);
  const nb = Math.max(ab.length, bb.length);
  const batch = Array.from({ length: nb }, (_, i) => {
    const x = ab[ab.length - nb + i] ?? 1;
    const y = bb[bb.length - nb + i] ?? 1;
    return x === 1 ? y : x;
  });
  const fa = flat(a);
  const fb = flat(b);
  const vals: number[] = [];
  const pos = (idx: number[], bshape: number[]) => {
    let p = 0;
    for (let k = 0; k < bshape.length; k++)
      p = p * bshape[k]! + (bshape[k] === 1 ? 0 : idx[nb - bshape.length + k]!);
    return p;
  };
  for (let bi = 0; bi < size(batch); bi++) {
    const idx = unravel(bi, batch);
    const pa = pos(idx, ab) * M * K;
    const pb = pos(idx, bb) * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += fa[pa + i * K + k]! * fb[pb + k * N + j]!;
        vals.push(s);
      }
  }
  let shape = [...batch, M, N];
  if (a.ndim === 1 && b.ndim === 1) shape = [];
  else if (a.ndim === 1) shape = [...batch, N];
  else if (b.ndim === 1) shape = [...batch, M];
  return { shape, vals };
}

const u = (s: number[]) => g.uniform(s, { low: -1, high: 1 });

test("matmul matches a float64 reference: batch broadcasting, 1-D operands, strided views, zero sizes", () => {
  for (let c = 0; c < 60; c++) {
    const M = randInt(g, 0, 9);
    const K = randInt(g, 0, 9);
    const N = randInt(g, 0, 9);
    const batchA = Array.from({ length: randInt(g, 0, 2) }, () => randInt(g, 1, 3));
    const batchB = batchA.map((d) => (g.nextFloat() < 0.3 ? 1 : d)).slice(randInt(g, 0, batchA.length));
    const a = c % 7 === 0 ? randomTensor(g, [K], u) : randomTensor(g, [...batchA, M, K], u);
    const b = c % 5 === 0 ? randomTensor(g, [K], u) : randomTensor(g, [...batchB, K, N], u);
    const r = T.matmul(a, b);
    const ref = refMatmul(a, b);
    assert.deepEqual(r.shape, ref.shape, `shape ${JSON.stringify(a.shape)} @ ${JSON.stringify(b.shape)}`);
    assertClose(flat(r), ref.vals, 1e-5, 1e-5, `${JSON.stringify(a.shape)} @ ${JSON.stringify(b.shape)}`);
  }
});

test("blocked kernel edges: sizes that are not multiples of the blocks", () => {
  for (const [M, K, N] of [
    [67, 300, 70],
    [5, 257, 129],
    [1, 1, 1],
    [4, 512, 4],
  ] as const) {
    const a = u([M, K]);
    const b = u([K, N]);
    assertClose(flat(T.matmul(a, b)), refMatmul(a, b).vals, 1e-5, 1e-5, `${M}x${K}x${N}`);
    const a64 = T.cast(a, "float64");
    const b64 = T.cast(b, "float64");
    const r64 = T.matmul(a64, b64);
    assert.equal(r64.dtype, "float64");
    assertClose(flat(r64), refMatmul(a64, b64).vals, 1e-12, 1e-12, `f64 ${M}x${K}x${N}`);
  }
});

test("matmul dtypes, out, errors and the backend hook", () => {
  const i = T.tensor(
    [
      [1, 2],
      [3, 4],
    ],
    "int32",
  );
  assert.deepEqual(T.matmul(i, i).toArray(), [
    [7, 10],
    [15, 22],
  ]);
  assert.equal(T.matmul(i, i).dtype, "int32");
  const out = T.zeros([2, 2]);
  const a = T.tensor([
    [1, 2],
    [3, 4],
  ]);
  assert.equal(T.matmul(a, a, { out }), out);
  assert.deepEqual(out.toArray(), [
    [7, 10],
    [15, 22],
  ]);
  const outT = T.zeros([2, 2]).transpose();
  T.matmul(a, a, { out: outT });
  assert.deepEqual(outT.toArray(), [
    [7, 10],
    [15, 22],
  ]);
  assert.throws(
    () => T.matmul(T.zeros([2, 3]), T.zeros([4, 5])),
    (e: unknown) =>
      e instanceof T.TesseraError &&
      e.code === "E_MATMUL_INNER" &&
      e.message === "matmul: inner dimensions differ: [2,3] @ [4,5]",
  );
  assert.throws(() => T.matmul(T.zeros([2, 2, 3]), T.zeros([3, 3, 4])), { code: "E_SHAPE_BROADCAST" });
  assert.throws(() => T.matmul(T.scalar(1), T.zeros([1])), { code: "E_MATMUL_RANK" });
  const calls: number[][] = [];
  const prev = T.setMatmulBackend((_x, _y, c, M, N, K) => {
    calls.push([M, N, K]);
    if (M < 3) return false;
    c.fill(42);
    return true;
  }, "test");
  try {
    assert.equal(T.matmulBackendName(), "test");
    assert.deepEqual(T.matmul(a, a).toArray(), [
      [7, 10],
      [15, 22],
    ]);
    assert.deepEqual(flat(T.matmul(T.ones([3, 2]), T.ones([2, 1]))), [42, 42, 42]);
    assert.deepEqual(calls, [
      [2, 2, 2],
      [3, 1, 2],
    ]);
  } finally {
    T.setMatmulBackend(prev);
  }
  assert.notEqual(T.matmulBackendName(), "test");
});

test("WASM SIMD and JS kernels agree with the reference on edge-tile sizes", () => {
  assert.ok(T.matmulBackendName() === "wasm-simd", "the committed gemm.wasm loads");
  for (const [M, K, N] of [
    [1, 3, 5],
    [3, 1, 9],
    [7, 300, 13],
    [9, 513, 600],
    [4, 8, 8],
    [0, 4, 4],
    [4, 0, 4],
  ] as const) {
    const a = g.uniform([M, K], { low: -1, high: 1 }).data as Float32Array;
    const b = g.uniform([K, N], { low: -1, high: 1 }).data as Float32Array;
    const cw = new Float32Array(M * N).fill(Number.NaN);
    const cj = new Float32Array(M * N).fill(Number.NaN);
    T.gemmBuiltin(a, b, cw, M, N, K);
    T.gemmJS(a, 0, b, 0, cj, 0, M, N, K);
    const ref = refMatmul(T.Tensor.wrap(a, [M, K]), T.Tensor.wrap(b, [K, N])).vals;
    assertClose(Array.from(cw), ref, 1e-5, 1e-5, `wasm ${M}x${K}x${N}`);
    assertClose(Array.from(cj), ref, 1e-5, 1e-5, `js ${M}x${K}x${N}`);
  }
  T.setWasmGemmEnabled(false);
  try {
    assert.equal(T.matmulBackendName(), "js");
    assert.deepEqual(T.matmul(T.ones([5, 3]), T.ones([3, 9])).toArray(), T.full([5, 9], 3).toArray());
  } finally {
    T.setWasmGemmEnabled(true);
  }
});

test("matmulAsync delegates float32 GEMMs to the async backend and falls back when it declines", async () => {
  const a = g.uniform([2, 3, 4]);
  const b = g.uniform([4, 5]);
  const want = flat(T.matmul(a, b));
  const seen: number[][] = [];
  const prev = T.setAsyncMatmulBackend(async (x, y, c, M, N, K) => {
    seen.push([M, N, K]);
    if (seen.length === 1) return false; // decline the first batch: the sync kernel runs it
    T.gemmJS(x, 0, y, 0, c, 0, M, N, K);
    return true;
  });
  try {
    const r = await T.matmulAsync(a, b);
    assert.deepEqual(r.shape, [2, 3, 5]);
    assertClose(flat(r), want, 1e-6, 1e-6, "matmulAsync");
    assert.deepEqual(seen, [
      [3, 5, 4],
      [3, 5, 4],
    ]);
    assert.deepEqual((await T.matmulAsync(T.tensor([1, 2], "int32"), T.tensor([3, 4], "int32"))).item(), 11);
    await assert.rejects(T.matmulAsync(T.zeros([2, 3]), T.zeros([4, 5])), { code: "E_MATMUL_INNER" });
  } finally {
    T.setAsyncMatmulBackend(prev);
  }
});
