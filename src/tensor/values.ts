/**
 * Element encoding per dtype for ops: float16 is stored as bits, bool as 0/1 and int64 as bigint. Ops read tensors
 * as float64 numbers through `readNumbers` and write through `writeNumbers`. (Tensor's own get/set/item/toArray
 * also decode and encode float16, with the same float16.ts conversions, and keep int64 as bigint.)
 */
import type { DType, DTypeMap, TypedArray } from "./dtype.ts";
import { f16ArrayToF32, f16ToF32, f32ArrayToF16, f64ToF16 } from "./float16.ts";
import { Tensor } from "./tensor.ts";

/** The raw storage value that represents `v` in `dtype` (float16 → bits, int64 → bigint, bool → 0/1). */
export function encodeValue(dtype: DType, v: number | bigint | boolean): number | bigint {
  if (dtype === "int64") {
    if (typeof v === "bigint") return v;
    const n = Number(v);
    return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
  }
  const n = typeof v === "number" ? v : Number(v);
  if (dtype === "bool") return n !== 0 && !Number.isNaN(n) ? 1 : 0;
  if (dtype === "float16") return f64ToF16(n);
  return n;
}

/** Decodes a raw storage value to a JS number (float16 bits → value, bigint → number). */
export function decodeValue(dtype: DType, raw: number | bigint): number {
  if (dtype === "float16") return f16ToF32(raw as number);
  return typeof raw === "bigint" ? Number(raw) : raw;
}

/**
 * The tensor's elements in row-major logical order as numbers: returns `t.data` itself when it is a
 * contiguous float32/float64 tensor (no copy), otherwise a new Float64Array (or Float32Array for float16).
 */
export function readNumbers(t: Tensor): Float32Array | Float64Array {
  if ((t.dtype === "float32" || t.dtype === "float64") && t.isContiguous())
    return t.data as Float32Array | Float64Array;
  if (t.dtype === "float16") {
    const bits = t.isContiguous() ? (t.data as Uint16Array) : (t.clone().data as Uint16Array);
    return f16ArrayToF32(bits);
  }
  const out = new Float64Array(t.size);
  const s = t.storage as TypedArray;
  if (t.dtype === "int64") {
    const b = s as BigInt64Array;
    t.forEachIndex((p, i) => {
      out[i] = Number(b[p]!);
    });
  } else {
    const a = s as Exclude<TypedArray, BigInt64Array>;
    t.forEachIndex((p, i) => {
      out[i] = a[p]!;
    });
  }
  return out;
}

/**
 * Writes `values` (row-major logical order) into `t`, converting to its dtype: floats to ints truncate
 * toward zero (NaN → 0), bool is `v != 0`, float16 rounds to nearest even.
 */
export function writeNumbers(t: Tensor, values: ArrayLike<number>): void {
  const s = t.storage as TypedArray;
  const dt = t.dtype;
  if (t.isContiguous() && (dt === "float32" || dt === "float64")) {
    const d = t.data as Float32Array | Float64Array;
    if (values instanceof Float32Array || values instanceof Float64Array) d.set(values);
    else for (let i = 0; i < d.length; i++) d[i] = values[i]!;
    return;
  }
  if (dt === "float16" && t.isContiguous() && values instanceof Float32Array) {
    f32ArrayToF16(values, t.data as Uint16Array);
    return;
  }
  if (dt === "int64") {
    const b = s as BigInt64Array;
    t.forEachIndex((p, i) => {
      const v = values[i]!;
      b[p] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
    });
    return;
  }
  const a = s as Exclude<TypedArray, BigInt64Array>;
  if (dt === "bool") {
    t.forEachIndex((p, i) => {
      const v = values[i]!;
      a[p] = v !== 0 && !Number.isNaN(v) ? 1 : 0;
    });
  } else if (dt === "float16") {
    // float64 (or plain) numbers round to float16 once; float32 values are exact in float64, so this equals f32ToF16
    t.forEachIndex((p, i) => {
      a[p] = f64ToF16(values[i]!);
    });
  } else {
    // typed-array assignment truncates toward zero and maps NaN to 0 for integer arrays
    t.forEachIndex((p, i) => {
      a[p] = values[i]!;
    });
  }
}

/** A new contiguous tensor of `dtype` holding `values`. */
export function fromNumbers<D extends DType>(
  dtype: D,
  shape: readonly number[],
  values: ArrayLike<number>,
): Tensor<D> {
  const out = Tensor.empty(dtype, shape);
  writeNumbers(out, values);
  return out;
}

export type { DTypeMap };
