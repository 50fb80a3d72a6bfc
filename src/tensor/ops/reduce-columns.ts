/**
 * Reductions that keep the last axis (e.g. `sum(x, {axis: 0})` of [N, D], mean pooling over tokens of
 * [B, T, D]): instead of moving the reduced axes last (a strided copy), walk the input in storage order and
 * accumulate into a float64 array indexed by the kept axes (stride 0 along reduced axes). Results equal the
 * row path up to float64 summation order.
 */
import { contiguousStrides, shapeSize } from "../layout.ts";
import type { Tensor } from "../tensor.ts";
import { type NumArray, strided, walkRows } from "./internal.ts";

export type ColumnKind = "sum" | "mean" | "norm" | "max" | "min" | "var" | "std" | "logsumexp";

type RowKernel = (
  x: NumArray,
  px: number,
  sx: number,
  acc: Float64Array,
  pa: number,
  sa: number,
  n: number,
) => void;

function run(t: Tensor, axes: readonly number[], init: number, kernel: RowKernel): Float64Array {
  const kept = [...Array(t.ndim).keys()].filter((k) => !axes.includes(k));
  const keptShape = kept.map((k) => t.shape[k]!);
  const ks = contiguousStrides(keptShape);
  const accStrides = t.shape.map((_, k) => {
    const j = kept.indexOf(k);
    return j === -1 ? 0 : ks[j]!;
  });
  const acc = new Float64Array(shapeSize(keptShape)).fill(init);
  const x = strided(t);
  walkRows(t.shape, [x, { arr: acc, strides: accStrides, offset: 0 }], (p, n, st) => {
    kernel(x.arr, p[0]!, st[0]!, acc, p[1]!, st[1]!, n);
  });
  return acc;
}

const sumK: RowKernel = (x, px, sx, acc, pa, sa, n) => {
  for (let i = 0; i < n; i++, px += sx, pa += sa) acc[pa] = acc[pa]! + x[px]!;
};
const sumSqK: RowKernel = (x, px, sx, acc, pa, sa, n) => {
  for (let i = 0; i < n; i++, px += sx, pa += sa) acc[pa] = acc[pa]! + x[px]! * x[px]!;
};
const maxK: RowKernel = (x, px, sx, acc, pa, sa, n) => {
  for (let i = 0; i < n; i++, px += sx, pa += sa) {
    const v = x[px]!;
    if (v > acc[pa]! || Number.isNaN(v)) acc[pa] = v;
  }
};
const minK: RowKernel = (x, px, sx, acc, pa, sa, n) => {
  for (let i = 0; i < n; i++, px += sx, pa += sa) {
    const v = x[px]!;
    if (v < acc[pa]! || Number.isNaN(v)) acc[pa] = v;
  }
};

/** Reduces `t` over `axes` (which must not include the last axis); returns one float64 per kept position. */
export function columnReduce(
  kind: ColumnKind,
  t: Tensor,
  axes: readonly number[],
  correction = 1,
): Float64Array {
  const count = shapeSize(axes.map((k) => t.shape[k]!));
  switch (kind) {
    case "sum":
      return run(t, axes, 0, sumK);
    case "mean":
      return run(t, axes, 0, sumK).map((s) => s / count);
    case "norm":
      return run(t, axes, 0, sumSqK).map(Math.sqrt);
    case "max":
      return run(t, axes, -Infinity, maxK);
    case "min":
      return run(t, axes, Infinity, minK);
    case "var":
    case "std": {
      const mean = run(t, axes, 0, sumK).map((s) => s / count);
      const ss = run(t, axes, 0, (x, px, sx, acc, pa, sa, n) => {
        for (let i = 0; i < n; i++, px += sx, pa += sa) {
          const d = x[px]! - mean[pa]!;
          acc[pa] = acc[pa]! + d * d;
        }
      });
      const v = ss.map((s) => s / Math.max(count - correction, 0));
      return kind === "std" ? v.map(Math.sqrt) : v;
    }
    case "logsumexp": {
      const m = run(t, axes, -Infinity, maxK);
      const s = run(t, axes, 0, (x, px, sx, acc, pa, sa, n) => {
        for (let i = 0; i < n; i++, px += sx, pa += sa) {
          const mx = m[pa]!;
          if (Number.isFinite(mx)) acc[pa] = acc[pa]! + Math.exp(x[px]! - mx);
        }
      });
      return m.map((mx, i) => (Number.isFinite(mx) ? mx + Math.log(s[i]!) : mx));
    }
  }
}
