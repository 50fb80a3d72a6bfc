/** Test helpers: random shapes and non-contiguous views, and plain float64 references. */
import assert from "node:assert/strict";
import type { Generator, Tensor } from "../../src/tensor/index.ts";

/** The tensor's elements in logical row-major order as float64 numbers (float16 decoded). */
export function flat(t: Tensor): number[] {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else out.push(Number(v)); // toArray() gives float16 as its number values
  };
  walk(t.toArray());
  return out;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    idx[k] = d === 0 ? 0 : i % d;
    i = d === 0 ? 0 : Math.floor(i / d);
  }
  return idx;
}

/** Flat position in `shape` of the broadcast source element for output index `idx`. */
export function bcastPos(idx: readonly number[], shape: readonly number[]): number {
  let p = 0;
  const off = idx.length - shape.length;
  for (let k = 0; k < shape.length; k++) p = p * shape[k]! + (shape[k] === 1 ? 0 : idx[off + k]!);
  return p;
}

export function randInt(g: Generator, lo: number, hi: number): number {
  return lo + g.nextBelow(hi - lo + 1);
}

/** A random shape of rank [minRank, maxRank], dims in [0 or 1, maxDim] (zero-size dims when allowZero). */
export function randomShape(g: Generator, minRank = 0, maxRank = 4, maxDim = 5, allowZero = true): number[] {
  const r = randInt(g, minRank, maxRank);
  return Array.from({ length: r }, () => (allowZero && g.nextFloat() < 0.08 ? 0 : randInt(g, 1, maxDim)));
}

/** A shape that broadcasts to `shape`: some leading dims dropped, some dims set to 1. */
export function broadcastableTo(g: Generator, shape: readonly number[]): number[] {
  const drop = randInt(g, 0, shape.length);
  return shape.slice(drop).map((d) => (g.nextFloat() < 0.3 ? 1 : d));
}

/**
 * A tensor of `shape` with random values that is (with probability) a non-contiguous view: transposed,
 * strided with step 2, reversed, or at an offset inside a bigger storage.
 */
export function randomTensor(
  g: Generator,
  shape: readonly number[],
  make: (shape: number[]) => Tensor,
): Tensor {
  const kind = g.nextBelow(4);
  const n = shape.length;
  if (kind === 0 || n === 0) return make([...shape]);
  if (kind === 1 && n >= 2) {
    const perm = [...Array(n).keys()].reverse();
    const base = make(perm.map((k) => shape[k]!));
    return base.permute(perm);
  }
  if (kind === 2) {
    // every axis doubled, then stepped by 2 (some axes reversed)
    const base = make(shape.map((d) => d * 2 + 1));
    return base.slice(
      ...shape.map((d) =>
        d === 0
          ? ([0, 0, 1] as const)
          : g.nextFloat() < 0.5
            ? ([1, 1 + 2 * d, 2] as const)
            : ([2 * d - 1, null, -2] as const),
      ),
    );
  }
  const base = make([...shape.slice(0, -1), shape[n - 1]! + 3]);
  return base.narrow(-1, 2, shape[n - 1]!);
}

/** Asserts |got - want| <= atol + rtol * |want| elementwise (NaN matches NaN, inf matches inf). */
export function assertClose(
  got: readonly number[],
  want: readonly number[],
  rtol = 1e-6,
  atol = 1e-6,
  msg = "",
): void {
  assert.equal(got.length, want.length, `${msg}: length ${got.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const b = want[i]!;
    if (Number.isNaN(b)) {
      assert.ok(Number.isNaN(a), `${msg}[${i}]: got ${a}, want NaN`);
      continue;
    }
    if (!Number.isFinite(b)) {
      assert.equal(a, b, `${msg}[${i}]`);
      continue;
    }
    assert.ok(Math.abs(a - b) <= atol + rtol * Math.abs(b), `${msg}[${i}]: got ${a}, want ${b}`);
  }
}
