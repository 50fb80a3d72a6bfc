/**
 * Loader for the WASM SIMD GEMM (`wasm/gemm.as`, built by `node src/tensor/kernels/wasm/build.mjs` into the
 * committed `wasm/gemm.wasm`, ~1.3 KB).
 *
 * The module imports one linear memory that this file owns and grows on demand. A call copies A and B in,
 * runs `sgemm`, and copies C out: O(n²) copies against O(n³) work. When the module cannot load (no SIMD
 * support, file missing) or a problem needs more than MAX_BYTES, callers fall back to the JS kernel.
 */
import { LazyWasmKernel, WASM_PAGE as PAGE, type WasmMemory } from "./wasm-loader.ts";

const MAX_BYTES = 1 << 30;

interface GemmModule {
  memory: WasmMemory;
  sgemm: (a: number, b: number, c: number, M: number, N: number, K: number, panel: number) => void;
  panelBytes: number;
}

const kernel = new LazyWasmKernel(
  "gemm",
  16,
  (k): GemmModule => ({
    memory: k.memory,
    sgemm: k.exports.sgemm as GemmModule["sgemm"],
    panelBytes: Number((k.exports.PANEL_FLOATS as { value: number }).value) * 4,
  }),
);

/** True when the WASM SIMD kernel loaded and is enabled. */
export function wasmGemmAvailable(): boolean {
  return kernel.get() !== null;
}

/** Turns the WASM kernel off (true → on again). For benchmarks and tests comparing kernels. */
export function setWasmGemmEnabled(on: boolean): void {
  kernel.enabled = on;
}

const align = (n: number) => Math.ceil(n / 64) * 64;

/** C = A·B with the WASM kernel. Returns false (C untouched) when the kernel is unavailable or too large. */
export function gemmWasm(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
): boolean {
  const m = kernel.get();
  if (m === null) return false;
  const pa = align(m.panelBytes);
  const pb = pa + align(M * K * 4);
  const pc = pb + align(K * N * 4);
  const end = pc + align(M * N * 4);
  if (end > MAX_BYTES) return false;
  const have = m.memory.buffer.byteLength;
  if (end > have) m.memory.grow(Math.ceil((end - have) / PAGE));
  const buf = m.memory.buffer;
  new Float32Array(buf, pa, M * K).set(a.subarray(0, M * K));
  new Float32Array(buf, pb, K * N).set(b.subarray(0, K * N));
  m.sgemm(pa, pb, pc, M, N, K, 0);
  c.set(new Float32Array(buf, pc, M * N));
  return true;
}
