/**
 * Layout: how a tensor's logical indices map onto its storage.
 *
 * Invariants of a Layout (checked by `makeLayout`, relied on everywhere else):
 *  1. `shape` and `strides` have the same length (the rank); every dim is a non-negative integer.
 *  2. Strides and `offset` are counted in elements, not bytes. A stride may be 0 (broadcast)
 *     or negative (reversed slice).
 *  3. When the tensor is not empty, every reachable element index
 *     `offset + Σ i_k * strides[k]` (0 ≤ i_k < shape[k]) lies in `[0, storageLength)`.
 *  4. Layouts are frozen values: view ops return a new Layout, never mutate one.
 */
import { fmtShape, ShapeError } from "./errors.ts";

export interface Layout {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Number of elements of a shape (1 for a scalar, 0 if any dim is 0). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  // Indexed loop: shapes are frozen arrays, and for-of over a frozen array allocates iterator results.
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Row-major (C order) strides for a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1);
  }
  return strides;
}

/** Validates a user-supplied shape: every dim a non-negative safe integer. */
export function checkShape(shape: readonly number[], op = "shape"): number[] {
  if (!Array.isArray(shape)) {
    throw new ShapeError(
      "E_SHAPE_INVALID",
      `${op}: shape must be an array of non-negative integers, got ${String(shape)}`,
      {
        op,
      },
    );
  }
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(
        "E_SHAPE_INVALID",
        `${op}: shape ${JSON.stringify(shape)} has an invalid dim ${String(d)}; dims must be non-negative integers`,
        { op, shape: [...shape] },
      );
    }
  }
  return [...shape];
}

/** The smallest and largest storage index a layout reaches (for an empty tensor: [offset, offset-1]). */
export function storageExtent(layout: Layout): [number, number] {
  if (shapeSize(layout.shape) === 0) return [layout.offset, layout.offset - 1];
  let lo = layout.offset;
  let hi = layout.offset;
  for (let k = 0; k < layout.shape.length; k++) {
    const span = (layout.shape[k]! - 1) * layout.strides[k]!;
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi];
}

/** Builds a frozen layout, checking invariant 3 against the storage length. */
export function makeLayout(
  shape: readonly number[],
  strides: readonly number[] = contiguousStrides(shape),
  offset = 0,
  storageLength?: number,
): Layout {
  if (shape.length !== strides.length) {
    throw new ShapeError(
      "E_SHAPE_INVALID",
      `layout: shape ${fmtShape(shape)} and strides ${fmtShape(strides)} differ in rank`,
      {
        shape: [...shape],
        strides: [...strides],
      },
    );
  }
  const layout: Layout = Object.freeze({
    shape: Object.freeze([...shape]),
    strides: Object.freeze([...strides]),
    offset,
  });
  if (storageLength !== undefined && shapeSize(shape) > 0) {
    const [lo, hi] = storageExtent(layout);
    if (lo < 0 || hi >= storageLength) {
      throw new ShapeError(
        "E_VIEW_OUT_OF_BOUNDS",
        `layout: view ${fmtShape(shape)} with strides ${fmtShape(strides)} at offset ${offset} reaches elements [${lo}, ${hi}] outside storage of ${storageLength}`,
        { shape: [...shape], strides: [...strides], offset, storageLength },
      );
    }
  }
  return layout;
}

/** True when the layout is row-major contiguous (its elements are storage[offset .. offset+size)). */
export function isContiguous(layout: Layout): boolean {
  let expected = 1;
  for (let i = layout.shape.length - 1; i >= 0; i--) {
    const d = layout.shape[i]!;
    if (d === 0) return true;
    if (d !== 1 && layout.strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

/**
 * Normalises an axis that may be negative (-1 = last). Throws `E_AXIS_OUT_OF_RANGE`.
 */
export function normalizeAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1)) {
    throw new ShapeError(
      "E_AXIS_OUT_OF_RANGE",
      `${op}: axis ${axis} is out of range for a tensor of rank ${ndim}`,
      {
        op,
        axis,
        ndim,
      },
    );
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Broadcast two shapes (NumPy rules). Throws `E_SHAPE_BROADCAST`. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = "broadcast"): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else {
      throw new ShapeError(
        "E_SHAPE_BROADCAST",
        `${op}: cannot broadcast ${fmtShape(a)} with ${fmtShape(b)}`,
        {
          op,
          lhs: [...a],
          rhs: [...b],
        },
      );
    }
  }
  return out;
}

/**
 * Strides that make `layout` read as `target` shape by broadcasting (stride 0 on expanded dims).
 * Throws `E_SHAPE_BROADCAST` when the shapes are not compatible.
 */
export function broadcastLayout(layout: Layout, target: readonly number[], op = "broadcastTo"): Layout {
  const n = target.length;
  const k = layout.shape.length;
  if (k > n) {
    throw new ShapeError(
      "E_SHAPE_BROADCAST",
      `${op}: cannot broadcast ${fmtShape(layout.shape)} to ${fmtShape(target)}`,
      {
        op,
        lhs: [...layout.shape],
        rhs: [...target],
      },
    );
  }
  const strides = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const j = i - (n - k);
    if (j < 0) continue;
    const d = layout.shape[j]!;
    if (d === target[i]) strides[i] = layout.strides[j]!;
    else if (d === 1) strides[i] = 0;
    else {
      throw new ShapeError(
        "E_SHAPE_BROADCAST",
        `${op}: cannot broadcast ${fmtShape(layout.shape)} to ${fmtShape(target)}`,
        {
          op,
          lhs: [...layout.shape],
          rhs: [...target],
        },
      );
    }
  }
  return makeLayout(target, strides, layout.offset);
}
