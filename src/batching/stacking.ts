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

/**
 * A tensor of `dtype` and `shape` over its own whole (transferable) ArrayBuffer: a spare one from `pool` when it
 * holds one of exactly that size (its old contents still there: the caller overwrites every element), otherwise a
 * fresh zero-filled one.
 */
export function allocate(dtype: DType, shape: readonly number[], pool?: BatchBufferPool): Tensor {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  const arr = (pool?.take(dtype, n) ?? new DTYPES[dtype].ctor(n)) as DTypeMap[DType];
  return Tensor.wrap(arr, shape, dtype);
}

/**
 * Spare batch buffers, by dtype and element count, for batches of the same size run after run. A session that
 * hands input buffers back (`RunOptions.returnInputs`) lets a batcher refill them instead of allocating: each
 * fresh ArrayBuffer is external memory to V8, and measured under load that alone set off a full GC every ~0.5 s.
 */
export class BatchBufferPool {
  private readonly free = new Map<string, TypedArray[]>();
  private bytes = 0;

  /** Keeps at most `perSize` buffers of one size and `maxBytes` in all; anything beyond is left to the GC. */
  constructor(
    private readonly perSize = 4,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** A spare array of `dtype` with exactly `length` elements, or undefined. */
  take(dtype: DType, length: number): TypedArray | undefined {
    const a = this.free.get(`${dtype}:${length}`)?.pop();
    if (a) this.bytes -= a.byteLength;
    return a;
  }

  /** Offers a tensor's storage for reuse; kept only when the tensor is its whole, plain ArrayBuffer. */
  give(t: Tensor): void {
    const a = t.storage as TypedArray;
    const buf = a.buffer;
    if (!(buf instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== buf.byteLength) return;
    if (a.length !== t.size || this.bytes + a.byteLength > this.maxBytes) return;
    const key = `${t.dtype}:${a.length}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    if (list.length >= this.perSize) return;
    list.push(a);
    this.bytes += a.byteLength;
  }
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
