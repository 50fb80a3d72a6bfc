/**
 * Elementwise arithmetic with NumPy broadcasting: add, sub, mul, div, pow, maximum, minimum.
 *
 * Every op returns a new tensor, or writes into `opts.out` (same shape and dtype as the result; may be one
 * of the inputs for an in-place update). `xxxInPlace(a, b)` is `xxx(a, b, { out: a })`.
 * Result dtype: the promoted dtype of the tensor operands (plain numbers follow the tensor); `div` of
 * integers gives float32. Integer results wrap like C integer arithmetic; int64 add/sub/mul/maximum/minimum
 * use exact BigInt arithmetic (slower, but right beyond 2^53); int64 `pow` goes through float64.
 *
 * @example add(tensor([[1, 2], [3, 4]]), tensor([10, 20])).toArray() // [[11, 22], [13, 24]]
 */
import {
  addFlat,
  addFlatR,
  addFlatS,
  divFlat,
  divFlatR,
  divFlatS,
  type F,
  mulFlat,
  mulFlatR,
  mulFlatS,
  subFlat,
  subFlatR,
  subFlatS,
} from "../kernels/flat.ts";
import { type EwiseOp, ewiseF32 } from "../kernels/ewise-wasm.ts";
import type { Tensor } from "../tensor.ts";
import {
  asTensor,
  broadcastAll,
  broadcastStrides,
  isFloat,
  type NumArray,
  type Operand,
  OutTarget,
  type OutOptions,
  resultDType,
  strided,
  walkRows,
} from "./internal.ts";

export type BinaryOpName = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum";

type Kernel = (
  a: NumArray,
  pa: number,
  sa: number,
  b: NumArray,
  pb: number,
  sb: number,
  o: NumArray,
  po: number,
  so: number,
  n: number,
) => void;

// The hot four get hand-written loops (contiguous rows unrolled by 4); V8 optimises each separately.
const addK: Kernel = (a, pa, sa, b, pb, sb, o, po, so, n) => {
  if (sa === 1 && sb === 1 && so === 1) {
    let i = 0;
    for (; i + 3 < n; i += 4) {
      o[po + i] = a[pa + i]! + b[pb + i]!;
      o[po + i + 1] = a[pa + i + 1]! + b[pb + i + 1]!;
      o[po + i + 2] = a[pa + i + 2]! + b[pb + i + 2]!;
      o[po + i + 3] = a[pa + i + 3]! + b[pb + i + 3]!;
    }
    for (; i < n; i++) o[po + i] = a[pa + i]! + b[pb + i]!;
    return;
  }
  for (let i = 0; i < n; i++, pa += sa, pb += sb, po += so) o[po] = a[pa]! + b[pb]!;
};
const subK: Kernel = (a, pa, sa, b, pb, sb, o, po, so, n) => {
  if (sa === 1 && sb === 1 && so === 1) {
    for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! - b[pb + i]!;
    return;
  }
  for (let i = 0; i < n; i++, pa += sa, pb += sb, po += so) o[po] = a[pa]! - b[pb]!;
};
const mulK: Kernel = (a, pa, sa, b, pb, sb, o, po, so, n) => {
  if (sa === 1 && sb === 1 && so === 1) {
    for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! * b[pb + i]!;
    return;
  }
  for (let i = 0; i < n; i++, pa += sa, pb += sb, po += so) o[po] = a[pa]! * b[pb]!;
};
const divK: Kernel = (a, pa, sa, b, pb, sb, o, po, so, n) => {
  for (let i = 0; i < n; i++, pa += sa, pb += sb, po += so) o[po] = a[pa]! / b[pb]!;
};
function generic(f: (x: number, y: number) => number): Kernel {
  return (a, pa, sa, b, pb, sb, o, po, so, n) => {
    for (let i = 0; i < n; i++, pa += sa, pb += sb, po += so) o[po] = f(a[pa]!, b[pb]!);
  };
}
const nanMax = (x: number, y: number): number => (x > y || Number.isNaN(x) ? x : y);
const nanMin = (x: number, y: number): number => (x < y || Number.isNaN(x) ? x : y);

const isFA = (x: NumArray): x is F => x instanceof Float32Array || x instanceof Float64Array;

const KERNELS: Readonly<Record<BinaryOpName, Kernel>> = {
  add: addK,
  sub: subK,
  mul: mulK,
  div: divK,
  pow: generic((x, y) => x ** y),
  maximum: generic(nanMax),
  minimum: generic(nanMin),
};

type Flat = (a: F, b: F, o: F) => void;
type FlatS = (a: F, s: number, o: F) => void;
type FlatR = (s: number, a: F, o: F) => void;
const FLAT: Partial<Record<BinaryOpName, [Flat, FlatS, FlatR]>> = {
  add: [addFlat, addFlatS, addFlatR],
  sub: [subFlat, subFlatS, subFlatR],
  mul: [mulFlat, mulFlatS, mulFlatR],
  div: [divFlat, divFlatS, divFlatR],
};

const isF = (t: Tensor, dtype: string) => t.dtype === dtype && t.isContiguous();

/**
 * Fast path: float32/float64 operands of the output's dtype, contiguous, either equal-sized or one side a plain
 * number: one flat unrolled loop over `subarray`s, no walker. Returns false when it does not apply.
 */
function flatFast(op: BinaryOpName, a: Operand, b: Operand, out: Tensor): boolean {
  const k = FLAT[op];
  const dt = out.dtype;
  if (k === undefined || (dt !== "float32" && dt !== "float64") || !out.isContiguous()) return false;
  const o = out.data as F;
  let x: F | number;
  let y: F | number;
  if (typeof a !== "number" && typeof b !== "number") {
    if (!isF(a, dt) || !isF(b, dt) || a.size !== out.size || b.size !== out.size) return false;
    [x, y] = [a.data as F, b.data as F];
  } else if (typeof b === "number" && typeof a !== "number" && isF(a, dt) && a.size === out.size) {
    [x, y] = [a.data as F, b];
  } else if (typeof a === "number" && typeof b !== "number" && isF(b, dt) && b.size === out.size) {
    [x, y] = [a, b.data as F];
  } else return false;
  // Large float32: chunked WASM SIMD (about 2× the JS loop). It works in float32, so a number operand is used
  // only when float32 holds it exactly; then the results equal the JS loop's (float64, rounded once) bit for bit.
  if (
    dt === "float32" &&
    o.length >= WASM_MIN &&
    f32Exact(x) &&
    f32Exact(y) &&
    ewiseF32(op as EwiseOp, x as Float32Array, y as Float32Array, o as Float32Array)
  ) {
    return true;
  }
  if (typeof x !== "number" && typeof y !== "number") k[0](x, y, o);
  else if (typeof y === "number") k[1](x as F, y, o);
  else k[2](x as number, y, o);
  return true;
}

export { setWasmEwiseEnabled, wasmEwiseAvailable } from "../kernels/ewise-wasm.ts";

/** Below this many elements the JS loop wins over the WASM call + copies. */
const WASM_MIN = 2048;

/** True for arrays, and for numbers float32 represents exactly (0.5 yes; 0.1, 1e40 and NaN no). */
const f32Exact = (v: F | number): boolean => typeof v !== "number" || Math.fround(v) === v;

/** Runs a named binary op (the shared body of add, sub, …). */
export function binary(op: BinaryOpName, a: Operand, b: Operand, opts: OutOptions = {}): Tensor {
  let dtype = resultDType([a, b]);
  if (op === "div" && !isFloat(dtype)) dtype = "float32";
  const ta = asTensor(a);
  const tb = asTensor(b);
  const shape = broadcastAll(op, [ta, tb]);
  const target = new OutTarget(op, shape, dtype, opts.out);
  const k = KERNELS[op];
  if (dtype === "int64" && op !== "pow") return int64Binary(op, ta, tb, target.tensor);
  if (flatFast(op, a, b, target.tensor)) return target.tensor;
  const sa = broadcastStrides(strided(ta), ta.shape, shape);
  const sb = broadcastStrides(strided(tb), tb.shape, shape);
  const o = target.view;
  const flat = FLAT[op]?.[0];
  walkRows(shape, [sa, sb, o], (p, n, st) => {
    const [pa, pb, po] = [p[0]!, p[1]!, p[2]!];
    if (
      flat !== undefined &&
      n >= 64 &&
      st[0] === 1 &&
      st[1] === 1 &&
      st[2] === 1 &&
      isFA(sa.arr) &&
      isFA(sb.arr) &&
      isFA(o.arr)
    ) {
      flat(sa.arr.subarray(pa, pa + n), sb.arr.subarray(pb, pb + n), o.arr.subarray(po, po + n));
    } else k(sa.arr, pa, st[0]!, sb.arr, pb, st[1]!, o.arr, po, st[2]!, n);
  });
  return target.commit();
}

const BIG: Readonly<Record<Exclude<BinaryOpName, "div" | "pow">, (x: bigint, y: bigint) => bigint>> = {
  add: (x, y) => BigInt.asIntN(64, x + y),
  sub: (x, y) => BigInt.asIntN(64, x - y),
  mul: (x, y) => BigInt.asIntN(64, x * y),
  // biome-ignore lint/complexity/useMathMinMax: bigint operands (Math.max does not take bigints)
  maximum: (x, y) => (x > y ? x : y),
  // biome-ignore lint/complexity/useMathMinMax: bigint operands (Math.min does not take bigints)
  minimum: (x, y) => (x < y ? x : y),
};

/** Elementwise values of `t` broadcast to `shape`, as bigints (exact for int64; other dtypes truncated). */
function bigValues(t: Tensor, shape: readonly number[]): bigint[] {
  const v = t.expand(shape);
  const out: bigint[] = new Array(v.size);
  const s = v.storage as ArrayLike<number | bigint>;
  v.forEachIndex((p, i) => {
    const x = s[p]!;
    out[i] = typeof x === "bigint" ? x : BigInt(Number.isFinite(x) ? Math.trunc(x) : 0);
  });
  return out;
}

/** int64 results are computed with BigInt so values beyond 2^53 stay exact (wrapping at 64 bits). */
function int64Binary(op: BinaryOpName, a: Tensor, b: Tensor, out: Tensor): Tensor {
  const f = BIG[op as keyof typeof BIG];
  const x = bigValues(a, out.shape);
  const y = bigValues(b, out.shape);
  const o = out.storage as BigInt64Array;
  out.forEachIndex((p, i) => {
    o[p] = f(x[i]!, y[i]!);
  });
  return out;
}

/** `a + b`, broadcasting. Returns a new tensor, or `opts.out`. */
export function add(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("add", a, b, opts);
}
/** `a - b`, broadcasting. */
export function sub(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("sub", a, b, opts);
}
/** `a * b`, broadcasting. */
export function mul(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("mul", a, b, opts);
}
/** `a / b` (true division: integers give float32), broadcasting. */
export function div(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("div", a, b, opts);
}
/** `a ** b`, broadcasting. */
export function pow(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("pow", a, b, opts);
}
/** Elementwise maximum (NaN propagates), broadcasting. */
export function maximum(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("maximum", a, b, opts);
}
/** Elementwise minimum (NaN propagates), broadcasting. */
export function minimum(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return binary("minimum", a, b, opts);
}

/** `a += b` in place (b broadcasts to a's shape; the result dtype must be a's). Returns `a`. */
export function addInPlace(a: Tensor, b: Operand): Tensor {
  return binary("add", a, b, { out: a });
}
/** `a -= b` in place. Returns `a`. */
export function subInPlace(a: Tensor, b: Operand): Tensor {
  return binary("sub", a, b, { out: a });
}
/** `a *= b` in place. Returns `a`. */
export function mulInPlace(a: Tensor, b: Operand): Tensor {
  return binary("mul", a, b, { out: a });
}
/** `a /= b` in place (a must be a float tensor). Returns `a`. */
export function divInPlace(a: Tensor, b: Operand): Tensor {
  return binary("div", a, b, { out: a });
}
