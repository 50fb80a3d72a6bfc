import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type OrtMatmulHandle, useOrtMatmul } from "../../src/runtime/index.ts";
import {
  matmul,
  matmulAsync,
  matmulBackendName,
  rng,
  type Tensor,
  TesseraError,
  zeros,
} from "../../src/tensor/index.ts";

const g = rng(2024);
const u = (shape: number[]) => g.uniform(shape, { low: -1, high: 1 }) as Tensor;

/** Values of a float32 tensor (any layout) in row-major order, as float64. */
function values(t: Tensor): number[] {
  return Array.from(t.contiguous().data as Float32Array);
}

/** float64 reference for [...ba, M, K] @ [...bb, K, N] with NumPy batch broadcasting (both rank ≥ 2). */
function refMatmul(a: Tensor, b: Tensor): { shape: number[]; vals: number[] } {
  const M = a.shape[a.ndim - 2]!;
  const K = a.shape[a.ndim - 1]!;
  const N = b.shape[b.ndim - 1]!;
  const rank = Math.max(a.ndim, b.ndim) - 2;
  const pad = (s: readonly number[]) => [
    ...new Array<number>(rank - (s.length - 2)).fill(1),
    ...s.slice(0, -2),
  ];
  const ab = pad(a.shape);
  const bb = pad(b.shape);
  const batch = ab.map((d, i) => (d === 1 ? bb[i]! : d));
  const fa = values(a);
  const fb = values(b);
  const nb = batch.reduce((x, y) => x * y, 1);
  const vals: number[] = [];
  for (let bi = 0; bi < nb; bi++) {
    // unravel bi over batch, ravel over each operand's own batch (size-1 axes pinned to 0)
    let rem = bi;
    let pa = 0;
    let pb = 0;
    const idx: number[] = [];
    for (let k = rank - 1; k >= 0; k--) {
      idx[k] = rem % batch[k]!;
      rem = Math.floor(rem / batch[k]!);
    }
    for (let k = 0; k < rank; k++) {
      pa = pa * ab[k]! + (ab[k] === 1 ? 0 : idx[k]!);
      pb = pb * bb[k]! + (bb[k] === 1 ? 0 : idx[k]!);
    }
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += fa[pa * M * K + i * K + k]! * fb[pb * K * N + k * N + j]!;
        vals.push(s);
      }
  }
  return { shape: [...batch, M, N], vals };
}

/** |got − want| ≤ 1e-5·K + 1e-5·|want| (float32 accumulation over K terms of magnitude ≤ 1). */
function assertMatches(got: Tensor, a: Tensor, b: Tensor, what: string): void {
  const want = refMatmul(a, b);
  assert.deepEqual([...got.shape], want.shape, `${what}: shape`);
  const K = a.shape[a.ndim - 1]!;
  const gv = values(got);
  for (let i = 0; i < gv.length; i++) {
    const w = want.vals[i]!;
    assert.ok(
      Math.abs(gv[i]! - w) <= 1e-5 * K + 1e-5 * Math.abs(w),
      `${what}: element ${i}: ${gv[i]} vs ${w}`,
    );
  }
}

/** OS threads of this process (Linux), or undefined elsewhere. */
function threadCount(): number | undefined {
  return existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : undefined;
}

describe("useOrtMatmul", () => {
  let h: OrtMatmulHandle;
  before(() => {
    h = useOrtMatmul();
  });
  after(() => h.close());

  test("a large 2-D problem runs on ORT and equals the float64 reference", async () => {
    const a = u([200, 256]);
    const b = u([256, 160]); // 2·200·256·160 ≈ 16 MFLOP ≥ the default threshold
    assert.ok(2 * 200 * 256 * 160 >= h.minFlops);
    const before = h.stats.ort;
    const c = await matmulAsync(a, b);
    assert.equal(h.stats.ort, before + 1, "ran on ORT");
    assertMatches(c, a, b, "2-D");
    // `out` is written in place
    const out = zeros([200, 160]);
    assert.equal(await matmulAsync(a, b, { out }), out);
    assertMatches(out, a, b, "2-D out");
  });

  test("below the threshold the local kernel runs (the backend declines)", async () => {
    const a = u([16, 24]);
    const b = u([24, 8]);
    const { ort, local } = h.stats;
    const c = await matmulAsync(a, b);
    assert.equal(h.stats.ort, ort);
    assert.equal(h.stats.local, local + 1);
    assertMatches(c, a, b, "small");
  });
});

describe("useOrtMatmul with minFlops 0: batched, broadcast and non-contiguous operands", () => {
  let h: OrtMatmulHandle;
  before(() => {
    h = useOrtMatmul({ minFlops: 0, intraOpThreads: 1 });
  });
  after(() => h.close());

  test("equal batches, broadcast batches, batch @ one matrix", async () => {
    const cases: [number[], number[]][] = [
      [
        [3, 17, 23],
        [3, 23, 9],
      ],
      [
        [2, 1, 7, 5],
        [3, 5, 4],
      ], // rank 4 vs 3, both sides broadcast
      [
        [1, 6, 5],
        [4, 5, 3],
      ],
      [
        [4, 11, 6],
        [6, 13],
      ], // flattened to one [44, 6] @ [6, 13] GEMM
    ];
    for (const [sa, sb] of cases) {
      const a = u(sa);
      const b = u(sb);
      const before = h.stats.ort;
      const c = await matmulAsync(a, b);
      assert.equal(h.stats.ort, before + 1, `${sa} @ ${sb}: one ORT run for the whole batch`);
      assertMatches(c, a, b, `${sa} @ ${sb}`);
    }
  });

  test("transposed, strided and expanded views", async () => {
    const base = u([9, 40, 30]);
    const a = base.slice(null, [2, 30, 2]).transpose(-1, -2); // [9, 30, 14], strided
    const b = u([14, 12]).expand([9, 14, 12]);
    assert.equal(a.isContiguous(), false);
    assert.equal(b.isContiguous(), false);
    const c = await matmulAsync(a, b);
    assertMatches(c, a, b, "views");
  });

  test("1-D operands keep NumPy semantics", async () => {
    const v = u([20]);
    const m = u([20, 7]);
    const c = await matmulAsync(v, m);
    assert.deepEqual([...c.shape], [7]);
    const want = refMatmul(v.unsqueeze(0), m).vals;
    for (const [i, x] of values(c).entries()) assert.ok(Math.abs(x - want[i]!) < 1e-4, `element ${i}`);
  });

  test("one cached session per rank", async () => {
    assert.equal(h.openSessions, 3); // ranks 2, 3, 4 from the cases above
    await matmulAsync(u([2, 3, 4]), u([2, 4, 5]));
    assert.equal(h.openSessions, 3);
  });
});

describe("useOrtMatmul({ sync: true }) backs the synchronous matmul", () => {
  let h: OrtMatmulHandle;
  before(async () => {
    h = useOrtMatmul({ sync: true, intraOpThreads: 1 });
    await h.ready;
  });
  after(() => h.close());

  test("large GEMMs run on ORT and equal the reference; small ones run locally", () => {
    assert.equal(matmulBackendName(), "onnxruntime (worker, sync)");
    const a = u([150, 140]);
    const b = u([140, 130]); // 5.5 MFLOP ≥ the 4 MFLOP sync default
    let c = matmul(a, b);
    assert.equal(h.stats.syncOrt, 1);
    assertMatches(c, a, b, "sync 2-D");
    // batched: one sync ORT call per batch matrix; non-contiguous operands are made dense first
    const x = u([3, 140, 150]).transpose(-1, -2); // [3, 150, 140]
    const y = u([140, 130]);
    c = matmul(x, y);
    assert.equal(h.stats.syncOrt, 4);
    assertMatches(c, x, y, "sync batched");
    // a bigger problem after smaller ones grows the shared buffer
    const p = u([300, 260]);
    const q = u([260, 280]);
    assertMatches(matmul(p, q), p, q, "sync grown");
    assert.equal(h.stats.syncOrt, 5);
    const small = matmul(u([8, 8]), u([8, 8]));
    assert.deepEqual([...small.shape], [8, 8]);
    assert.equal(h.stats.syncOrt, 5, "below syncMinFlops: local kernel");
  });
});

test("close() unregisters the backend and stops the worker and its ORT threads", async () => {
  const t0 = threadCount();
  const before = matmulBackendName();
  const h = useOrtMatmul({ minFlops: 0, intraOpThreads: 2, sync: true, syncMinFlops: 0 });
  await h.ready;
  await matmulAsync(u([8, 8]), u([8, 8]));
  matmul(u([8, 8]), u([8, 8]));
  assert.deepEqual(h.stats, { ort: 1, local: 0, syncOrt: 1 });
  assert.equal(h.openSessions, 2);
  const during = threadCount();
  await h.close();
  const afterClose = threadCount();
  assert.equal(h.openSessions, 0);
  if (t0 !== undefined && during !== undefined && afterClose !== undefined) {
    assert.ok(during > t0, `threads grew while open (${t0} → ${during})`);
    assert.ok(afterClose < during, `threads released on close (${during} → ${afterClose})`);
  }
  const a = u([8, 8]);
  const b = u([8, 8]);
  assertMatches(await matmulAsync(a, b), a, b, "after close");
  assertMatches(matmul(a, b), a, b, "sync after close");
  assert.deepEqual(h.stats, { ort: 1, local: 0, syncOrt: 1 }, "no ORT run after close");
  assert.equal(matmulBackendName(), before, "the sync backend is unregistered");
  await h.close(); // idempotent
});

test("a process that closes the backend exits by itself", () => {
  const script = `
    import { useOrtMatmul } from "./src/runtime/index.ts";
    import { matmul, matmulAsync, ones } from "./src/tensor/index.ts";
    const h = useOrtMatmul({ minFlops: 0, intraOpThreads: 1, sync: true, syncMinFlops: 0 });
    await h.ready;
    const c = await matmulAsync(ones([4, 3]), ones([3, 2]));
    const d = matmul(ones([2, 5]), ones([5, 1]));
    await h.close();
    console.log(h.stats.ort, h.stats.syncOrt, Array.from(c.data).join(","), Array.from(d.data).join(","));
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.signal, null, `child was killed (timeout?): ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "1 1 3,3,3,3,3,3,3,3 5,5");
});

test("options are validated", () => {
  for (const bad of [
    { minFlops: -1 },
    { minFlops: Number.NaN },
    { intraOpThreads: 0 },
    { intraOpThreads: 1.5 },
  ]) {
    assert.throws(
      () => useOrtMatmul(bad),
      (e: unknown) => e instanceof TesseraError && e.code === "E_OPTIONS_INVALID",
    );
  }
});
