/**
 * Plain-JS float64 references of the zoo models' math (the formulas in src/onnx/zoo/*.ts doc comments),
 * written independently of the graph: loops over arrays, no ONNX. Tests compare ORT's float32 outputs with
 * these within 1e-5.
 */
import type { Tensor } from "../../src/tensor/index.ts";
import { type BertConfig, MASK_FILL } from "../../src/onnx/index.ts";

export type Matrix = Float64Array[]; // rows

const rowsOf = (t: Tensor<"float32">): Matrix => {
  const [r, c] = t.shape as [number, number];
  const d = t.contiguous().data;
  return Array.from({ length: r }, (_, i) => Float64Array.from(d.subarray(i * c, (i + 1) * c)));
};

/** rows @ W + b with W stored [in, out]. */
export function dense(x: Matrix, w: Tensor<"float32">, b: Tensor<"float32">): Matrix {
  const W = rowsOf(w);
  const bias = b.contiguous().data;
  const out = w.shape[1]!;
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let j = 0; j < out; j++) y[j] = bias[j]!;
    for (let i = 0; i < row.length; i++) {
      const xi = row[i]!;
      const wi = W[i]!;
      for (let j = 0; j < out; j++) y[j] = y[j]! + xi * wi[j]!;
    }
    return y;
  });
}

export function softmax(v: Float64Array): Float64Array {
  let m = -Infinity;
  for (const x of v) m = Math.max(m, x);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export function mlpReference(
  weights: Readonly<Record<string, Tensor<"float32">>>,
  hiddenLayers: number,
  input: Matrix,
): { logits: Matrix; probabilities: Matrix } {
  let x = input;
  for (let i = 0; i < hiddenLayers; i++) {
    x = dense(x, weights[`fc${i}.weight`]!, weights[`fc${i}.bias`]!).map((r) => r.map((v) => Math.max(0, v)));
  }
  const logits = dense(x, weights["head.weight"]!, weights["head.bias"]!);
  return { logits, probabilities: logits.map(softmax) };
}

/** erf with |error| < 1.2e-16 relative (W. J. Cody's rational approximations via erfc continued fraction). */
export function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse (1e-7); use the Maclaurin series for |x| < 3 and erfc asymptotics beyond.
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // Continued fraction for erfc (Lentz), accurate for ax >= 3.
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 100; n++) {
    const an = n / 2;
    D = ax + an * D;
    D = 1 / D;
    C = ax + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

function layerNorm(row: Float64Array, gamma: Float32Array, beta: Float32Array, eps: number): Float64Array {
  const n = row.length;
  let mean = 0;
  for (const v of row) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of row) variance += (v - mean) ** 2;
  variance /= n;
  const inv = 1 / Math.sqrt(variance + eps);
  return row.map((v, j) => (v - mean) * inv * gamma[j]! + beta[j]!);
}

/**
 * BERT encoder reference: ids/mask/types as number[][] ([batch][sequence]); returns last_hidden_state as
 * [batch][sequence] rows of length hidden.
 */
export function bertReference(
  weights: Readonly<Record<string, Tensor<"float32">>>,
  c: BertConfig,
  ids: number[][],
  mask: number[][],
  types: number[][],
): Matrix[] {
  const H = c.hidden;
  const d = H / c.heads;
  const W = (n: string) => weights[n]!;
  const data = (n: string) => W(n).contiguous().data;
  const ln = (rows: Matrix, p: string) =>
    rows.map((r) => layerNorm(r, data(`${p}.weight`), data(`${p}.bias`), c.layerNormEps));
  const lin = (rows: Matrix, p: string) => dense(rows, W(`${p}.weight`), W(`${p}.bias`));
  const word = data("embeddings.word_embeddings.weight");
  const pos = data("embeddings.position_embeddings.weight");
  const typ = data("embeddings.token_type_embeddings.weight");
  return ids.map((seqIds, b) => {
    const S = seqIds.length;
    let x: Matrix = seqIds.map((id, s) => {
      const row = new Float64Array(H);
      const t = types[b]![s]!;
      for (let j = 0; j < H; j++) row[j] = word[id * H + j]! + pos[s * H + j]! + typ[t * H + j]!;
      return row;
    });
    x = ln(x, "embeddings.LayerNorm");
    const maskAdd = mask[b]!.map((m) => (1 - m) * MASK_FILL);
    for (let l = 0; l < c.layers; l++) {
      const p = `encoder.layer.${l}`;
      const q = lin(x, `${p}.attention.self.query`);
      const k = lin(x, `${p}.attention.self.key`);
      const v = lin(x, `${p}.attention.self.value`);
      const ctx: Matrix = Array.from({ length: S }, () => new Float64Array(H));
      for (let h = 0; h < c.heads; h++) {
        for (let i = 0; i < S; i++) {
          const scores = new Float64Array(S);
          for (let j = 0; j < S; j++) {
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[i]![h * d + e]! * k[j]![h * d + e]!;
            scores[j] = dot / Math.sqrt(d) + maskAdd[j]!;
          }
          const pr = softmax(scores);
          for (let j = 0; j < S; j++)
            for (let e = 0; e < d; e++) ctx[i]![h * d + e]! += pr[j]! * v[j]![h * d + e]!;
        }
      }
      const attn = lin(ctx, `${p}.attention.output.dense`);
      x = ln(
        attn.map((r, i) => r.map((val, j) => val + x[i]![j]!)),
        `${p}.attention.output.LayerNorm`,
      );
      const inter = lin(x, `${p}.intermediate.dense`).map((r) =>
        r.map((z) => z * 0.5 * (1 + erf(z / Math.SQRT2))),
      );
      const ffn = lin(inter, `${p}.output.dense`);
      x = ln(
        ffn.map((r, i) => r.map((val, j) => val + x[i]![j]!)),
        `${p}.output.LayerNorm`,
      );
    }
    return x;
  });
}

/** Largest |a - b| / (1 + |b|) over two equally long arrays (absolute near 0, relative for large values). */
export function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let m = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!));
    if (!(e <= m)) m = e; // NaN propagates as a failure
  }
  return m;
}
