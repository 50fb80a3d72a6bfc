/**
 * Normalisations: layerNorm, l2Normalize, and the cosine-similarity matrix. All return new tensors.
 *
 * @example cosineSimilarity(tensor([[1, 0]]), tensor([[1, 0], [0, 1]])).toArray() // [[1, 0]]
 */
import { fmtShape, ShapeError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { readNumbers } from "../values.ts";
import { mapAlongAxis } from "./along-axis.ts";
import type { OutOptions } from "./internal.ts";
import { matmul } from "./matmul.ts";

export interface LayerNormOptions extends OutOptions {
  /** Scale, shape [D] (D = size of the last axis). */
  weight?: Tensor;
  /** Shift, shape [D]. */
  bias?: Tensor;
  /** Added to the variance. Default 1e-5. */
  eps?: number;
}

function vec(op: string, name: string, t: Tensor | undefined, d: number): Float32Array | Float64Array | null {
  if (t === undefined) return null;
  if (t.ndim !== 1 || t.shape[0] !== d) {
    throw new ShapeError(
      "E_SHAPE_MISMATCH",
      `${op}: ${name} must have shape [${d}], got ${fmtShape(t.shape)}`,
      {
        op,
        name,
        expected: [d],
        got: [...t.shape],
      },
    );
  }
  return readNumbers(t);
}

/**
 * Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) · weight + bias, with the biased
 * variance (like torch.nn.LayerNorm), statistics in float64.
 */
export function layerNorm(x: Tensor, opts: LayerNormOptions = {}): Tensor {
  const d = x.ndim === 0 ? 1 : x.shape[x.ndim - 1]!;
  const w = vec("layerNorm", "weight", opts.weight, d);
  const b = vec("layerNorm", "bias", opts.bias, d);
  const eps = opts.eps ?? 1e-5;
  return mapAlongAxis(
    "layerNorm",
    x,
    -1,
    (s, so, o, oo, n) => {
      let m = 0;
      for (let i = 0; i < n; i++) m += s[so + i]!;
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) {
        const c = s[so + i]! - m;
        v += c * c;
      }
      const inv = 1 / Math.sqrt(v / n + eps);
      for (let i = 0; i < n; i++) {
        let y = (s[so + i]! - m) * inv;
        if (w !== null) y *= w[i]!;
        if (b !== null) y += b[i]!;
        o[oo + i] = y;
      }
    },
    opts.out,
  );
}

export interface L2Options extends OutOptions {
  /** Default -1. */
  axis?: number;
  /** The norm is clamped below by eps (default 1e-12), so zero vectors stay zero. */
  eps?: number;
}

/** x / max(‖x‖₂, eps) along `axis`. */
export function l2Normalize(x: Tensor, opts: L2Options = {}): Tensor {
  const eps = opts.eps ?? 1e-12;
  return mapAlongAxis(
    "l2Normalize",
    x,
    opts.axis ?? -1,
    (s, so, o, oo, n) => {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += s[so + i]! * s[so + i]!;
      const inv = 1 / Math.max(Math.sqrt(ss), eps);
      for (let i = 0; i < n; i++) o[oo + i] = s[so + i]! * inv;
    },
    opts.out,
  );
}

/**
 * Cosine similarity of every row of `a` [N, D] with every row of `b` [M, D]: an [N, M] matrix
 * (l2Normalize(a) @ l2Normalize(b)ᵀ). Zero rows give 0.
 */
export function cosineSimilarity(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2 || a.shape[1] !== b.shape[1]) {
    throw new ShapeError(
      "E_SHAPE_MISMATCH",
      `cosineSimilarity: expected [N,D] and [M,D], got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
      { lhs: [...a.shape], rhs: [...b.shape] },
    );
  }
  return matmul(l2Normalize(a), l2Normalize(b).transpose(), opts);
}
