/**
 * `useOrtMatmul()`: hands large float32 `matmulAsync` problems to ONNX Runtime.
 *
 * Registers a batched async matmul backend with the tensor module (`setAsyncBatchedMatmulBackend`; tensor
 * imports nothing from here). Each problem at or above `minFlops` (2·batch·M·N·K) runs as ONE call of a cached
 * single-MatMul ONNX model, in a worker-thread session (`openSession`, 1 replica, `intraOpThreads` = all cores
 * by default), so the event loop stays free while ORT computes. There is one session per operand rank (the
 * only dtype is float32): every dim is symbolic, and ORT's MatMul broadcasts the batch axes itself. A batch of
 * matrices times one shared matrix is flattened to a single 2-D GEMM ([batch·M, K] @ [K, N]).
 *
 * Below `minFlops` the backend declines and the local WASM SIMD kernel runs: the worker hop (copy the
 * operands, post, wake the worker, transfer C back and copy it out) costs ~0.1–0.3 ms, which the local kernel
 * beats on small problems. The default threshold comes from `bench/tensor/matmul-threshold.ts`.
 *
 * @example
 *   const ortMatmul = useOrtMatmul();
 *   const c = await matmulAsync(a, b); // ORT for large problems, WASM below the threshold
 *   await ortMatmul.close();           // unregisters the backend and stops the worker
 */
import { availableParallelism } from "node:os";
import { GraphBuilder } from "../onnx/index.ts";
import {
  type BatchedMatmulBackend,
  type MatmulProblem,
  setAsyncBatchedMatmulBackend,
  Tensor,
  TesseraError,
} from "../tensor/index.ts";
import { openSession, type OrtSession } from "./ort-session.ts";

/**
 * Default `minFlops`: 10 MFLOP (n ≈ 170 for square problems). Measured on the shared 2-core AVX-512 machine
 * with `bench/tensor/matmul-threshold.ts`: the worker hop costs ~0.08 ms, so the WASM kernel wins up to n ≈ 128
 * (4 MFLOP: 0.09 vs 0.11 ms), the two are even at n = 160–192 (8–14 MFLOP), and ORT wins 2× at 256 and 3.7× at
 * 384.
 */
export const DEFAULT_ORT_MATMUL_MIN_FLOPS = 1e7;

export interface OrtMatmulOptions {
  /** Problems with fewer FLOPs (2·batch·M·N·K) run on the local kernel. Default `DEFAULT_ORT_MATMUL_MIN_FLOPS`. */
  readonly minFlops?: number;
  /** ORT intra-op threads of the session. Default: `os.availableParallelism()`. */
  readonly intraOpThreads?: number;
}

export interface OrtMatmulHandle {
  /** The FLOP threshold in use. */
  readonly minFlops: number;
  /** Problems run by ORT and problems declined to the local kernel, since registration. */
  readonly stats: { readonly ort: number; readonly local: number };
  /** Worker sessions open now (at most one per operand rank). */
  readonly openSessions: number;
  /** Unregisters the backend (restoring the one registered before, if still current) and closes the sessions. */
  close(): Promise<void>;
}

/** The single-MatMul model for operands of rank `rank` (≥ 2), all dims symbolic. */
export function matmulModelForRank(rank: number): Uint8Array {
  const g = new GraphBuilder({ name: `tessera_matmul_r${rank}`, opset: 17 });
  const batch = (p: string) => Array.from({ length: rank - 2 }, (_, i) => `${p}${i}`);
  g.input("a", "float32", [...batch("a_batch"), "m", "k"]);
  g.input("b", "float32", [...batch("b_batch"), "k", "n"]);
  g.node("MatMul", ["a", "b"], ["c"]);
  g.output("c", "float32", [...batch("c_batch"), "m", "n"]);
  return g.toBytes();
}

/** Operand shapes as run: a batch times one shared matrix becomes one 2-D GEMM. */
function runShapes(p: MatmulProblem): { a: number[]; b: number[] } {
  const rank = p.aShape.length;
  const bSingle = p.bShape.slice(0, rank - 2).every((d) => d === 1);
  const aRows = p.a.length / p.K;
  if (bSingle && aRows === p.batch * p.M) return { a: [aRows, p.K], b: [p.K, p.N] };
  return { a: [...p.aShape], b: [...p.bShape] };
}

/**
 * Registers ONNX Runtime as `matmulAsync`'s backend for float32 problems of at least `minFlops`; returns a handle
 * whose `close()` releases it. Sessions open lazily on the first large problem of each rank. Throws
 * `E_OPTIONS_INVALID` for a negative/non-finite `minFlops` or a non-positive-integer `intraOpThreads`.
 * ORT failures (session creation, run) reject the `matmulAsync` call; they do not fall back silently.
 */
export function useOrtMatmul(options: OrtMatmulOptions = {}): OrtMatmulHandle {
  const minFlops = options.minFlops ?? DEFAULT_ORT_MATMUL_MIN_FLOPS;
  if (!(Number.isFinite(minFlops) && minFlops >= 0)) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `useOrtMatmul: minFlops must be a finite number >= 0, got ${minFlops}`,
      { minFlops },
    );
  }
  const intraOpThreads = options.intraOpThreads ?? availableParallelism();
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `useOrtMatmul: intraOpThreads must be a positive integer, got ${intraOpThreads}`,
      { intraOpThreads },
    );
  }
  const sessions = new Map<number, Promise<OrtSession>>();
  const stats = { ort: 0, local: 0 };
  let closed = false;

  const session = (rank: number): Promise<OrtSession> => {
    let s = sessions.get(rank);
    if (s === undefined) {
      s = openSession(matmulModelForRank(rank), {
        replicas: 1,
        intraOpThreads,
        label: `tessera-matmul/float32/rank${rank}`,
      });
      sessions.set(rank, s);
      s.catch(() => sessions.delete(rank)); // a failed open is retried on the next problem
    }
    return s;
  };

  const backend: BatchedMatmulBackend = async (p) => {
    const flops = 2 * p.batch * p.M * p.N * p.K;
    if (closed || flops < minFlops || p.M === 0 || p.N === 0 || p.K === 0) {
      stats.local++;
      return false;
    }
    const shapes = runShapes(p);
    let r: Awaited<ReturnType<OrtSession["run"]>>;
    try {
      const s = await session(shapes.a.length);
      r = await s.run({
        a: Tensor.wrap(p.a, shapes.a, "float32"),
        b: Tensor.wrap(p.b, shapes.b, "float32"),
      });
    } catch (err) {
      if (!closed) throw err;
      stats.local++; // closed while this problem was on its way: the local kernel runs it
      return false;
    }
    const c = r.outputs.c;
    if (c === undefined || c.size !== p.c.length) {
      throw new TesseraError(
        "E_INTERNAL",
        `useOrtMatmul: ORT returned ${c === undefined ? "no output" : `${c.size} elements`}, expected ${p.c.length}`,
        { expected: p.c.length },
      );
    }
    p.c.set(c.contiguous().data as Float32Array);
    stats.ort++;
    return true;
  };
  const previous = setAsyncBatchedMatmulBackend(backend);

  return {
    minFlops,
    get stats() {
      return { ...stats };
    },
    get openSessions() {
      return sessions.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      const current = setAsyncBatchedMatmulBackend(previous);
      if (current !== backend) setAsyncBatchedMatmulBackend(current); // someone registered after us: keep theirs
      const opened = [...sessions.values()];
      sessions.clear();
      await Promise.all(opened.map((s) => s.then((x) => x.close()).catch(() => {})));
    },
  };
}
