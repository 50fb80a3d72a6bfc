/**
 * `matmul(a, b)`: matrix product with NumPy semantics — 1-D operands are promoted to a row / column and the
 * added axis removed afterwards; leading (batch) axes broadcast. Returns a new tensor or writes `opts.out`.
 *
 * Kernels: float32/float64 run a GEMM per batch matrix. Which GEMM is chosen by `setMatmulBackend`: the
 * default is the built-in kernel (WASM SIMD when available, else the blocked JS kernel); the runtime module
 * can register a faster float32 backend (e.g. a cached ONNX Runtime MatMul) without tensor importing it.
 * Other dtypes are computed in float64 and converted.
 *
 * @example matmul(ones([2, 3]), ones([3, 4])).shape // [2, 4]
 */
import { fmtShape, ShapeError, TesseraError } from "../errors.ts";
import { broadcastShapes, contiguousStrides, shapeSize } from "../layout.ts";
import type { Tensor } from "../tensor.ts";
import { readNumbers, writeNumbers } from "../values.ts";
import { gemmJS } from "../kernels/gemm-js.ts";
import { gemmWasm, wasmGemmAvailable } from "../kernels/gemm-wasm.ts";
import { type OutOptions, OutTarget, promoteTypes } from "./internal.ts";

/**
 * A float32 GEMM: C[M×N] = A[M×K] · B[K×N], all row-major and dense, C fully overwritten.
 * Return `false` to decline (the built-in kernel then runs), e.g. below a size threshold.
 */
export type MatmulBackend = (
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
) => boolean;

let backend: MatmulBackend | null = null;
let backendName = "builtin";

/**
 * Registers a float32 GEMM backend for `matmul` (or `null` to restore the built-in kernel). The backend is
 * called synchronously with dense row-major arrays. Returns the previously registered backend.
 */
export function setMatmulBackend(fn: MatmulBackend | null, name = "custom"): MatmulBackend | null {
  const prev = backend;
  backend = fn;
  backendName = fn === null ? "builtin" : name;
  return prev;
}

/** Which kernel float32 matmul uses now: the registered backend's name, "wasm-simd" or "js". */
export function matmulBackendName(): string {
  if (backend !== null) return backendName;
  return wasmGemmAvailable() ? "wasm-simd" : "js";
}

/** Built-in float32 GEMM (WASM SIMD when the module loads, else JS). Exposed for benchmarks. */
export { setWasmGemmEnabled } from "../kernels/gemm-wasm.ts";
export { gemmJS } from "../kernels/gemm-js.ts";

export function gemmBuiltin(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
): void {
  if (wasmGemmAvailable() && gemmWasm(a, b, c, M, N, K)) return;
  gemmJS(a, 0, b, 0, c, 0, M, N, K);
}

function gemm32(a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number): void {
  if (backend?.(a, b, c, M, N, K)) return;
  gemmBuiltin(a, b, c, M, N, K);
}

export function matmul(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(
      "E_MATMUL_RANK",
      `matmul: operands must have at least 1 dimension, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
      {
        lhs: [...a.shape],
        rhs: [...b.shape],
      },
    );
  }
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  const M = a2.shape[a2.ndim - 2]!;
  const K = a2.shape[a2.ndim - 1]!;
  const K2 = b2.shape[b2.ndim - 2]!;
  const N = b2.shape[b2.ndim - 1]!;
  if (K !== K2) {
    throw new ShapeError(
      "E_MATMUL_INNER",
      `matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
      {
        lhs: [...a.shape],
        rhs: [...b.shape],
      },
    );
  }
  const batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), "matmul");
  const full = [...batch, M, N];
  let shape = full;
  if (a.ndim === 1 && b.ndim === 1) shape = [];
  else if (a.ndim === 1) shape = [...batch, N];
  else if (b.ndim === 1) shape = [...batch, M];
  let dtype = promoteTypes(a.dtype, b.dtype);
  if (dtype === "bool") dtype = "int32";
  const target = new OutTarget("matmul", shape, dtype, opts.out);
  const nb = shapeSize(batch);
  const f32 = dtype === "float32";
  // dense operands broadcast over the batch: [..batch, M, K]
  const ab = denseBatch(a2, [...batch, M, K], f32);
  const bb = denseBatch(b2, [...batch, K, N], f32);
  const direct =
    f32 && target.tensor.isContiguous() && target.tensor.dtype === "float32"
      ? (target.tensor.data as Float32Array)
      : null;
  const cBuf = direct ?? (f32 ? new Float32Array(nb * M * N) : new Float64Array(nb * M * N));
  const aStride = ab.batchStrideZero ? 0 : M * K;
  const bStride = bb.batchStrideZero ? 0 : K * N;
  for (let i = 0; i < nb; i++) {
    const aOff = ab.index(i) * aStride;
    const bOff = bb.index(i) * bStride;
    if (f32) {
      gemm32(
        (ab.data as Float32Array).subarray(aOff, aOff + M * K),
        (bb.data as Float32Array).subarray(bOff, bOff + K * N),
        (cBuf as Float32Array).subarray(i * M * N, (i + 1) * M * N),
        M,
        N,
        K,
      );
    } else {
      gemmJS(ab.data, aOff, bb.data, bOff, cBuf, i * M * N, M, N, K);
    }
  }
  if (direct === null) writeNumbers(target.tensor, cBuf);
  return target.tensor;
}

interface DenseBatch {
  data: Float32Array | Float64Array;
  batchStrideZero: boolean;
  /** Index of the dense matrix that output batch `i` uses. */
  index(i: number): number;
}

/**
 * Makes `t` ([...tb, R, C]) into dense matrices without materialising broadcast batches: the matrices of
 * `t`'s own batch shape are made contiguous, and `index(i)` maps an output batch index onto them.
 */
function denseBatch(t: Tensor, full: readonly number[], f32: boolean): DenseBatch {
  const batch = full.slice(0, -2);
  const own = t.shape.slice(0, -2);
  const ownSize = shapeSize(own);
  let data: Float32Array | Float64Array;
  if (f32 && t.dtype === "float32") data = t.contiguous().data as Float32Array;
  else if (!f32 && t.dtype === "float64") data = t.contiguous().data as Float64Array;
  else {
    const nums = readNumbers(t);
    data = f32 ? Float32Array.from(nums) : Float64Array.from(nums);
  }
  if (ownSize === 1) return { data, batchStrideZero: true, index: () => 0 };
  if (own.length === batch.length && own.every((d, k) => d === batch[k])) {
    return { data, batchStrideZero: false, index: (i) => i };
  }
  // general broadcast: unravel i over `batch`, ravel over `own` with size-1 axes pinned to 0
  const bStrides = contiguousStrides(batch);
  const padded = [...new Array<number>(batch.length - own.length).fill(1), ...own];
  const oStrides = contiguousStrides(padded);
  return {
    data,
    batchStrideZero: false,
    index: (i) => {
      let rem = i;
      let j = 0;
      for (let k = 0; k < batch.length; k++) {
        const q = Math.floor(rem / bStrides[k]!);
        rem -= q * bStrides[k]!;
        if (padded[k] !== 1) j += q * oStrides[k]!;
      }
      return j;
    },
  };
}

export { TesseraError };
