/**
 * Where should Tessera hand float32 GEMMs to ONNX Runtime? The local WASM SIMD kernel vs `matmulAsync` with
 * `useOrtMatmul({ minFlops: 0 })` (every problem goes through the openSession worker) and vs the sync path of
 * `useOrtMatmul({ sync: true, syncMinFlops: 0 })` (SharedArrayBuffer + Atomics.wait worker), n×n @ n×n, same run.
 *
 *   node --import tsx bench/tensor/matmul-threshold.ts
 *
 * Times are the best of reps after warm-up (shared machine: see bench/RESULTS.md ## tensor). The crossovers set
 * DEFAULT_ORT_MATMUL_MIN_FLOPS and DEFAULT_ORT_SYNC_MATMUL_MIN_FLOPS in src/runtime/matmul-backend.ts.
 */
import { availableParallelism } from "node:os";
import { useOrtMatmul } from "../../src/runtime/index.ts";
import {
  gemmBuiltin,
  matmulAsync,
  rng,
  setMatmulBackend,
  type Tensor,
  zeros,
} from "../../src/tensor/index.ts";

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
const h = useOrtMatmul({ minFlops: 0, sync: true, syncMinFlops: 0 });
await h.ready;
// the sync backend useOrtMatmul registered (every GEMM goes to its worker), and the built-in WASM kernel
const ortSync = setMatmulBackend(null);
if (ortSync === null) throw new Error("useOrtMatmul({ sync: true }) registered no sync backend");
console.log(`ORT intra-op threads: ${availableParallelism()}`);
console.log(
  "| n | MFLOP | WASM kernel ms | matmulAsync via ORT worker ms | × WASM | sync ORT (Atomics.wait) ms | × WASM |",
);
console.log("|---|---|---|---|---|---|---|");
try {
  for (const n of [32, 64, 96, 128, 160, 192, 256, 384]) {
    const a = g.uniform([n, n], { low: -1, high: 1 }) as Tensor;
    const b = g.uniform([n, n], { low: -1, high: 1 }) as Tensor;
    const out = zeros([n, n]);
    const reps = n <= 128 ? 101 : 31;
    const [ad, bd, od] = [a.data as Float32Array, b.data as Float32Array, out.data as Float32Array];
    const wasm = await best(() => gemmBuiltin(ad, bd, od, n, n, n), reps);
    const viaOrt = await best(() => matmulAsync(a, b, { out }), reps);
    const viaSync = await best(() => {
      if (!ortSync(ad, bd, od, n, n, n)) throw new Error("sync ORT declined");
    }, reps);
    const mf = (2 * n ** 3) / 1e6;
    console.log(
      `| ${n} | ${mf.toFixed(2)} | ${wasm.toFixed(3)} | ${viaOrt.toFixed(3)} | ${(wasm / viaOrt).toFixed(2)} | ${viaSync.toFixed(3)} | ${(wasm / viaSync).toFixed(2)} |`,
    );
  }
} finally {
  await h.close();
}
