/**
 * Stable softmax and log-softmax along one axis (default -1): the row maximum is subtracted first, sums
 * accumulate in float64. Return new tensors (float32 for integer input) or fill `opts.out`.
 *
 * @example softmax(tensor([[1, 2, 3]])).toArray() // [[0.090…, 0.244…, 0.665…]]
 */
import type { Tensor } from "../tensor.ts";
import { mapAlongAxis } from "./along-axis.ts";
import type { OutOptions } from "./internal.ts";

export interface AxisOptions extends OutOptions {
  /** Default -1 (the last axis). */
  axis?: number;
}

/** exp(x - max) / Σ exp(x - max) along `axis`. A row that is all -inf gives NaN (like torch). */
export function softmax(x: Tensor, opts: AxisOptions = {}): Tensor {
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
