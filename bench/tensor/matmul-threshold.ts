/**
 * Where should `matmulAsync` hand float32 problems to ONNX Runtime? Sync WASM SIMD `matmul` vs `matmulAsync`
 * with `useOrtMatmul({ minFlops: 0 })` (every problem goes through the worker) on n×n @ n×n, same run.
 *
 *   node --import tsx bench/tensor/matmul-threshold.ts
 *
 * Times are the best of reps after warm-up (shared machine: see bench/RESULTS.md ## tensor). The crossover sets
 * DEFAULT_ORT_MATMUL_MIN_FLOPS in src/runtime/matmul-backend.ts.
 */
import { availableParallelism } from "node:os";
import { useOrtMatmul } from "../../src/runtime/index.ts";
import { matmul, matmulAsync, rng, type Tensor, zeros } from "../../src/tensor/index.ts";

async function best(fn: () => unknown, reps: number): Promise<number> {
  for (let w = 0; w < 3; w++) await fn();
  let b = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

const g = rng(7);
const h = useOrtMatmul({ minFlops: 0 });
console.log(`ORT intra-op threads: ${availableParallelism()}`);
console.log("| n | MFLOP | sync matmul (WASM) ms | matmulAsync via ORT worker ms | ORT / WASM speed |");
console.log("|---|---|---|---|---|");
try {
  for (const n of [32, 64, 96, 128, 160, 192, 256, 384]) {
    const a = g.uniform([n, n], { low: -1, high: 1 }) as Tensor;
    const b = g.uniform([n, n], { low: -1, high: 1 }) as Tensor;
    const out = zeros([n, n]);
    const reps = n <= 128 ? 101 : 31;
    const wasm = await best(() => matmul(a, b, { out }), reps);
    const viaOrt = await best(() => matmulAsync(a, b, { out }), reps);
    const mf = (2 * n ** 3) / 1e6;
    console.log(
      `| ${n} | ${mf.toFixed(2)} | ${wasm.toFixed(3)} | ${viaOrt.toFixed(3)} | ${(wasm / viaOrt).toFixed(2)} |`,
    );
  }
} finally {
  await h.close();
}
