/**
 * Plain-JS GEMM: C[M×N] = A[M×K] · B[K×N] (row-major, C overwritten), float64 accumulation.
 *
 * B is packed transposed in panels of NC columns × KC depth so the 4×4 register-blocked micro-kernel
 * reads both operands with unit stride; partial sums over KC blocks accumulate in C.
 */
export type FloatArray = Float32Array | Float64Array;

const KC = 256;
const NC = 64;

/** C[M×N] = A[M×K]·B[K×N] at element offsets aOff/bOff/cOff (row-major, C overwritten). */
export function gemmJS(
  a: FloatArray,
  aOff: number,
  b: FloatArray,
  bOff: number,
  c: FloatArray,
  cOff: number,
  M: number,
  N: number,
  K: number,
): void {
  c.fill(0, cOff, cOff + M * N);
  if (K === 0) return;
  const panel = new Float64Array(NC * KC);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let kc = 0; kc < K; kc += KC) {
      const kk = Math.min(KC, K - kc);
      // pack Bt panel: panel[j*kk + k] = B[(kc+k), jc+j]
      for (let k = 0; k < kk; k++) {
        const row = bOff + (kc + k) * N + jc;
        for (let j = 0; j < nc; j++) panel[j * kk + k] = b[row + j]!;
      }
      let i = 0;
      for (; i + 3 < M; i += 4) {
        const a0 = aOff + i * K + kc;
        const a1 = a0 + K;
        const a2 = a1 + K;
        const a3 = a2 + K;
        let j = 0;
        for (; j + 3 < nc; j += 4)
          micro4x4(a, a0, a1, a2, a3, panel, j * kk, kk, c, cOff + i * N + jc + j, N);
        for (; j < nc; j++) {
          const p = j * kk;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let k = 0; k < kk; k++) {
            const bv = panel[p + k]!;
            s0 += a[a0 + k]! * bv;
            s1 += a[a1 + k]! * bv;
            s2 += a[a2 + k]! * bv;
            s3 += a[a3 + k]! * bv;
          }
          const o = cOff + i * N + jc + j;
          c[o] = c[o]! + s0;
          c[o + N] = c[o + N]! + s1;
          c[o + 2 * N] = c[o + 2 * N]! + s2;
          c[o + 3 * N] = c[o + 3 * N]! + s3;
        }
      }
      for (; i < M; i++) {
        const a0 = aOff + i * K + kc;
        for (let j = 0; j < nc; j++) {
          const p = j * kk;
          let s = 0;
          for (let k = 0; k < kk; k++) s += a[a0 + k]! * panel[p + k]!;
          const o = cOff + i * N + jc + j;
          c[o] = c[o]! + s;
        }
      }
    }
  }
}

function micro4x4(
  a: FloatArray,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  p: Float64Array,
  p0: number,
  kk: number,
  c: FloatArray,
  o: number,
  N: number,
): void {
  let c00 = 0,
    c01 = 0,
    c02 = 0,
    c03 = 0;
  let c10 = 0,
    c11 = 0,
    c12 = 0,
    c13 = 0;
  let c20 = 0,
    c21 = 0,
    c22 = 0,
    c23 = 0;
  let c30 = 0,
    c31 = 0,
    c32 = 0,
    c33 = 0;
  const p1 = p0 + kk;
  const p2 = p1 + kk;
  const p3 = p2 + kk;
  for (let k = 0; k < kk; k++) {
    const x0 = a[a0 + k]!;
    const x1 = a[a1 + k]!;
    const x2 = a[a2 + k]!;
    const x3 = a[a3 + k]!;
    const y0 = p[p0 + k]!;
    const y1 = p[p1 + k]!;
    const y2 = p[p2 + k]!;
    const y3 = p[p3 + k]!;
    c00 += x0 * y0;
    c01 += x0 * y1;
    c02 += x0 * y2;
    c03 += x0 * y3;
    c10 += x1 * y0;
    c11 += x1 * y1;
    c12 += x1 * y2;
    c13 += x1 * y3;
    c20 += x2 * y0;
    c21 += x2 * y1;
    c22 += x2 * y2;
    c23 += x2 * y3;
    c30 += x3 * y0;
    c31 += x3 * y1;
    c32 += x3 * y2;
    c33 += x3 * y3;
  }
  c[o] = c[o]! + c00;
  c[o + 1] = c[o + 1]! + c01;
  c[o + 2] = c[o + 2]! + c02;
  c[o + 3] = c[o + 3]! + c03;
  o += N;
  c[o] = c[o]! + c10;
  c[o + 1] = c[o + 1]! + c11;
  c[o + 2] = c[o + 2]! + c12;
  c[o + 3] = c[o + 3]! + c13;
  o += N;
  c[o] = c[o]! + c20;
  c[o + 1] = c[o + 1]! + c21;
  c[o + 2] = c[o + 2]! + c22;
  c[o + 3] = c[o + 3]! + c23;
  o += N;
  c[o] = c[o]! + c30;
  c[o + 1] = c[o + 1]! + c31;
  c[o + 2] = c[o + 2]! + c32;
  c[o + 3] = c[o + 3]! + c33;
}
