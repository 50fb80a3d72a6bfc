/**
 * ONNX element types (TensorProto.DataType) and how they map to Tessera dtypes.
 *
 * Every Tessera dtype has an ONNX code; the reverse map is partial (ONNX also has string, uint16..uint64,
 * bfloat16, complex and 8/4-bit float types, which `decodeModel` reports by name but Tessera cannot hold).
 */
import type { DType } from "../tensor/index.ts";
import { DataType } from "./schema.ts";

/** Lower-case ONNX element type names, Tessera-style where a Tessera dtype exists ("float32", not "float"). */
export type OnnxElemType =
  | DType
  | "undefined"
  | "string"
  | "uint16"
  | "uint32"
  | "uint64"
  | "complex64"
  | "complex128"
  | "bfloat16"
  | "float8e4m3fn"
  | "float8e4m3fnuz"
  | "float8e5m2"
  | "float8e5m2fnuz"
  | "uint4"
  | "int4"
  | "float4e2m1";

const DTYPE_TO_CODE: { readonly [D in DType]: number } = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

const CODE_TO_NAME: Readonly<Record<number, OnnxElemType>> = {
  [DataType.UNDEFINED]: "undefined",
  [DataType.FLOAT]: "float32",
  [DataType.UINT8]: "uint8",
  [DataType.INT8]: "int8",
  [DataType.UINT16]: "uint16",
  [DataType.INT16]: "int16",
  [DataType.INT32]: "int32",
  [DataType.INT64]: "int64",
  [DataType.STRING]: "string",
  [DataType.BOOL]: "bool",
  [DataType.FLOAT16]: "float16",
  [DataType.DOUBLE]: "float64",
  [DataType.UINT32]: "uint32",
  [DataType.UINT64]: "uint64",
  [DataType.COMPLEX64]: "complex64",
  [DataType.COMPLEX128]: "complex128",
  [DataType.BFLOAT16]: "bfloat16",
  [DataType.FLOAT8E4M3FN]: "float8e4m3fn",
  [DataType.FLOAT8E4M3FNUZ]: "float8e4m3fnuz",
  [DataType.FLOAT8E5M2]: "float8e5m2",
  [DataType.FLOAT8E5M2FNUZ]: "float8e5m2fnuz",
  [DataType.UINT4]: "uint4",
  [DataType.INT4]: "int4",
  [DataType.FLOAT4E2M1]: "float4e2m1",
};

/** Bytes per element of ONNX types stored whole-byte in raw_data (sub-byte and string types are absent). */
const CODE_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
  [DataType.FLOAT8E4M3FN]: 1,
  [DataType.FLOAT8E4M3FNUZ]: 1,
  [DataType.FLOAT8E5M2]: 1,
  [DataType.FLOAT8E5M2FNUZ]: 1,
};

/** The TensorProto.DataType code of a Tessera dtype. */
export function onnxDataType(dtype: DType): number {
  return DTYPE_TO_CODE[dtype];
}

/** The name of an ONNX element type code ("float32", "string", "bfloat16", …; unknown codes read `code<N>`). */
export function elemTypeName(code: number): OnnxElemType | `code${number}` {
  return CODE_TO_NAME[code] ?? `code${code}`;
}

/** The Tessera dtype of an ONNX element type code, or null when Tessera has no such dtype. */
export function dtypeOfDataType(code: number): DType | null {
  for (const [d, c] of Object.entries(DTYPE_TO_CODE)) if (c === code) return d as DType;
  return null;
}

/** Bytes per element for fixed-width ONNX types; null for string and sub-byte types. */
export function dataTypeByteSize(code: number): number | null {
  return CODE_BYTES[code] ?? null;
}
