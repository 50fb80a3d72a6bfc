/**
 * The one dtype table: name → TypedArray constructor and byte size.
 *
 * float16 is stored as raw IEEE half bits in a Uint16Array; bool as 0/1 in a Uint8Array;
 * int64 as a BigInt64Array (ONNX Runtime and safetensors use the same layouts).
 */
import { DTypeError } from "./errors.ts";

export type DType =
  | "float32"
  | "float64"
  | "float16"
  | "int8"
  | "uint8"
  | "int16"
  | "int32"
  | "int64"
  | "bool";

export interface DTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}

/** Any storage array Tessera uses. */
export type TypedArray = DTypeMap[DType];

export interface TypedArrayConstructorLike<A extends TypedArray = TypedArray> {
  new (length: number): A;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): A;
  readonly BYTES_PER_ELEMENT: number;
}

export interface DTypeInfo<D extends DType = DType> {
  readonly name: D;
  readonly ctor: TypedArrayConstructorLike<DTypeMap[D]>;
  readonly byteSize: number;
  /** Values are floats (float16 included, even though its storage is integer bits). */
  readonly isFloat: boolean;
  /** Storage holds bigint values. */
  readonly isBigInt: boolean;
}

function info<D extends DType>(
  name: D,
  ctor: TypedArrayConstructorLike<DTypeMap[D]>,
  isFloat: boolean,
): DTypeInfo<D> {
  return Object.freeze({ name, ctor, byteSize: ctor.BYTES_PER_ELEMENT, isFloat, isBigInt: name === "int64" });
}

export const DTYPES: { readonly [D in DType]: DTypeInfo<D> } = Object.freeze({
  float32: info("float32", Float32Array, true),
  float64: info("float64", Float64Array, true),
  float16: info("float16", Uint16Array, true),
  int8: info("int8", Int8Array, false),
  uint8: info("uint8", Uint8Array, false),
  int16: info("int16", Int16Array, false),
  int32: info("int32", Int32Array, false),
  int64: info("int64", BigInt64Array, false),
  bool: info("bool", Uint8Array, false),
});

export const DTYPE_NAMES: readonly DType[] = Object.freeze(Object.keys(DTYPES) as DType[]);

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(DTYPES, value);
}

/** Looks a dtype up by name, throwing `E_DTYPE_UNKNOWN` for anything else. */
export function dtypeInfo<D extends DType>(dtype: D): DTypeInfo<D> {
  if (!isDType(dtype)) {
    throw new DTypeError(
      "E_DTYPE_UNKNOWN",
      `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPE_NAMES.join(", ")}`,
      {
        dtype,
      },
    );
  }
  return DTYPES[dtype];
}

/** The dtype whose storage type matches a TypedArray (Uint16Array → float16, Uint8Array → uint8). */
export function dtypeOfArray(array: TypedArray): DType {
  if (array instanceof Float32Array) return "float32";
  if (array instanceof Float64Array) return "float64";
  if (array instanceof Uint16Array) return "float16";
  if (array instanceof Int8Array) return "int8";
  if (array instanceof Uint8Array) return "uint8";
  if (array instanceof Int16Array) return "int16";
  if (array instanceof Int32Array) return "int32";
  if (array instanceof BigInt64Array) return "int64";
  throw new DTypeError("E_DTYPE_UNKNOWN", "unsupported TypedArray type", {});
}
