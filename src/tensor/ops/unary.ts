/**
 * Unary elementwise math: exp, log, sqrt, abs, neg, tanh, sigmoid, relu, gelu (exact, with erf), erf.
 * Float inputs keep their dtype; integer inputs give float32, except abs/neg/relu which keep integer dtypes.
 * Each returns a new tensor or writes into `opts.out` (which may be the input: in place).
 *
 * @example relu(tensor([-1, 2])).toArray() // [0, 2]
 */
import type { Tensor } from "../tensor.ts";
import { isFloat, type NumArray, OutTarget, type OutOptions, strided, walkRows } from "./internal.ts";

const INV_N = Float64Array.from({ length: 100 }, (_, n) => 1 / n);
const INV_2N1 = Float64Array.from({ length: 100 }, (_, n) => 1 / (2 * n + 1));

/**
 * erf(x) to about 1e-15 relative: a Taylor series below |x| < 2.5 and the continued fraction of erfc
 * above (both evaluated in float64).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = -ax * ax;
    for (let n = 1; n < 100; n++) {
      term *= x2 * INV_N[n]!;
      const add = term * INV_2N1[n]!;
      sum += add;
      if (add < 1e-17 * sum && add > -1e-17 * sum) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz)
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

const SQRT1_2 = Math.SQRT1_2;

export type UnaryOpName =
  | "exp"
  | "log"
  | "sqrt"
  | "abs"
  | "neg"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "gelu"
  | "erf";

const FNS: Readonly<Record<UnaryOpName, (x: number) => number>> = {
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  neg: (x) => -x,
  tanh: Math.tanh,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  relu: (x) => (x > 0 ? x : !Number.isNaN(x) ? 0 : x),
  gelu: (x) => 0.5 * x * (1 + erf(x * SQRT1_2)),
  erf,
};

const KEEPS_INT = new Set<UnaryOpName>(["abs", "neg", "relu"]);

/** Runs a named unary op (the shared body of exp, log, …). */
export function unary(op: UnaryOpName, x: Tensor, opts: OutOptions = {}): Tensor {
  const dtype = isFloat(x.dtype) || KEEPS_INT.has(op) ? x.dtype : "float32";
  const target = new OutTarget(op, x.shape, dtype, opts.out);
  const f = FNS[op];
  const s = strided(x);
  const o = target.view;
  if (op === "relu") {
    walkRows(x.shape, [s, o], (p, n, st) => reluRow(s.arr, p[0]!, st[0]!, o.arr, p[1]!, st[1]!, n));
  } else if (op === "exp") {
    walkRows(x.shape, [s, o], (p, n, st) => expRow(s.arr, p[0]!, st[0]!, o.arr, p[1]!, st[1]!, n));
  } else {
    walkRows(x.shape, [s, o], (p, n, st) => {
      let pa = p[0]!;
      let po = p[1]!;
      for (let i = 0; i < n; i++, pa += st[0]!, po += st[1]!) o.arr[po] = f(s.arr[pa]!);
    });
  }
  return target.commit();
}

function reluRow(a: NumArray, pa: number, sa: number, o: NumArray, po: number, so: number, n: number): void {
  for (let i = 0; i < n; i++, pa += sa, po += so) {
    const v = a[pa]!;
    o[po] = v > 0 ? v : !Number.isNaN(v) ? 0 : v;
  }
}
function expRow(a: NumArray, pa: number, sa: number, o: NumArray, po: number, so: number, n: number): void {
  for (let i = 0; i < n; i++, pa += sa, po += so) o[po] = Math.exp(a[pa]!);
}

/** e^x. */
export function exp(x: Tensor, opts?: OutOptions): Tensor {
  return unary("exp", x, opts);
}
/** Natural log (log of a negative number is NaN, of 0 is -inf). */
export function log(x: Tensor, opts?: OutOptions): Tensor {
  return unary("log", x, opts);
}
/** Square root. */
export function sqrt(x: Tensor, opts?: OutOptions): Tensor {
  return unary("sqrt", x, opts);
}
/** |x| (keeps integer dtypes). */
export function abs(x: Tensor, opts?: OutOptions): Tensor {
  return unary("abs", x, opts);
}
/** -x (keeps integer dtypes). */
export function neg(x: Tensor, opts?: OutOptions): Tensor {
  return unary("neg", x, opts);
}
/** tanh(x). */
export function tanh(x: Tensor, opts?: OutOptions): Tensor {
  return unary("tanh", x, opts);
}
/** 1 / (1 + e^-x), computed without overflow for large |x|. */
export function sigmoid(x: Tensor, opts?: OutOptions): Tensor {
  return unary("sigmoid", x, opts);
}
/** max(x, 0) (NaN stays NaN; keeps integer dtypes). */
export function relu(x: Tensor, opts?: OutOptions): Tensor {
  return unary("relu", x, opts);
}
/** Exact GELU: x/2 · (1 + erf(x/√2)). */
export function gelu(x: Tensor, opts?: OutOptions): Tensor {
  return unary("gelu", x, opts);
}
/** The error function, elementwise (float64 accuracy ~1e-15). */
export function erfOp(x: Tensor, opts?: OutOptions): Tensor {
  return unary("erf", x, opts);
}
