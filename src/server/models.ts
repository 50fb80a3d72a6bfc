/**
 * ModelHost: the server's view of the registry. It owns one ModelBatcher per loaded model version
 * (settings from the model's config.json `batching`, server defaults otherwise), feeds metrics, and
 * knows which versions the operator unloaded on purpose.
 */
import type { Logger } from "pino";
import { type InferOptions, type InferResult, ModelBatcher, unbatchableReason } from "../batching/index.ts";
import {
  type BatchingConfig,
  batchingFor,
  type LoadedModel,
  type ModelVersionStatus,
  type TensorMap,
} from "../runtime/index.ts";
import { TesseraError } from "../tensor/index.ts";
import type { ServerMetrics } from "./metrics.ts";
import { emptyModelStat, type ModelStat, VersionStats } from "./stats.ts";

/** What the server needs from a model registry (src/runtime ModelRegistry implements it). */
export interface RegistryPort {
  index(): Promise<readonly ModelVersionStatus[]> | readonly ModelVersionStatus[];
  get(name: string, version?: string): Promise<LoadedModel>;
  /** The loaded model without loading it; throws E_MODEL_NOT_READY / E_MODEL_NOT_FOUND. */
  tryGet(name: string, version?: string): LoadedModel;
  load(name: string, version?: string): Promise<unknown>;
  unload(name: string, version?: string): Promise<unknown>;
  status(name: string): Promise<readonly ModelVersionStatus[]> | readonly ModelVersionStatus[];
  loadAll(): Promise<unknown>;
  isReady(): boolean;
  close(): Promise<void>;
}

/** Something that runs inference for one model version: a ModelBatcher, or a plain pass-through. */
interface Runner {
  readonly model: LoadedModel;
  infer(inputs: TensorMap, options: InferOptions): Promise<InferResult>;
  readonly queueDepth: number;
  /** Triton-style statistics of this model version (see stats.ts). */
  readonly stats: VersionStats;
  close(options: { drain: boolean }): Promise<void>;
}

/** For models with a fixed batch dim (they cannot be batched): bounded concurrency, no merging. */
class DirectRunner implements Runner {
  private active = 0;
  readonly stats = new VersionStats(false);
  constructor(
    readonly model: LoadedModel,
    private readonly maxQueue: number,
    private readonly onRun: (inferMs: number) => void,
  ) {}
  get queueDepth(): number {
    return this.active;
  }
  async infer(inputs: TensorMap, options: InferOptions): Promise<InferResult> {
    if (this.active >= this.maxQueue) {
      throw new TesseraError(
        "E_QUEUE_FULL",
        `model ${this.model.name}: ${this.active} requests running, limit ${this.maxQueue}`,
        {
          retryAfterMs: 1000,
        },
      );
    }
    // Every replica already runs one of ours: this run waits in a worker's queue, and the time not spent computing is
    // queue time; otherwise it is the hand-over to the worker and back, counted with the run (as ModelBatcher does).
    const behind = this.active >= this.model.session.replicas;
    this.active++;
    const t0 = performance.now();
    try {
      const r = await this.model.session.run(inputs, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.outputs ? { outputs: options.outputs } : {}),
      });
      const wallMs = performance.now() - t0;
      const queueMs = behind ? Math.max(0, wallMs - r.inferMs) : 0;
      this.onRun(wallMs - queueMs);
      this.stats.executed(1, wallMs - queueMs);
      return {
        outputs: r.outputs,
        queueMs,
        inferMs: wallMs - queueMs,
        batchSize: leadingDim(inputs),
      };
    } finally {
      this.active--;
    }
  }
  async close(): Promise<void> {}
}

class BatchedRunner implements Runner {
  constructor(
    readonly model: LoadedModel,
    private readonly batcher: ModelBatcher,
    readonly stats: VersionStats,
  ) {}
  get queueDepth(): number {
    return this.batcher.queueDepth;
  }
  infer(inputs: TensorMap, options: InferOptions): Promise<InferResult> {
    return this.batcher.infer(inputs, options);
  }
  close(options: { drain: boolean }): Promise<void> {
    return this.batcher.close(options);
  }
}

export interface ModelHostOptions {
  readonly registry: RegistryPort;
  readonly metrics: ServerMetrics;
  readonly batching: BatchingConfig;
  readonly logger: Logger;
  /** Models must be loaded explicitly (start-up loadAll or the repository API); infer never loads lazily. */
  readonly explicitLoad: boolean;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION_RE = /^[0-9]{1,9}$/;

function validName(name: string): boolean {
  return NAME_RE.test(name) && !name.includes("..");
}

function validVersion(version: string | undefined): boolean {
  return version === undefined || VERSION_RE.test(version);
}

/** Rejects names that could escape the repository (`..`, `/`, `\`, NUL) with `E_MODEL_NAME_INVALID`. */
export function checkModelName(name: string, version?: string): void {
  if (!validName(name)) {
    throw new TesseraError(
      "E_MODEL_NAME_INVALID",
      `model name ${JSON.stringify(name.slice(0, 140))} is invalid; expected letters, digits, ".", "_" or "-" (1-128 chars, not starting with a symbol, no "..")`,
      { name: name.slice(0, 140) },
    );
  }
  if (!validVersion(version)) {
    throw new TesseraError(
      "E_MODEL_NAME_INVALID",
      `model version ${JSON.stringify(version!.slice(0, 20))} is invalid; expected a number`,
      {
        version: version!.slice(0, 20),
      },
    );
  }
}

export class ModelHost {
  readonly registry: RegistryPort;
  private readonly runners = new Map<string, Runner>();
  /** The runners `close()` is draining (for `endDrain`). */
  private closingRunners: readonly Runner[] = [];
  private readonly endDrainHooks: (() => void)[] = [];
  private readonly opts: ModelHostOptions;
  /**
   * Models an `unload` is taking down: their queued work finishes, new requests are refused (503) instead of
   * starting a fresh batcher on a session about to close (Triton: in-flight requests finish, new ones fail).
   */
  private readonly unloading = new Map<string, Promise<void>>();
  /** Set once start-up loading finished (ready stays false before). */
  startupDone = false;
  startupError: unknown = undefined;

  constructor(opts: ModelHostOptions) {
    this.opts = opts;
    this.registry = opts.registry;
  }

  /** Loads every model of the repository; failures are logged (the models show as UNAVAILABLE). */
  async loadAll(): Promise<void> {
    try {
      await this.registry.loadAll();
      for (const s of await this.registry.index()) {
        if (s.state === "ready") {
          try {
            this.noteLoaded(this.registry.tryGet(s.name, s.version)); // get() would load it again after an unload
          } catch {
            // raced with an unload; the state will say so
          }
        } else if (s.state === "failed") {
          this.opts.logger.warn(
            { model: s.name, version: s.version, reason: s.reason },
            "model failed to load",
          );
        }
      }
    } catch (err) {
      // Never rejects: a repository that cannot be read (or a server closed while loading) leaves ready false.
      this.startupError = err;
      if (!(err instanceof TesseraError && err.code === "E_REGISTRY_CLOSED")) {
        this.opts.logger.error({ err }, "loading the model repository failed");
      }
    } finally {
      this.startupDone = true;
    }
  }

  /**
   * Server readiness: start-up loading done and every model the registry should have is ready, with no unload in
   * progress (its drain comes before the registry's, which would say ready meanwhile).
   */
  isReady(): boolean {
    // Lazy mode (no start-up loading): ready once the repository was indexed; models load on first use.
    return (
      this.startupDone && (!this.opts.explicitLoad || (this.unloading.size === 0 && this.registry.isReady()))
    );
  }

  /** Lazy mode start-up: index the repository (so unknown names 404 fast) without loading anything. */
  async indexOnly(): Promise<void> {
    try {
      await this.registry.index();
    } catch (err) {
      this.startupError = err;
      this.opts.logger.error({ err }, "indexing the model repository failed");
    } finally {
      this.startupDone = true;
    }
  }

  /** Sessions whose outputs turned out not to be batch-major (E_BATCH_OUTPUT_SHAPE): they run unbatched. */
  private readonly notBatchMajor = new WeakSet<object>();

  /** Sessions already recorded (metrics, fallback warning), so lazy loads are noted once too. */
  private readonly noted = new WeakSet<object>();

  private noteLoaded(m: LoadedModel): void {
    this.noted.add(m.session);
    this.opts.metrics.modelLoaded(m.name, m.version, m.loadMs, m.session.activeProvider);
    if (m.session.providerFallbacks.length > 0) {
      this.opts.logger.warn(
        {
          model: m.name,
          version: m.version,
          provider: m.session.activeProvider,
          fallbacks: m.session.providerFallbacks,
        },
        `model runs on ${m.session.activeProvider} after provider fallbacks: ${m.session.providerFallbacks
          .map((f) => `${f.provider}: ${f.reason}`)
          .join("; ")}`,
      );
    }
  }

  /**
   * The hot path of `model`: the loaded, already recorded model for (name, version) when it is ready now,
   * without a promise; `undefined` in every other case (call `model`, which loads, rescans or throws).
   */
  modelNow(name: string, version?: string): LoadedModel | undefined {
    if (!this.opts.explicitLoad || this.unloading.has(name)) return undefined;
    if (!validName(name) || !validVersion(version)) return undefined; // checkModelName's rules
    try {
      const m = this.registry.tryGet(name, version);
      return this.noted.has(m.session) ? m : undefined;
    } catch {
      return undefined;
    }
  }

  /** The loaded model for (name, version), without loading it. Throws 404/503-class errors. */
  async model(name: string, version?: string): Promise<LoadedModel> {
    checkModelName(name, version);
    if (this.unloading.has(name)) throw unloadingError(name, version);
    try {
      if (this.opts.explicitLoad) {
        try {
          const m = this.registry.tryGet(name, version);
          if (!this.noted.has(m.session)) this.noteLoaded(m);
          return m;
        } catch (err) {
          // Not in the last scan (added to disk after start-up): get() rescans that one folder, then loads it or 404s.
          if (!(err instanceof TesseraError && err.code === "E_MODEL_NOT_FOUND")) throw err;
        }
      }
      const m = await this.registry.get(name, version);
      if (!this.noted.has(m.session)) this.noteLoaded(m);
      return m;
    } catch (err) {
      // Without a version, the highest version that is ready serves (as in Triton) when the newest is not.
      const ready = version === undefined ? await this.highestReady(name, err) : undefined;
      if (ready !== undefined) return this.model(name, ready);
      throw withoutRepositoryPath(err);
    }
  }

  /** The highest ready version of `name` when `err` says its default version cannot serve, else undefined. */
  private async highestReady(name: string, err: unknown): Promise<string | undefined> {
    if (!(err instanceof TesseraError)) return undefined;
    if (err.code !== "E_MODEL_NOT_READY" && err.code !== "E_MODEL_LOAD_FAILED") return undefined;
    try {
      let best: string | undefined;
      for (const s of await this.registry.status(name)) {
        if (s.state === "ready" && (best === undefined || Number(s.version) > Number(best))) best = s.version;
      }
      return best;
    } catch {
      return undefined;
    }
  }

  /**
   * Runs one request through the model's batcher (created on first use); counts it in the version's stats. A
   * request still queued when a reload replaced the version's session (the registry closes the old one) runs on
   * the new load instead of failing: the closed session refused it before running anything.
   */
  async infer(model: LoadedModel, inputs: TensorMap, options: InferOptions): Promise<InferResult> {
    if (this.unloading.size > 0 && this.unloading.has(model.name))
      throw unloadingError(model.name, model.version);
    const r = this.runnerFor(model);
    // The load the request runs on (the current one when `model` is a load a reload replaced).
    const m = r.model;
    const stats = r.stats;
    const t0 = performance.now();
    let res: InferResult;
    try {
      res = await r.infer(inputs, options);
    } catch (err) {
      const reloaded = this.reloadedSince(m, err);
      if (reloaded !== undefined) return this.infer(reloaded, inputs, options);
      if (err instanceof TesseraError && err.code === "E_BATCH_OUTPUT_SHAPE" && r instanceof BatchedRunner) {
        // The symbolic first dim is not a batch (e.g. samples [n] → [1]): from now on this version runs its
        // requests one at a time, and this one again (the batch ran on a copy of its inputs).
        this.notBatchMajor.add(m.session);
        return this.infer(m, inputs, options);
      }
      stats.failed(performance.now() - t0);
      throw err;
    }
    stats.succeeded(leadingDim(inputs), res.queueMs, res.inferMs, performance.now() - t0);
    this.opts.metrics.observeQueue(model.name, res.queueMs);
    return res;
  }

  /** Whether `model` is its version's current load in the registry. */
  private isCurrent(model: LoadedModel): boolean {
    try {
      return this.registry.tryGet(model.name, model.version).session === model.session;
    } catch {
      return false;
    }
  }

  /**
   * The version's current load when `err` came from its old session or batcher being closed by a reload (so the
   * request may run again on it); undefined otherwise, e.g. for a refusal at shutdown, where the load is the same.
   */
  reloadedSince(model: LoadedModel, err: unknown): LoadedModel | undefined {
    if (
      !(err instanceof TesseraError) ||
      (err.code !== "E_SESSION_CLOSED" && err.code !== "E_BATCHER_CLOSED")
    )
      return undefined;
    try {
      const now = this.registry.tryGet(model.name, model.version);
      return now.session !== model.session ? now : undefined;
    } catch {
      return undefined; // unloaded (or failing): the original error stands
    }
  }

  /**
   * Whether the model version's requests go through its dynamic batcher: its config.json does not say
   * `"batching": false`, it has a batch dim on every input (`unbatchableReason`) and its outputs did not turn out
   * to be other than batch-major.
   */
  batches(model: LoadedModel): boolean {
    return (
      model.config.unbatched !== true &&
      unbatchableReason(model.description) === undefined &&
      !this.notBatchMajor.has(model.session)
    );
  }

  /**
   * Triton's `$model_stat` of a loaded model version: its counters since its runner was created (this
   * session's first request), zeros when it has not been asked anything yet.
   */
  statsOf(model: LoadedModel): ModelStat {
    const r = this.runners.get(`${model.name}@${model.version}`);
    return r !== undefined && r.model.session === model.session
      ? r.stats.snapshot(model.name, model.version)
      : emptyModelStat(model.name, model.version);
  }

  /**
   * The batcher settings a model version runs with: the server defaults, the model's config.json `batching`,
   * and `batching.providers[<active provider>]` on top (e.g. bigger batches on a GPU).
   */
  batchingOf(model: LoadedModel): BatchingConfig {
    return { ...this.opts.batching, ...batchingFor(model.config, model.session.activeProvider) };
  }

  /** Requests waiting for a model version's batcher (0 when none exists). */
  queueDepth(name: string, version: string): number {
    return this.runners.get(`${name}@${version}`)?.queueDepth ?? 0;
  }

  private runnerFor(model: LoadedModel): Runner {
    const key = `${model.name}@${model.version}`;
    const existing = this.runners.get(key);
    if (existing && existing.model.session !== model.session && this.isCurrent(existing.model)) {
      // A request resolved before a reload finished carries the old session (which the registry closed): it runs
      // on the current load's runner, instead of swapping in a runner for the closed session (its stats reset,
      // its run refused, and the retry swapping back).
      return existing;
    }
    const unbatched = this.notBatchMajor.has(model.session);
    if (
      existing &&
      existing.model.session === model.session &&
      (!unbatched || existing instanceof DirectRunner)
    )
      return existing;
    if (existing) void existing.close({ drain: true });
    const b = this.batchingOf(model);
    const metrics = this.opts.metrics;
    const direct = (reason: string): Runner => {
      this.opts.logger.info({ model: key, reason }, "model cannot take batches: requests run unbatched");
      return new DirectRunner(model, b.maxQueueSize, (ms) =>
        metrics.observeBatch(model.name, { size: 1, inferMs: ms }),
      );
    };
    let runner: Runner;
    if (model.config.unbatched === true) runner = direct('its config.json says "batching": false');
    else if (unbatched) runner = direct("its outputs are not batch-major (axis 0 is not the batch)");
    else {
      try {
        const stats = new VersionStats(true);
        const batcher = new ModelBatcher(model.session, {
          maxBatchSize: b.maxBatchSize,
          maxQueueDelayMs: b.maxQueueDelayMs,
          maxQueueSize: b.maxQueueSize,
          // Per session run, not per formed batch: a batch whose run onnxruntime failed is run again request by
          // request (ModelBatcher), and only the runs that succeeded count as executions, with their own rows.
          onRun: (run) => {
            if (run.error === undefined) {
              metrics.observeBatch(model.name, { size: run.rows, inferMs: run.inferMs });
              stats.executed(run.rows, run.inferMs);
            }
          },
        });
        runner = new BatchedRunner(model, batcher, stats);
      } catch (err) {
        // a scalar input or a fixed batch dim
        if (!(err instanceof TesseraError) || err.code !== "E_BATCHER_CONFIG") throw err;
        runner = direct(err.message);
      }
    }
    this.runners.set(key, runner);
    metrics.trackQueue(model.name, () => {
      let n = 0;
      for (const [k, r] of this.runners) if (k.startsWith(`${model.name}@`)) n += r.queueDepth;
      return n;
    });
    return runner;
  }

  /** (Re)loads a model through the registry and records it; after an unload of it that is running, if any. */
  async load(name: string): Promise<void> {
    checkModelName(name);
    // Else the unload, still draining, would go on to unload what this load loaded.
    await this.unloading.get(name)?.catch(() => {});
    let failure: unknown;
    try {
      await this.registry.load(name);
    } catch (err) {
      failure = withoutRepositoryPath(err);
    }
    try {
      // Versions the (re)load left unserved (a new version policy, a deleted folder) lose their series and batchers;
      // one that is loading again (a concurrent reload: the old load serves meanwhile) keeps them. tryGet, not get:
      // an unload that started meanwhile must not be undone by loading the version again.
      for (const s of await this.registry.status(name)) {
        if (s.state === "ready") this.noteLoaded(this.registry.tryGet(s.name, s.version));
        else if (s.state !== "loading") this.forget(s.name, s.version);
      }
    } catch (err) {
      // A version that changed state meanwhile: the next load, unload or request records it.
      this.opts.logger.debug({ err, model: name }, "recording the model's versions after a load failed");
    }
    if (failure !== undefined) throw failure;
  }

  /** Drops a version that is no longer loaded: its metric series, and its batcher once queued work finished. */
  private forget(name: string, version: string): void {
    const key = `${name}@${version}`;
    const r = this.runners.get(key);
    if (r !== undefined) {
      this.runners.delete(key);
      void r.close({ drain: true }).catch(() => {});
    }
    this.opts.metrics.modelUnloaded(name, version);
  }

  /** Finishes queued work of the model's batchers, then unloads it in the registry. */
  async unload(name: string): Promise<void> {
    checkModelName(name);
    // A second unload of the same model while the first runs waits for that one.
    const running = this.unloading.get(name);
    if (running !== undefined) return running;
    const p = this.unloadNow(name).finally(() => this.unloading.delete(name));
    this.unloading.set(name, p);
    return p;
  }

  private async unloadNow(name: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, r] of this.runners) {
      if (key.startsWith(`${name}@`)) {
        this.runners.delete(key);
        closing.push(r.close({ drain: true }));
        this.opts.metrics.modelUnloaded(r.model.name, r.model.version);
      }
    }
    this.opts.metrics.trackQueue(name, null);
    await Promise.all(closing);
    await this.registry.unload(name);
    // Versions that were loaded but never asked anything have no batcher: their series go here.
    for (const s of await this.registry.status(name)) this.opts.metrics.modelUnloaded(s.name, s.version);
  }

  /** Drains every batcher (queued work finishes), then closes the registry and its sessions. */
  async close(): Promise<void> {
    const runners = [...this.runners.values()];
    this.closingRunners = runners;
    this.runners.clear();
    await Promise.all(runners.map((r) => r.close({ drain: true }).catch(() => {})));
    await this.registry.close();
  }

  /**
   * Ends a shutdown drain early (its deadline passed): every batcher of this host stops, and so do the text routes'
   * (through `onEndDrain`); requests still queued reject (503), so only the runs already computing are waited for
   * (a run inside onnxruntime cannot be interrupted). Called before or during `close()`: the HTTP server may still
   * be waiting for those requests when the deadline passes.
   */
  endDrain(): void {
    for (const r of [...this.closingRunners, ...this.runners.values()])
      void r.close({ drain: false }).catch(() => {});
    for (const hook of this.endDrainHooks) hook();
  }

  /** Route plugins with batchers of their own (the text routes' embedders and rerankers) stop them in `endDrain`. */
  onEndDrain(hook: () => void): void {
    this.endDrainHooks.push(hook);
  }
}

/** A request for a model an unload is taking down (503, as for any model that is not ready). */
function unloadingError(name: string, version: string | undefined): TesseraError {
  return new TesseraError(
    "E_MODEL_NOT_READY",
    `model ${name}${version !== undefined ? `@${version}` : ""} is unloading`,
    { model: name, ...(version !== undefined ? { version } : {}), state: "unloading" },
  );
}

/** The registry names its folder in not-found messages; clients do not need the server's paths. */
function withoutRepositoryPath(err: unknown): unknown {
  if (err instanceof TesseraError && err.code === "E_MODEL_NOT_FOUND") {
    return new TesseraError(err.code, err.message.replace(/ (not found) in \S+?(;|$)/, " $1$2"), err.facts);
  }
  return err;
}

/** Rows of a request: the first input's leading dim (1 for a scalar input or no inputs). Allocates nothing. */
function leadingDim(inputs: TensorMap): number {
  for (const name in inputs) return inputs[name]!.shape[0] ?? 1;
  return 1;
}
