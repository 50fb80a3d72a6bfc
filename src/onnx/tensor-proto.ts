/**
 * Tensor ↔ TensorProto. Tensors are written as `raw_data` (fixed-width little-endian, bool as one byte),
 * the layout ONNX Runtime reads fastest; reading accepts raw_data and the typed `*_data` fields.
 */
import { type DType, dtypeInfo, shapeSize, Tensor, type TypedArray } from "../tensor/index.ts";
import { dtypeOfDataType, elemTypeName, onnxDataType } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type Int64, int64ToNumber, type TensorProto } from "./proto-types.ts";
import { DataType } from "./schema.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `width`-byte element of `bytes` in place. */
function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * The bytes of a tensor as ONNX raw_data. On little-endian hosts (all Node targets) this is a view of the
 * tensor's storage when the tensor is contiguous, otherwise `contiguous()` copies it first.
 */
export function rawBytes(tensor: Tensor): Uint8Array {
  const data = tensor.contiguous().data as TypedArray;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return view;
  const copy = view.slice();
  swapBytes(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

/** A TensorProto (named `name`) holding `tensor`'s elements as raw_data. Does not copy on little-endian hosts. */
export function tensorToProto(name: string, tensor: Tensor): TensorProto {
  return {
    name,
    dims: [...tensor.shape],
    data_type: onnxDataType(tensor.dtype),
    raw_data: rawBytes(tensor),
  };
}

function decodeError(message: string, facts: Record<string, unknown>): OnnxError {
  return new OnnxError("E_ONNX_DECODE", message, facts);
}

/** Copies raw little-endian bytes into a fresh, aligned TypedArray of `dtype`. */
function fromRaw(dtype: DType, raw: Uint8Array, size: number, name: string): TypedArray {
  const info = dtypeInfo(dtype);
  if (raw.byteLength !== size * info.byteSize) {
    throw decodeError(
      `tensor ${JSON.stringify(name)}: raw_data has ${raw.byteLength} bytes, expected ${size * info.byteSize}`,
      {
        tensor: name,
        bytes: raw.byteLength,
        expected: size * info.byteSize,
      },
    );
  }
  const out = new info.ctor(size);
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  bytes.set(raw);
  if (!LITTLE_ENDIAN) swapBytes(bytes, info.byteSize);
  return out;
}

function fromTyped(dtype: DType, proto: TensorProto, size: number, name: string): TypedArray {
  const info = dtypeInfo(dtype);
  let values: ArrayLike<number | Int64> | undefined;
  if (dtype === "float32") values = proto.float_data;
  else if (dtype === "float64") values = proto.double_data;
  else if (dtype === "int64") values = proto.int64_data;
  else values = proto.int32_data;
  const src = values ?? [];
  if (src.length !== size) {
    throw decodeError(`tensor ${JSON.stringify(name)}: has ${src.length} ${dtype} values, expected ${size}`, {
      tensor: name,
      values: src.length,
      expected: size,
    });
  }
  const out = new info.ctor(size);
  if (dtype === "int64") {
    const o = out as BigInt64Array;
    for (let i = 0; i < size; i++) o[i] = BigInt(int64ToNumber(src[i] as Int64));
  } else {
    const o = out as Exclude<TypedArray, BigInt64Array>;
    for (let i = 0; i < size; i++) o[i] = src[i] as number;
  }
  return out;
}

/**
 * The Tensor a TensorProto holds. Copies the data into new, aligned storage (raw_data inside a decoded
 * file is usually not aligned for a TypedArray view). Throws `E_ONNX_DECODE` for external data, element
 * types Tessera has no dtype for (string, bfloat16, …), and data whose length disagrees with `dims`.
 */
export function tensorFromProto(proto: TensorProto): Tensor {
  const name = proto.name ?? "";
  const code = proto.data_type ?? DataType.UNDEFINED;
  const dtype = dtypeOfDataType(code);
  if (dtype === null) {
    throw decodeError(
      `tensor ${JSON.stringify(name)}: element type ${elemTypeName(code)} has no Tessera dtype`,
      {
        tensor: name,
        dataType: code,
      },
    );
  }
  if (proto.data_location === 1 || (proto.external_data?.length ?? 0) > 0) {
    throw decodeError(
      `tensor ${JSON.stringify(name)}: data is stored in an external file, which is not loaded`,
      { tensor: name },
    );
  }
  const shape = (proto.dims ?? []).map((d) => int64ToNumber(d));
  const size = shapeSize(shape);
  const data =
    proto.raw_data !== undefined && proto.raw_data.byteLength > 0
      ? fromRaw(dtype, proto.raw_data, size, name)
      : fromTyped(dtype, proto, size, name);
  return Tensor.wrap(data, shape, dtype);
}
