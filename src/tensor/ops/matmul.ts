/**
 * `matmul(a, b)`: matrix product with NumPy semantics — 1-D operands are promoted to a row / column and the
 * added axis removed afterwards; leading (batch) axes broadcast. Returns a new tensor or writes `opts.out`.
 *
 * Kernels: float32/float64 run a GEMM per batch matrix. float32 uses, in order: a sync backend registered with
 * `setMatmulBackend`, else the WASM SIMD kernel (kernels/wasm/gemm.as; ~48 GFLOP/s on one core here), else the
 * blocked JS kernel (~5 GFLOP/s). `matmulAsync` first offers the whole problem to a batched backend registered
 * with `setAsyncBatchedMatmulBackend`, then each GEMM to one registered with `setAsyncMatmulBackend`. These are
 * the hooks through which the runtime module (`useOrtMatmul` in src/runtime) hands large products to cached
 * single-MatMul ONNX Runtime sessions in worker threads, without tensor importing ORT; with
 * `useOrtMatmul({ sync: true })` it also registers a sync backend (a worker the caller blocks on with
 * `Atomics.wait`). Other dtypes are computed in float64 and converted.
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

interface MatmulPlan {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Number of batch matrices in the result. */
  readonly nb: number;
  readonly f32: boolean;
  /** Operand views of batch matrix i (float32 or float64, dense row-major). */
  a(i: number): Float32Array | Float64Array;
  b(i: number): Float32Array | Float64Array;
  c(i: number): Float32Array | Float64Array;
  /** The whole float32 problem for a batched backend (null when not float32); built only when asked for. */
  whole(): MatmulProblem | null;
  /** Writes the result into the output tensor (when it was not computed in place) and returns it. */
  finish(): Tensor;
}

function planMatmul(a: Tensor, b: Tensor, opts: OutOptions): MatmulPlan {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(
      "E_MATMUL_RANK",
      `matmul: operands must have at least 1 dimension, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
      { lhs: [...a.shape], rhs: [...b.shape] },
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
  let shape = [...batch, M, N];
  if (a.ndim === 1 && b.ndim === 1) shape = [];
  else if (a.ndim === 1) shape = [...batch, N];
  else if (b.ndim === 1) shape = [...batch, M];
  let dtype = promoteTypes(a.dtype, b.dtype);
  if (dtype === "bool") dtype = "int32";
  const target = new OutTarget("matmul", shape, dtype, opts.out);
  const nb = shapeSize(batch);
  const f32 = dtype === "float32";
  // dense operands; broadcast batches are not materialised
  const ab = denseBatch(a2, [...batch, M, K], f32);
  const bb = denseBatch(b2, [...batch, K, N], f32);
  const out = target.tensor;
  const direct = f32 && out.isContiguous() && out.dtype === "float32" ? (out.data as Float32Array) : null;
  const cBuf = direct ?? (f32 ? new Float32Array(nb * M * N) : new Float64Array(nb * M * N));
  const aStride = ab.batchStrideZero ? 0 : M * K;
  const bStride = bb.batchStrideZero ? 0 : K * N;
  const padOwn = (t: Tensor) => {
    const own = t.shape.slice(0, -2);
    return [...new Array<number>(batch.length - own.length).fill(1), ...own];
  };
  const whole = (): MatmulProblem | null =>
    f32
      ? {
          a: ab.data as Float32Array,
          aShape: [...padOwn(a2), M, K],
          b: bb.data as Float32Array,
          bShape: [...padOwn(b2), K, N],
          c: cBuf as Float32Array,
          cShape: [...batch, M, N],
          M,
          N,
          K,
          batch: nb,
        }
      : null;
  return {
    whole,
    M,
    N,
    K,
    nb,
    f32,
    a: (i) => ab.data.subarray(ab.index(i) * aStride, ab.index(i) * aStride + M * K),
    b: (i) => bb.data.subarray(bb.index(i) * bStride, bb.index(i) * bStride + K * N),
    c: (i) => cBuf.subarray(i * M * N, (i + 1) * M * N),
    finish: () => {
      if (direct === null) writeNumbers(out, cBuf);
      return out;
    },
  };
}

/** Matrix product (see the module doc). Synchronous: uses the registered sync backend or the built-in kernels. */
export function matmul(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  const p = planMatmul(a, b, opts);
  for (let i = 0; i < p.nb; i++) {
    if (p.f32) gemm32(p.a(i) as Float32Array, p.b(i) as Float32Array, p.c(i) as Float32Array, p.M, p.N, p.K);
    else gemmJS(p.a(i), 0, p.b(i), 0, p.c(i), 0, p.M, p.N, p.K);
  }
  return p.finish();
}

/**
 * An asynchronous float32 GEMM (same contract as `MatmulBackend`), e.g. a cached single-op ONNX Runtime
 * session registered by the runtime module. Resolve `false` to decline.
 */
export type AsyncMatmulBackend = (
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
) => Promise<boolean>;

let asyncBackend: AsyncMatmulBackend | null = null;

/** Registers the backend `matmulAsync` tries first for float32 (null removes it). Returns the previous one. */
export function setAsyncMatmulBackend(fn: AsyncMatmulBackend | null): AsyncMatmulBackend | null {
  const prev = asyncBackend;
  asyncBackend = fn;
  return prev;
}

/**
 * One whole float32 matmul, batch axes included, for `setAsyncBatchedMatmulBackend`. All arrays are dense
 * row-major. `aShape` is `[...aBatch, M, K]` and `bShape` `[...bBatch, K, N]`, where both batch shapes have the
 * output's batch rank and broadcast against each other (size-1 axes), as ONNX / NumPy MatMul does;
 * `cShape` is `[...batch, M, N]`. A backend that accepts must overwrite all of `c`.
 */
export interface MatmulProblem {
  readonly a: Float32Array;
  readonly aShape: readonly number[];
  readonly b: Float32Array;
  readonly bShape: readonly number[];
  readonly c: Float32Array;
  readonly cShape: readonly number[];
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Number of output matrices (product of the output batch shape; 1 for plain 2-D). */
  readonly batch: number;
}

/** An async backend for a whole (batched, broadcast) float32 matmul. Resolve `false` to decline. */
export type BatchedMatmulBackend = (p: MatmulProblem) => Promise<boolean>;

let batchedBackend: BatchedMatmulBackend | null = null;

/**
 * Registers the backend `matmulAsync` tries first, once per call with the whole float32 problem (null removes
 * it). If it declines, `matmulAsync` goes on per batch matrix (async GEMM backend, then the sync kernels).
 * Returns the previously registered one. `src/runtime`'s `useOrtMatmul` registers an ONNX Runtime backend here.
 */
export function setAsyncBatchedMatmulBackend(fn: BatchedMatmulBackend | null): BatchedMatmulBackend | null {
  const prev = batchedBackend;
  batchedBackend = fn;
  return prev;
}

/**
 * `matmul` that may hand float32 work to async backends: first the whole problem to the batched backend
 * (`setAsyncBatchedMatmulBackend`), else each batch GEMM to the async GEMM backend (`setAsyncMatmulBackend`),
 * else the sync kernels. Same shapes, dtypes, `out` and errors as `matmul`.
 */
export async function matmulAsync(a: Tensor, b: Tensor, opts: OutOptions = {}): Promise<Tensor> {
  const p = planMatmul(a, b, opts);
  const backend = batchedBackend;
  const whole = backend !== null ? p.whole() : null;
  if (backend !== null && whole !== null && whole.c.length > 0 && (await backend(whole))) return p.finish();
  for (let i = 0; i < p.nb; i++) {
    if (p.f32) {
      const [x, y, z] = [p.a(i) as Float32Array, p.b(i) as Float32Array, p.c(i) as Float32Array];
      if (asyncBackend !== null && (await asyncBackend(x, y, z, p.M, p.N, p.K))) continue;
      gemm32(x, y, z, p.M, p.N, p.K);
    } else gemmJS(p.a(i), 0, p.b(i), 0, p.c(i), 0, p.M, p.N, p.K);
  }
  return p.finish();
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
