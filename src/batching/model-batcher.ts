/**
 * ModelBatcher: a DynamicBatcher over one InferenceSession. Concurrent requests (each a TensorMap with a
 * leading batch dim of n ≥ 1 rows) are concatenated along axis 0, run once, and split back per request.
 */
import {
  type InferenceSession,
  type ModelDescription,
  type RunOptions,
  type RunResult,
  type TensorMap,
  validateInputs,
} from "../runtime/index.ts";
import { type DType, Tensor, TesseraError } from "../tensor/index.ts";
import { type Batched, type BatchStats, DynamicBatcher, type Priority } from "./dynamic-batcher.ts";
import { checkBatchMajor } from "./predict-batch.ts";
import { allocate, shapeKey, writeInto } from "./stacking.ts";

export interface ModelBatcherOptions {
  /** Most ROWS per session.run (a request of n rows uses n). */
  readonly maxBatchSize: number;
  /** How long the oldest queued request may wait for others (ms). */
  readonly maxQueueDelayMs: number;
  /** Most requests waiting; beyond it `infer` rejects with QueueFullError (E_QUEUE_FULL). */
  readonly maxQueueSize: number;
  /**
   * Batches in flight at once. Default `2 × session.replicas`: one running and one waiting in each replica's
   * worker, so a replica never idles while the main thread splits results and cuts the next batch.
   */
  readonly concurrency?: number;
  /**
   * Run at once when no batch is in flight instead of waiting `maxQueueDelayMs` (see DynamicBatcher's
   * `eager`). Default true: a lone client pays no queue delay; under load batches still fill while one runs.
   */
  readonly eager?: boolean;
  /** Metrics hook (size = requests, cost = rows): once per batch the dynamic batcher formed. */
  readonly onBatch?: (stats: BatchStats) => void;
  /**
   * Called after each session run, failed or not: what really executed. A formed batch makes one run per request
   * shape, and when onnxruntime fails on a batch of several requests (`E_ORT_RUN`) each of them runs again alone,
   * so a batch can make several runs, some of which fail. Exceptions thrown here are ignored.
   */
  readonly onRun?: (run: RunStats) => void;
}

/** One session run of a ModelBatcher (see `ModelBatcherOptions.onRun`). */
export interface RunStats {
  /** Rows the run had (all its requests together). */
  readonly rows: number;
  /**
   * ms from the start of the run (copying the requests into the batch buffer) until its outputs were split, less the
   * time it waited in the session worker's queue behind another run.
   */
  readonly inferMs: number;
  /** ms the run waited in the session worker's queue for an earlier run to finish (see `InferResult.queueMs`). */
  readonly waitMs: number;
  /** Set when the run failed. */
  readonly error?: unknown;
}

export interface InferOptions {
  readonly signal?: AbortSignal;
  /** Epoch ms. */
  readonly deadline?: number;
  readonly priority?: Priority;
  /** Output names this request wants; default all. */
  readonly outputs?: readonly string[];
}

export interface InferResult {
  /** Per output: a VIEW (this request's rows of axis 0, as `narrow(0, offset, rows)`) of the batch's output tensor; no copy. */
  readonly outputs: TensorMap;
  /**
   * ms from `infer` until its run started computing: the wait for a batch to be dispatched, plus the wait in the
   * session worker's queue behind an earlier batch (batches are dispatched ahead, up to `concurrency` at a time).
   * When it did wait there, the hand-over of the batch to the worker and back counts here too (not timed apart).
   */
  readonly queueMs: number;
  /** ms of its batch's run: copying the requests into the batch buffer, onnxruntime's run, splitting the outputs. */
  readonly inferMs: number;
  /** Rows in the session.run this request rode in (all requests of the batch together). */
  readonly batchSize: number;
}

interface Request {
  readonly inputs: TensorMap;
  readonly rows: number;
  readonly outputs: readonly string[] | undefined;
  /** Non-batch dims key (a template id, or a shape string once the template cache is full). */
  readonly key: number | string;
  /** Has a signal or a deadline, i.e. may go away while its batch runs. */
  readonly cancellable: boolean;
}

/** A request shape that passed validation: input names, dtypes and dims after axis 0. */
interface Template {
  readonly id: number;
  readonly names: readonly string[];
  readonly dtypes: readonly DType[];
  readonly trailing: readonly (readonly number[])[];
}

/** Shared default for `infer` without options (saves an allocation per request). */
const NO_OPTIONS: InferOptions = Object.freeze({});

/** Distinct request shapes remembered for the validation fast path. */
const MAX_TEMPLATES = 64;

interface Reply {
  readonly outputs: TensorMap;
  readonly rows: number;
  /** ms its run waited in the session worker's queue (see `InferResult.queueMs`). */
  readonly waitMs: number;
  /** Set when this request failed while others of its batch succeeded (see `runGroup`). */
  readonly error?: unknown;
}

/** Run options the ORT session understands beyond the contract (zero-copy transfer of our own buffers). */
type TransferRunOptions = RunOptions & { readonly transferInputs?: boolean };

/**
 * Why requests to a model cannot be concatenated along axis 0, or undefined when they can: every input must have
 * a leading dim that is symbolic or unknown (a scalar input or a fixed first dim cannot take batches). The one
 * rule ModelBatcher enforces and servers report (e.g. Triton's `max_batch_size` 0 for such models).
 */
export function unbatchableReason(
  description: ModelDescription,
): { readonly input: string; readonly dim0: number | null; readonly message: string } | undefined {
  if (description.inputs.length === 0) return { input: "", dim0: null, message: "the model has no inputs" };
  for (const spec of description.inputs) {
    const d0 = spec.shape[0];
    if (spec.shape.length === 0) {
      return { input: spec.name, dim0: null, message: `input ${JSON.stringify(spec.name)} is a scalar` };
    }
    if (typeof d0 === "number") {
      return {
        input: spec.name,
        dim0: d0,
        message: `input ${JSON.stringify(spec.name)} has a fixed batch dim ${d0}`,
      };
    }
  }
  return undefined;
}

export class ModelBatcher {
  readonly session: InferenceSession;
  private readonly batcher: DynamicBatcher<Request, Reply>;
  private readonly templates: Template[] = [];
  private readonly maxBatchSize: number;
  private readonly onRun: ((run: RunStats) => void) | undefined;
  /** Session runs of this batcher in flight (handed to the session, not answered yet). */
  private runs = 0;

  /** Throws E_BATCHER_CONFIG when the model cannot take batches (see `unbatchableReason`). */
  constructor(session: InferenceSession, options: ModelBatcherOptions) {
    this.session = session;
    const why = unbatchableReason(session.description);
    if (why) {
      throw new TesseraError(
        "E_BATCHER_CONFIG",
        `ModelBatcher: ${why.message}; the model cannot take batches (export it with a symbolic batch dim)`,
        { field: "model", input: why.input, dim0: why.dim0 },
      );
    }
    this.maxBatchSize = options.maxBatchSize;
    this.onRun = options.onRun;
    this.batcher = new DynamicBatcher<Request, Reply>({
      run: (reqs, info) => this.runBatch(reqs, info),
      maxBatchSize: options.maxBatchSize,
      maxQueueDelayMs: options.maxQueueDelayMs,
      maxQueueSize: options.maxQueueSize,
      cost: (r) => r.rows,
      maxBatchCost: options.maxBatchSize,
      concurrency: options.concurrency ?? 2 * session.replicas,
      eager: options.eager ?? true,
      ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    });
  }

  get queueDepth(): number {
    return this.batcher.queueDepth;
  }

  get inFlight(): number {
    return this.batcher.inFlight;
  }

  /**
   * Queues one request: `inputs` are the model's inputs with a leading batch dim of n ≥ 1 rows. The request is
   * validated first (`E_INPUT_INVALID`, every issue listed) so a bad request never fails a batch. Rows over
   * `maxBatchSize` reject with `E_BATCH_COST_EXCEEDED`. The input tensors are only read (copied into the batch
   * buffer when the batch starts); do not mutate them until the promise settles. When ORT fails on the values of
   * a batch (`E_ORT_RUN`), its requests are run one by one so that only the ones causing the failure reject.
   */
  infer(inputs: TensorMap, options: InferOptions = NO_OPTIONS): Promise<InferResult> {
    let req: Request;
    try {
      if (options.outputs) this.checkOutputs(options.outputs);
      const t = this.match(inputs);
      let rows: number;
      let key: number | string;
      if (t !== undefined) {
        rows = inputs[t.names[0]!]!.shape[0]!;
        key = t.id;
      } else {
        rows = this.check(inputs);
        key = this.remember(inputs);
      }
      if (rows > this.maxBatchSize) {
        throw new TesseraError(
          "E_BATCH_COST_EXCEEDED",
          `ModelBatcher: the request has ${rows} rows, more than maxBatchSize ${this.maxBatchSize}; split it into requests of at most ${this.maxBatchSize} rows or raise maxBatchSize`,
          { rows, maxBatchSize: this.maxBatchSize },
        );
      }
      req = {
        inputs,
        rows,
        outputs: options.outputs,
        key,
        cancellable: options.signal !== undefined || options.deadline !== undefined,
      };
    } catch (err) {
      return Promise.reject(err);
    }
    // InferOptions is a superset of SubmitOptions (signal, deadline, priority): pass it through as is.
    return this.batcher.submit(req, options).then(toInferResult);
  }

  /** Stops the batcher (see DynamicBatcher.close). Does not close the session, which the caller owns. */
  close(options: { drain?: boolean } = {}): Promise<void> {
    return this.batcher.close(options);
  }

  /**
   * Fast path: the request has the shape of one already validated (same names, dtypes, dims after axis 0, and
   * one row count ≥ 1 over all inputs). Returns that template, or undefined when none fits. Allocates nothing.
   */
  private match(inputs: TensorMap): Template | undefined {
    let count = 0;
    for (const _ in inputs) count++;
    outer: for (const t of this.templates) {
      if (t.names.length !== count) continue;
      let rows = -1;
      for (let k = 0; k < t.names.length; k++) {
        const x = inputs[t.names[k]!];
        const tr = t.trailing[k]!;
        if (!(x instanceof Tensor) || x.dtype !== t.dtypes[k] || x.ndim !== tr.length + 1) continue outer;
        const sh = x.shape;
        for (let i = 0; i < tr.length; i++) if (sh[i + 1] !== tr[i]) continue outer;
        if (rows === -1) rows = sh[0]!;
        else if (sh[0] !== rows) continue outer;
      }
      if (rows >= 1) return t;
    }
    return undefined;
  }

  /** Remembers a validated request shape; returns its group key. */
  private remember(inputs: TensorMap): number | string {
    if (this.templates.length >= MAX_TEMPLATES) return shapeKey(inputs, true);
    const names = Object.keys(inputs);
    const t: Template = {
      id: this.templates.length,
      names,
      dtypes: names.map((n) => inputs[n]!.dtype),
      trailing: names.map((n) => inputs[n]!.shape.slice(1)),
    };
    this.templates.push(t);
    return t.id;
  }

  private checkOutputs(outputs: readonly string[]): void {
    const known = this.session.description.outputs.map((o) => o.name);
    const unknown = outputs.filter((o) => !known.includes(o));
    if (unknown.length > 0) {
      throw new TesseraError(
        "E_INPUT_INVALID",
        `ModelBatcher: invalid request: ${unknown.map((o) => `outputs.${o}: unknown output; expected some of ${known.join(", ")}`).join("; ")}`,
        { issues: unknown.map((o) => ({ path: `outputs.${o}`, message: "unknown output" })) },
      );
    }
  }

  /** Full validation against the model description (every issue reported); returns the rows. */
  private check(inputs: TensorMap): number {
    const check = validateInputs(this.session.description, inputs);
    const issues = check.ok ? [] : [...check.issues];
    let rows: number | undefined;
    for (const [name, t] of Object.entries(inputs)) {
      if (!check.ok && issues.some((i) => i.path.startsWith(`inputs.${name}`))) continue;
      if (t.ndim === 0) {
        issues.push({ path: `inputs.${name}`, message: "expected a leading batch dim, got a scalar" });
        continue;
      }
      const n = t.shape[0]!;
      if (rows === undefined) rows = n;
      else if (n !== rows) {
        issues.push({
          path: `inputs.${name}.shape[0]`,
          message: `batch dim: expected ${rows} rows like the other inputs, got ${n}`,
        });
      }
    }
    if (rows === 0) issues.push({ path: "inputs", message: "batch dim: expected at least 1 row, got 0" });
    if (issues.length > 0 || rows === undefined) {
      throw new TesseraError(
        "E_INPUT_INVALID",
        `ModelBatcher: invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ") || "no inputs"}`,
        { issues },
      );
    }
    return rows;
  }

  /** Groups requests by non-batch dims, concatenates each group, runs the groups, and splits outputs per request. */
  private runBatch(reqs: Request[], info: { readonly signal: AbortSignal }): Promise<Reply[]> {
    // A running request goes away early only through its own signal or deadline; when none has either, the batch
    // signal can never abort, so it is not read (reading it creates an AbortSignal, and the session would listen).
    let cancellable = false;
    for (let i = 0; i < reqs.length && !cancellable; i++) cancellable = reqs[i]!.cancellable;
    const signal = cancellable ? info.signal : undefined;
    // Common case: every request has the same shape, so the batch is one group in request order.
    const key0 = reqs[0]!.key;
    let same = true;
    for (let i = 1; i < reqs.length; i++) {
      if (reqs[i]!.key !== key0) {
        same = false;
        break;
      }
    }
    if (same) return this.runGroup(reqs, signal);
    const groups = new Map<number | string, number[]>();
    reqs.forEach((r, i) => {
      const g = groups.get(r.key);
      if (g) g.push(i);
      else groups.set(r.key, [i]);
    });
    const replies = new Array<Reply>(reqs.length);
    return Promise.all(
      [...groups.values()].map(async (idx) => {
        const members = idx.map((i) => reqs[i]!);
        // A group that fails does not fail the other groups of the batch: they ran separately.
        const got = await this.runGroup(members, signal).catch((error: unknown) =>
          members.map((m): Reply => ({ outputs: {}, rows: m.rows, waitMs: 0, error })),
        );
        for (let k = 0; k < idx.length; k++) replies[idx[k]!] = got[k]!;
      }),
    ).then(() => {
      // Everything failed the same way (e.g. the session closed): fail the batch as a whole (onBatch sees the error).
      const first = replies[0]!.error;
      if (first !== undefined && replies.every((r) => r.error === first)) throw first;
      return replies;
    });
  }

  /**
   * Runs a group of same-shape requests once (`runConcatenated`). When ORT fails on the values of a group of several
   * requests (`E_ORT_RUN`, e.g. a token id outside the vocabulary), each request is run alone, so that only the ones
   * that cause the failure get it and the others their results.
   */
  private async runGroup(members: Request[], signal: AbortSignal | undefined): Promise<Reply[]> {
    try {
      return await this.runConcatenated(members, signal);
    } catch (err) {
      if (members.length === 1 || !(err instanceof TesseraError) || err.code !== "E_ORT_RUN") throw err;
      return Promise.all(
        members.map((m) =>
          this.runConcatenated([m], signal).then(
            (r) => r[0]!,
            (error: unknown): Reply => ({ outputs: {}, rows: m.rows, waitMs: 0, error }),
          ),
        ),
      );
    }
  }

  /**
   * Concatenates same-shape requests along axis 0, runs them once, and returns per-request views of the outputs.
   * Reports the run to `onRun`, failed or not.
   */
  private async runConcatenated(members: Request[], signal: AbortSignal | undefined): Promise<Reply[]> {
    const start = performance.now();
    let total = 0;
    for (const r of members) total += r.rows;
    let replies: Reply[];
    try {
      const batch = concatenate(members, total);
      const wanted = unionOutputs(members);
      const opts: TransferRunOptions = {
        transferInputs: true,
        ...(signal ? { signal } : {}),
        ...(wanted ? { outputs: wanted } : {}),
      };
      // Every replica already has a run of ours: this one waits in a worker's queue behind one (the session gives it
      // to the least busy replica). Then the time between handing it over and its answer that onnxruntime did not
      // spend running it is mostly that wait; otherwise it is only the hand-over to the worker and back (compute).
      const behind = this.runs >= this.session.replicas;
      const sent = performance.now();
      this.runs++;
      let res: RunResult;
      try {
        res = await this.session.run(batch, opts);
      } finally {
        this.runs--;
      }
      const waitMs = behind ? Math.max(0, performance.now() - sent - res.inferMs) : 0;
      replies = split(members, total, res.outputs, waitMs);
    } catch (err) {
      if (this.onRun !== undefined) this.report(total, performance.now() - start, 0, err);
      throw err;
    }
    if (this.onRun !== undefined)
      this.report(total, performance.now() - start, replies[0]!.waitMs, undefined);
    return replies;
  }

  private report(rows: number, wallMs: number, waitMs: number, error: unknown): void {
    const inferMs = Math.max(0, wallMs - waitMs);
    try {
      this.onRun!(error === undefined ? { rows, inferMs, waitMs } : { rows, inferMs, waitMs, error });
    } catch {
      // a metrics hook must never fail a batch
    }
  }
}

/** The members' inputs stacked along axis 0 into fresh buffers of `total` rows (one copy per input). */
function concatenate(members: readonly Request[], total: number): TensorMap {
  const first = members[0]!.inputs;
  const batch: TensorMap = {};
  for (const name of Object.keys(first)) {
    const t0 = first[name]!;
    const shape = t0.shape.slice();
    shape[0] = total;
    const buf = allocate(t0.dtype, shape);
    const rowSize = t0.size / t0.shape[0]!;
    const dst = buf.storage;
    let at = 0;
    for (const r of members) {
      writeInto(dst, at, r.inputs[name]!);
      at += r.rows * rowSize;
    }
    batch[name] = buf;
  }
  return batch;
}

/** Per member, views of its rows of each output it asked for (one split per output, no copies). */
function split(members: readonly Request[], total: number, results: TensorMap, waitMs: number): Reply[] {
  const names = Object.keys(results);
  const outs: Tensor[] = [];
  for (const name of names) {
    const out = results[name]!;
    checkBatchMajor(name, out, total);
    outs.push(out);
  }
  const sizes = new Array<number>(members.length);
  for (let k = 0; k < members.length; k++) sizes[k] = members[k]!.rows;
  const pieces = outs.map((out) => out.split(sizes, 0));
  const replies = new Array<Reply>(members.length);
  for (let k = 0; k < members.length; k++) {
    const r = members[k]!;
    const outputs: TensorMap = {};
    for (let j = 0; j < names.length; j++) {
      const name = names[j]!;
      if (r.outputs === undefined || r.outputs.includes(name)) outputs[name] = pieces[j]![k]!;
    }
    replies[k] = { outputs, rows: total, waitMs };
  }
  return replies;
}

function toInferResult(r: Batched<Reply>): InferResult {
  const v = r.value;
  if (v.error !== undefined) throw v.error;
  return {
    outputs: v.outputs,
    queueMs: r.queueMs + v.waitMs,
    inferMs: Math.max(0, r.inferMs - v.waitMs),
    batchSize: v.rows,
  };
}

/** The outputs a group must compute: undefined (all) when any member wants all. */
function unionOutputs(members: readonly Request[]): string[] | undefined {
  const set = new Set<string>();
  for (const m of members) {
    if (m.outputs === undefined) return undefined;
    for (const o of m.outputs) set.add(o);
  }
  return [...set];
}
