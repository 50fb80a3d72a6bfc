/**
 * Reductions over any set of axes, with `keepdims`: sum, mean, variance, std, min, max, argmin, argmax,
 * L2 norm, logsumexp. All return new tensors.
 *
 * Accuracy: every reduction accumulates in float64 (JS numbers), so float32 inputs lose nothing to
 * accumulation; float64 sums use four interleaved accumulators combined pairwise.
 * Dtypes: float inputs keep their dtype; integer/bool `sum` gives int32 (int64 for int64 input); min/max/
 * argmin/argmax keep the input dtype / give int32 indices; mean/var/std/norm/logsumexp of integers give float32.
 * int64 inputs are read as float64 numbers: exact below 2^53.
 *
 * @example sum(tensor([[1, 2], [3, 4]]), { axis: 0 }).toArray() // [4, 6]
 */
import type { DType } from "../dtype.ts";
import { fmtShape, ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { writeNumbers } from "../values.ts";
import { isFloat, normalizeAxes, rowsOf } from "./internal.ts";
import { type ColumnKind, columnReduce } from "./reduce-columns.ts";

export interface ReduceOptions {
  /** Axis or axes to reduce (negative counts from the end). Default: all axes. */
  axis?: number | readonly number[];
  /** Keep reduced axes as size 1. Default false. */
  keepdims?: boolean;
}

export interface VarOptions extends ReduceOptions {
  /** Divide by N - correction (Bessel's correction is 1, the default, like torch.var). */
  correction?: number;
}

type RowFn = (d: Float32Array | Float64Array, start: number, n: number) => number;

/** Sum of d[start..start+n) in float64 with four accumulators (pairwise at the end). */
export function sumRow(d: Float32Array | Float64Array, start: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = start;
  const end = start + n;
  for (; i + 3 < end; i += 4) {
    s0 += d[i]!;
    s1 += d[i + 1]!;
    s2 += d[i + 2]!;
    s3 += d[i + 3]!;
  }
  for (; i < end; i++) s0 += d[i]!;
  return s0 + s1 + (s2 + s3);
}

function maxRow(d: Float32Array | Float64Array, start: number, n: number): number {
  let m = -Infinity;
  for (let i = start; i < start + n; i++) {
    const v = d[i]!;
    if (v > m) m = v;
    else if (Number.isNaN(v)) return v;
  }
  return m;
}

function minRow(d: Float32Array | Float64Array, start: number, n: number): number {
  let m = Infinity;
  for (let i = start; i < start + n; i++) {
    const v = d[i]!;
    if (v < m) m = v;
    else if (Number.isNaN(v)) return v;
  }
  return m;
}

function sumSqRow(d: Float32Array | Float64Array, start: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = start;
  const end = start + n;
  for (; i + 1 < end; i += 2) {
    s0 += d[i]! * d[i]!;
    s1 += d[i + 1]! * d[i + 1]!;
  }
  if (i < end) s0 += d[i]! * d[i]!;
  return s0 + s1;
}

/** Stable log(Σ exp) of one row: max-shifted; an all -inf row gives -inf. */
export function logSumExpRow(d: Float32Array | Float64Array, start: number, n: number): number {
  const m = maxRow(d, start, n);
  if (m === -Infinity || m === Infinity || Number.isNaN(m)) return m;
  let s = 0;
  for (let i = start; i < start + n; i++) s += Math.exp(d[i]! - m);
  return m + Math.log(s);
}

/**
 * The shared body of the reductions: `fn` reduces one contiguous row (reduced axes moved last); when the last
 * axis is kept, `columnReduce` accumulates in storage order instead (no transposed copy).
 */
function reduceWith(
  op: ColumnKind,
  t: Tensor,
  opts: VarOptions,
  dtype: DType,
  fn: RowFn,
  requireNonEmpty = false,
): Tensor {
  const axes = normalizeAxes(opts.axis, t.ndim, op);
  const keptShape = t.shape.filter((_, k) => !axes.includes(k));
  const outer = keptShape.reduce((a, b) => a * b, 1);
  const inner = axes.reduce((a, k) => a * t.shape[k]!, 1);
  if (requireNonEmpty && inner === 0 && outer > 0) {
    throw new ShapeError(
      "E_REDUCE_EMPTY",
      `${op}: cannot reduce ${fmtShape(t.shape)} over empty axes ${fmtShape(axes)}`,
      {
        op,
        shape: [...t.shape],
        axes,
      },
    );
  }
  let vals: Float64Array;
  if (axes.length > 0 && !axes.includes(t.ndim - 1)) {
    vals = columnReduce(op, t, axes, opts.correction ?? 1);
  } else {
    const { data } = rowsOf(t, axes);
    vals = new Float64Array(outer);
    for (let r = 0; r < outer; r++) vals[r] = fn(data, r * inner, inner);
  }
  const shape = opts.keepdims ? t.shape.map((d, k) => (axes.includes(k) ? 1 : d)) : keptShape;
  const out = Tensor.empty(dtype, shape);
  writeNumbers(out, vals);
  return out;
}

function floatOf(t: Tensor): DType {
  return isFloat(t.dtype) ? t.dtype : "float32";
}

/** Sum over `axis` (default all). */
export function sum(t: Tensor, opts: ReduceOptions = {}): Tensor {
  const dt: DType = isFloat(t.dtype) ? t.dtype : t.dtype === "int64" ? "int64" : "int32";
  return reduceWith("sum", t, opts, dt, sumRow);
}

/** Arithmetic mean over `axis` (an empty reduction gives NaN). */
export function mean(t: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceWith("mean", t, opts, floatOf(t), (d, s, n) => sumRow(d, s, n) / n);
}

/** Variance with `correction` (default 1): two-pass, Σ(x - mean)² / (N - correction). */
export function variance(t: Tensor, opts: VarOptions = {}): Tensor {
  const c = opts.correction ?? 1;
  return reduceWith("var", t, opts, floatOf(t), (d, s, n) => varRow(d, s, n, c));
}

function varRow(d: Float32Array | Float64Array, start: number, n: number, correction: number): number {
  const m = sumRow(d, start, n) / n;
  let acc = 0;
  for (let i = start; i < start + n; i++) {
    const x = d[i]! - m;
    acc += x * x;
  }
  return acc / Math.max(n - correction, 0);
}

/** Standard deviation: sqrt(variance(t, opts)). */
export function std(t: Tensor, opts: VarOptions = {}): Tensor {
  const c = opts.correction ?? 1;
  return reduceWith("std", t, opts, floatOf(t), (d, s, n) => Math.sqrt(varRow(d, s, n, c)));
}

/** Maximum (NaN propagates). Throws `E_REDUCE_EMPTY` on an empty reduction. */
export function max(t: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceWith("max", t, opts, t.dtype, maxRow, true);
}

/** Minimum (NaN propagates). Throws `E_REDUCE_EMPTY` on an empty reduction. */
export function min(t: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceWith("min", t, opts, t.dtype, minRow, true);
}

/** L2 norm sqrt(Σ x²). */
export function norm(t: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceWith("norm", t, opts, floatOf(t), (d, s, n) => Math.sqrt(sumSqRow(d, s, n)));
}

/** log(Σ exp(x)), computed stably (max-shifted). */
export function logsumexp(t: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceWith("logsumexp", t, opts, floatOf(t), logSumExpRow);
}

export interface ArgOptions {
  /** One axis; default: the flattened tensor. */
  axis?: number;
  keepdims?: boolean;
}

function argReduce(
  op: string,
  t: Tensor,
  opts: ArgOptions,
  better: (v: number, best: number) => boolean,
): Tensor {
  const axis = opts.axis;
  const src = axis === undefined ? (t.isContiguous() ? t : t.clone()).reshape([t.size]) : t;
  const ax = axis === undefined ? 0 : axis;
  const axes = normalizeAxes(ax, src.ndim, op);
  const { data, outer, inner, keptShape } = rowsOf(src, axes);
  if (inner === 0 && outer > 0) {
    throw new ShapeError("E_REDUCE_EMPTY", `${op}: cannot reduce ${fmtShape(t.shape)} over an empty axis`, {
      op,
      shape: [...t.shape],
    });
  }
  const idx = new Float64Array(outer);
  for (let r = 0; r < outer; r++) {
    const s = r * inner;
    let bi = 0;
    let bv = data[s]!;
    if (!Number.isNaN(bv)) {
      for (let i = 1; i < inner; i++) {
        const v = data[s + i]!;
        if (Number.isNaN(v)) {
          bi = i;
          break;
        }
        if (better(v, bv)) {
          bv = v;
          bi = i;
        }
      }
    }
    idx[r] = bi;
  }
  let shape: number[] = keptShape;
  if (opts.keepdims)
    shape = axis === undefined ? t.shape.map(() => 1) : t.shape.map((d, k) => (k === axes[0] ? 1 : d));
  const out = Tensor.empty("int32", shape);
  writeNumbers(out, idx);
  return out;
}

/** Index of the maximum along `axis` (first one on ties; NaN counts as the maximum). int32. */
export function argmax(t: Tensor, opts: ArgOptions = {}): Tensor {
  return argReduce("argmax", t, opts, (v, b) => v > b);
}

/** Index of the minimum along `axis` (first one on ties; NaN counts as the minimum). int32. */
export function argmin(t: Tensor, opts: ArgOptions = {}): Tensor {
  return argReduce("argmin", t, opts, (v, b) => v < b);
}

/** Alias of `variance` under NumPy's name (`T.var(x)`; import it as `{ var as variance }`). */
export { variance as var };
