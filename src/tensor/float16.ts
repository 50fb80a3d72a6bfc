/**
 * IEEE 754 binary16 ⇄ binary32 conversion on raw bits.
 *
 * float32 → float16 rounds to nearest, ties to even; values below half the smallest subnormal (2^-25)
 * become signed zero (2^-25 itself ties to even: zero); overflow becomes ±inf; NaN stays NaN (the top
 * mantissa bits are kept, and a quiet bit is set if they would all be zero). float16 → float32 is exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half bits of the float32 whose raw bits are `f`. */
function bitsF32ToF16(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) {
    // inf or NaN
    if (mant === 0) return sign | 0x7c00;
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m);
  }
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    let q = mant >>> 13;
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1)) q++;
    return sign | (((e + 15) << 10) + q); // a carry out of the mantissa bumps the exponent (up to inf)
  }
  if (e < -25) return sign; // includes float32 zero and subnormals
  // half subnormal: value = m * 2^-24, m = S * 2^(e+1), S the 24-bit significand
  const s = -(e + 1); // 14..24
  const full = 0x800000 | mant;
  let q = full >>> s;
  const rem = full & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (q & 1) === 1)) q++;
  return sign | q;
}

/** float32 bits of half bits `h` (exact). */
function bitsF16ToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // normalise the subnormal
    let e = -14;
    let m = mant;
    while ((m & 0x400) === 0) {
      m <<= 1;
      e--;
    }
    return (sign | ((e + 127) << 23) | ((m & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

/** Rounds `x` to float32, then to the nearest float16; returns the 16 raw bits. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  return bitsF32ToF16(u32[0]!);
}

/**
 * Rounds a JS number (float64) to the nearest float16, ties to even, in ONE rounding (as NumPy's and PyTorch's
 * float64 → float16 casts); returns the 16 raw bits. `f32ToF16` rounds to float32 first, which is off by one ulp
 * for values just beside a float16 tie (1 + 2^-11 + 2^-40 → 1 instead of 1 + 2^-10).
 */
export function f64ToF16(x: number): number {
  f32[0] = x;
  let bits = u32[0]!;
  const y = f32[0]!;
  if (y !== x && Number.isFinite(y)) {
    // Round to odd in float32 (the float32 next to x toward zero, last bit set): it keeps "strictly between two
    // float32s", so the float16 rounding that follows is the correct one (float32 has 24 ≥ 11 + 2 bits).
    if (Math.abs(y) > Math.abs(x)) bits -= 1;
    bits |= 1;
  }
  return bitsF32ToF16(bits >>> 0);
}

/** The value of the float16 whose raw bits are `h` (exact). */
export function f16ToF32(h: number): number {
  u32[0] = bitsF16ToF32(h & 0xffff);
  return f32[0]!;
}

/** Converts a Float32Array (or any numbers) into float16 bits. Writes into `out` if given. */
export function f32ArrayToF16(
  src: Float32Array | ArrayLike<number>,
  out: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  if (src instanceof Float32Array) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < bits.length; i++) out[i] = bitsF32ToF16(bits[i]!);
  } else {
    for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]!);
  }
  return out;
}

/** Converts float16 bits into a Float32Array (exact, NaN payloads kept). Writes into `out` if given. */
export function f16ArrayToF32(
  src: Uint16Array,
  out: Float32Array = new Float32Array(src.length),
): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = bitsF16ToF32(src[i]!);
  return out;
}
