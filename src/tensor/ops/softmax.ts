/**
 * Stable softmax and log-softmax along one axis (default -1): the row maximum is subtracted first, sums
 * accumulate in float64. Return new tensors (float32 for integer input) or fill `opts.out`.
 *
 * @example softmax(tensor([[1, 2, 3]])).toArray() // [[0.090…, 0.244…, 0.665…]]
 */
import { softmaxRowsF32 } from "../kernels/softmax-wasm.ts";
import { Tensor } from "../tensor.ts";
import { mapAlongAxis } from "./along-axis.ts";
import type { OutOptions } from "./internal.ts";

export { setWasmSoftmaxEnabled } from "../kernels/softmax-wasm.ts";

export interface AxisOptions extends OutOptions {
  /** Default -1 (the last axis). */
  axis?: number;
}

/**
 * exp(x - max) / Σ exp(x - max) along `axis`. A row that is all -inf gives NaN (like torch). Contiguous float32
 * input along the last axis runs a WASM SIMD kernel (vectorised expf, ≈1–2 ulp; rows up to 32768 long).
 */
export function softmax(x: Tensor, opts: AxisOptions = {}): Tensor {
  const last = (opts.axis ?? -1) === -1 || opts.axis === x.ndim - 1;
  const out = opts.out;
  if (
    last &&
    x.ndim > 0 &&
    x.dtype === "float32" &&
    x.isContiguous() &&
    (out === undefined ||
      (out.dtype === "float32" &&
        out.isContiguous() &&
        out.shape.length === x.ndim &&
        out.shape.every((d, i) => d === x.shape[i])))
  ) {
    const o = out ?? Tensor.empty("float32", x.shape);
    if (softmaxRowsF32(x.data as Float32Array, o.data as Float32Array, x.shape[x.ndim - 1]!)) return o;
  }
  return mapAlongAxis(
    "softmax",
    x,
    opts.axis ?? -1,
    (s, so, d, dof, n) => {
      let m = -Infinity;
      for (let i = 0; i < n; i++) if (s[so + i]! > m) m = s[so + i]!;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const e = Math.exp(s[so + i]! - m);
        d[dof + i] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let i = 0; i < n; i++) d[dof + i] = d[dof + i]! * inv;
    },
    opts.out,
  );
}

/** x - max - log Σ exp(x - max) along `axis`. */
export function logSoftmax(x: Tensor, opts: AxisOptions = {}): Tensor {
  return mapAlongAxis(
    "logSoftmax",
    x,
    opts.axis ?? -1,
    (s, so, d, dof, n) => {
      let m = -Infinity;
      for (let i = 0; i < n; i++) if (s[so + i]! > m) m = s[so + i]!;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += Math.exp(s[so + i]! - m);
      const lse = m + Math.log(sum);
      for (let i = 0; i < n; i++) d[dof + i] = s[so + i]! - lse;
    },
    opts.out,
  );
}
