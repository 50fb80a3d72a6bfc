/**
 * Row-stacking helpers shared by predictBatch and ModelBatcher: write many tensors into one preallocated
 * buffer along axis 0, and describe what makes two requests batchable together.
 */
import { type DType, DTYPES, type DTypeMap, Tensor, type TypedArray } from "../tensor/index.ts";

/**
 * Copies the elements of `t` (any layout) in row-major order into `dst` starting at element `at`.
 * Contiguous tensors take one `TypedArray.set`; strided views are walked element by element.
 */
export function writeInto(dst: TypedArray, at: number, t: Tensor): void {
  if (t.isContiguous()) {
    const src = t.storage as unknown as Float32Array;
    const n = t.size;
    // A tensor that is its whole storage is copied from it directly (no subarray view per request).
    (dst as Float32Array).set(
      t.offset === 0 && src.length === n ? src : src.subarray(t.offset, t.offset + n),
      at,
    );
    return;
  }
  const src = t.storage as unknown as ArrayLike<number>;
  const out = dst as unknown as number[];
  t.forEachIndex((p, i) => {
    out[at + i] = src[p]!;
  });
}

/** A zero-filled tensor of `dtype` and `shape` in a fresh (transferable) ArrayBuffer. */
export function allocate(dtype: DType, shape: readonly number[]): Tensor {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  const arr = new DTYPES[dtype].ctor(n) as DTypeMap[DType];
  return Tensor.wrap(arr, shape, dtype);
}

/**
 * Key of everything but the batch dim: inputs' names, dtypes and trailing dims. Requests with equal keys can be
 * concatenated along axis 0; `rowsAxis0` says whether the key includes axis 0 (false for concat, where rows vary).
 */
export function shapeKey(inputs: Readonly<Record<string, Tensor>>, dropAxis0: boolean): string {
  const parts: string[] = [];
  for (const name of Object.keys(inputs).sort()) {
    const t = inputs[name]!;
    parts.push(`${name}:${t.dtype}[${(dropAxis0 ? t.shape.slice(1) : t.shape).join(",")}]`);
  }
  return parts.join(";");
}
