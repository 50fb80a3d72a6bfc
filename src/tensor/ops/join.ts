/**
 * concat and stack: allocate the result once and copy each input into its slot (a view of the result).
 * Inputs are promoted to a common dtype. Return a new tensor, or fill `opts.out`.
 *
 * @example concat([ones([2, 2]), zeros([1, 2])]).shape // [3, 2]
 */
import { fmtShape, ShapeError } from "../errors.ts";
import { normalizeAxis } from "../layout.ts";
import type { Tensor } from "../tensor.ts";
import { assign, OutTarget, type OutOptions, promoteTypes } from "./internal.ts";

export interface JoinOptions extends OutOptions {
  /** Default 0. */
  axis?: number;
}

/** Joins tensors along an existing axis; all other dims must match. */
export function concat(tensors: readonly Tensor[], opts: JoinOptions = {}): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new ShapeError("E_SHAPE_INVALID", "concat: needs at least one tensor", {});
  if (first.ndim === 0)
    throw new ShapeError("E_SHAPE_INVALID", "concat: cannot concatenate 0-d tensors; use stack", {});
  const ax = normalizeAxis(opts.axis ?? 0, first.ndim, "concat");
  let total = 0;
  let dtype = first.dtype;
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((d, k) => k !== ax && d !== first.shape[k])) {
      throw new ShapeError(
        "E_SHAPE_MISMATCH",
        `concat: tensor ${i} has shape ${fmtShape(t.shape)}, which does not match ${fmtShape(first.shape)} outside axis ${ax}`,
        { index: i, shape: [...t.shape], expected: [...first.shape], axis: ax },
      );
    }
    total += t.shape[ax]!;
    dtype = promoteTypes(dtype, t.dtype);
  });
  const shape = [...first.shape];
  shape[ax] = total;
  const target = new OutTarget("concat", shape, dtype, opts.out);
  let start = 0;
  for (const t of tensors) {
    const n = t.shape[ax]!;
    assign(target.tensor.narrow(ax, start, n), t);
    start += n;
  }
  return target.tensor;
}

/** Stacks equal-shaped tensors along a new axis. */
export function stack(tensors: readonly Tensor[], opts: JoinOptions = {}): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new ShapeError("E_SHAPE_INVALID", "stack: needs at least one tensor", {});
  const ax = normalizeAxis(opts.axis ?? 0, first.ndim + 1, "stack");
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((d, k) => d !== first.shape[k])) {
      throw new ShapeError(
        "E_SHAPE_MISMATCH",
        `stack: tensor ${i} has shape ${fmtShape(t.shape)}, expected ${fmtShape(first.shape)}`,
        {
          index: i,
          shape: [...t.shape],
          expected: [...first.shape],
        },
      );
    }
  });
  return concat(
    tensors.map((t) => t.unsqueeze(ax)),
    { axis: ax, ...(opts.out ? { out: opts.out } : {}) },
  );
}
