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
  /** Shape of x with `axis` of size k, dtype of x, sorted best first (ties: lower index first; NaN counts as the largest value). */
  values: Tensor;
  /** int32 positions along `axis`. */
  indices: Tensor;
}

/** The k best values along `axis` and their indices (see TopkResult). Returns new tensors. */
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
  // Total order, best first: NaN counts as the largest value; ties go to the lower index.
  const cmp = (a: number, b: number): number => {
    const na = Number.isNaN(a);
    const nb = Number.isNaN(b);
    if (na || nb) return na === nb ? 0 : na ? 1 : -1;
    return a > b ? 1 : a < b ? -1 : 0;
  };
  const better = (a: number, i: number, b: number, j: number): boolean => {
    const c = cmp(a, b);
    return (largest ? c > 0 : c < 0) || (c === 0 && i < j);
  };
  // A heap of the k best seen so far with the worst at the root: O(n log k) per row.
  const heap = new Int32Array(k);
  let base = 0; // start of the current row in `data`
  const at = (i: number) => data[base + i]!;
  // worse(i, j): i ranks after j
  const worse = (i: number, j: number) => better(at(j), j, at(i), i);
  const siftDown = (size: number) => {
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= size) break;
      let c = l;
      if (l + 1 < size && worse(heap[l + 1]!, heap[l]!)) c = l + 1;
      if (!worse(heap[c]!, heap[p]!)) break;
      const t = heap[p]!;
      heap[p] = heap[c]!;
      heap[c] = t;
      p = c;
    }
  };
  for (let r = 0; r < outer; r++) {
    base = r * n;
    let size = 0;
    for (let i = 0; i < n && k > 0; i++) {
      if (size < k) {
        // sift up
        let c = size++;
        heap[c] = i;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (!worse(heap[c]!, heap[p]!)) break;
          const t = heap[p]!;
          heap[p] = heap[c]!;
          heap[c] = t;
          c = p;
        }
      } else if (better(at(i), i, at(heap[0]!), heap[0]!)) {
        heap[0] = i;
        siftDown(size);
      }
    }
    // pop worst-first into the tail of the output row
    for (let t = size - 1; t >= 0; t--) {
      const i = heap[0]!;
      idxs[r * k + t] = i;
      vals[r * k + t] = at(i);
      heap[0] = heap[t]!;
      siftDown(t);
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
