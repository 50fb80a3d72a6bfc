/**
 * Seeded, counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11), the generator used by JAX, cuRAND and NumPy's `Philox` bit generator.
 *
 * Invariants:
 *  1. A Generator is a 64-bit key plus a 64-bit block counter. Block `c` of key `k` is
 *     `philox4x32_10([c_lo, c_hi, 0, 0], k)`; the stream is those blocks' words in order.
 *     Everything is 32-bit integer arithmetic, so the same seed gives the same bits on every machine.
 *  2. Floats are built from those bits with exact arithmetic (float32 from 24 bits, float64 from 53),
 *     `normal` uses Box-Muller with V8's fdlibm-based `Math.log/cos/sin` (the same on every platform).
 *  3. `child(i)` derives a new key from (key, i) by one Philox block with a domain tag in counter words 2 and 3,
 *     so child streams never share a counter space with their parent; it does not advance the parent.
 *
 * @example
 * const g = rng(42);
 * const x = g.normal([2, 3]);            // float32 [2,3]
 * const [a, b] = g.split(2);             // two independent, reproducible streams
 */
import type { DType, DTypeMap } from "./dtype.ts";
import { TesseraError } from "./errors.ts";
import { checkShape, shapeSize } from "./layout.ts";
import { Tensor } from "./tensor.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
/** Domain tag for key derivation ("chld"), kept in counter word 3 so derived keys never collide with stream blocks. */
const CHILD_TAG = 0x63686c64;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block: writes four uint32 words for counter `c0..c3` and key `k0,k1` into `out[at..at+3]`.
 * Exposed for known-answer tests (Random123's kat_vectors).
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  at = 0,
): void {
  c0 >>>= 0;
  c1 >>>= 0;
  c2 >>>= 0;
  c3 >>>= 0;
  k0 >>>= 0;
  k1 >>>= 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[at] = c0;
  out[at + 1] = c1;
  out[at + 2] = c2;
  out[at + 3] = c3;
}

export interface UniformOptions {
  low?: number;
  high?: number;
  /** float32 (default) or float64. */
  dtype?: "float32" | "float64";
}

export interface NormalOptions {
  mean?: number;
  std?: number;
  dtype?: "float32" | "float64";
}

const TWO_POW_32 = 4294967296;

/** Counter-based Philox4x32-10 generator. See the module comment for the stream definition. */
export class Generator {
  /** Key words (the seed, or a derived key for child streams). */
  readonly key: readonly [number, number];
  private ctrLo = 0;
  private ctrHi = 0;
  private readonly buf = new Uint32Array(4);
  private bufPos = 4;
  private splits = 0;
  /** Second Box-Muller value, kept for the next scalar `nextNormal()`. */
  private spare: number | null = null;

  /**
   * `seed`: a non-negative integer below 2^64 (number up to 2^53, or bigint). Throws `E_RNG_SEED` otherwise.
   */
  constructor(seed: number | bigint = 0) {
    let s: bigint;
    if (typeof seed === "number") {
      if (!Number.isSafeInteger(seed) || seed < 0) {
        throw new TesseraError(
          "E_RNG_SEED",
          `rng: seed must be a non-negative safe integer or bigint, got ${seed}`,
          {
            seed,
          },
        );
      }
      s = BigInt(seed);
    } else {
      if (seed < 0n || seed >= 1n << 64n) {
        throw new TesseraError("E_RNG_SEED", `rng: bigint seed must be in [0, 2^64), got ${seed}`, {
          seed: seed.toString(),
        });
      }
      s = seed;
    }
    this.key = Object.freeze([Number(s & 0xffffffffn), Number(s >> 32n)]) as readonly [number, number];
  }

  /** Builds a generator directly from two key words (used by `child`). */
  static fromKey(k0: number, k1: number): Generator {
    return new Generator((BigInt(k1 >>> 0) << 32n) | BigInt(k0 >>> 0));
  }

  /** Number of 32-bit words consumed so far (including words buffered but not yet returned). */
  get position(): bigint {
    return ((BigInt(this.ctrHi) << 32n) | BigInt(this.ctrLo)) * 4n - BigInt(4 - this.bufPos);
  }

  private refill(): void {
    philox4x32(this.ctrLo, this.ctrHi, 0, 0, this.key[0], this.key[1], this.buf);
    this.ctrLo = (this.ctrLo + 1) >>> 0;
    if (this.ctrLo === 0) this.ctrHi = (this.ctrHi + 1) >>> 0;
    this.bufPos = 0;
  }

  /** Next uniformly distributed uint32. */
  nextUint32(): number {
    if (this.bufPos === 4) this.refill();
    return this.buf[this.bufPos++]!;
  }

  /** Uniform float64 in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform float32-representable value in [0, 1) with 24 random bits. */
  nextFloat32(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Standard normal draw (Box-Muller). */
  nextNormal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const [z0, z1] = this.boxMuller();
    this.spare = z1;
    return z0;
  }

  private boxMuller(): [number, number] {
    // u1 in (0, 1] so log(u1) is finite.
    const u1 = 1 - this.nextFloat();
    const u2 = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    const t = 2 * Math.PI * u2;
    return [r * Math.cos(t), r * Math.sin(t)];
  }

  /** Unbiased integer in [0, range) for 1 ≤ range ≤ 2^53 (Lemire's method below 2^32, rejection above). */
  nextBelow(range: number): number {
    if (!Number.isSafeInteger(range) || range < 1 || range > 2 ** 53) {
      throw new TesseraError("E_RNG_RANGE", `rng: range must be an integer in [1, 2^53], got ${range}`, {
        range,
      });
    }
    if (range <= TWO_POW_32) {
      // Lemire: m = x * range; reject when low word < (2^32 - range) % range.
      const threshold = (TWO_POW_32 - range) % range;
      for (;;) {
        const x = this.nextUint32();
        if (mullo(x, range) >= threshold) return mulhiN(x, range);
      }
    }
    const limit = Math.floor(2 ** 53 / range) * range;
    for (;;) {
      const x = (this.nextUint32() >>> 11) * TWO_POW_32 + this.nextUint32(); // 53 bits
      if (x < limit) return x % range;
    }
  }

  /**
   * Independent child stream `i` (a non-negative safe integer): reproducible from (this key, i), does not
   * advance this generator. Children of children work the same way.
   */
  child(i: number): Generator {
    if (!Number.isSafeInteger(i) || i < 0) {
      throw new TesseraError(
        "E_RNG_RANGE",
        `rng.child: index must be a non-negative safe integer, got ${i}`,
        { i },
      );
    }
    const out = new Uint32Array(4);
    philox4x32(i >>> 0, Math.floor(i / TWO_POW_32), 0, CHILD_TAG, this.key[0], this.key[1], out);
    return Generator.fromKey(out[0]! ^ out[2]!, out[1]! ^ out[3]!);
  }

  /**
   * `n` new independent streams. Successive calls return different children (split k of this
   * generator yields children `offset..offset+n-1`, where offset counts all earlier splits).
   */
  split(n: number): Generator[] {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new TesseraError("E_RNG_RANGE", `rng.split: n must be a non-negative integer, got ${n}`, { n });
    }
    const out: Generator[] = [];
    for (let j = 0; j < n; j++) out.push(this.child(this.splits + j));
    this.splits += n;
    return out;
  }

  /** New tensor of uniform values in [low, high) (default [0, 1), float32). */
  uniform(shape: readonly number[], opts: UniformOptions = {}): Tensor<"float32" | "float64"> {
    const low = opts.low ?? 0;
    const high = opts.high ?? 1;
    const dtype = opts.dtype ?? "float32";
    if (!(high >= low) || !Number.isFinite(low) || !Number.isFinite(high)) {
      throw new TesseraError("E_RNG_RANGE", `uniform: need finite low <= high, got low=${low} high=${high}`, {
        low,
        high,
      });
    }
    const t = Tensor.empty(dtype, checkShape(shape, "uniform"));
    const d = t.storage;
    const span = high - low;
    if (dtype === "float32") {
      // float32 rounding can reach `high`; clamp to the largest float32 below it to keep [low, high)
      const top = Math.max(Math.fround(low), f32Below(high));
      for (let i = 0; i < d.length; i++) {
        const v = Math.fround(low + span * this.nextFloat32());
        d[i] = v >= high && span > 0 ? top : v;
      }
    } else {
      for (let i = 0; i < d.length; i++) d[i] = low + span * this.nextFloat();
    }
    return t;
  }

  /** New tensor of normal values (default mean 0, std 1, float32). Pairs come from one Box-Muller draw. */
  normal(shape: readonly number[], opts: NormalOptions = {}): Tensor<"float32" | "float64"> {
    const mean = opts.mean ?? 0;
    const std = opts.std ?? 1;
    if (!(std >= 0) || !Number.isFinite(mean) || !Number.isFinite(std)) {
      throw new TesseraError(
        "E_RNG_RANGE",
        `normal: need finite mean and std >= 0, got mean=${mean} std=${std}`,
        {
          mean,
          std,
        },
      );
    }
    const t = Tensor.empty(opts.dtype ?? "float32", checkShape(shape, "normal"));
    const d = t.storage;
    let i = 0;
    for (; i + 1 < d.length; i += 2) {
      const [z0, z1] = this.boxMuller();
      d[i] = mean + std * z0;
      d[i + 1] = mean + std * z1;
    }
    if (i < d.length) d[i] = mean + std * this.boxMuller()[0];
    return t;
  }

  /**
   * New tensor of integers drawn uniformly from [low, high) (unbiased). dtype int32 (default),
   * int64, float64 or float32; `high - low` may be up to 2^53.
   */
  integers<D extends "int32" | "int64" | "float32" | "float64" = "int32">(
    shape: readonly number[],
    low: number,
    high: number,
    dtype?: D,
  ): Tensor<D> {
    const dt = (dtype ?? "int32") as D;
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || high <= low) {
      throw new TesseraError(
        "E_RNG_RANGE",
        `integers: need integers low < high, got low=${low} high=${high}`,
        {
          low,
          high,
        },
      );
    }
    if (dt === "int32" && (low < -(2 ** 31) || high > 2 ** 31)) {
      throw new TesseraError(
        "E_RNG_RANGE",
        `integers: [${low}, ${high}) does not fit int32; pass dtype "int64"`,
        {
          low,
          high,
        },
      );
    }
    const t = Tensor.empty(dt, checkShape(shape, "integers"));
    const range = high - low;
    if (dt === "int64") {
      const d = t.storage as BigInt64Array;
      for (let i = 0; i < d.length; i++) d[i] = BigInt(low + this.nextBelow(range));
    } else {
      const d = t.storage as Exclude<DTypeMap[D], BigInt64Array>;
      for (let i = 0; i < d.length; i++) d[i] = low + this.nextBelow(range);
    }
    return t;
  }

  /** A random permutation of 0..n-1 as an int32 tensor (Fisher-Yates). */
  permutation(n: number): Tensor<"int32"> {
    if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 31) {
      throw new TesseraError("E_RNG_RANGE", `permutation: n must be an integer in [0, 2^31], got ${n}`, {
        n,
      });
    }
    const t = Tensor.empty("int32", [n]);
    const p = t.storage;
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextBelow(i + 1);
      const tmp = p[i]!;
      p[i] = p[j]!;
      p[j] = tmp;
    }
    return t;
  }

  /** Returns a copy of `t` with its rows (axis 0) in random order. Copies. */
  shuffle<D extends DType>(t: Tensor<D>): Tensor<D> {
    if (t.ndim === 0) return t.clone();
    const n = t.shape[0]!;
    const perm = this.permutation(n).storage;
    const out = Tensor.empty(t.dtype, t.shape);
    const row = shapeSize(t.shape.slice(1));
    const src = t.contiguous();
    const sd = src.data as unknown as { subarray(a: number, b: number): DTypeMap[D] };
    const od = out.storage as unknown as { set(a: DTypeMap[D], at: number): void };
    for (let i = 0; i < n; i++) {
      const j = perm[i]!;
      od.set(sd.subarray(j * row, (j + 1) * row), i * row);
    }
    return out;
  }
}

/** Low 32 bits of x * r (x < 2^32, r ≤ 2^32) as a non-negative number. */
function mullo(x: number, r: number): number {
  if (r === TWO_POW_32) return 0;
  return Math.imul(x, r >>> 0) >>> 0;
}

/** High 32 bits of x * r (x < 2^32, r ≤ 2^32). */
function mulhiN(x: number, r: number): number {
  if (r === TWO_POW_32) return x;
  return mulhi(x, r >>> 0);
}

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** The largest float32 strictly below `x` (x finite). */
function f32Below(x: number): number {
  f32Buf[0] = x;
  if (f32Buf[0]! < x) return f32Buf[0]!; // rounding went down already
  if (f32Buf[0] === 0) return -(2 ** -149);
  if (f32Buf[0]! > 0) u32Buf[0] = u32Buf[0]! - 1;
  else u32Buf[0] = u32Buf[0]! + 1;
  return f32Buf[0]!;
}

/** Shorthand for `new Generator(seed)`. */
export function rng(seed: number | bigint = 0): Generator {
  return new Generator(seed);
}
