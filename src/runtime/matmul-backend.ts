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
 * With `sync: true` the synchronous `matmul` is backed by ORT too (`setMatmulBackend`): a second worker holds
 * a 2-D MatMul session, and the calling thread copies A and B into a SharedArrayBuffer and blocks in
 * `Atomics.wait` until the worker has written C there (ORT's `run` is async, so this is the only way a
 * synchronous call can use it). The caller's thread is blocked for the GEMM just as with the local kernel.
 *
 * @example
 *   const ortMatmul = useOrtMatmul({ sync: true });
 *   await ortMatmul.ready;             // the sync worker has its session (before that, matmul runs locally)
 *   const c = await matmulAsync(a, b); // ORT for large problems, WASM below the threshold
 *   const d = matmul(a, b);            // sync, also ORT above syncMinFlops
 *   await ortMatmul.close();           // unregisters both backends and stops the workers
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { GraphBuilder } from "../onnx/index.ts";
import {
  type BatchedMatmulBackend,
  type MatmulBackend,
  type MatmulProblem,
  setAsyncBatchedMatmulBackend,
  setMatmulBackend,
  Tensor,
  TesseraError,
} from "../tensor/index.ts";
import { openSession, type OrtSession } from "./ort-session.ts";

/**
 * Default `minFlops`: 16 MFLOP (n ≈ 200 for square problems). Measured on the shared 2-core AVX-512 machine
 * with `bench/tensor/matmul-threshold.ts`: the openSession worker hop costs ~0.08–0.15 ms, so the WASM kernel
 * wins up to n ≈ 160 (8 MFLOP), the two are about even at n = 192 (14 MFLOP: 0.84–0.96×), and ORT wins 2× at
 * 256 and ~3× at 384.
 */
export const DEFAULT_ORT_MATMUL_MIN_FLOPS = 1.6e7;

export interface OrtMatmulOptions {
  /** Problems with fewer FLOPs (2·batch·M·N·K) run on the local kernel. Default `DEFAULT_ORT_MATMUL_MIN_FLOPS`. */
  readonly minFlops?: number;
  /** ORT intra-op threads of the session. Default: `os.availableParallelism()`. */
  readonly intraOpThreads?: number;
  /**
   * Also back the synchronous `matmul` (float32 GEMMs of at least `syncMinFlops`) with ORT: a dedicated worker
   * runs a 2-D MatMul session while the calling thread blocks in `Atomics.wait` on a SharedArrayBuffer (the
   * operands and result are copied through it). The caller's thread is blocked for the GEMM, as with the local
   * kernel, but ORT computes it. Until the worker is ready (`handle.ready`) the local kernel runs. Default false.
   */
  readonly sync?: boolean;
  /** FLOP threshold of the sync path (`sync: true`). Default `DEFAULT_ORT_SYNC_MATMUL_MIN_FLOPS`. */
  readonly syncMinFlops?: number;
}

export interface OrtMatmulHandle {
  /** The FLOP threshold in use. */
  readonly minFlops: number;
  /** Problems run by ORT and problems declined to the local kernel, since registration. */
  readonly stats: {
    readonly ort: number;
    readonly local: number;
    /** GEMMs the sync path ran on ORT (`sync: true`). */
    readonly syncOrt: number;
  };
  /** Worker sessions open now (at most one per operand rank, plus the sync worker with `sync: true`). */
  readonly openSessions: number;
  /** Resolves once the sync worker is ready (at once without `sync`); rejects if it could not start. */
  readonly ready: Promise<void>;
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
 * Default `syncMinFlops`: 4 MFLOP (n ≈ 128). The SharedArrayBuffer hop costs ~0.015 ms plus the copies, so
 * the sync ORT path is even with the WASM kernel at n = 128 and 1.3–1.7× faster at 160–192
 * (`bench/tensor/matmul-threshold.ts`, same machine).
 */
export const DEFAULT_ORT_SYNC_MATMUL_MIN_FLOPS = 4e6;

/** States of ctrl[0]; the protocol is described in matmul-sync-worker.mjs, which gets these values as `workerData.state`. */
const STATE = { INIT: 0, IDLE: 1, RUN: 2, DONE: 3, ERROR: 4, CLOSE: 5, DEAD: 6 } as const;
const { INIT, IDLE, RUN, DONE, ERROR, CLOSE, DEAD } = STATE;
/** Largest data buffer (a + b + c) the sync path allocates; larger GEMMs run locally. */
const MAX_SYNC_BYTES = 1 << 30;

/** `Atomics.waitAsync` (Node ≥ 16; not in this tsconfig's lib). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      timeoutMs: number,
    ): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** A 2-D MatMul session in a worker that a blocked caller drives through a SharedArrayBuffer. */
class SyncOrtGemm {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(32));
  private data: Float32Array<SharedArrayBuffer> = new Float32Array(new SharedArrayBuffer(0));
  private gen = 0;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  readonly ready: Promise<void>;
  runs = 0;

  constructor(intraOpThreads: number) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.port.unref();
    this.worker = new Worker(new URL("./matmul-sync-worker.mjs", import.meta.url), {
      workerData: {
        model: matmulModelForRank(2),
        intraOpThreads,
        ctrlBuffer: this.ctrl.buffer,
        port: port2,
        state: STATE,
      },
      transferList: [port2],
      execArgv: [],
      name: "tessera-matmul-sync",
    });
    // ref'd until ready (Atomics.waitAsync alone does not keep the process alive), then unref'd
    this.worker.on("error", () => {}); // reported through ctrl (DEAD) and `ready`
    this.exited = new Promise((resolve) =>
      this.worker.once("exit", () => {
        Atomics.store(this.ctrl, 0, DEAD);
        resolve();
      }),
    );
    const port = this.port;
    const worker = this.worker;
    this.ready = (async () => {
      let st = Atomics.load(this.ctrl, 0);
      while (st === INIT) {
        const w = waitAsync(this.ctrl, 0, INIT, 1000);
        if (w.async) await w.value;
        st = Atomics.load(this.ctrl, 0);
      }
      worker.unref();
      if (st !== IDLE && st !== CLOSE) {
        const m = receiveMessageOnPort(port);
        throw new TesseraError(
          "E_WORKER_DIED",
          `useOrtMatmul: the sync matmul worker did not start: ${(m?.message as { message?: string } | undefined)?.message ?? "it exited"}`,
          {},
        );
      }
    })();
    this.ready.catch(() => {});
  }

  /** C = A·B on ORT; false when not ready or too large (the local kernel then runs). */
  readonly gemm: MatmulBackend = (a, b, c, M, N, K) => {
    if (Atomics.load(this.ctrl, 0) !== IDLE) return false;
    const need = M * K + K * N + M * N;
    if (need > this.data.length) {
      if (need * 4 > MAX_SYNC_BYTES) return false;
      let bytes = 1 << 16;
      while (bytes < need * 4) bytes *= 2;
      this.data = new Float32Array(new SharedArrayBuffer(bytes));
      this.gen++;
      this.port.postMessage({ buffer: this.data.buffer, gen: this.gen });
      Atomics.store(this.ctrl, 4, this.gen);
    }
    this.ctrl[1] = M;
    this.ctrl[2] = N;
    this.ctrl[3] = K;
    this.data.set(a.subarray(0, M * K), 0);
    this.data.set(b.subarray(0, K * N), M * K);
    Atomics.store(this.ctrl, 0, RUN);
    Atomics.notify(this.ctrl, 0);
    let st = Atomics.load(this.ctrl, 0);
    while (st === RUN) {
      Atomics.wait(this.ctrl, 0, RUN);
      st = Atomics.load(this.ctrl, 0);
    }
    if (st === DONE) {
      c.set(this.data.subarray(M * K + K * N, need));
      Atomics.store(this.ctrl, 0, IDLE);
      this.runs++;
      return true;
    }
    if (st === ERROR) {
      const m = receiveMessageOnPort(this.port)?.message as { message?: string } | undefined;
      Atomics.store(this.ctrl, 0, IDLE);
      throw new TesseraError(
        "E_ORT_RUN",
        `useOrtMatmul: onnxruntime MatMul [${M},${K}]x[${K},${N}] failed: ${m?.message ?? "unknown error"}`,
        { M, N, K, reason: m?.message ?? "" },
      );
    }
    throw new TesseraError("E_WORKER_DIED", "useOrtMatmul: the sync matmul worker exited", { M, N, K });
  };

  /** Ends the worker's loop (it releases its session) and waits for the thread to exit. */
  async close(): Promise<void> {
    Atomics.store(this.ctrl, 0, CLOSE);
    Atomics.notify(this.ctrl, 0);
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
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
  const syncMinFlops = options.syncMinFlops ?? DEFAULT_ORT_SYNC_MATMUL_MIN_FLOPS;
  if (!(Number.isFinite(syncMinFlops) && syncMinFlops >= 0)) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `useOrtMatmul: syncMinFlops must be a finite number >= 0, got ${syncMinFlops}`,
      { syncMinFlops },
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
  let syncGemm: SyncOrtGemm | undefined;
  let previousSync: MatmulBackend | null = null;
  let syncBackend: MatmulBackend | undefined;
  if (options.sync === true) {
    const g = new SyncOrtGemm(intraOpThreads);
    syncGemm = g;
    syncBackend = (a, b, c, M, N, K) =>
      M > 0 && N > 0 && K > 0 && 2 * M * N * K >= syncMinFlops && g.gemm(a, b, c, M, N, K);
    previousSync = setMatmulBackend(syncBackend, "onnxruntime (worker, sync)");
  }

  return {
    minFlops,
    get stats() {
      return { ...stats, syncOrt: syncGemm?.runs ?? 0 };
    },
    get openSessions() {
      return sessions.size + (syncGemm !== undefined && !closed ? 1 : 0);
    },
    ready: syncGemm?.ready ?? Promise.resolve(),
    async close() {
      if (closed) return;
      closed = true;
      const current = setAsyncBatchedMatmulBackend(previous);
      if (current !== backend) setAsyncBatchedMatmulBackend(current); // someone registered after us: keep theirs
      if (syncBackend !== undefined) {
        const cur = setMatmulBackend(previousSync, "restored");
        if (cur !== syncBackend) setMatmulBackend(cur, "custom");
      }
      await syncGemm?.close();
      const opened = [...sessions.values()];
      sessions.clear();
      await Promise.all(opened.map((s) => s.then((x) => x.close()).catch(() => {})));
    },
  };
}
