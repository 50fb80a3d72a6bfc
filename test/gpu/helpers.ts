/**
 * Helpers for the provider suite: whether webgpu works here (else the reason to skip), and output
 * comparison with a tolerance per dtype.
 */
import assert from "node:assert/strict";
import { probeProvider } from "../../src/runtime/index.ts";
import { f16ArrayToF32, type Tensor } from "../../src/tensor/index.ts";

let probed: Promise<string | undefined> | undefined;

/**
 * `undefined` when a webgpu session can be created and run here; otherwise why not, as a skip message
 * (CI installs Mesa lavapipe in .ci/run; without a Vulkan driver these tests skip, never fail).
 */
export function webgpuSkipReason(): Promise<string | undefined> {
  probed ??= probeProvider({ name: "webgpu" }).then((reason) =>
    reason === undefined
      ? undefined
      : `webgpu unavailable here (${reason}); install a Vulkan driver, e.g. Mesa lavapipe (see docs/gpu.md)`,
  );
  return probed;
}

/**
 * Tolerance per dtype when comparing webgpu with cpu: |a - b| <= atol + rtol · |b|.
 * float32: both providers compute in float32 but sum in different orders (measured differences ~1e-6 on
 * the encoder); float16: one float16 ulp is ~1e-3 relative, and webgpu may accumulate in float16.
 */
export const TOLERANCE = {
  float32: { atol: 1e-4, rtol: 1e-4 },
  float16: { atol: 2e-3, rtol: 1e-2 },
} as const;

function asFloats(t: Tensor): Float32Array {
  const c = t.contiguous();
  if (c.dtype === "float16") return f16ArrayToF32(c.data as Uint16Array);
  if (c.dtype === "float32") return c.data as Float32Array;
  throw new Error(`asFloats: unsupported dtype ${c.dtype}`);
}

/** Asserts two float tensors have the same dtype, shape and values within `TOLERANCE[dtype]`; returns the max abs diff. */
export function assertClose(actual: Tensor, expected: Tensor, label: string): number {
  assert.equal(actual.dtype, expected.dtype, `${label}: dtype`);
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  const tol = TOLERANCE[expected.dtype as keyof typeof TOLERANCE];
  assert.ok(tol, `${label}: no tolerance for ${expected.dtype}`);
  const a = asFloats(actual);
  const b = asFloats(expected);
  let maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    const diff = Math.abs((a[i] as number) - (b[i] as number));
    if (!(diff <= tol.atol + tol.rtol * Math.abs(b[i] as number))) {
      assert.fail(
        `${label}: element ${i}: ${a[i]} vs ${b[i]} (|diff| ${diff} > ${tol.atol} + ${tol.rtol}·|expected|)`,
      );
    }
    maxDiff = Math.max(maxDiff, diff);
  }
  return maxDiff;
}
