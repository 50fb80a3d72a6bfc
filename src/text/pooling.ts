/**
 * Pooling and normalization over raw model output. Plain loops, f64 accumulation.
 *
 * `hidden` is a row-major `[n, seqLen, dim]` Float32Array (last_hidden_state); row `r` has
 * `length` real tokens starting at `start` (0 with right padding, seqLen - length with left
 * padding), so the attention mask is implied by the length and start. Every function writes into a caller-given Float32Array (no allocation) unless
 * it says otherwise.
 */
import type { Pooling } from "./hf-folder.ts";

/**
 * Pools row `r` of `hidden` [n, seqLen, dim] into `out` (length dim). The real tokens are
 * `start .. start+length-1`; "cls" takes the first of them, "last" the last one, as
 * sentence-transformers' Pooling module computes each mode:
 *
 *   mean                  sum / length
 *   mean_sqrt_len_tokens  sum / sqrt(length)
 *   weightedmean          sum_t w_t h_t / sum_t w_t with w_t = the token's 1-based position (SGPT)
 *   max                   per-dimension maximum
 *
 * `firstWeight` is the weightedmean position of the first pooled token (default 1). It is larger
 * only when leading tokens are left out (a prompt with `include_prompt: false`): they still take up
 * positions, as the masked tokens of sentence-transformers do. Positions count from the first real
 * token, not from the padded row, so a left-padded batch weighs a text as it weighs it alone.
 */
export function poolRow(
  hidden: Float32Array,
  seqLen: number,
  dim: number,
  r: number,
  length: number,
  pooling: Pooling,
  out: Float32Array,
  outOffset = 0,
  start = 0,
  firstWeight = 1,
): void {
  const base = (r * seqLen + start) * dim;
  if (pooling === "cls") {
    for (let d = 0; d < dim; d++) out[outOffset + d] = hidden[base + d] as number;
    return;
  }
  if (pooling === "last") {
    const at = base + (length - 1) * dim;
    for (let d = 0; d < dim; d++) out[outOffset + d] = hidden[at + d] as number;
    return;
  }
  if (pooling === "max") {
    for (let d = 0; d < dim; d++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < length; t++) m = Math.max(m, hidden[base + t * dim + d] as number);
      out[outOffset + d] = m;
    }
    return;
  }
  const acc = new Float64Array(dim);
  if (pooling === "weightedmean") {
    let wsum = 0;
    for (let t = 0; t < length; t++) {
      const w = firstWeight + t;
      wsum += w;
      const off = base + t * dim;
      for (let d = 0; d < dim; d++) acc[d] = (acc[d] as number) + w * (hidden[off + d] as number);
    }
    const inv = 1 / Math.max(wsum, 1e-9);
    for (let d = 0; d < dim; d++) out[outOffset + d] = (acc[d] as number) * inv;
    return;
  }
  // mean / mean_sqrt_len_tokens: the sum over the real tokens, divided by the count or its root
  for (let t = 0; t < length; t++) {
    const off = base + t * dim;
    for (let d = 0; d < dim; d++) acc[d] = (acc[d] as number) + (hidden[off + d] as number);
  }
  const count = Math.max(length, 1);
  const inv = 1 / (pooling === "mean_sqrt_len_tokens" ? Math.sqrt(count) : count);
  for (let d = 0; d < dim; d++) out[outOffset + d] = (acc[d] as number) * inv;
}

/** L2-normalizes `v[offset, offset+n)` in place (f64 sum; a zero vector stays zero). */
export function l2NormalizeInPlace(v: Float32Array, offset = 0, n = v.length - offset): void {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const x = v[offset + i] as number;
    s += x * x;
  }
  const norm = Math.sqrt(s);
  if (norm === 0) return;
  const inv = 1 / Math.max(norm, 1e-12);
  for (let i = 0; i < n; i++) v[offset + i] = (v[offset + i] as number) * inv;
}
