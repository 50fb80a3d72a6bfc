/**
 * The one protocol datatype table: OIP datatype string ↔ element size, wire storage, Tessera dtype.
 *
 * Decisions (documented in README "Serving"):
 *  - FP16 ↔ Tessera `float16` (raw half bits in a Uint16Array). FP16 and BF16 travel only as binary data.
 *  - BF16 has no Tessera dtype: a BF16 input is widened to float32 (exact) when the model input is
 *    float32, and rejected with a 400 otherwise.
 *  - UINT16/UINT32/UINT64 and BYTES parse and serialize, but no Tessera model input takes them, so an
 *    infer request that sends them to a model gets a 400 naming the expected datatype.
 */
import type { DType } from "../../tensor/index.ts";
import type { Datatype, WireArray } from "./types.ts";

export interface DatatypeInfo {
  readonly name: Datatype;
  /** Bytes per element in binary form; 0 for BYTES (variable, 4-byte length prefix each). */
  readonly byteSize: number;
  /** The Tessera dtype with the same storage, or null when there is none. */
  readonly dtype: DType | null;
  /** JSON `data` is allowed (false for FP16/BF16). */
  readonly json: boolean;
  readonly kind: "bool" | "int" | "bigint" | "float" | "half" | "bytes";
  /** Inclusive range for integer kinds. */
  readonly min?: number;
  readonly max?: number;
}

type NumericCtor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

function d(
  name: Datatype,
  byteSize: number,
  dtype: DType | null,
  kind: DatatypeInfo["kind"],
  range?: [number, number],
): DatatypeInfo {
  return Object.freeze({
    name,
    byteSize,
    dtype,
    json: kind !== "half",
    kind,
    ...(range ? { min: range[0], max: range[1] } : {}),
  });
}

export const DATATYPES: { readonly [K in Datatype]: DatatypeInfo } = Object.freeze({
  BOOL: d("BOOL", 1, "bool", "bool"),
  UINT8: d("UINT8", 1, "uint8", "int", [0, 255]),
  UINT16: d("UINT16", 2, null, "int", [0, 65535]),
  UINT32: d("UINT32", 4, null, "int", [0, 4294967295]),
  UINT64: d("UINT64", 8, null, "bigint"),
  INT8: d("INT8", 1, "int8", "int", [-128, 127]),
  INT16: d("INT16", 2, "int16", "int", [-32768, 32767]),
  INT32: d("INT32", 4, "int32", "int", [-2147483648, 2147483647]),
  INT64: d("INT64", 8, "int64", "bigint"),
  FP16: d("FP16", 2, "float16", "half"),
  BF16: d("BF16", 2, null, "half"),
  FP32: d("FP32", 4, "float32", "float"),
  FP64: d("FP64", 8, "float64", "float"),
  BYTES: d("BYTES", 0, null, "bytes"),
});

export const DATATYPE_NAMES: readonly Datatype[] = Object.freeze(Object.keys(DATATYPES) as Datatype[]);

export function isDatatype(v: unknown): v is Datatype {
  return typeof v === "string" && Object.hasOwn(DATATYPES, v);
}

const CTORS: { readonly [K in Exclude<Datatype, "BYTES">]: NumericCtor } = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  BF16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** The TypedArray constructor holding a numeric datatype's elements. */
export function wireCtor(datatype: Exclude<Datatype, "BYTES">): NumericCtor {
  return CTORS[datatype];
}

/** A zero-filled element array of `n` elements for a datatype. */
export function allocWire(datatype: Datatype, n: number): WireArray {
  if (datatype === "BYTES") return new Array<Uint8Array>(n).fill(new Uint8Array(0));
  return new CTORS[datatype](n);
}

/** The protocol datatype for a Tessera dtype (every dtype has one). */
export function datatypeOfDType(dtype: DType): Datatype {
  switch (dtype) {
    case "bool":
      return "BOOL";
    case "uint8":
      return "UINT8";
    case "int8":
      return "INT8";
    case "int16":
      return "INT16";
    case "int32":
      return "INT32";
    case "int64":
      return "INT64";
    case "float16":
      return "FP16";
    case "float32":
      return "FP32";
    case "float64":
      return "FP64";
  }
}

/** Byte length of a tensor's binary chunk (BYTES: sum of 4 + element length). */
export function binaryByteLength(datatype: Datatype, data: WireArray): number {
  if (datatype === "BYTES") {
    let n = 0;
    for (const b of data as Uint8Array[]) n += 4 + b.byteLength;
    return n;
  }
  return (data as Exclude<WireArray, Uint8Array[]>).byteLength;
}
