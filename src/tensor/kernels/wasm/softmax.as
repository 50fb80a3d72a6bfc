// WASM SIMD float32 row softmax, AssemblyScript source (built by build.mjs; .as so tsc skips it).
//   softmaxRows(x, o, rows, cols): o[r, :] = exp(x[r, :] - max) / Σ exp(x[r, :] - max), row-major, byte pointers.
// exp is Cephes' expf polynomial (≈1–2 ulp in float32), vectorised; sums accumulate in f64x2.

// @ts-ignore: decorator
@inline
function expV(x: v128): v128 {
  // clamp below (x ≤ 0 here: x - max); exp(-87.3) ≈ 1.2e-38
  x = f32x4.max(x, f32x4.splat(-87.33654));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1.0));
  // scale by 2^fx: add fx to the exponent bits
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const pow2 = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(p, pow2);
}

function expS(x: f32): f32 {
  return f32x4.extract_lane(expV(f32x4.splat(x)), 0);
}

export function softmaxRows(x: usize, o: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  const vecEnd = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const px = x + <usize>r * rowBytes;
    const po = o + <usize>r * rowBytes;
    // max
    let mv = f32x4.splat(-Infinity);
    for (let i = 0; i < vecEnd; i += 4) mv = f32x4.max(mv, v128.load(px + (<usize>i << 2)));
    let m = f32x4.max(f32x4.max(f32x4.splat(f32x4.extract_lane(mv, 0)), f32x4.splat(f32x4.extract_lane(mv, 1))), f32x4.max(f32x4.splat(f32x4.extract_lane(mv, 2)), f32x4.splat(f32x4.extract_lane(mv, 3))));
    for (let i = vecEnd; i < cols; i++) m = f32x4.max(m, f32x4.splat(load<f32>(px + (<usize>i << 2))));
    // exp and sum (f64 accumulation)
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    for (let i = 0; i < vecEnd; i += 4) {
      const e = expV(f32x4.sub(v128.load(px + (<usize>i << 2)), m));
      v128.store(po + (<usize>i << 2), e);
      s0 = f64x2.add(s0, f64x2.promote_low_f32x4(e));
      s1 = f64x2.add(s1, f64x2.promote_low_f32x4(i32x4.shuffle(e, e, 2, 3, 0, 1)));
    }
    let sum: f64 = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1) + f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
    const ms = f32x4.extract_lane(m, 0);
    for (let i = vecEnd; i < cols; i++) {
      const e = expS(load<f32>(px + (<usize>i << 2)) - ms);
      store<f32>(po + (<usize>i << 2), e);
      sum += <f64>e;
    }
    const inv = f32x4.splat(<f32>(1.0 / sum));
    for (let i = 0; i < vecEnd; i += 4) {
      const q = po + (<usize>i << 2);
      v128.store(q, f32x4.mul(v128.load(q), inv));
    }
    const invS = <f32>(1.0 / sum);
    for (let i = vecEnd; i < cols; i++) {
      const q = po + (<usize>i << 2);
      store<f32>(q, load<f32>(q) * invS);
    }
  }
}
