/**
 * Shared machinery for the op files: operand normalisation, dtype promotion, `out` checking,
 * and the strided walker that kernels run on (`walkRows`, from ../walk.ts).
 *
 * Kernels see a tensor as a `Strided` {arr, strides, offset} over a plain number TypedArray. float16 and
 * int64 tensors have no such array, so `strided()` converts them first (to float32 / float64 copies), and
 * `OutTarget` computes into a float64 scratch buffer and converts on `commit()`.
 */
import type { DType, TypedArray } from "../dtype.ts";
import { DTypeError, fmtShape, ShapeError } from "../errors.ts";
import { broadcastShapes, contiguousStrides, shapeSize } from "../layout.ts";
import { Tensor } from "../tensor.ts";
import { readNumbers, writeNumbers } from "../values.ts";
import { walkRows } from "../walk.ts";

export { walkRows };

/** A tensor, or a plain number that acts as a 0-d tensor of the other operand's dtype. */
export type Operand = Tensor | number;

/** Options of ops that can write into an existing tensor. */
export interface OutOptions {
  /**
   * Write the result here instead of allocating. Must have exactly the result's shape and dtype; may be a
   * non-contiguous view, and may be one of the inputs when it has the same layout (in-place). Returned.
   */
  out?: Tensor;
}

/** Number arrays the kernels index directly. */
export type NumArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Int32Array;

export interface Strided {
  readonly arr: NumArray;
  readonly strides: readonly number[];
  readonly offset: number;
}

const RANK: Readonly<Record<DType, number>> = {
  bool: 0,
  uint8: 1,
  int8: 2,
  int16: 3,
  int32: 4,
  int64: 5,
  float16: 6,
  float32: 7,
  float64: 8,
};

/** float16, float32 or float64. */
export function isFloat(dtype: DType): boolean {
  return dtype === "float16" || dtype === "float32" || dtype === "float64";
}

/** Result dtype of a binary op on two tensors (NumPy-like; uint8 with int8 gives int16). */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if ((a === "uint8" && b === "int8") || (a === "int8" && b === "uint8")) return "int16";
  return RANK[a] >= RANK[b] ? a : b;
}

/** Result dtype of operands where numbers are "weak": they take the tensor's dtype unless a float meets an int. */
export function resultDType(operands: readonly Operand[]): DType {
  let dt: DType | undefined;
  let sawFraction = false;
  for (const o of operands) {
    if (typeof o === "number") {
      if (!Number.isInteger(o)) sawFraction = true;
    } else dt = dt === undefined ? o.dtype : promoteTypes(dt, o.dtype);
  }
  if (dt === undefined) return "float32";
  if (sawFraction && !isFloat(dt)) return "float32";
  return dt;
}

/** Turns numbers into 0-d float64 tensors (exact for every JS number). */
export function asTensor(o: Operand): Tensor {
  if (typeof o !== "number") return o;
  const t = Tensor.empty("float64", []);
  t.storage[0] = o;
  return t;
}

/** A number-array view of `t` (float16 and int64 converted; other dtypes are not copied). */
export function strided(t: Tensor): Strided {
  if (t.dtype === "float16" || t.dtype === "int64") {
    return { arr: readNumbers(t), strides: contiguousStrides(t.shape), offset: 0 };
  }
  return { arr: t.storage as NumArray, strides: t.strides, offset: t.offset };
}

/** Strides that read `t` broadcast to `shape` (0 on broadcast axes). */
export function broadcastStrides(s: Strided, from: readonly number[], to: readonly number[]): Strided {
  const n = to.length;
  const k = from.length;
  const strides = new Array<number>(n).fill(0);
  for (let i = 0; i < k; i++) {
    if (from[i] !== 1 || to[n - k + i] === 1) strides[n - k + i] = s.strides[i]!;
  }
  return { arr: s.arr, strides, offset: s.offset };
}

/** Broadcast shape of all tensor operands. */
export function broadcastAll(op: string, operands: readonly Tensor[]): number[] {
  let shape: number[] = [];
  for (const t of operands) shape = broadcastShapes(shape, t.shape, op);
  return shape;
}

/** Where an op writes: the caller's `out` or a fresh tensor; a scratch buffer when the dtype needs encoding. */
export class OutTarget {
  readonly tensor: Tensor;
  readonly view: Strided;
  private readonly scratch: Float64Array | null;

  constructor(op: string, shape: readonly number[], dtype: DType, out?: Tensor) {
    if (out !== undefined) {
      if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
        throw new ShapeError(
          "E_OUT_SHAPE",
          `${op}: out has shape ${fmtShape(out.shape)}, expected ${fmtShape(shape)}`,
          {
            op,
            expected: [...shape],
            got: [...out.shape],
          },
        );
      }
      if (out.dtype !== dtype) {
        throw new DTypeError("E_OUT_DTYPE", `${op}: out has dtype ${out.dtype}, expected ${dtype}`, {
          op,
          expected: dtype,
          got: out.dtype,
        });
      }
      this.tensor = out;
    } else this.tensor = Tensor.empty(dtype, shape);
    if (dtype === "float16" || dtype === "int64") {
      this.scratch = new Float64Array(shapeSize(shape));
      this.view = { arr: this.scratch, strides: contiguousStrides(shape), offset: 0 };
    } else {
      this.scratch = null;
      this.view = {
        arr: this.tensor.storage as NumArray,
        strides: this.tensor.strides,
        offset: this.tensor.offset,
      };
    }
  }

  /** Encodes the scratch buffer into the output (no-op for directly written dtypes) and returns the tensor. */
  commit(): Tensor {
    if (this.scratch !== null) writeNumbers(this.tensor, this.scratch);
    return this.tensor;
  }
}

/** Normalises a list of axes (undefined = all), rejecting duplicates. */
export function normalizeAxes(
  axes: number | readonly number[] | undefined,
  ndim: number,
  op: string,
): number[] {
  if (axes === undefined) return [...Array(ndim).keys()];
  const list = typeof axes === "number" ? [axes] : [...axes];
  const out: number[] = [];
  for (const a of list) {
    if (!Number.isInteger(a) || a < -ndim || a >= ndim) {
      throw new ShapeError(
        "E_AXIS_OUT_OF_RANGE",
        `${op}: axis ${a} is out of range for a tensor of rank ${ndim}`,
        {
          op,
          axis: a,
          ndim,
        },
      );
    }
    const n = a < 0 ? a + ndim : a;
    if (out.includes(n)) {
      throw new ShapeError("E_AXIS_OUT_OF_RANGE", `${op}: axis ${a} is given twice`, { op, axis: a });
    }
    out.push(n);
  }
  return out.sort((x, y) => x - y);
}

/**
 * Moves `axes` to the end and returns the tensor's elements as contiguous rows: `outer` rows of `inner`
 * values each, plus the shape of the kept axes. Copies only when the permuted view is not contiguous
 * (reducing trailing axes of a contiguous tensor costs no copy).
 */
export function rowsOf(
  t: Tensor,
  axes: readonly number[],
): { data: Float32Array | Float64Array; outer: number; inner: number; keptShape: number[]; perm: number[] } {
  const kept = [...Array(t.ndim).keys()].filter((k) => !axes.includes(k));
  const perm = [...kept, ...axes];
  const moved = t.permute(perm);
  const data = readNumbers(moved.isContiguous() ? moved : moved.clone());
  const keptShape = kept.map((k) => t.shape[k]!);
  const inner = shapeSize(axes.map((k) => t.shape[k]!));
  return { data, outer: shapeSize(keptShape), inner, keptShape, perm };
}

/** Copies `src` (broadcastable to `dst.shape`) into `dst`, converting dtypes. `dst` may be any view. */
export function assign(dst: Tensor, src: Operand): Tensor {
  const s = asTensor(src);
  broadcastShapes(dst.shape, s.shape, "assign");
  if (
    s.shape.length > dst.ndim ||
    broadcastShapes(dst.shape, s.shape, "assign").some((d, i) => d !== dst.shape[i])
  ) {
    throw new ShapeError(
      "E_SHAPE_BROADCAST",
      `assign: cannot broadcast ${fmtShape(s.shape)} to ${fmtShape(dst.shape)}`,
      {
        op: "assign",
        lhs: [...s.shape],
        rhs: [...dst.shape],
      },
    );
  }
  if (dst.dtype === s.dtype && dst.dtype !== "float16" && dst.dtype !== "int64") {
    const target = new OutTarget("assign", dst.shape, dst.dtype, dst);
    const a = broadcastStrides(strided(s), s.shape, dst.shape);
    walkRows(dst.shape, [a, target.view], (b, n, st) => {
      const x = a.arr;
      const o = target.view.arr;
      let pa = b[0]!;
      let po = b[1]!;
      const sa = st[0]!;
      const so = st[1]!;
      if (sa === 1 && so === 1) o.set(x.subarray(pa, pa + n) as never, po);
      else for (let i = 0; i < n; i++, pa += sa, po += so) o[po] = x[pa]!;
    });
    return dst;
  }
  if (dst.dtype === s.dtype) {
    // raw copy (float16 bits, bigint, bool) via the tensor walker
    const src2 = s.expand(dst.shape);
    const vals: (number | bigint)[] = new Array(dst.size);
    const ss = src2.storage as unknown as ArrayLike<number | bigint>;
    src2.forEachIndex((p, i) => {
      vals[i] = ss[p]!;
    });
    const ds = dst.storage as unknown as (number | bigint)[];
    dst.forEachIndex((p, i) => {
      ds[p] = vals[i]!;
    });
    return dst;
  }
  writeNumbers(dst, readNumbers(s.expand(dst.shape)));
  return dst;
}

export type { TypedArray };
