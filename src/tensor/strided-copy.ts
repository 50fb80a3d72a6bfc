/**
 * Copies the elements a layout addresses, in row-major logical order, into a dense destination array.
 * Used by `Tensor.clone()`/`contiguous()`; merges axes that are contiguous with each other first, so the
 * inner loop runs as long as possible, and uses `TypedArray.set` for unit-stride runs.
 */
import type { TypedArray } from "./dtype.ts";
import type { Layout } from "./layout.ts";

interface Indexable {
  [i: number]: number | bigint;
  subarray?: (a: number, b: number) => TypedArray;
}

export function stridedCopy(src: TypedArray, layout: Layout, dst: TypedArray, dstOffset = 0): void {
  // coalesce: drop size-1 axes, merge axis k into k-1 when stride[k-1] == stride[k] * shape[k]
  const shape: number[] = [];
  const strides: number[] = [];
  for (let k = 0; k < layout.shape.length; k++) {
    const d = layout.shape[k]!;
    if (d === 0) return;
    if (d === 1) continue;
    const st = layout.strides[k]!;
    const last = shape.length - 1;
    if (last >= 0 && strides[last] === st * d) {
      shape[last] = shape[last]! * d;
      strides[last] = st;
    } else {
      shape.push(d);
      strides.push(st);
    }
  }
  const s = src as unknown as Indexable;
  const o = dst as unknown as Indexable;
  if (shape.length === 0) {
    o[dstOffset] = s[layout.offset]!;
    return;
  }
  const nd = shape.length;
  const n = shape[nd - 1]!;
  const st = strides[nd - 1]!;
  const rows = shape.reduce((a, b) => a * b, 1) / n;
  const idx = new Array<number>(nd).fill(0);
  let base = layout.offset;
  let out = dstOffset;
  const useSet = st === 1 && n >= 16;
  for (let r = 0; r < rows; r++) {
    if (useSet) {
      (dst as unknown as { set(a: TypedArray, at: number): void }).set(src.subarray(base, base + n), out);
    } else {
      let p = base;
      for (let i = 0; i < n; i++, p += st) o[out + i] = s[p]!;
    }
    out += n;
    for (let k = nd - 2; k >= 0; k--) {
      idx[k]!++;
      base += strides[k]!;
      if (idx[k]! < shape[k]!) break;
      base -= idx[k]! * strides[k]!;
      idx[k] = 0;
    }
  }
}
