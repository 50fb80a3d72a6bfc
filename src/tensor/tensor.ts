/**
 * Tensor = Storage (a TypedArray of one dtype) + Layout {shape, strides, offset}.
 *
 * View methods (reshape of a contiguous tensor, slice, select, narrow, transpose, permute,
 * squeeze, unsqueeze, expand, flatten, split, chunk) return a new Tensor over the same storage
 * and never copy. `contiguous()` and `clone()` are the only methods here that copy, and
 * `contiguous()` does so only when the layout is not already row-major.
 */
import { type DType, type DTypeMap, dtypeInfo, dtypeOfArray, type TypedArray } from "./dtype.ts";
import { fmtShape, ShapeError, TesseraError } from "./errors.ts";
import { f16ToF32, f64ToF16 } from "./float16.ts";
import {
  broadcastLayout,
  checkShape,
  contiguousStrides,
  isContiguous,
  type Layout,
  makeLayout,
  normalizeAxis,
  shapeSize,
} from "./layout.ts";
import { stridedCopy } from "./walk.ts";

/** Element value as JS sees it: number for every dtype except int64 (bigint). */
export type Scalar<D extends DType = DType> = D extends "int64" ? bigint : number;

/** One axis of `slice`: `null` keeps the axis, a number selects (drops the axis), a tuple is Python's start:stop:step. */
export type SliceSpec =
  | null
  | number
  | readonly [start?: number | null, stop?: number | null, step?: number | null];

/** Nested JS arrays as produced by `toArray()`. */
export type NestedArray<T> = T | NestedArray<T>[];

/** The layout the next `new Tensor` adopts without checks; set only by `adopt`, reset by the constructor. */
let adopting: Layout | undefined;

/**
 * Internal fast path for `new Tensor`: `layout` must be frozen and in bounds of `storage` (built by
 * `makeLayout` with the storage length, or by `ownedLayout` for a layout in bounds by construction) and
 * `storage` must be the dtype's array type. The public constructor keeps checking everything.
 */
function adopt<D extends DType>(dtype: D, storage: DTypeMap[D], layout: Layout): Tensor<D> {
  adopting = layout;
  return new Tensor(dtype, storage, layout);
}

/**
 * A frozen layout that takes ownership of `shape` (a fresh array nobody else holds) and shares `strides` when it
 * is already frozen (another layout's); no bounds check: only for layouts in bounds by construction.
 */
function ownedLayout(shape: number[], strides: readonly number[], offset: number): Layout {
  return Object.freeze({
    shape: Object.freeze(shape),
    strides: Object.isFrozen(strides) ? strides : Object.freeze([...strides]),
    offset,
  });
}

/** Throws E_DTYPE_MISMATCH when `storage` is not the TypedArray type of `dtype`. */
function checkStorage(dtype: DType, storage: TypedArray): void {
  const info = dtypeInfo(dtype);
  if (!(storage instanceof info.ctor)) {
    throw new TesseraError("E_DTYPE_MISMATCH", `tensor: storage for ${dtype} must be a ${info.ctor.name}`, {
      dtype,
    });
  }
}

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  /** The whole backing array; a view may use only part of it. */
  readonly storage: DTypeMap[D];
  readonly layout: Layout;

  /**
   * Wraps `storage` with `layout` without copying. Prefer `Tensor.wrap` or the creation functions;
   * this constructor checks that the layout stays inside the storage.
   */
  constructor(dtype: D, storage: DTypeMap[D], layout: Layout) {
    if (layout === adopting) {
      // Internal fast path (see `adopt`): the layout is frozen and in bounds, the storage matches the dtype.
      adopting = undefined;
      this.dtype = dtype;
      this.storage = storage;
      this.layout = layout;
      return;
    }
    checkStorage(dtype, storage);
    this.dtype = dtype;
    this.storage = storage;
    this.layout = makeLayout(layout.shape, layout.strides, layout.offset, storage.length);
  }

  /**
   * Wraps an existing TypedArray as a contiguous tensor. Returns a view: no copy.
   * `dtype` is needed only to read a Uint16Array as float16 or a Uint8Array as bool.
   */
  static wrap<A extends TypedArray>(array: A, shape?: readonly number[], dtype?: DType): Tensor {
    const dt = dtype ?? dtypeOfArray(array);
    const s = checkShape(shape ?? [array.length], "wrap");
    if (shapeSize(s) !== array.length) {
      throw new ShapeError(
        "E_SHAPE_SIZE",
        `wrap: shape ${fmtShape(s)} holds ${shapeSize(s)} elements but the array has ${array.length}`,
        {
          shape: s,
          length: array.length,
        },
      );
    }
    checkStorage(dt, array);
    // `s` is a fresh array (checkShape copies) and a contiguous layout of exactly array.length elements is in bounds.
    return adopt(dt, array as DTypeMap[typeof dt], ownedLayout(s, contiguousStrides(s), 0));
  }

  /** A new zero-filled contiguous tensor. */
  static empty<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
    const s = checkShape(shape, "empty");
    const info = dtypeInfo(dtype);
    return adopt(dtype, new info.ctor(shapeSize(s)) as DTypeMap[D], ownedLayout(s, contiguousStrides(s), 0));
  }

  get shape(): readonly number[] {
    return this.layout.shape;
  }
  get strides(): readonly number[] {
    return this.layout.strides;
  }
  get offset(): number {
    return this.layout.offset;
  }
  get ndim(): number {
    return this.layout.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return shapeSize(this.layout.shape);
  }
  get byteSize(): number {
    return this.size * dtypeInfo(this.dtype).byteSize;
  }

  isContiguous(): boolean {
    return isContiguous(this.layout);
  }

  /**
   * The elements of a contiguous tensor as a TypedArray view (`storage.subarray`): no copy.
   * Throws `E_NOT_CONTIGUOUS` for other layouts; call `contiguous()` first.
   */
  get data(): DTypeMap[D] {
    if (!this.isContiguous()) {
      throw new TesseraError(
        "E_NOT_CONTIGUOUS",
        `data: tensor ${fmtShape(this.shape)} with strides ${fmtShape(this.strides)} is not contiguous; call contiguous() first`,
        { shape: [...this.shape], strides: [...this.strides] },
      );
    }
    return this.storage.subarray(this.offset, this.offset + this.size) as DTypeMap[D];
  }

  /** A view with a new layout, bounds-checked once by `makeLayout`. */
  private view(shape: readonly number[], strides: readonly number[], offset: number): Tensor<D> {
    return adopt(this.dtype, this.storage, makeLayout(shape, strides, offset, this.storage.length));
  }

  /** Storage index of a logical index (negative indices count from the end). */
  indexOf(index: readonly number[]): number {
    if (index.length !== this.ndim) {
      throw new ShapeError(
        "E_INDEX_RANK",
        `index: got ${index.length} indices for a tensor of rank ${this.ndim}`,
        {
          index: [...index],
          shape: [...this.shape],
        },
      );
    }
    let pos = this.offset;
    for (let k = 0; k < index.length; k++) {
      const n = this.shape[k]!;
      let i = index[k]!;
      if (i < 0) i += n;
      if (!Number.isInteger(i) || i < 0 || i >= n) {
        throw new ShapeError(
          "E_INDEX_OUT_OF_RANGE",
          `index: ${index[k]} is out of range for axis ${k} of size ${n}`,
          {
            axis: k,
            index: index[k],
            size: n,
          },
        );
      }
      pos += i * this.strides[k]!;
    }
    return pos;
  }

  /** Reads one element (float16 as its number value; the bits are in `storage`). */
  get(...index: number[]): Scalar<D> {
    const v = this.storage[this.indexOf(index)] as Scalar<D>;
    return this.dtype === "float16" ? (f16ToF32(v as number) as Scalar<D>) : v;
  }

  /** Writes one element (into the shared storage: every view sees it); float16 rounds the number to half. */
  set(value: Scalar<D>, ...index: number[]): void {
    const v = this.dtype === "float16" ? (f64ToF16(value as number) as Scalar<D>) : value;
    (this.storage as unknown as Array<Scalar<D>>)[this.indexOf(index)] = v;
  }

  /** The single element of a size-1 tensor. */
  item(): Scalar<D> {
    if (this.size !== 1) {
      throw new ShapeError(
        "E_SHAPE_SIZE",
        `item: tensor ${fmtShape(this.shape)} has ${this.size} elements, expected 1`,
        {
          shape: [...this.shape],
        },
      );
    }
    const v = this.storage[this.offset] as Scalar<D>;
    return this.dtype === "float16" ? (f16ToF32(v as number) as Scalar<D>) : v;
  }

  /**
   * Calls `fn(storageIndex, i)` for every element in row-major logical order.
   * The building block for strided kernels; walks the innermost axis without recomputing offsets.
   */
  forEachIndex(fn: (storageIndex: number, i: number) => void): void {
    const { shape, strides, offset } = this.layout;
    const n = this.size;
    if (n === 0) return;
    const nd = shape.length;
    if (nd === 0) {
      fn(offset, 0);
      return;
    }
    const idx = new Array<number>(nd).fill(0);
    const last = nd - 1;
    const inner = shape[last]!;
    const innerStride = strides[last]!;
    let base = offset;
    for (let i = 0; i < n; i += inner) {
      let p = base;
      for (let j = 0; j < inner; j++, p += innerStride) fn(p, i + j);
      // advance the outer index (odometer)
      for (let k = last - 1; k >= 0; k--) {
        idx[k]!++;
        base += strides[k]!;
        if (idx[k]! < shape[k]!) break;
        base -= idx[k]! * strides[k]!;
        idx[k] = 0;
      }
    }
  }

  /**
   * Returns this tensor if it is already contiguous (a view, no copy); otherwise copies it
   * into a new row-major storage.
   */
  contiguous(): Tensor<D> {
    if (this.isContiguous() && this.offset === 0 && this.storage.length === this.size) return this;
    if (this.isContiguous()) return this.view(this.shape, contiguousStrides(this.shape), this.offset);
    return this.clone();
  }

  /** Always copies into a new contiguous storage. */
  clone(): Tensor<D> {
    const out = Tensor.empty(this.dtype, this.shape);
    if (this.isContiguous()) (out.storage as TypedArray).set(this.data as never);
    else stridedCopy(this.storage, this.layout, out.storage);
    return out;
  }

  /**
   * Gives a new shape (one dim may be -1). Returns a view when the tensor is contiguous;
   * throws `E_NOT_CONTIGUOUS` otherwise (use `contiguous().reshape()` to copy explicitly).
   */
  reshape(shape: readonly number[]): Tensor<D> {
    const s = [...shape];
    const minus = s.indexOf(-1);
    if (minus !== -1) {
      const rest = shapeSize(s.filter((_, i) => i !== minus));
      if (rest === 0 || this.size % rest !== 0) {
        throw new ShapeError(
          "E_SHAPE_SIZE",
          `reshape: cannot reshape ${fmtShape(this.shape)} into ${fmtShape(shape)}`,
          {
            from: [...this.shape],
            to: [...shape],
          },
        );
      }
      s[minus] = this.size / rest;
    }
    checkShape(s, "reshape");
    if (shapeSize(s) !== this.size) {
      throw new ShapeError(
        "E_SHAPE_SIZE",
        `reshape: cannot reshape ${fmtShape(this.shape)} (${this.size} elements) into ${fmtShape(shape)}`,
        {
          from: [...this.shape],
          to: [...shape],
        },
      );
    }
    if (!this.isContiguous()) {
      throw new TesseraError(
        "E_NOT_CONTIGUOUS",
        `reshape: tensor ${fmtShape(this.shape)} with strides ${fmtShape(this.strides)} is not contiguous; call contiguous() first`,
        { shape: [...this.shape], strides: [...this.strides] },
      );
    }
    return this.view(s, contiguousStrides(s), this.offset);
  }

  /** Flattens axes `start..end` (inclusive) into one. Returns a view; requires those axes to be contiguous together. */
  flatten(start = 0, end = -1): Tensor<D> {
    if (this.ndim === 0) return this.reshape([1]);
    const a = normalizeAxis(start, this.ndim, "flatten");
    const b = normalizeAxis(end, this.ndim, "flatten");
    const shape = [
      ...this.shape.slice(0, a),
      shapeSize(this.shape.slice(a, b + 1)),
      ...this.shape.slice(b + 1),
    ];
    // The merged axes must be contiguous among themselves for this to be a view.
    for (let k = a; k < b; k++) {
      if (
        this.shape[k + 1] !== 1 &&
        this.strides[k] !== this.strides[k + 1]! * this.shape[k + 1]! &&
        this.shape[k] !== 1
      ) {
        throw new TesseraError(
          "E_NOT_CONTIGUOUS",
          `flatten: axes ${a}..${b} of ${fmtShape(this.shape)} are not contiguous; call contiguous() first`,
          {
            shape: [...this.shape],
            strides: [...this.strides],
          },
        );
      }
    }
    const strides = [...this.strides.slice(0, a), this.strides[b]!, ...this.strides.slice(b + 1)];
    return this.view(shape, strides, this.offset);
  }

  /**
   * NumPy-style basic indexing, one spec per leading axis: `null` keeps the axis, a number selects it
   * (dropping the axis), `[start, stop, step]` slices with Python semantics (negative indices and steps,
   * out-of-range bounds clamp). Returns a view.
   */
  slice(...specs: SliceSpec[]): Tensor<D> {
    if (specs.length > this.ndim) {
      throw new ShapeError("E_INDEX_RANK", `slice: ${specs.length} specs for a tensor of rank ${this.ndim}`, {
        specs: specs.length,
        ndim: this.ndim,
      });
    }
    const shape: number[] = [];
    const strides: number[] = [];
    let offset = this.offset;
    for (let k = 0; k < this.ndim; k++) {
      const n = this.shape[k]!;
      const st = this.strides[k]!;
      const spec = specs[k] ?? null;
      if (spec === null) {
        shape.push(n);
        strides.push(st);
      } else if (typeof spec === "number") {
        const i = spec < 0 ? spec + n : spec;
        if (!Number.isInteger(spec) || i < 0 || i >= n) {
          throw new ShapeError(
            "E_INDEX_OUT_OF_RANGE",
            `slice: index ${spec} is out of range for axis ${k} of size ${n}`,
            {
              axis: k,
              index: spec,
              size: n,
            },
          );
        }
        offset += i * st;
      } else {
        const [start, stop, step] = resolveSlice(spec, n, k);
        const len =
          step > 0
            ? Math.max(0, Math.ceil((stop - start) / step))
            : Math.max(0, Math.ceil((start - stop) / -step));
        if (len > 0) offset += start * st;
        shape.push(len);
        strides.push(st * step);
      }
    }
    return this.view(shape, strides, offset);
  }

  /** Picks index `index` along `axis`, dropping the axis. Returns a view. */
  select(axis: number, index: number): Tensor<D> {
    const a = normalizeAxis(axis, this.ndim, "select");
    const specs: SliceSpec[] = new Array<SliceSpec>(a).fill(null);
    specs.push(index);
    return this.slice(...specs);
  }

  /** Keeps `length` elements of `axis` starting at `start`. Returns a view. */
  narrow(axis: number, start: number, length: number): Tensor<D> {
    const a = normalizeAxis(axis, this.ndim, "narrow");
    const n = this.shape[a]!;
    const s = start < 0 ? start + n : start;
    if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > n) {
      throw new ShapeError(
        "E_INDEX_OUT_OF_RANGE",
        `narrow: [${start}, ${start}+${length}) is outside axis ${a} of size ${n}`,
        {
          axis: a,
          start,
          length,
          size: n,
        },
      );
    }
    const shape = this.shape.slice();
    shape[a] = length;
    // In bounds by construction: [s, s+length) lies inside axis a of this (in-bounds) layout.
    const offset = length > 0 ? this.offset + s * this.strides[a]! : this.offset;
    return adopt(this.dtype, this.storage, ownedLayout(shape, this.strides, offset));
  }

  /** Reorders axes. Returns a view. */
  permute(axes: readonly number[]): Tensor<D> {
    if (axes.length !== this.ndim) {
      throw new ShapeError(
        "E_AXIS_OUT_OF_RANGE",
        `permute: got ${axes.length} axes for a tensor of rank ${this.ndim}`,
        {
          axes: [...axes],
          ndim: this.ndim,
        },
      );
    }
    const seen = new Set<number>();
    const norm = axes.map((ax) => normalizeAxis(ax, this.ndim, "permute"));
    for (const ax of norm) {
      if (seen.has(ax)) {
        throw new ShapeError(
          "E_AXIS_OUT_OF_RANGE",
          `permute: axis ${ax} appears twice in ${fmtShape(axes)}`,
          { axes: [...axes] },
        );
      }
      seen.add(ax);
    }
    return this.view(
      norm.map((ax) => this.shape[ax]!),
      norm.map((ax) => this.strides[ax]!),
      this.offset,
    );
  }

  /** Swaps two axes (default: the last two). Returns a view. */
  transpose(a = -2, b = -1): Tensor<D> {
    if (this.ndim < 2) return this;
    const x = normalizeAxis(a, this.ndim, "transpose");
    const y = normalizeAxis(b, this.ndim, "transpose");
    const axes = [...Array(this.ndim).keys()];
    axes[x] = y;
    axes[y] = x;
    return this.permute(axes);
  }

  /** Removes size-1 axes (all of them, or the one given). Returns a view. */
  squeeze(axis?: number): Tensor<D> {
    if (axis !== undefined) {
      const a = normalizeAxis(axis, this.ndim, "squeeze");
      if (this.shape[a] !== 1) {
        throw new ShapeError(
          "E_SHAPE_SIZE",
          `squeeze: axis ${a} of ${fmtShape(this.shape)} has size ${this.shape[a]}, expected 1`,
          {
            axis: a,
            shape: [...this.shape],
          },
        );
      }
      return this.view(
        this.shape.filter((_, i) => i !== a),
        this.strides.filter((_, i) => i !== a),
        this.offset,
      );
    }
    const keep = this.shape.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
    return this.view(
      keep.map((i) => this.shape[i]!),
      keep.map((i) => this.strides[i]!),
      this.offset,
    );
  }

  /** Inserts a size-1 axis at `axis` (may be negative: -1 appends). Returns a view. */
  unsqueeze(axis: number): Tensor<D> {
    const a = normalizeAxis(axis, this.ndim + 1, "unsqueeze");
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(a, 0, 1);
    strides.splice(a, 0, a < this.ndim ? this.strides[a]! * this.shape[a]! : 1);
    return this.view(shape, strides, this.offset);
  }

  /** Broadcasts to `shape` with stride-0 axes (NumPy rules). Returns a view; writes through it alias. */
  expand(shape: readonly number[]): Tensor<D> {
    const l = broadcastLayout(this.layout, checkShape(shape, "expand"), "expand");
    return this.view(l.shape, l.strides, l.offset);
  }

  /** Alias of `expand`. Returns a view. */
  broadcastTo(shape: readonly number[]): Tensor<D> {
    return this.expand(shape);
  }

  /**
   * Splits `axis` into pieces of `sizes` (an array) or of equal size `sizes` (a number; the last may be smaller).
   * Returns views.
   */
  split(sizes: number | readonly number[], axis = 0): Tensor<D>[] {
    const a = normalizeAxis(axis, this.ndim, "split");
    const n = this.shape[a]!;
    let parts: number[];
    if (typeof sizes === "number") {
      if (!Number.isInteger(sizes) || sizes <= 0) {
        throw new ShapeError("E_SHAPE_INVALID", `split: size must be a positive integer, got ${sizes}`, {
          size: sizes,
        });
      }
      parts = [];
      for (let s = 0; s < n; s += sizes) parts.push(Math.min(sizes, n - s));
    } else {
      parts = [...sizes];
      const total = parts.reduce((x, y) => x + y, 0);
      if (total !== n || parts.some((p) => !Number.isInteger(p) || p < 0)) {
        throw new ShapeError(
          "E_SHAPE_SIZE",
          `split: sizes ${fmtShape(parts)} do not add up to axis ${a} of size ${n}`,
          {
            sizes: parts,
            size: n,
          },
        );
      }
    }
    // Views in bounds by construction (the parts tile axis a); pieces of equal length share one frozen shape array.
    const out = new Array<Tensor<D>>(parts.length);
    const stride = this.strides[a]!;
    let start = 0;
    let shapeLen = -1;
    let shape: number[] = [];
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      if (p !== shapeLen) {
        shape = this.shape.slice();
        shape[a] = p;
        Object.freeze(shape);
        shapeLen = p;
      }
      const offset = p > 0 ? this.offset + start * stride : this.offset;
      out[k] = adopt(this.dtype, this.storage, ownedLayout(shape, this.strides, offset));
      start += p;
    }
    return out;
  }

  /** Splits `axis` into `chunks` nearly equal views (like torch.chunk). */
  chunk(chunks: number, axis = 0): Tensor<D>[] {
    const a = normalizeAxis(axis, this.ndim, "chunk");
    if (!Number.isInteger(chunks) || chunks <= 0) {
      throw new ShapeError("E_SHAPE_INVALID", `chunk: chunks must be a positive integer, got ${chunks}`, {
        chunks,
      });
    }
    return this.split(Math.max(1, Math.ceil(this.shape[a]! / chunks)), a);
  }

  /** Copies the elements into nested JS arrays (numbers, or bigints for int64; float16 as number values). */
  toArray(): NestedArray<Scalar<D>> {
    const flat: Scalar<D>[] = new Array(this.size);
    const src = this.storage as unknown as ArrayLike<Scalar<D>>;
    if (this.dtype === "float16") {
      this.forEachIndex((p, i) => {
        flat[i] = f16ToF32(src[p] as number) as Scalar<D>;
      });
    } else {
      this.forEachIndex((p, i) => {
        flat[i] = src[p]!;
      });
    }
    if (this.ndim === 0) return flat[0]!;
    const build = (axis: number, start: number): NestedArray<Scalar<D>> => {
      const n = this.shape[axis]!;
      if (axis === this.ndim - 1) return flat.slice(start, start + n);
      const step = shapeSize(this.shape.slice(axis + 1));
      const out: NestedArray<Scalar<D>>[] = [];
      for (let i = 0; i < n; i++) out.push(build(axis + 1, start + i * step));
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)})`;
  }
}

function resolveSlice(
  spec: readonly [start?: number | null, stop?: number | null, step?: number | null],
  n: number,
  axis: number,
): [number, number, number] {
  const step = spec[2] ?? 1;
  if (!Number.isInteger(step) || step === 0) {
    throw new ShapeError(
      "E_SLICE_STEP",
      `slice: step must be a non-zero integer on axis ${axis}, got ${step}`,
      { axis, step },
    );
  }
  const clampIdx = (v: number | null | undefined, dflt: number, lo: number, hi: number): number => {
    if (v === null || v === undefined) return dflt;
    if (!Number.isInteger(v)) {
      throw new ShapeError("E_INDEX_OUT_OF_RANGE", `slice: bound ${v} on axis ${axis} is not an integer`, {
        axis,
        bound: v,
      });
    }
    const x = v < 0 ? v + n : v;
    return Math.min(Math.max(x, lo), hi);
  };
  if (step > 0) return [clampIdx(spec[0], 0, 0, n), clampIdx(spec[1], n, 0, n), step];
  return [clampIdx(spec[0], n - 1, -1, n - 1), clampIdx(spec[1], -1, -1, n - 1), step];
}
