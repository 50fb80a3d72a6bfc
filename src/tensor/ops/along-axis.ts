/**
 * Row-wise ops that map a tensor to one of the same shape along one axis (softmax, layer norm, …).
 * The row function sees contiguous rows; the axis is moved last (copying only when needed) and back.
 */
import type { DType } from "../dtype.ts";
import { normalizeAxis } from "../layout.ts";
import { Tensor } from "../tensor.ts";
import { readNumbers } from "../values.ts";
import { assign, isFloat, OutTarget } from "./internal.ts";

export type RowMap = (
  src: Float32Array | Float64Array,
  srcOff: number,
  dst: Float32Array | Float64Array,
  dstOff: number,
  n: number,
  row: number,
) => void;

/** Applies `fn` to every row along `axis`; returns a new tensor (float dtype) or fills `out`. */
export function mapAlongAxis(op: string, t: Tensor, axis: number, fn: RowMap, out?: Tensor): Tensor {
  const dtype: DType =
    isFloat(t.dtype) && t.dtype !== "float16" ? t.dtype : t.dtype === "float16" ? "float16" : "float32";
  const target = new OutTarget(op, t.shape, dtype, out);
  if (t.ndim === 0) {
    const src = readNumbers(t.reshape([1]));
    const dst = new Float64Array(1);
    fn(src, 0, dst, 0, 1, 0);
    assign(target.tensor, dst[0]!);
    return target.tensor;
  }
  const ax = normalizeAxis(axis, t.ndim, op);
  const perm = [...Array(t.ndim).keys()].filter((k) => k !== ax);
  perm.push(ax);
  const moved = t.permute(perm);
  const n = t.shape[ax]!;
  const rows = n === 0 ? 0 : t.size / n;
  const src = readNumbers(moved.isContiguous() ? moved : moved.clone());
  const tt = target.tensor;
  const directOut =
    ax === t.ndim - 1 && tt.isContiguous() && (tt.dtype === "float32" || tt.dtype === "float64")
      ? (tt.data as Float32Array | Float64Array)
      : null;
  const dst = directOut ?? (dtype === "float64" ? new Float64Array(t.size) : new Float32Array(t.size));
  for (let r = 0; r < rows; r++) fn(src, r * n, dst, r * n, n, r);
  if (directOut !== null) return tt;
  // dst is laid out like `moved`; write it back through the inverse permutation
  const inv = new Array<number>(t.ndim);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  const dstT = Tensor.wrap(dst, moved.shape).permute(inv);
  assign(tt, dstT);
  return tt;
}
