/**
 * WASM SIMD float32 row softmax (`wasm/softmax.as`): rows are copied into the module's memory in chunks of
 * up to CAP floats, processed with a vectorised Cephes expf (≈1–2 ulp) and f64 sums, and copied out.
 * Returns false (nothing written) when the module is unavailable or a row is longer than CAP.
 */
import { LazyWasmKernel } from "./wasm-loader.ts";

const CAP = 32768; // floats per buffer (128 KB)
const IN = 0;
const OUT = CAP * 4;

interface Mod {
  xin: Float32Array;
  xout: Float32Array;
  softmaxRows: (x: number, o: number, rows: number, cols: number) => void;
}

const kernel = new LazyWasmKernel(
  "softmax",
  4,
  (k): Mod => ({
    xin: new Float32Array(k.memory.buffer, IN, CAP),
    xout: new Float32Array(k.memory.buffer, OUT, CAP),
    softmaxRows: k.exports.softmaxRows as Mod["softmaxRows"],
  }),
);

/** Turns the WASM softmax off/on (tests and benchmarks compare it with the JS rows). */
export function setWasmSoftmaxEnabled(on: boolean): void {
  kernel.enabled = on;
}

/** o = softmax(x) over rows of `cols` (x and o dense, same length; o may alias x). */
export function softmaxRowsF32(x: Float32Array, o: Float32Array, cols: number): boolean {
  const m = kernel.get();
  if (m === null || cols === 0 || cols > CAP) return false;
  const rowsPer = Math.floor(CAP / cols);
  const total = x.length / cols;
  for (let r = 0; r < total; r += rowsPer) {
    const n = Math.min(rowsPer, total - r);
    const a = r * cols;
    const b = a + n * cols;
    m.xin.set(x.subarray(a, b));
    m.softmaxRows(IN, OUT, n, cols);
    o.set(m.xout.subarray(0, n * cols), a);
  }
  return true;
}
