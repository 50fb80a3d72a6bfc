/**
 * Comparisons (eq, ne, lt, le, gt, ge → bool tensors) and `where(cond, a, b)`, all with broadcasting.
 * Each returns a new tensor or writes into `opts.out`. Values are compared as float64 numbers, so int64 values
 * beyond ±2^53 compare (and `where` copies them) only approximately.
 *
 * @example gt(tensor([1, 5]), 2).toArray() // [0, 1]  (bool stored as 0/1)
 */
import type { Tensor } from "../tensor.ts";
import {
  asTensor,
  broadcastAll,
  broadcastStrides,
  type Operand,
  OutTarget,
  type OutOptions,
  resultDType,
  strided,
  walkRows,
} from "./internal.ts";

export type CompareOpName = "eq" | "ne" | "lt" | "le" | "gt" | "ge";

const PREDICATES: Readonly<Record<CompareOpName, (x: number, y: number) => boolean>> = {
  eq: (x, y) => x === y,
  ne: (x, y) => x !== y,
  lt: (x, y) => x < y,
  le: (x, y) => x <= y,
  gt: (x, y) => x > y,
  ge: (x, y) => x >= y,
};

/** Runs a named comparison; the result is a bool tensor (NaN compares unequal to everything). */
export function compare(op: CompareOpName, a: Operand, b: Operand, opts: OutOptions = {}): Tensor {
  const ta = asTensor(a);
  const tb = asTensor(b);
  const shape = broadcastAll(op, [ta, tb]);
  const target = new OutTarget(op, shape, "bool", opts.out);
  const sa = broadcastStrides(strided(ta), ta.shape, shape);
  const sb = broadcastStrides(strided(tb), tb.shape, shape);
  const o = target.view;
  const f = PREDICATES[op];
  walkRows(shape, [sa, sb, o], (p, n, st) => {
    let pa = p[0]!;
    let pb = p[1]!;
    let po = p[2]!;
    for (let i = 0; i < n; i++, pa += st[0]!, pb += st[1]!, po += st[2]!)
      o.arr[po] = f(sa.arr[pa]!, sb.arr[pb]!) ? 1 : 0;
  });
  return target.commit();
}

/** `a == b` → bool. */
export function eq(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("eq", a, b, opts);
}
/** `a != b` → bool. */
export function ne(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("ne", a, b, opts);
}
/** `a < b` → bool. */
export function lt(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("lt", a, b, opts);
}
/** `a <= b` → bool. */
export function le(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("le", a, b, opts);
}
/** `a > b` → bool. */
export function gt(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("gt", a, b, opts);
}
/** `a >= b` → bool. */
export function ge(a: Operand, b: Operand, opts?: OutOptions): Tensor {
  return compare("ge", a, b, opts);
}

/**
 * Picks `a` where `cond` is non-zero and `b` elsewhere; all three broadcast. The result dtype is the
 * promotion of `a` and `b`. Returns a new tensor or `opts.out`.
 */
export function where(cond: Tensor, a: Operand, b: Operand, opts: OutOptions = {}): Tensor {
  const dtype = resultDType([a, b]);
  const ta = asTensor(a);
  const tb = asTensor(b);
  const shape = broadcastAll("where", [cond, ta, tb]);
  const target = new OutTarget("where", shape, dtype, opts.out);
  const sc = broadcastStrides(strided(cond), cond.shape, shape);
  const sa = broadcastStrides(strided(ta), ta.shape, shape);
  const sb = broadcastStrides(strided(tb), tb.shape, shape);
  const o = target.view;
  walkRows(shape, [sc, sa, sb, o], (p, n, st) => {
    let pc = p[0]!;
    let pa = p[1]!;
    let pb = p[2]!;
    let po = p[3]!;
    for (let i = 0; i < n; i++, pc += st[0]!, pa += st[1]!, pb += st[2]!, po += st[3]!) {
      o.arr[po] = sc.arr[pc] !== 0 ? sa.arr[pa]! : sb.arr[pb]!;
    }
  });
  return target.commit();
}

export type { Tensor };
