// WASM SIMD single-precision GEMM, AssemblyScript source (compiled by build.mjs; the file is .as so that
// tsc does not type-check AssemblyScript types).
//
// sgemm(a, b, c, M, N, K, panel): C[M×N] = A[M×K] · B[K×N], row-major, pointers into linear memory.
// B is packed per (KC × NC) block into 8-column strips laid out [strip][k][8], zero-padded at the right
// edge; a 4×8 register-blocked micro-kernel (8 f32x4 accumulators) walks the strip. `panel` must hold
// KC * NC floats.

const KC: i32 = 256;
const NC: i32 = 512;

@inline
function micro4x8(a0: usize, K: i32, p: usize, kk: i32, c: usize, N: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const rs = <usize>K << 2;
  let pa = a0;
  let pp = p;
  for (let k = 0; k < kk; k++) {
    const b0 = v128.load(pp);
    const b1 = v128.load(pp, 16);
    let x = f32x4.splat(load<f32>(pa));
    c00 = f32x4.add(c00, f32x4.mul(x, b0));
    c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = f32x4.splat(load<f32>(pa + rs));
    c10 = f32x4.add(c10, f32x4.mul(x, b0));
    c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = f32x4.splat(load<f32>(pa + 2 * rs));
    c20 = f32x4.add(c20, f32x4.mul(x, b0));
    c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = f32x4.splat(load<f32>(pa + 3 * rs));
    c30 = f32x4.add(c30, f32x4.mul(x, b0));
    c31 = f32x4.add(c31, f32x4.mul(x, b1));
    pa += 4;
    pp += 32;
  }
  const cs = <usize>N << 2;
  let pc = c;
  v128.store(pc, f32x4.add(v128.load(pc), c00));
  v128.store(pc, f32x4.add(v128.load(pc, 16), c01), 16);
  pc += cs;
  v128.store(pc, f32x4.add(v128.load(pc), c10));
  v128.store(pc, f32x4.add(v128.load(pc, 16), c11), 16);
  pc += cs;
  v128.store(pc, f32x4.add(v128.load(pc), c20));
  v128.store(pc, f32x4.add(v128.load(pc, 16), c21), 16);
  pc += cs;
  v128.store(pc, f32x4.add(v128.load(pc), c30));
  v128.store(pc, f32x4.add(v128.load(pc, 16), c31), 16);
}

// Scalar path for edge tiles: rows [i, i+mr) × strip columns [j, j+nr) of the current block.
function edge(a0: usize, K: i32, p: usize, kk: i32, c: usize, N: i32, mr: i32, nr: i32): void {
  for (let r = 0; r < mr; r++) {
    for (let q = 0; q < nr; q++) {
      let s: f32 = 0;
      const pa = a0 + ((<usize>r * <usize>K) << 2);
      for (let k = 0; k < kk; k++) s += load<f32>(pa + (<usize>k << 2)) * load<f32>(p + ((<usize>(k * 8 + q)) << 2));
      const pc = c + ((<usize>(r * N + q)) << 2);
      store<f32>(pc, load<f32>(pc) + s);
    }
  }
}

export function sgemm(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, panel: usize): void {
  memory.fill(c, 0, (<usize>M * <usize>N) << 2);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    const strips = (nc + 7) >> 3;
    for (let kc = 0; kc < K; kc += KC) {
      const kk = min(KC, K - kc);
      // pack: panel[s][k][0..8] = B[kc+k][jc + 8s + 0..8], zero beyond the edge
      for (let s = 0; s < strips; s++) {
        const j0 = jc + s * 8;
        const w = min(8, N - j0);
        const ps = panel + ((<usize>(s * kk * 8)) << 2);
        for (let k = 0; k < kk; k++) {
          const src = b + ((<usize>(kc + k) * <usize>N + <usize>j0) << 2);
          const dst = ps + ((<usize>(k * 8)) << 2);
          if (w == 8) {
            v128.store(dst, v128.load(src));
            v128.store(dst, v128.load(src, 16), 16);
          } else {
            for (let q = 0; q < 8; q++) store<f32>(dst + (<usize>q << 2), q < w ? load<f32>(src + (<usize>q << 2)) : 0);
          }
        }
      }
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        const a0 = a + ((<usize>i * <usize>K + <usize>kc) << 2);
        for (let s = 0; s < strips; s++) {
          const j0 = jc + s * 8;
          const ps = panel + ((<usize>(s * kk * 8)) << 2);
          const pc = c + ((<usize>i * <usize>N + <usize>j0) << 2);
          if (j0 + 8 <= N) micro4x8(a0, K, ps, kk, pc, N);
          else edge(a0, K, ps, kk, pc, N, 4, N - j0);
        }
      }
      if (i < M) {
        const a0 = a + ((<usize>i * <usize>K + <usize>kc) << 2);
        for (let s = 0; s < strips; s++) {
          const j0 = jc + s * 8;
          const ps = panel + ((<usize>(s * kk * 8)) << 2);
          edge(a0, K, ps, kk, c + ((<usize>i * <usize>N + <usize>j0) << 2), N, M - i, min(8, N - j0));
        }
      }
    }
  }
}

export const PANEL_FLOATS: i32 = KC * NC;
