/**
 * `openSession`: the onnxruntime-node implementation of `InferenceSession` (session.ts).
 *
 * Every ORT session lives in a worker thread (ORT's run() blocks its calling thread); the main thread
 * validates inputs, picks a replica (least busy, round-robin on ties) and moves tensors by
 * transferring ArrayBuffers. A worker that dies is replaced; its in-flight requests reject with
 * `E_WORKER_DIED`. Workers are unref'd while idle, so a forgotten session does not keep the process
 * alive (still call `close()`).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { type DType, isDType, TesseraError } from "../tensor/index.ts";
import { readModelHeader } from "./model-header.ts";
import { fromWire, toWire, type WireTensor } from "./ort-interop.ts";
import { deviceKey, isExclusiveDevice, normalizeProviders, runExclusive } from "./providers.ts";
import type {
  Dim,
  InferenceSession,
  ModelDescription,
  ProviderName,
  ProviderSpec,
  RunOptions,
  RunResult,
  SessionOptions,
  TensorMap,
  TensorSpec,
  UnsupportedValue,
} from "./session.ts";
import { assertValidInputs } from "./validate.ts";
import type { FromWorker, ToWorker, WireValueMeta, WorkerInit } from "./worker-protocol.ts";

/** Run options of the ORT implementation (`RunOptions`, kept as an alias for existing imports). */
export type OrtRunOptions = RunOptions;

/** Replica count and threads per replica chosen from the machine when the options leave them out. */
export function defaultParallelism(
  options: Pick<SessionOptions, "replicas" | "intraOpThreads"> = {},
  cores = availableParallelism(),
): {
  replicas: number;
  intraOpThreads: number;
} {
  const replicas = options.replicas ?? Math.max(1, Math.min(2, cores));
  const intraOpThreads = options.intraOpThreads ?? Math.max(1, Math.floor(cores / replicas));
  return { replicas, intraOpThreads };
}

/** The onnxruntime-node version sessions run on (part of the optimized-model cache key). */
export const ORT_VERSION: string =
  (ort.env.versions as Record<string, string | undefined>).node ?? ort.env.versions.common;

/** The worker entry: a .mjs bootstrap that registers tsx in the worker, then imports ort-worker.ts. */
const WORKER_URL = new URL("./ort-worker-boot.mjs", import.meta.url);

interface Pending {
  resolve(r: { outputs: Record<string, WireTensor>; inferMs: number }): void;
  reject(err: Error): void;
}

interface ReadyInfo {
  activeProvider: ProviderName;
  fallbacks: { provider: ProviderName; reason: string }[];
  inputs: WireValueMeta[];
  outputs: WireValueMeta[];
}

/** One worker thread holding one ORT session; replaced when it dies. */
class Replica {
  worker!: Worker;
  ready!: Promise<ReadyInfo>;
  readonly inflight = new Map<number, Pending>();
  /** What the current worker reported when its session was created (undefined until then). */
  started: ReadyInfo | undefined;
  /** Set when a replacement worker could not be started; runs avoid this replica. */
  broken: string | undefined;
  restarts = 0;
  private closing = false;
  private exited = false;

  constructor(
    readonly index: number,
    private init: WorkerInit,
    private readonly label: string,
    private readonly onReplaced: (r: Replica) => void,
  ) {
    this.spawn();
  }

  get busy(): number {
    return this.inflight.size;
  }

  private spawn(): void {
    const worker = new Worker(WORKER_URL, { execArgv: [], name: `tessera-ort:${this.label}#${this.index}` });
    this.worker = worker;
    this.refd = undefined; // a new worker starts ref'd; the first updateRef sets it either way
    this.exited = false;
    let settle!: { resolve(r: ReadyInfo): void; reject(e: Error): void };
    this.ready = new Promise<ReadyInfo>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.ready.catch(() => {}); // observed by callers; avoid unhandled rejections for replacements
    let initDone = false;
    worker.on("message", (msg: FromWorker) => {
      switch (msg.type) {
        case "ready":
          initDone = true;
          this.broken = undefined;
          this.started = {
            activeProvider: msg.activeProvider,
            fallbacks: msg.fallbacks,
            inputs: msg.inputs,
            outputs: msg.outputs,
          };
          settle.resolve(this.started);
          this.updateRef();
          break;
        case "init-error":
          initDone = true;
          this.broken = msg.message;
          settle.reject(
            new TesseraError(
              "E_SESSION_CREATE",
              `${this.label}: onnxruntime could not create a session: ${initFailure(msg.message, msg.fallbacks)}`,
              {
                model: this.label,
                reason: msg.message,
                fallbacks: msg.fallbacks,
              },
            ),
          );
          // A replacement that cannot start: fail what was queued on it instead of answering later.
          this.failInflight(`its replacement worker could not start: ${msg.message}`);
          break;
        case "result":
        case "run-error": {
          const p = this.inflight.get(msg.id);
          this.inflight.delete(msg.id);
          if (p) {
            if (msg.type === "result") p.resolve({ outputs: msg.outputs, inferMs: msg.inferMs });
            else
              p.reject(
                new TesseraError("E_ORT_RUN", `${this.label}: onnxruntime run failed: ${msg.message}`, {
                  model: this.label,
                  reason: msg.message,
                }),
              );
          }
          this.updateRef();
          break;
        }
        case "closed":
          break;
      }
    });
    let lastError: Error | undefined;
    worker.on("error", (err) => {
      lastError = err;
    });
    worker.on("exit", (code) => {
      if (this.worker !== worker) return;
      this.exited = true;
      const why = lastError ? `uncaught ${lastError.message}` : `exit code ${code}`;
      const died = () =>
        new TesseraError(
          "E_WORKER_DIED",
          `${this.label}: session worker #${this.index} died (${why}) with the request in flight`,
          {
            model: this.label,
            replica: this.index,
            exitCode: code,
          },
        );
      if (!initDone) {
        this.broken = why;
        settle.reject(
          new TesseraError(
            "E_SESSION_CREATE",
            `${this.label}: session worker #${this.index} exited during start (${why})`,
            {
              model: this.label,
              reason: why,
            },
          ),
        );
      }
      const pending = [...this.inflight.values()];
      this.inflight.clear();
      for (const p of pending) p.reject(died());
      if (this.closing) return;
      // Replace the dead worker, unless it never started (then starting again would loop).
      if (initDone && this.restarts < 20) {
        this.restarts++;
        this.spawn();
        this.onReplaced(this);
      } else if (initDone) {
        // Out of restarts: mark the replica broken so runs fail fast instead of posting to a dead worker.
        this.broken = `${why}; gave up after ${this.restarts} restarts`;
      }
    });
    const initMsg: ToWorker = { type: "init", init: this.init };
    worker.postMessage(initMsg);
  }

  /** Rejects every request queued on this replica with `E_WORKER_DIED`. */
  failInflight(why: string): void {
    const pending = [...this.inflight.values()];
    this.inflight.clear();
    for (const p of pending) {
      p.reject(
        new TesseraError(
          "E_WORKER_DIED",
          `${this.label}: session worker #${this.index} is unavailable (${why})`,
          {
            model: this.label,
            replica: this.index,
          },
        ),
      );
    }
    this.updateRef();
  }

  /** Later spawns (replacements) use this init, e.g. the optimized-model cache file once written. */
  setInit(init: WorkerInit): void {
    this.init = init;
  }

  /** Whether `worker` is ref'd now (ref/unref cross into C++: only call them when the state changes). */
  private refd: boolean | undefined;

  /** Keeps the process alive only while this worker starts or computes. */
  updateRef(): void {
    if (this.closing) return;
    const want = this.inflight.size > 0;
    if (want === this.refd) return;
    this.refd = want;
    if (want) this.worker.ref();
    else this.worker.unref();
  }

  post(msg: ToWorker, transfer: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }

  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    worker.ref();
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    try {
      worker.postMessage({ type: "close" } satisfies ToWorker);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => void worker.terminate(), 10_000);
    const closed = new Promise<void>((resolve) => {
      worker.on("message", (m: FromWorker) => {
        if (m.type === "closed") resolve();
      });
    });
    await Promise.race([closed, exited]);
    clearTimeout(timer);
    await worker.terminate();
    await exited;
  }
}

/** The ORT-backed session returned by `openSession`. */
export class OrtSession implements InferenceSession {
  readonly description: ModelDescription;
  readonly activeProvider: ProviderName;
  readonly providerFallbacks: readonly { provider: ProviderName; reason: string }[];
  /** Intra-op threads each replica runs with. */
  readonly intraOpThreads: number;
  /** Where the optimized model lives and whether this open reused it (`hit`); undefined when caching is off. */
  readonly optimizedModelCache: { readonly path: string; readonly hit: boolean } | undefined;
  /**
   * The external-data files of a model opened by path (`model.onnx_data`, …) as they were when it was opened (size
   * -1 when missing); empty for self-contained models. Their bytes are weights too: see `totalBytes`.
   */
  readonly externalData: readonly ModelFileStamp[];
  private readonly label: string;
  private readonly pool: Replica[];
  private nextId = 1;
  private rr = 0;
  private closed = false;
  private readonly exclusiveKey: string | undefined;
  /** Outputs a run without `outputs` asks for: the described ones, when the graph has others Tessera cannot carry. */
  private readonly defaultOutputs: readonly string[] | undefined;
  /** How many runs each replica has been given (for tests and metrics). */
  readonly dispatchCounts: number[];

  /** @internal use `openSession`. */
  constructor(args: {
    description: ModelDescription;
    activeProvider: ProviderName;
    activeSpec: ProviderSpec;
    providerFallbacks: { provider: ProviderName; reason: string }[];
    intraOpThreads: number;
    optimizedModelCache: { path: string; hit: boolean } | undefined;
    externalData: ModelFileStamp[];
    label: string;
    pool: Replica[];
  }) {
    this.description = args.description;
    this.activeProvider = args.activeProvider;
    this.providerFallbacks = args.providerFallbacks;
    this.intraOpThreads = args.intraOpThreads;
    this.optimizedModelCache = args.optimizedModelCache;
    this.externalData = args.externalData;
    this.label = args.label;
    this.pool = args.pool;
    this.dispatchCounts = args.pool.map(() => 0);
    this.exclusiveKey = isExclusiveDevice(args.activeSpec) ? deviceKey(args.activeSpec) : undefined;
    this.defaultOutputs = args.description.unsupported?.some((u) => u.io === "output")
      ? args.description.outputs.map((o) => o.name)
      : undefined;
  }

  get replicas(): number {
    return this.pool.length;
  }

  /**
   * Per replica: the provider its worker's session runs on and the providers that worker tried before it. Only
   * the first replica goes through the `providers` list; the others (and replacements of dead workers) are created
   * on the provider it ended on, so every replica runs on `activeProvider` with no fallbacks of its own.
   */
  get replicaProviders(): readonly {
    readonly provider: ProviderName;
    readonly fallbacks: readonly { provider: ProviderName; reason: string }[];
  }[] {
    return this.pool.map((r) => ({
      provider: r.started?.activeProvider ?? this.activeProvider,
      fallbacks: r.started?.fallbacks ?? [],
    }));
  }

  /** Bytes of the model's files: the .onnx file plus its external-data files. */
  get totalBytes(): number {
    let n = this.description.byteSize;
    for (const f of this.externalData) n += Math.max(0, f.size);
    return n;
  }

  /** Requests currently running or queued per replica. */
  get busy(): number[] {
    return this.pool.map((r) => r.busy);
  }

  /** Times each replica's worker was replaced after dying. */
  get restarts(): number[] {
    return this.pool.map((r) => r.restarts);
  }

  private pick(): Replica {
    const healthy = this.pool.filter((r) => r.broken === undefined);
    const candidates = healthy.length > 0 ? healthy : this.pool;
    let best: Replica | undefined;
    const n = this.pool.length;
    for (let k = 0; k < n; k++) {
      const r = this.pool[(this.rr + k) % n]!;
      if (!candidates.includes(r)) continue;
      if (best === undefined || r.busy < best.busy) best = r;
    }
    this.rr = (this.rr + 1) % n;
    return best ?? this.pool[0]!;
  }

  /**
   * Runs the model on the least busy replica. Inputs are validated first (`E_INPUT_INVALID`); inputs are
   * copied into fresh buffers and transferred (see `RunOptions.transferInputs` for zero-copy);
   * outputs are Tensors over the buffers transferred back (no copy). An abort before or during the
   * run rejects with `E_ABORTED` (a run already inside ORT finishes in the worker and is discarded).
   */
  async run(inputs: TensorMap, options: OrtRunOptions = {}): Promise<RunResult> {
    if (this.closed)
      throw new TesseraError("E_SESSION_CLOSED", `${this.label}: session is closed`, { model: this.label });
    const signal = options.signal;
    if (signal?.aborted) throw abortError(this.label, signal);
    const unsupported = this.description.unsupported;
    const cannotFeed = unsupported?.find((u) => u.io === "input");
    if (cannotFeed) throw cannotFeedError(this.label, cannotFeed);
    assertValidInputs(this.description, inputs, this.label);
    if (options.outputs) {
      const names = this.description.outputs.map((o) => o.name);
      const unknown = options.outputs.filter((o) => !names.includes(o));
      if (unknown.length > 0) {
        const why = (o: string): string => {
          const u = unsupported?.find((v) => v.io === "output" && v.name === o);
          return u ? `${o} (a ${u.type} output, which Tessera cannot carry)` : o;
        };
        throw new TesseraError(
          "E_INPUT_INVALID",
          `${this.label}: unknown output(s) ${unknown.map(why).join(", ")}; expected some of ${names.join(", ")}`,
          {
            model: this.label,
            issues: unknown.map((o) => ({ path: `outputs.${o}`, message: "unknown output" })),
          },
        );
      }
    }
    const wanted = options.outputs && options.outputs.length > 0 ? options.outputs : this.defaultOutputs;
    if (wanted !== undefined && wanted.length === 0) {
      throw new TesseraError(
        "E_DTYPE_UNSUPPORTED",
        `${this.label}: none of the model's outputs can be carried by Tessera (${(unsupported ?? []).map((u) => `${u.name}: ${u.type}`).join(", ")}); add a Cast to a supported type in the graph`,
        { model: this.label, unsupported },
      );
    }
    const replica = this.pick();
    if (replica.broken !== undefined) {
      throw new TesseraError(
        "E_WORKER_DIED",
        `${this.label}: no session worker is available (${replica.broken}); reopen the session`,
        { model: this.label, reason: replica.broken },
      );
    }
    this.dispatchCounts[replica.index]!++;
    const transfer: ArrayBuffer[] = [];
    const wire: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(inputs))
      wire[name] = toWire(t, transfer, options.transferInputs === true);
    const dispatch = (): Promise<{ outputs: Record<string, WireTensor>; inferMs: number }> => {
      if (signal?.aborted) return Promise.reject(abortError(this.label, signal));
      const id = this.nextId++;
      const done = new Promise<{ outputs: Record<string, WireTensor>; inferMs: number }>(
        (resolve, reject) => {
          replica.inflight.set(id, { resolve, reject });
        },
      );
      replica.updateRef();
      const msg: ToWorker = wanted
        ? { type: "run", id, inputs: wire, outputs: wanted }
        : { type: "run", id, inputs: wire };
      replica.post(msg, transfer);
      return done;
    };
    // GPU providers: one run per device at a time across replicas (see providers.runExclusive).
    const done = this.exclusiveKey ? runExclusive(this.exclusiveKey, dispatch) : dispatch();
    let onAbort: (() => void) | undefined;
    const aborted = signal
      ? new Promise<never>((_, reject) => {
          onAbort = () => reject(abortError(this.label, signal));
          signal.addEventListener("abort", onAbort, { once: true });
        })
      : undefined;
    try {
      const r = aborted ? await Promise.race([done, aborted]) : await done;
      const outputs: TensorMap = {};
      for (const [name, w] of Object.entries(r.outputs)) outputs[name] = fromWire(w);
      return { outputs, inferMs: r.inferMs, replica: replica.index };
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      done.catch(() => {}); // a result that arrives after an abort is discarded
    }
  }

  /**
   * Test-only: makes a replica's worker call process.exit(code) once it reaches this message
   * (after runs already queued on it), so replacement and E_WORKER_DIED can be exercised.
   */
  crashReplicaForTest(index: number, code = 7): void {
    const r = this.pool[index];
    if (!r) throw new TesseraError("E_REPLICA_INDEX", `no replica #${index}`, { index });
    r.post({ type: "crash", code }, []);
  }

  /** Waits until every replica's current worker is ready (e.g. after a replacement). */
  async whenReady(): Promise<void> {
    await Promise.all(this.pool.map((r) => r.ready));
  }

  /** Finishes queued runs, then stops every worker. Further runs reject with `E_SESSION_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // On a GPU device, releases queue behind runs like everything else that touches the device (see openSession).
    const key = this.exclusiveKey;
    await Promise.all(this.pool.map((r) => (key ? runExclusive(key, () => r.close()) : r.close())));
  }
}

/**
 * Why no session could be created, for the message: when every provider failed for the same reason the model itself
 * was refused (an opset ORT does not support, an unknown op), so that reason is given once instead of as a list of
 * provider failures.
 */
function initFailure(
  message: string,
  attempts: readonly { provider: ProviderName; reason: string }[],
): string {
  const first = attempts[0];
  if (first === undefined || attempts.some((a) => a.reason !== first.reason)) return message;
  const where =
    attempts.length > 1
      ? ` (the same on every provider tried: ${attempts.map((a) => a.provider).join(", ")})`
      : "";
  return `${first.reason}${where}`;
}

function abortError(label: string, signal: AbortSignal): TesseraError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new TesseraError("E_ABORTED", `${label}: run aborted (${reason})`, { model: label });
}

function cannotFeedError(label: string, u: UnsupportedValue): TesseraError {
  const what = u.type.startsWith("non-tensor") ? `a ${u.type} value` : `a ${u.type} tensor`;
  return new TesseraError(
    "E_DTYPE_UNSUPPORTED",
    `${label}: input ${JSON.stringify(u.name)} is ${what}, which Tessera cannot feed; this model cannot run here (convert the input inside the graph, e.g. take int64 token ids instead of strings)`,
    { model: label, input: u.name, type: u.type },
  );
}

function toDims(shape: readonly (number | string)[] | undefined): Dim[] {
  return (shape ?? []).map((d) => (typeof d === "number" ? (d < 0 ? null : d) : d === "" ? null : d));
}

function toSpecs(meta: WireValueMeta[]): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const m of meta) {
    if (!m.isTensor || !isDType(m.type)) continue;
    out.push({ name: m.name, dtype: m.type as DType, shape: toDims(m.shape) });
  }
  return out;
}

/** The values `toSpecs` leaves out, with why (their ORT type). */
function unsupportedValues(io: "input" | "output", meta: WireValueMeta[]): UnsupportedValue[] {
  return meta
    .filter((m) => !m.isTensor || !isDType(m.type))
    .map((m) => ({
      name: m.name,
      io,
      type: m.isTensor ? String(m.type ?? "unknown") : "non-tensor (sequence or map)",
    }));
}

/** A file a model consists of, as it was when looked at: size (-1 when missing) and mtime. */
export interface ModelFileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Stats the external-data files `locations` (relative to the folder of `modelPath`, as the model names them).
 * A missing file gets size -1 (ORT then reports it when the session is created).
 */
export async function externalDataFiles(
  modelPath: string,
  locations: readonly string[],
): Promise<ModelFileStamp[]> {
  const dir = dirname(resolve(modelPath));
  return Promise.all(
    locations.map(async (loc) => {
      const path = resolve(dir, loc);
      try {
        const s = await stat(path);
        return { path, size: s.size, mtimeMs: s.mtimeMs };
      } catch {
        return { path, size: -1, mtimeMs: 0 };
      }
    }),
  );
}

/**
 * Cache key of an optimized model: the model's sha256, its external-data files (size and mtime: a re-export may
 * change only the weights file), the ORT version, the optimization level, the providers, and the CPU (level "all"
 * bakes CPU-specific layouts such as NCHWc block sizes into the file).
 */
function optimizedCacheKey(
  sha256: string,
  external: readonly ModelFileStamp[],
  options: SessionOptions,
  graphOptimization: string,
): string {
  const h = createHash("sha256");
  h.update(
    JSON.stringify({
      sha256,
      external: external.map((f) => [basename(f.path), f.size, f.mtimeMs]),
      ort: ORT_VERSION,
      graphOptimization,
      providers: normalizeProviders(options.providers),
      cpu: `${process.arch} ${cpus()[0]?.model ?? "unknown"}`,
    }),
  );
  return h.digest("hex");
}

let tmpCounter = 0;

/** Bytes hashed between yields to the event loop (~5 ms of sha256). */
const HASH_SLICE = 8 << 20;

/**
 * Hex sha256 of `bytes`, yielding to the event loop between 8 MiB slices: hashing a model of hundreds of MB in one
 * call would block a serving process for hundreds of ms (~0.6 ms per MB).
 */
async function sha256Yielding(bytes: Uint8Array): Promise<string> {
  const h = createHash("sha256");
  for (let off = 0; off < bytes.byteLength; off += HASH_SLICE) {
    h.update(bytes.subarray(off, off + HASH_SLICE));
    if (off + HASH_SLICE < bytes.byteLength) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return h.digest("hex");
}

const GRAPH_OPTIMIZATION_LEVELS: readonly string[] = ["disabled", "basic", "extended", "all"];

/**
 * Opens a model (a file path or the .onnx bytes) in worker-thread replicas.
 *
 * Defaults: replicas = min(2, cores) (1 when the active provider is a GPU), intraOpThreads = floor(cores / replicas), graphOptimization
 * "all", providers ["cpu"]. Throws `E_MODEL_FILE` (unreadable file), `E_MODEL_INVALID` (not an ONNX
 * ModelProto), `E_SESSION_CREATE` (ORT refused the model on every provider).
 */
export async function openSession(
  model: string | Uint8Array,
  options: SessionOptions = {},
): Promise<OrtSession> {
  const label = options.label ?? (typeof model === "string" ? model : "model");
  let bytes: Uint8Array;
  if (typeof model === "string") {
    try {
      bytes = await readFile(model);
    } catch (err) {
      throw new TesseraError(
        "E_MODEL_FILE",
        `${label}: cannot read model file ${model}: ${(err as Error).message}`,
        {
          model: label,
          path: model,
        },
      );
    }
  } else {
    bytes = model;
  }
  const header = readModelHeader(bytes, label);
  const sha256 = await sha256Yielding(bytes);
  const externalData =
    typeof model === "string" && header.externalData.length > 0
      ? await externalDataFiles(model, header.externalData)
      : [];
  const { replicas, intraOpThreads } = defaultParallelism(options);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `${label}: replicas must be an integer in 1..64, got ${replicas}`,
      { replicas },
    );
  }
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `${label}: intraOpThreads must be a positive integer, got ${intraOpThreads}`,
      {
        intraOpThreads,
      },
    );
  }
  const interOp = options.interOpThreads;
  if (interOp !== undefined && !(Number.isInteger(interOp) && interOp >= 1)) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `${label}: interOpThreads must be a positive integer, got ${interOp}`,
      { interOpThreads: interOp },
    );
  }
  const graphOptimization = options.graphOptimization ?? "all";
  if (!GRAPH_OPTIMIZATION_LEVELS.includes(graphOptimization)) {
    throw new TesseraError(
      "E_OPTIONS_INVALID",
      `${label}: graphOptimization must be one of ${GRAPH_OPTIMIZATION_LEVELS.join(", ")}, got ${JSON.stringify(graphOptimization)}`,
      { graphOptimization },
    );
  }
  const providers = normalizeProviders(options.providers);
  const source: WorkerInit["model"] = typeof model === "string" ? { path: model } : { bytes };
  const base: WorkerInit = {
    model: source,
    providers,
    intraOpThreads,
    ...(options.interOpThreads !== undefined ? { interOpThreads: options.interOpThreads } : {}),
    intraOpSpinning: options.intraOpSpinning !== false,
    graphOptimization,
    label,
  };

  // Optimized-model cache: reuse the file when present; otherwise the first replica writes it.
  let cache: { path: string; hit: boolean } | undefined;
  let firstInit = base;
  let restInit = base;
  if (options.optimizedModelCacheDir) {
    try {
      await mkdir(options.optimizedModelCacheDir, { recursive: true });
    } catch (err) {
      throw new TesseraError(
        "E_OPTIONS_INVALID",
        `${label}: optimizedModelCacheDir ${options.optimizedModelCacheDir} cannot be created: ${(err as Error).message}`,
        { optimizedModelCacheDir: options.optimizedModelCacheDir },
      );
    }
    const key = optimizedCacheKey(sha256, externalData, options, graphOptimization);
    const path = join(options.optimizedModelCacheDir, `${sha256.slice(0, 16)}-${key.slice(0, 16)}.onnx`);
    const fromCache: WorkerInit = { ...base, model: { path }, graphOptimization: "disabled" };
    if (existsSync(path)) {
      cache = { path, hit: true };
      firstInit = fromCache;
      restInit = fromCache;
    } else {
      cache = { path, hit: false };
      const unique = `${process.pid}-${Date.now()}-${tmpCounter++}`;
      const tmp = `${path}.tmp-${unique}`;
      // Weights stored as external data go to a data file of the cache entry's own (kept under its unique name:
      // the optimized model refers to it by name), so the cached model does not depend on the source folder.
      firstInit =
        externalData.length > 0
          ? {
              ...base,
              optimizedModelFilePath: tmp,
              optimizedModelDataFile: `${basename(path, ".onnx")}-${unique}.data`,
            }
          : { ...base, optimizedModelFilePath: tmp };
      restInit = fromCache;
    }
  }

  const pool: Replica[] = [];
  const onReplaced = () => {};
  // GPU providers: creating a session goes through the same per-device queue as runs (providers.runExclusive),
  // so that no replica of any session creates or releases a session on the device while another one uses it (Dawn
  // is not safe for that across threads: concurrent releases on Linux/Vulkan once corrupted the heap). The key is
  // the first GPU provider asked for, as the active one is only known once the first replica has started.
  const gpuSpec = providers.find((p) => isExclusiveDevice(p));
  const initKey = gpuSpec ? deviceKey(gpuSpec) : "cpu";
  const startReplica = (index: number, init: WorkerInit): Promise<Replica> =>
    runExclusive(initKey, async () => {
      const r = new Replica(index, init, label, onReplaced);
      pool.push(r);
      await r.ready.catch(() => {}); // the caller reads the outcome from r.ready
      return r;
    });
  try {
    const first = await startReplica(0, firstInit);
    let info: ReadyInfo;
    try {
      info = await first.ready;
    } catch (err) {
      if (!cache?.hit) throw err;
      // A stale or corrupt cache file: drop it and start from the original model.
      await rm(cache.path, { force: true });
      await runExclusive(initKey, () => first.close());
      pool.length = 0;
      cache = { path: cache.path, hit: false };
      restInit = base;
      const retry = await startReplica(0, base);
      info = await retry.ready;
    }
    if (cache && !cache.hit) {
      const tmp = firstInit.optimizedModelFilePath;
      // The key names the providers asked for; a file optimized by a fallback provider (cuda failed, cpu made it)
      // must not be kept under it, or the next start, with the GPU working, would load a CPU-optimized graph.
      const byFirstChoice = info.activeProvider === providers[0]?.name;
      if (tmp && existsSync(tmp) && byFirstChoice) {
        await rename(tmp, cache.path);
      } else {
        if (tmp) await rm(tmp, { force: true });
        if (firstInit.optimizedModelDataFile) {
          await rm(join(dirname(tmp ?? cache.path), firstInit.optimizedModelDataFile), { force: true });
        }
        restInit = base;
      }
    }
    // The other replicas (and replacements of dead workers) start on the provider the first one ended on: retrying
    // the providers that already failed costs a failed session creation each, and one that fails only now and then
    // (a busy GPU) would leave replicas on different providers behind one `activeProvider`.
    const activeSpec = providers.find((p) => p.name === info.activeProvider) ?? { name: info.activeProvider };
    restInit = { ...restInit, providers: [activeSpec] };
    pool[0]!.setInit(restInit);
    // On a GPU provider runs are serialized per device (providers.runExclusive), so by default extra
    // replicas would only hold more copies of the weights on the device.
    const replicaCount = options.replicas === undefined && info.activeProvider !== "cpu" ? 1 : replicas;
    const rest: Promise<Replica>[] = [];
    for (let i = 1; i < replicaCount; i++) rest.push(startReplica(i, restInit));
    // Settle every start first: on a GPU they are queued, and the catch below can only close replicas in `pool`.
    for (const s of await Promise.allSettled(rest)) if (s.status === "rejected") throw s.reason;
    await Promise.all(pool.map((r) => r.ready));
    let description: ModelDescription = {
      inputs: toSpecs(info.inputs),
      outputs: toSpecs(info.outputs),
      opsets: header.opsets,
      producer: header.producerVersion
        ? `${header.producer} ${header.producerVersion}`.trim()
        : header.producer,
      metadata: header.metadata,
      byteSize: bytes.byteLength,
      sha256,
    };
    const unsupported = [
      ...unsupportedValues("input", info.inputs),
      ...unsupportedValues("output", info.outputs),
    ];
    if (unsupported.length > 0) description = { ...description, unsupported };
    for (const r of pool) r.updateRef();
    return new OrtSession({
      description,
      activeProvider: info.activeProvider,
      activeSpec,
      providerFallbacks: info.fallbacks,
      intraOpThreads,
      optimizedModelCache: cache,
      externalData,
      label,
      pool,
    });
  } catch (err) {
    await Promise.allSettled(pool.map((r) => runExclusive(initKey, () => r.close())));
    throw err;
  }
}
