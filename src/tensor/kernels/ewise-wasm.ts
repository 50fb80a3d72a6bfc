/**
 * WASM SIMD float32 add/sub/mul/div (`wasm/ewise.as`), run in cache-sized chunks: each chunk of the operands is
 * copied into the module's memory (the copies hit L2, the DRAM traffic stays read a, b + write o), combined
 * with f32x4 ops in place into the first operand's chunk, and copied out. In-place use (o aliasing a or b) is
 * safe: every chunk is read completely before it is written. Chunk size and the two-buffer layout were chosen
 * with `bench/tensor/add-variants.ts`: 32768-element chunks (2 × 128 KB) beat 4096 (3 × 16 KB) by ~1.25× on
 * 16M-element operands (fewer per-chunk calls, longer memcpys) and are even in cache.
 */
import { LazyWasmKernel, WASM_PAGE } from "./wasm-loader.ts";

export type EwiseOp = "add" | "sub" | "mul" | "div";

/** Elements per chunk: 2 × 128 KB buffers fit L2 together. */
const CH = 32768;
/** Byte offsets of the a- and b-chunks; results are written over the a-chunk (one buffer less in cache). */
const A = 0;
const B = CH * 4;

type VV = (a: number, b: number, o: number, n: number) => void;
type VS = (a: number, s: number, o: number, n: number) => void;
type SV = (s: number, a: number, o: number, n: number) => void;

interface Ewise {
  wa: Float32Array;
  wb: Float32Array;
  fns: Record<EwiseOp, { vv: VV; vs: VS; sv: SV }>;
}

const kernel = new LazyWasmKernel("ewise", Math.ceil((CH * 8) / WASM_PAGE), (k): Ewise => {
  const f = (op: EwiseOp) => ({
    vv: k.exports[`${op}VV`] as VV,
    vs: k.exports[`${op}VS`] as VS,
    sv: k.exports[`${op}SV`] as SV,
  });
  return {
    wa: new Float32Array(k.memory.buffer, A, CH),
    wb: new Float32Array(k.memory.buffer, B, CH),
    fns: { add: f("add"), sub: f("sub"), mul: f("mul"), div: f("div") },
  };
});

/** Turns the WASM elementwise kernels off/on (for tests and benchmarks). */
export function setWasmEwiseEnabled(on: boolean): void {
  kernel.enabled = on;
}

/** True when the elementwise WASM module loaded and is enabled. */
export function wasmEwiseAvailable(): boolean {
  return kernel.get() !== null;
}

/**
 * o = a <op> b for float32 arrays of equal length, or with one side a number (used as a float32: the kernel
 * rounds it). Returns false (nothing written) when the module is unavailable or both sides are numbers.
 */
export function ewiseF32(
  op: EwiseOp,
  a: Float32Array | number,
  b: Float32Array | number,
  o: Float32Array,
): boolean {
  const m = kernel.get();
  if (m === null) return false;
  const { wa, wb } = m;
  const fn = m.fns[op];
  const n = o.length;
  for (let s = 0; s < n; s += CH) {
    const e = Math.min(n, s + CH);
    const len = e - s;
    if (typeof a !== "number" && typeof b !== "number") {
      wa.set(a.subarray(s, e));
      wb.set(b.subarray(s, e));
      fn.vv(A, B, A, len);
    } else if (typeof a !== "number") {
      wa.set(a.subarray(s, e));
      fn.vs(A, b as number, A, len);
    } else if (typeof b !== "number") {
      wa.set(b.subarray(s, e));
      fn.sv(a, A, A, len);
    } else return false;
    o.set(len === CH ? wa : wa.subarray(0, len), s);
  }
  return true;
}
