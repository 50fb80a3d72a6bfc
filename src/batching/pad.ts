/**
 * Padding variable-length token sequences into one rectangular batch with an attention mask.
 */
import { Tensor, TesseraError } from "../tensor/index.ts";

export type Sequence = Int32Array | BigInt64Array;

export interface PadOptions {
  /** Token id written into padding positions. */
  readonly padId: number;
  /**
   * Target length: "longest" (default) pads to the longest sequence; a number pads to exactly that length;
   * an array of bucket lengths pads to the smallest bucket ≥ the longest sequence (fewer distinct shapes).
   */
  readonly padTo?: "longest" | number | readonly number[];
  /** Cut sequences longer than the target instead of throwing E_SEQUENCE_TOO_LONG. Default false. */
  readonly truncate?: boolean;
}

export interface Padded<S extends Sequence = Sequence> {
  /** `[batch, length]` token ids (int32 for Int32Array inputs, int64 for BigInt64Array), right-padded. */
  readonly ids: Tensor<S extends BigInt64Array ? "int64" : "int32">;
  /** `[batch, length]`, same dtype as `ids`: 1 for real tokens, 0 for padding. */
  readonly attentionMask: Tensor<S extends BigInt64Array ? "int64" : "int32">;
  /** Tokens kept per sequence (after truncation). */
  readonly lengths: number[];
  /** The padded length. */
  readonly length: number;
}

/**
 * Right-pads `seqs` into `[batch, length]` ids plus an attention mask; copies into one new buffer each.
 * All sequences must share one array type (Int32Array or BigInt64Array). Throws `E_SEQUENCE_TOO_LONG` when a
 * sequence exceeds a fixed `padTo` or the largest bucket (unless `truncate`), `E_INPUT_INVALID` for mixed types,
 * `E_BATCHER_CONFIG` for a bad `padTo`.
 */
export function padSequences<S extends Sequence>(seqs: readonly S[], options: PadOptions): Padded<S> {
  const big = seqs[0] instanceof BigInt64Array;
  // Int32Array.fill would silently truncate 1.5 and wrap 2^31; BigInt() would throw a bare RangeError.
  if (
    !Number.isSafeInteger(options.padId) ||
    (!big && (options.padId < -(2 ** 31) || options.padId >= 2 ** 31))
  ) {
    throw new TesseraError(
      "E_BATCHER_CONFIG",
      `padSequences: padId must be an integer${big ? "" : " in the int32 range"}, got ${options.padId}`,
      { field: "padId", padId: options.padId },
    );
  }
  seqs.forEach((s, i) => {
    if (!(s instanceof Int32Array) && !(s instanceof BigInt64Array)) {
      throw new TesseraError(
        "E_INPUT_INVALID",
        `padSequences: seqs[${i}] must be an Int32Array or BigInt64Array`,
        { index: i },
      );
    }
    if (s instanceof BigInt64Array !== big) {
      throw new TesseraError(
        "E_INPUT_INVALID",
        `padSequences: seqs[${i}] is a ${s.constructor.name} but seqs[0] is a ${big ? "BigInt64Array" : "Int32Array"}; use one type`,
        { index: i },
      );
    }
  });
  const longest = seqs.reduce((m, s) => Math.max(m, s.length), 0);
  const target = targetLength(longest, options);
  if (longest > target && options.truncate !== true) {
    const idx = seqs.findIndex((s) => s.length > target);
    throw new TesseraError(
      "E_SEQUENCE_TOO_LONG",
      `padSequences: seqs[${idx}] has ${seqs[idx]!.length} tokens, more than the padded length ${target}; pass truncate: true or a larger padTo`,
      { index: idx, length: seqs[idx]!.length, max: target },
    );
  }
  const n = seqs.length;
  const lengths = seqs.map((s) => Math.min(s.length, target));
  if (big) {
    const ids = new BigInt64Array(n * target).fill(BigInt(options.padId));
    const mask = new BigInt64Array(n * target);
    seqs.forEach((s, i) => {
      const len = lengths[i]!;
      ids.set((s as BigInt64Array).subarray(0, len), i * target);
      mask.fill(1n, i * target, i * target + len);
    });
    return {
      ids: Tensor.wrap(ids, [n, target], "int64"),
      attentionMask: Tensor.wrap(mask, [n, target], "int64"),
      lengths,
      length: target,
    } as Padded<S>;
  }
  const ids = new Int32Array(n * target).fill(options.padId);
  const mask = new Int32Array(n * target);
  seqs.forEach((s, i) => {
    const len = lengths[i]!;
    ids.set((s as Int32Array).subarray(0, len), i * target);
    mask.fill(1, i * target, i * target + len);
  });
  return {
    ids: Tensor.wrap(ids, [n, target], "int32"),
    attentionMask: Tensor.wrap(mask, [n, target], "int32"),
    lengths,
    length: target,
  } as Padded<S>;
}

function targetLength(longest: number, options: PadOptions): number {
  const padTo = options.padTo ?? "longest";
  const bad = (msg: string): never => {
    throw new TesseraError("E_BATCHER_CONFIG", `padSequences: padTo ${msg}`, { field: "padTo" });
  };
  if (padTo === "longest") return longest;
  if (typeof padTo === "number") {
    if (!Number.isSafeInteger(padTo) || padTo < 0) bad(`must be a non-negative integer, got ${padTo}`);
    return padTo;
  }
  if (!Array.isArray(padTo) || padTo.length === 0)
    return bad(`must be "longest", a number or a non-empty array of bucket lengths`);
  const buckets = [...padTo].sort((a, b) => a - b);
  if (buckets.some((b) => !Number.isSafeInteger(b) || b < 1))
    bad(`buckets must be positive integers, got [${padTo.join(",")}]`);
  return buckets.find((b) => b >= longest) ?? buckets[buckets.length - 1]!;
}
