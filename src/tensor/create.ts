/**
 * Creation functions: from nested arrays, from existing memory (no copy), and filled tensors.
 * Every function here returns a new contiguous tensor that owns its storage, except `fromBuffer`,
 * which returns a view of the caller's memory.
 */
import { type DType, type DTypeMap, dtypeInfo, type TypedArray } from "./dtype.ts";
import { fmtShape, ShapeError, TesseraError } from "./errors.ts";
import { checkShape, makeLayout, shapeSize } from "./layout.ts";
import { Tensor } from "./tensor.ts";
import { encodeValue } from "./values.ts";

/** Leaf values accepted by `tensor()`. */
export type NestedInput = number | boolean | bigint | TypedArray | readonly NestedInput[];

function inferShape(data: unknown, shape: number[], depth: number): void {
  if (Array.isArray(data) || ArrayBuffer.isView(data)) {
    const arr = data as ArrayLike<unknown>;
    shape[depth] = arr.length;
    if (arr.length > 0) inferShape(arr[0], shape, depth + 1);
  }
}

/** "data[1][2]" for the index stack (built only when reporting an error). */
function pathOf(idx: readonly number[], depth: number): string {
  return `data${idx
    .slice(0, depth)
    .map((i) => `[${i}]`)
    .join("")}`;
}

function flattenChecked(
  data: unknown,
  shape: readonly number[],
  depth: number,
  idx: number[],
  out: unknown[],
): void {
  if (depth === shape.length) {
    if (typeof data === "number") {
      out.push(data);
      return;
    }
    const path = pathOf(idx, depth);
    if (Array.isArray(data) || ArrayBuffer.isView(data)) {
      throw new ShapeError(
        "E_RAGGED",
        `tensor: element ${path} is an array but shape ${fmtShape(shape)} expects a scalar there`,
        {
          path,
          shape: [...shape],
        },
      );
    }
    if (typeof data !== "number" && typeof data !== "boolean" && typeof data !== "bigint") {
      throw new TesseraError(
        "E_VALUE_TYPE",
        `tensor: element ${path} is ${typeof data}; expected number, boolean or bigint`,
        {
          path,
        },
      );
    }
    out.push(data);
    return;
  }
  const n = shape[depth]!;
  if (!(Array.isArray(data) || ArrayBuffer.isView(data)) || (data as ArrayLike<unknown>).length !== n) {
    const path = pathOf(idx, depth);
    const got =
      Array.isArray(data) || ArrayBuffer.isView(data)
        ? `length ${(data as ArrayLike<unknown>).length}`
        : "a scalar";
    throw new ShapeError("E_RAGGED", `tensor: ragged input at ${path}: expected length ${n}, got ${got}`, {
      path,
      expected: n,
      shape: [...shape],
    });
  }
  const arr = data as ArrayLike<unknown>;
  for (let i = 0; i < n; i++) {
    idx[depth] = i;
    flattenChecked(arr[i], shape, depth + 1, idx, out);
  }
}

/**
 * Builds a tensor from nested arrays (or a scalar). The shape is inferred; ragged input throws `E_RAGGED`.
 * Default dtype: float32 for numbers, bool for booleans, int64 for bigints. Copies.
 *
 * @example tensor([[1, 2], [3, 4]]).shape // [2, 2]
 */
export function tensor<D extends DType = "float32">(data: NestedInput, dtype?: D): Tensor<D> {
  const shape: number[] = [];
  inferShape(data, shape, 0);
  const flat: unknown[] = [];
  flattenChecked(data, shape, 0, [], flat);
  const first = flat[0];
  const dt = (dtype ??
    (typeof first === "boolean" ? "bool" : typeof first === "bigint" ? "int64" : "float32")) as D;
  const out = Tensor.empty(dt, shape);
  const s = out.storage as unknown as Array<number | bigint>;
  for (let i = 0; i < flat.length; i++) s[i] = encodeValue(dt, flat[i] as number | bigint | boolean);
  return out;
}

/**
 * Wraps bytes of an ArrayBuffer / SharedArrayBuffer / Buffer / Uint8Array as a contiguous tensor without copying.
 * `byteOffset` is relative to the given view. Throws `E_BUFFER_ALIGNMENT` when the absolute offset is not a
 * multiple of the dtype size and `E_BUFFER_BOUNDS` when the tensor would reach past the end. Returns a view.
 */
export function fromBuffer<D extends DType>(
  buffer: ArrayBufferLike | ArrayBufferView,
  dtype: D,
  shape: readonly number[],
  byteOffset = 0,
): Tensor<D> {
  const info = dtypeInfo(dtype);
  const s = checkShape(shape, "fromBuffer");
  const base = ArrayBuffer.isView(buffer) ? buffer.buffer : buffer;
  const viewStart = ArrayBuffer.isView(buffer) ? buffer.byteOffset : 0;
  const viewLength = ArrayBuffer.isView(buffer) ? buffer.byteLength : buffer.byteLength;
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    throw new TesseraError(
      "E_BUFFER_BOUNDS",
      `fromBuffer: byteOffset must be a non-negative integer, got ${byteOffset}`,
      {
        byteOffset,
      },
    );
  }
  const n = shapeSize(s);
  const need = n * info.byteSize;
  if (byteOffset + need > viewLength) {
    throw new TesseraError(
      "E_BUFFER_BOUNDS",
      `fromBuffer: ${dtype}${fmtShape(s)} needs ${need} bytes at offset ${byteOffset}, but the buffer has ${viewLength}`,
      { dtype, shape: s, byteOffset, need, byteLength: viewLength },
    );
  }
  const abs = viewStart + byteOffset;
  if (abs % info.byteSize !== 0) {
    throw new TesseraError(
      "E_BUFFER_ALIGNMENT",
      `fromBuffer: ${dtype} needs ${info.byteSize}-byte alignment, but the data starts at byte ${abs} of its ArrayBuffer; copy it into an aligned buffer first`,
      { dtype, byteOffset: abs, alignment: info.byteSize },
    );
  }
  const arr = new info.ctor(base, abs, n) as DTypeMap[D];
  return new Tensor(dtype, arr, makeLayout(s));
}

/** A new tensor filled with `value` (float32 by default). */
export function full<D extends DType = "float32">(
  shape: readonly number[],
  value: number | bigint | boolean,
  dtype?: D,
): Tensor<D> {
  const dt = (dtype ?? "float32") as D;
  const out = Tensor.empty(dt, checkShape(shape, "full"));
  (out.storage as unknown as { fill(v: number | bigint): void }).fill(encodeValue(dt, value));
  return out;
}

/** A new zero-filled tensor (float32 by default). */
export function zeros<D extends DType = "float32">(shape: readonly number[], dtype?: D): Tensor<D> {
  return Tensor.empty((dtype ?? "float32") as D, checkShape(shape, "zeros"));
}

/** A new tensor of ones (float32 by default). */
export function ones<D extends DType = "float32">(shape: readonly number[], dtype?: D): Tensor<D> {
  return full(shape, 1, dtype);
}

/** A new zero-filled tensor shaped and typed like `t`. */
export function zerosLike<D extends DType>(t: Tensor<D>): Tensor<D> {
  return Tensor.empty(t.dtype, t.shape);
}
/** A new tensor of ones shaped and typed like `t`. */
export function onesLike<D extends DType>(t: Tensor<D>): Tensor<D> {
  return full(t.shape, 1, t.dtype);
}

export interface ArangeOptions {
  step?: number;
  dtype?: DType;
}

/**
 * Values `start, start+step, …` below `stop` (like numpy.arange). `arange(5)` is 0..4.
 * dtype defaults to int32 when all arguments are integers, else float32.
 */
export function arange(start: number, stop?: number, opts: ArangeOptions | number = {}): Tensor {
  const o = typeof opts === "number" ? { step: opts } : opts;
  const [a, b] = stop === undefined ? [0, start] : [start, stop];
  const step = o.step ?? 1;
  if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(step) || step === 0) {
    throw new TesseraError(
      "E_ARGUMENT",
      `arange: need finite start/stop and a non-zero step, got ${a}, ${b}, ${step}`,
      {
        start: a,
        stop: b,
        step,
      },
    );
  }
  const n = Math.max(0, Math.ceil((b - a) / step));
  const dt =
    o.dtype ?? (Number.isInteger(a) && Number.isInteger(b) && Number.isInteger(step) ? "int32" : "float32");
  const out = Tensor.empty(dt, [n]);
  const s = out.storage as unknown as Array<number | bigint>;
  for (let i = 0; i < n; i++) s[i] = encodeValue(dt, a + i * step);
  return out;
}

/** `num` evenly spaced values from `start` to `stop` inclusive (float32 by default). */
export function linspace<D extends DType = "float32">(
  start: number,
  stop: number,
  num: number,
  dtype?: D,
): Tensor<D> {
  if (!Number.isSafeInteger(num) || num < 0) {
    throw new TesseraError("E_ARGUMENT", `linspace: num must be a non-negative integer, got ${num}`, { num });
  }
  const dt = (dtype ?? "float32") as D;
  const out = Tensor.empty(dt, [num]);
  const s = out.storage as unknown as Array<number | bigint>;
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) s[i] = encodeValue(dt, i === num - 1 && num > 1 ? stop : start + i * step);
  return out;
}

/** An `n × m` identity-like matrix (ones on the diagonal; float32 by default). */
export function eye<D extends DType = "float32">(n: number, m: number = n, dtype?: D): Tensor<D> {
  const dt = (dtype ?? "float32") as D;
  const out = Tensor.empty(dt, checkShape([n, m], "eye"));
  const s = out.storage as unknown as Array<number | bigint>;
  const one = encodeValue(dt, 1);
  for (let i = 0; i < Math.min(n, m); i++) s[i * m + i] = one;
  return out;
}

/** A 0-d tensor. */
export function scalar<D extends DType = "float32">(value: number | bigint | boolean, dtype?: D): Tensor<D> {
  return full([], value, dtype);
}
