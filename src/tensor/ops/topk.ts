/**
 * `topk(x, k)`: the k largest (or smallest) values along an axis and their int32 indices. New tensors.
 *
 * @example topk(tensor([3, 1, 4, 1, 5]), 2).indices.toArray() // [4, 2]
 */
import { fmtShape, ShapeError } from "../errors.ts";
import { normalizeAxis } from "../layout.ts";
import { Tensor } from "../tensor.ts";
import { writeNumbers } from "../values.ts";
import { rowsOf } from "./internal.ts";

export interface TopkOptions {
  /** Default -1. */
  axis?: number;
  /** Largest (default) or smallest values. */
  largest?: boolean;
}

export interface TopkResult {
  /** Shape of x with `axis` of size k, dtype of x, sorted best first (ties: lower index first; NaN counts as largest). */
  values: Tensor;
  /** int32 positions along `axis`. */
  indices: Tensor;
}

export function topk(x: Tensor, k: number, opts: TopkOptions = {}): TopkResult {
  if (x.ndim === 0) {
    throw new ShapeError("E_SHAPE_INVALID", "topk: input must have at least 1 dimension", { shape: [] });
  }
  const ax = normalizeAxis(opts.axis ?? -1, x.ndim, "topk");
  const n = x.shape[ax]!;
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new ShapeError(
      "E_TOPK_K",
      `topk: k must be an integer in [0, ${n}] for axis ${ax} of ${fmtShape(x.shape)}, got ${k}`,
      {
        k,
        size: n,
        shape: [...x.shape],
      },
    );
  }
  const largest = opts.largest ?? true;
  const { data, outer, keptShape } = rowsOf(x, [ax]);
  const vals = new Float64Array(outer * k);
  const idxs = new Float64Array(outer * k);
  const order = new Array<number>(n);
  // NaN first when largest (it counts as the maximum), last when smallest.
  const key = (v: number): number => (Number.isNaN(v) ? (largest ? Infinity : -Infinity) : v);
  for (let r = 0; r < outer; r++) {
    const base = r * n;
    for (let i = 0; i < n; i++) order[i] = i;
    if (k > 0) {
      order.sort((i, j) => {
        const a = data[base + i]!;
        const b = data[base + j]!;
        const ka = key(a);
        const kb = key(b);
        if (ka !== kb) return largest ? (kb > ka ? 1 : -1) : ka > kb ? 1 : -1;
        const na = Number.isNaN(a) ? 1 : 0;
        const nb = Number.isNaN(b) ? 1 : 0;
        if (na !== nb) return largest ? nb - na : na - nb;
        return i - j;
      });
    }
    for (let t = 0; t < k; t++) {
      idxs[r * k + t] = order[t]!;
      vals[r * k + t] = data[base + order[t]!]!;
    }
  }
  // results are laid out as [...kept, k]; move k back to `ax`
  const movedShape = [...keptShape, k];
  const perm = [...Array(x.ndim - 1).keys()];
  perm.splice(ax, 0, x.ndim - 1);
  const v = Tensor.empty(x.dtype, movedShape);
  writeNumbers(v, vals);
  const ix = Tensor.empty("int32", movedShape);
  writeNumbers(ix, idxs);
  return { values: v.permute(perm).contiguous(), indices: ix.permute(perm).contiguous() };
}
