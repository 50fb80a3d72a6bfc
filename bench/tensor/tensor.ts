/**
 * Tensor core benchmark: elementwise add vs Float32Array.prototype.set, sum, row softmax, matmul vs ONNX Runtime
 * (sync WASM `matmul` and `matmulAsync` through src/runtime's `useOrtMatmul`, each against raw onnxruntime-node).
 *
 *   node --import tsx bench/tensor/tensor.ts [--quick]
 *
 * Every section has a baseline measured in the same run. "first" is the first (cold) call; after a few untimed
 * warm-up calls, `reps` calls give a median and a best. Rates and ratios use the best time: on a shared, loaded machine the best is the
 * least disturbed estimate of what the code can do (medians are printed beside them).
 */
import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";
import { matmulModel } from "../../src/onnx/index.ts";
import { useOrtMatmul } from "../../src/runtime/index.ts";
import {
  add,
  gemmJS,
  matmul,
  matmulAsync,
  matmulBackendName,
  rng,
  setMatmulBackend,
  softmax,
  sum,
  type Tensor,
  zeros,
} from "../../src/tensor/index.ts";

const quick = process.argv.includes("--quick");

interface Timing {
  first: number;
  median: number;
  best: number;
}

async function time(fn: () => unknown, reps: number): Promise<Timing> {
  let t = performance.now();
  await fn();
  const first = performance.now() - t;
  for (let w = 0; w < Math.min(reps, 5); w++) await fn(); // warm-up (not timed) so the JIT settles
  const xs: number[] = [];
  for (let r = 0; r < reps; r++) {
    t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { first, median: xs[Math.floor(xs.length / 2)]!, best: xs[0]! };
}

const lines: string[] = [];
const f2 = (x: number) => x.toFixed(2);
const g = rng(0);

// ---- elementwise add vs set, sum vs a plain loop ----
lines.push(
  "| op | size | first ms | median ms | best ms | rate (best) | × baseline |",
  "|---|---|---|---|---|---|---|",
);
const row = (op: string, size: string | number, t: Timing, rate: string, ratio: string) =>
  lines.push(`| ${op} | ${size} | ${f2(t.first)} | ${f2(t.median)} | ${f2(t.best)} | ${rate} | ${ratio} |`);
for (const n of quick ? [1 << 20] : [1 << 20, 1 << 24]) {
  const a = g.uniform([n]);
  const b = g.uniform([n]);
  const out = zeros([n]);
  const src = a.data as Float32Array;
  const dst = out.data as Float32Array;
  const reps = n > 1 << 22 ? 25 : 41;
  const setT = await time(() => dst.set(src), reps);
  const setGBs = (8 * n) / setT.best / 1e6; // read n floats + write n floats
  const addT = await time(() => add(a, b, { out }), reps);
  const addGBs = (12 * n) / addT.best / 1e6; // read 2n + write n
  const addNewT = await time(() => add(a, b), reps);
  const addNewGBs = (12 * n) / addNewT.best / 1e6;
  row("Float32Array.prototype.set (baseline)", n, setT, `${f2(setGBs)} GB/s`, "1.00");
  row("add(a, b, {out})", n, addT, `${f2(addGBs)} GB/s`, f2(addGBs / setGBs));
  row("add(a, b) (allocates)", n, addNewT, `${f2(addNewGBs)} GB/s`, f2(addNewGBs / setGBs));
  const naive = await time(() => {
    let s = 0;
    for (let i = 0; i < src.length; i++) s += src[i]!;
    return s;
  }, reps);
  const sumT = await time(() => sum(a), reps);
  const naiveGBs = (4 * n) / naive.best / 1e6;
  const sumGBs = (4 * n) / sumT.best / 1e6;
  row("plain JS loop sum (baseline)", n, naive, `${f2(naiveGBs)} GB/s`, "1.00");
  row("sum(a) (float64 accumulation)", n, sumT, `${f2(sumGBs)} GB/s`, f2(sumGBs / naiveGBs));
}

// ---- row softmax ----
{
  const R = quick ? 1024 : 4096;
  const C = 4096;
  const x = g.normal([R, C]);
  const out = zeros([R, C]);
  const xd = x.data as Float32Array;
  const od = out.data as Float32Array;
  const reps = quick ? 3 : 7;
  const base = await time(() => {
    for (let r = 0; r < R; r++) {
      const o = r * C;
      let m = -Infinity;
      for (let i = 0; i < C; i++) if (xd[o + i]! > m) m = xd[o + i]!;
      let s = 0;
      for (let i = 0; i < C; i++) {
        const e = Math.exp(xd[o + i]! - m);
        od[o + i] = e;
        s += e;
      }
      for (let i = 0; i < C; i++) od[o + i] = od[o + i]! / s;
    }
  }, reps);
  const sm = await time(() => softmax(x, { out }), reps);
  const rate = (t: Timing) => `${f2((R * C) / t.best / 1e3)} M elem/s`;
  row("plain JS row softmax (baseline)", `[${R},${C}]`, base, rate(base), "1.00");
  row("softmax(x, {axis: -1, out})", `[${R},${C}]`, sm, rate(sm), f2(base.best / sm.best));
}

// ---- matmul vs ORT ----
// Baselines: raw onnxruntime-node sessions running a single MatMul in this thread, with 1 intra-op thread (what
// the single-threaded WASM kernel competes with) and with all cores (what useOrtMatmul's worker session uses).
const cores = availableParallelism();
lines.push(
  "",
  `| n (n×n @ n×n) | raw ORT, 1 thread | matmul, WASM SIMD kernel (1 thread) | × ORT 1t | raw ORT, ${cores} threads (baseline) | matmulAsync + useOrtMatmul (${cores} threads, worker) | × ORT ${cores}t | matmul + useOrtMatmul({sync}) (${cores} threads, worker) | × ORT ${cores}t | JS kernel | first call ms: matmulAsync / sync / raw ORT ${cores}t |`,
  "|---|---|---|---|---|---|---|---|---|---|---|",
);
// The real runtime backend: cached per-rank openSession worker for matmulAsync, plus the SharedArrayBuffer
// worker that backs the synchronous matmul.
const ortMatmul = useOrtMatmul({ sync: true });
await ortMatmul.ready;
const ortSync = setMatmulBackend(null); // measure the built-in kernel first, then put the ORT one back
const withOrtSync = <T>(fn: () => T): T => {
  setMatmulBackend(ortSync, "onnxruntime (worker, sync)");
  try {
    return fn();
  } finally {
    setMatmulBackend(null);
  }
};
const rawSession = (threads: number, n: number) =>
  ort.InferenceSession.create(matmulModel(n, n, n, { bAsInput: true }).bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
try {
  for (const n of quick ? [256] : [256, 512, 1024]) {
    const a = g.uniform([n, n], { low: -1, high: 1 }) as Tensor<"float32">;
    const b = g.uniform([n, n], { low: -1, high: 1 }) as Tensor<"float32">;
    const flops = 2 * n * n * n;
    const reps = n >= 1024 ? 11 : 25;
    const feeds = {
      a: new ort.Tensor("float32", a.data as Float32Array, [n, n]),
      b: new ort.Tensor("float32", b.data as Float32Array, [n, n]),
    };
    const s1 = await rawSession(1, n);
    const sN = await rawSession(cores, n);
    const out = zeros([n, n]);
    // one contender at a time (not round-robin: ORT's intra-op threads spin for a while after each run, which
    // would slow whichever contender runs next on this 2-core machine)
    const ort1T = await time(() => s1.run(feeds), reps);
    const ortNT = await time(() => sN.run(feeds), reps);
    const tsT = await time(() => matmul(a, b, { out }), reps);
    const asyncT = await time(() => matmulAsync(a, b, { out }), reps);
    const syncT = await time(() => withOrtSync(() => matmul(a, b, { out })), reps);
    const c = new Float32Array(n * n);
    const jsT = await time(
      () => gemmJS(a.data as Float32Array, 0, b.data as Float32Array, 0, c, 0, n, n, n),
      1,
    );
    // correctness guard: both tessera paths vs ORT
    const ref = (await sN.run(feeds)).c!.data as Float32Array;
    for (const [name, mine] of [
      ["matmul", matmul(a, b).data as Float32Array],
      ["matmulAsync", (await matmulAsync(a, b)).data as Float32Array],
      ["matmul + sync ORT", withOrtSync(() => matmul(a, b)).data as Float32Array],
    ] as const) {
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - mine[i]!));
      if (maxDiff > 1e-3) throw new Error(`${name} ${n}: differs from ORT by ${maxDiff}`);
    }
    const gf = (t: Timing) => flops / t.best / 1e6;
    lines.push(
      `| ${n} | ${f2(gf(ort1T))} GFLOP/s | ${f2(gf(tsT))} | ${f2(gf(tsT) / gf(ort1T))} | ${f2(gf(ortNT))} GFLOP/s | ${f2(gf(asyncT))} | ${f2(gf(asyncT) / gf(ortNT))} | ${f2(gf(syncT))} | ${f2(gf(syncT) / gf(ortNT))} | ${f2(gf(jsT))} | ${f2(asyncT.first)} / ${f2(syncT.first)} / ${f2(ortNT.first)} |`,
    );
    await s1.release();
    await sN.release();
  }
  if (ortMatmul.stats.ort === 0)
    throw new Error("useOrtMatmul never ran: the async rows did not measure ORT");
} finally {
  await ortMatmul.close();
}

console.log(lines.join("\n"));
console.log(
  "\nGB/s counts bytes read + written by each side: set 8 B/element (read n, write n floats), add 12 B/element (read a and b, write o), sum 4 B/element.",
);
console.log(
  `\nbuilt-in sync matmul kernel: ${matmulBackendName()}; ORT backends: useOrtMatmul (minFlops ${ortMatmul.minFlops}, sync: true); node ${process.version}; onnxruntime-node ${ort.env.versions.node ?? "?"}; best-of-reps rates; shared machine, timings are noisy`,
);
