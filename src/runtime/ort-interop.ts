/**
 * Conversions between Tessera tensors and onnxruntime tensors, plus the wire format that carries
 * tensors between the main thread and session workers.
 *
 * Both directions avoid copies when they can: a contiguous tensor that owns a plain ArrayBuffer is
 * shared as-is; a strided view, a view into part of a larger buffer (when it must be transferred) or
 * a SharedArrayBuffer-backed tensor (ORT rejects those) is copied into a fresh ArrayBuffer.
 */
import * as ort from "onnxruntime-node";
import {
  type DType,
  DTYPES,
  type DTypeMap,
  isDType,
  Tensor,
  TesseraError,
  type TypedArray,
} from "../tensor/index.ts";

/** ORT tensor type names Tessera can carry (the same strings as Tessera dtypes). */
export type OrtDType = DType;

/**
 * Converts a Tessera tensor into an ORT tensor. No copy when the tensor is contiguous and not backed
 * by a SharedArrayBuffer (the ORT tensor then shares memory with `t`); copies otherwise.
 */
export function toOrtTensor(t: Tensor): ort.Tensor {
  const data = ortCompatibleData(t);
  return new ort.Tensor(t.dtype, data as ort.Tensor.DataTypeMap[typeof t.dtype], [...t.shape]);
}

/**
 * Converts an ORT tensor into a Tessera tensor wrapping the same TypedArray: no copy.
 * Throws `E_DTYPE_UNSUPPORTED` for ORT types Tessera has no dtype for (string, uint32, …).
 */
export function fromOrtTensor(value: ort.Tensor): Tensor {
  const dtype = value.type;
  if (!isDType(dtype)) {
    throw new TesseraError("E_DTYPE_UNSUPPORTED", `fromOrtTensor: ORT type ${dtype} has no Tessera dtype`, {
      dtype,
    });
  }
  let data = value.data as unknown as TypedArray;
  // Node builds with a native Float16Array would hand back Float16Array; Tessera stores half bits in Uint16Array.
  if (dtype === "float16" && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView;
    data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
  }
  return Tensor.wrap(data, value.dims.map(Number), dtype);
}

/**
 * The elements of `t` in row-major order as a TypedArray ORT accepts: the tensor's own data view
 * when contiguous and not shared memory, otherwise a fresh copy.
 */
export function ortCompatibleData(t: Tensor): TypedArray {
  const c = t.contiguous();
  const data = c.data as TypedArray;
  if (data.buffer instanceof ArrayBuffer) return data;
  return copyToFresh(data, t.dtype);
}

/** A tensor in flight between threads: metadata plus an ArrayBuffer that is transferred, not cloned. */
export interface WireTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly buffer: ArrayBuffer;
  readonly byteOffset: number;
  readonly length: number;
}

/**
 * Packs a tensor for `postMessage` with the buffer listed in `transfer`.
 *
 * Ownership: when `t` is contiguous and its storage is exactly the whole plain ArrayBuffer, that
 * buffer itself is transferred, which detaches it in the sender (so `t` becomes unusable there);
 * pass `detach: false` to copy instead. A view into part of a buffer, a strided view or shared memory
 * is always copied into a fresh buffer first (only its own elements, never the whole parent buffer).
 */
export function toWire(t: Tensor, transfer: ArrayBuffer[], detach = false): WireTensor {
  const c = t.contiguous();
  let data = c.data as TypedArray;
  const whole =
    data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  if (!(whole && detach)) data = copyToFresh(data, t.dtype);
  const buffer = data.buffer as ArrayBuffer;
  if (!transfer.includes(buffer)) transfer.push(buffer);
  return { dtype: t.dtype, shape: [...t.shape], buffer, byteOffset: data.byteOffset, length: data.length };
}

/** Rebuilds a tensor from its wire form. Returns a view over the transferred buffer: no copy. */
export function fromWire(w: WireTensor): Tensor {
  const ctor = DTYPES[w.dtype].ctor;
  const arr = new ctor(w.buffer, w.byteOffset, w.length) as DTypeMap[DType];
  return Tensor.wrap(arr, w.shape, w.dtype);
}

/** Packs an ORT output for transfer without copying its elements when it owns its buffer. */
export function ortToWire(value: ort.Tensor, transfer: ArrayBuffer[]): WireTensor {
  const t = fromOrtTensor(value);
  const data = t.data as TypedArray;
  let buf = data.buffer;
  let arr = data;
  if (!(buf instanceof ArrayBuffer) || transfer.includes(buf)) {
    arr = copyToFresh(data, t.dtype);
    buf = arr.buffer;
  }
  transfer.push(buf as ArrayBuffer);
  return {
    dtype: t.dtype,
    shape: [...t.shape],
    buffer: buf as ArrayBuffer,
    byteOffset: arr.byteOffset,
    length: arr.length,
  };
}

function copyToFresh(data: TypedArray, dtype: DType): TypedArray {
  const ctor = DTYPES[dtype].ctor;
  const out = new ctor(data.length) as TypedArray;
  (out as unknown as { set(a: TypedArray): void }).set(data);
  return out;
}
