/**
 * `cast(t, dtype)`: converts a tensor's elements to another dtype. Always copies into a new contiguous tensor.
 */
import type { DType, TypedArray } from "./dtype.ts";
import { dtypeInfo } from "./dtype.ts";
import { f16ArrayToF32, f32ArrayToF16 } from "./float16.ts";
import { Tensor } from "./tensor.ts";
import { readNumbers, writeNumbers } from "./values.ts";

/**
 * Converts `t` to `dtype`. Float → integer truncates toward zero (NaN → 0; out-of-range values wrap as
 * TypedArray assignment does), anything → bool is `x != 0`, float32 and float64 → float16 round to nearest even
 * (once: float64 does not go through float32),
 * int64 ⇄ int64 is exact, int64 → float goes through float64. Always copies, even when the dtype is unchanged.
 *
 * @example cast(tensor([1.7, -1.7]), "int32").toArray() // [1, -1]
 */
export function cast<D extends DType>(t: Tensor, dtype: D): Tensor<D> {
  dtypeInfo(dtype);
  const src = t.contiguous();
  if (src.dtype === dtype) return src.clone() as unknown as Tensor<D>;
  const out = Tensor.empty(dtype, t.shape);
  if (src.dtype === "float16" && dtype === "float32") {
    f16ArrayToF32(src.data as Uint16Array, out.storage as Float32Array);
    return out;
  }
  if (src.dtype === "float32" && dtype === "float16") {
    f32ArrayToF16(src.data as Float32Array, out.storage as Uint16Array);
    return out;
  }
  if (src.dtype === "int64" && dtype !== "bool") {
    const b = src.data as BigInt64Array;
    const o = out.storage as TypedArray;
    if (dtype === "float16") {
      const tmp = new Float32Array(b.length);
      for (let i = 0; i < b.length; i++) tmp[i] = Number(b[i]!);
      f32ArrayToF16(tmp, o as Uint16Array);
    } else if (dtype === "float32" || dtype === "float64") {
      const a = o as Float32Array | Float64Array;
      for (let i = 0; i < b.length; i++) a[i] = Number(b[i]!);
    } else {
      // integer narrowing: wrap modulo 2^bits like a C cast
      const a = o as Int8Array | Uint8Array | Int16Array | Int32Array;
      for (let i = 0; i < b.length; i++) a[i] = Number(BigInt.asIntN(32, b[i]!));
    }
    return out;
  }
  if (
    src.dtype !== "float16" &&
    src.dtype !== "int64" &&
    dtype !== "int64" &&
    dtype !== "float16" &&
    dtype !== "bool"
  ) {
    // plain numeric → numeric: TypedArray.set converts (truncation toward zero, NaN → 0 for integer targets)
    (out.storage as Float64Array).set(src.data as Float64Array);
    return out;
  }
  writeNumbers(out, readNumbers(src));
  return out;
}
