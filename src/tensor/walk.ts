/**
 * Walking strided layouts row by row. `walkRows` visits the innermost rows of one or more operands in step
 * (the ops' kernels run on it); `stridedCopy` uses it to copy a view's elements out in row-major order
 * (`Tensor.clone()`, and so `contiguous()`), with `TypedArray.set` for unit-stride rows.
 */
import type { TypedArray } from "./dtype.ts";
import { contiguousStrides, type Layout, shapeSize } from "./layout.ts";

/** Where an operand's elements are: element `index` lives at `offset + Σ index[k] · strides[k]`. */
export interface StridedPos {
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Merges adjacent axes that are contiguous with each other in every operand and drops size-1 axes, so the
 * walker's inner loop is as long as possible. Returns the new shape and per-operand strides.
 */
function coalesce(
  shape: readonly number[],
  stridesList: readonly (readonly number[])[],
): [number[], number[][]] {
  const keep: number[] = [];
  for (let k = 0; k < shape.length; k++) if (shape[k] !== 1) keep.push(k);
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (const k of keep) {
    const d = shape[k]!;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && stridesList.every((s, j) => outStrides[j]![last] === s[k]! * d);
    if (mergeable) {
      outShape[last] = outShape[last]! * d;
      stridesList.forEach((s, j) => {
        outStrides[j]![last] = s[k]!;
      });
    } else {
      outShape.push(d);
      stridesList.forEach((s, j) => {
        outStrides[j]!.push(s[k]!);
      });
    }
  }
  return [outShape, outStrides];
}

/**
 * Calls `inner(bases, n, innerStrides)` once per innermost row of `shape`, where `bases[j]` is operand j's
 * storage index of the row's first element. `bases` is reused between calls.
 */
export function walkRows(
  shape: readonly number[],
  operands: readonly StridedPos[],
  inner: (bases: number[], n: number, innerStrides: readonly number[]) => void,
): void {
  if (shapeSize(shape) === 0) return;
  const [cs, cstrides] = coalesce(
    shape,
    operands.map((o) => o.strides),
  );
  const m = operands.length;
  const bases = operands.map((o) => o.offset);
  if (cs.length === 0) {
    inner(bases, 1, new Array<number>(m).fill(0));
    return;
  }
  const nd = cs.length;
  const last = nd - 1;
  const n = cs[last]!;
  const innerStrides = cstrides.map((s) => s[last]!);
  const idx = new Array<number>(nd).fill(0);
  const rows = shapeSize(cs) / n;
  const cur = [...bases];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m; j++) bases[j] = cur[j]!;
    inner(bases, n, innerStrides);
    for (let k = last - 1; k >= 0; k--) {
      idx[k]!++;
      for (let j = 0; j < m; j++) cur[j]! += cstrides[j]![k]!;
      if (idx[k]! < cs[k]!) break;
      for (let j = 0; j < m; j++) cur[j]! -= idx[k]! * cstrides[j]![k]!;
      idx[k] = 0;
    }
  }
}

/** Copies the elements `layout` addresses in `src`, in row-major logical order, into dense `dst` (from 0). */
export function stridedCopy(src: TypedArray, layout: Layout, dst: TypedArray): void {
  const s = src as unknown as ArrayLike<number | bigint>;
  const o = dst as unknown as (number | bigint)[];
  walkRows(layout.shape, [layout, { strides: contiguousStrides(layout.shape), offset: 0 }], (p, n, st) => {
    const sx = st[0]!;
    let ps = p[0]!;
    const po = p[1]!; // the destination is dense: its rows have stride 1
    if (sx === 1 && n >= 16) dst.set(src.subarray(ps, ps + n) as never, po);
    else for (let i = 0; i < n; i++, ps += sx) o[po + i] = s[ps]!;
  });
}
