/**
 * WASM SIMD GEMM (placeholder until the module is built): reports unavailable, so the JS kernel runs.
 */
export function wasmGemmAvailable(): boolean {
  return false;
}

export function gemmWasm(
  _a: Float32Array,
  _b: Float32Array,
  _c: Float32Array,
  _M: number,
  _N: number,
  _K: number,
): boolean {
  return false;
}
