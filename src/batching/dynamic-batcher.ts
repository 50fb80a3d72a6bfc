/**
 * DynamicBatcher: merges concurrent requests into batches for a `run(items)` function. Knows no models.
 *
 * How it works (one owner loop, TEI `queue.rs` + Triton dynamic batcher semantics):
 *  1. `submit` validates, refuses at once when the queue is full (`QueueFullError`), and pushes an entry onto
 *     the FIFO of its priority level ("high" is always served before "normal").
 *  2. The loop sleeps on a wake-up promise (no polling). It is woken by a submit, an abort, a finished batch,
 *     close(), or the single max-delay timer.
 *  3. When a run slot is free (`inFlight < concurrency`) the loop plans a batch from the queue head:
 *     FIFO (or, with `sortKey`, the oldest item plus its nearest neighbours by key inside a window), stopping at
 *     `maxBatchSize` items or when the next item would push `batchCost` over `maxBatchCost`.
 *     The batch is dispatched when it is closed by size or cost, when the oldest queued item has waited
 *     `maxQueueDelayMs`, or when draining. Otherwise a timer is set for the oldest item's delay.
 *  4. While a batch runs, new requests keep queueing and the next batch is planned; it starts the moment a slot
 *     frees, with whatever accumulated (under load batches grow by themselves).
 *  5. Aborted or expired requests are rejected at once and skipped when batches are cut; one aborted while its
 *     batch runs rejects at once too (its result is discarded). When every item of a running batch is gone,
 *     the batch's `info.signal` aborts so `run` may skip work that has not started.
 *  6. A throw or rejection in `run` rejects every item of that batch with the same error; the loop goes on.
 *
 * Timers: the per-request deadline timers are unref'd. The max-delay timer exists only while items are queued
 * and is kept ref'd on purpose: an unref'd one would let a script exit with queued, awaited work.
 */
import { TesseraError } from "../tensor/index.ts";
import { abortedError, closedError, deadlineError, QueueFullError } from "./errors.ts";

export type Priority = "high" | "normal";

export interface BatchStats {
  /** Items in the batch. */
  readonly size: number;
  /** `batchCost(items)` (default: sum of `cost`, or the item count without `cost`). */
  readonly cost: number;
  /** Per item: ms from submit to dispatch. */
  readonly queueMs: readonly number[];
  /** Wall ms the run function took. */
  readonly inferMs: number;
  /** Set when the run failed (every item of the batch was rejected with it). */
  readonly error?: unknown;
}

export interface DynamicBatcherOptions<Item, Result> {
  /** Runs one batch; must return one result per item, in the same order. */
  readonly run: (items: Item[], info: { readonly signal: AbortSignal }) => Promise<Result[]>;
  /** Most items per batch (≥ 1). */
  readonly maxBatchSize: number;
  /** How long the oldest queued item may wait for others before a partial batch goes (0 = never wait). */
  readonly maxQueueDelayMs: number;
  /**
   * Dispatch at once when no batch is in flight: an idle model never waits `maxQueueDelayMs`, and requests
   * arriving while a batch runs accumulate into the next one (TEI's behaviour). Default false (Triton's:
   * always wait up to the delay for a fuller batch).
   */
  readonly eager?: boolean;
  /** Most items waiting (not counting running ones); beyond it `submit` throws `QueueFullError`. */
  readonly maxQueueSize: number;
  /** Cost of one item (e.g. its token count). Default 1. */
  readonly cost?: (item: Item) => number;
  /** Cost of a whole batch (e.g. padded tokens = longest × count). Default: sum of `cost`. */
  readonly batchCost?: (items: Item[]) => number;
  /** Budget per batch for `batchCost`; a batch closes before exceeding it. */
  readonly maxBatchCost?: number;
  /** Batches in flight at once (default 1; use the number of model replicas). */
  readonly concurrency?: number;
  /** When set, batches are cut from length-sorted windows: the oldest item plus its nearest keys. */
  readonly sortKey?: (item: Item) => number;
  /** Items considered per sorted cut (default 4 × maxBatchSize). Only used with `sortKey`. */
  readonly sortWindow?: number;
  /** Called after each batch settles; exceptions thrown here are ignored. */
  readonly onBatch?: (stats: BatchStats) => void;
}

export interface SubmitOptions {
  /** Aborting rejects with `E_ABORTED` at once, whether the request is queued or running. */
  readonly signal?: AbortSignal;
  /** Epoch ms; when it passes before the result is ready the request rejects with `E_DEADLINE_EXCEEDED`. */
  readonly deadline?: number;
  /** "high" requests are batched before any "normal" one. Default "normal". */
  readonly priority?: Priority;
}

export interface Batched<Result> {
  readonly value: Result;
  /** ms from submit to the start of its batch. */
  readonly queueMs: number;
  /** ms the batch's run took. */
  readonly inferMs: number;
  /** Items in the batch it ran in. */
  readonly batchSize: number;
}

type State = "queued" | "running" | "done";

/** The longest delay setTimeout supports. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One queued request. A class (not a literal) so every entry has one hidden class and no per-request executor closure. */
class Entry<Item, Result> {
  readonly item: Item;
  readonly cost: number;
  readonly key: number;
  readonly enqueuedAt: number;
  readonly deadline: number | undefined;
  readonly high: boolean;
  readonly signal: AbortSignal | undefined;
  state: State = "queued";
  resolve: (r: Batched<Result>) => void = noop;
  reject: (e: unknown) => void = noop;
  onAbort: (() => void) | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  batch: RunningBatch | undefined = undefined;

  constructor(
    item: Item,
    cost: number,
    key: number,
    deadline: number | undefined,
    high: boolean,
    signal: AbortSignal | undefined,
  ) {
    this.item = item;
    this.cost = cost;
    this.key = key;
    this.enqueuedAt = performance.now();
    this.deadline = deadline;
    this.high = high;
    this.signal = signal;
  }
}

function noop(): void {}

/** The entry whose promise is being created; `captureSettlers` (one shared executor) stores its resolve/reject. */
let capturing: Entry<unknown, unknown> | undefined;

function captureSettlers(resolve: (r: never) => void, reject: (e: unknown) => void): void {
  const e = capturing!;
  e.resolve = resolve as (r: Batched<unknown>) => void;
  e.reject = reject;
}

/** Shared default for `submit` without options. */
const NO_OPTIONS: SubmitOptions = Object.freeze({});

/**
 * The `info` handed to `run`. A class, not an object literal with a getter: such a literal gets a fresh accessor
 * (and hidden class) per batch, which measurably slowed the whole batching path through GC.
 */
class BatchInfo {
  private readonly running: RunningBatch;

  constructor(running: RunningBatch) {
    this.running = running;
  }

  get signal(): AbortSignal {
    return this.running.signal;
  }
}

/** A dispatched batch: counts its live items and owns the signal handed to `run`, created only when read. */
class RunningBatch {
  live: number;
  private ctrl: AbortController | undefined;
  private early: { readonly reason: unknown } | undefined;

  constructor(live: number) {
    this.live = live;
  }

  /** `info.signal` of the run. Made on first read: creating an AbortSignal costs microseconds, and many runs never look. */
  get signal(): AbortSignal {
    if (this.ctrl === undefined) {
      this.ctrl = new AbortController();
      if (this.early) this.ctrl.abort(this.early.reason);
    }
    return this.ctrl.signal;
  }

  /** Aborts the signal, or remembers the reason so a signal read later starts aborted (first reason wins). */
  abort(reason: unknown): void {
    if (this.ctrl) this.ctrl.abort(reason);
    else this.early ??= { reason };
  }
}

/** FIFO with O(1) push/shift; entries are removed lazily (skipped once their state leaves "queued"). */
class Fifo<T extends { state: State }> {
  private items: T[] = [];
  private head = 0;

  push(x: T): void {
    this.items.push(x);
  }

  /** Drops non-queued entries from the head; returns the first queued one. */
  first(): T | undefined {
    while (this.head < this.items.length && this.items[this.head]!.state !== "queued") this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  /** Calls `visit` on each queued entry in order until it returns false; returns false when stopped early. */
  eachLive(visit: (x: T) => boolean): boolean {
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const x = items[i]!;
      if (x.state === "queued" && !visit(x)) return false;
    }
    return true;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface Plan<Item, Result> {
  readonly batch: Entry<Item, Result>[];
  /** Closed by maxBatchSize or maxBatchCost (more items would not fit). */
  readonly full: boolean;
}

export class DynamicBatcher<Item, Result> {
  private readonly opts: DynamicBatcherOptions<Item, Result>;
  private readonly concurrency: number;
  private readonly sortWindow: number;
  private readonly high = new Fifo<Entry<Item, Result>>();
  private readonly normal = new Fifo<Entry<Item, Result>>();
  private queued = 0;
  /** Sum of `cost` over queued items. */
  private queuedCost = 0;
  private running = 0;
  private runningItems = 0;
  private closing = false;
  private draining = false;
  private closed: Promise<void>;
  private wakeUp: (() => void) | undefined;
  private delayTimer: ReturnType<typeof setTimeout> | undefined;
  private delayAt = Number.POSITIVE_INFINITY;
  /** Exponential moving average of batch run time, for retryAfterMs. */
  private avgInferMs = 0;

  constructor(options: DynamicBatcherOptions<Item, Result>) {
    checkOptions(options);
    this.opts = options;
    this.concurrency = options.concurrency ?? 1;
    this.sortWindow = options.sortWindow ?? 4 * options.maxBatchSize;
    this.closed = this.loop();
  }

  /** Items waiting to be batched. */
  get queueDepth(): number {
    return this.queued;
  }

  /** Batches currently running. */
  get inFlight(): number {
    return this.running;
  }

  /** Items in the batches currently running (including ones whose callers already aborted). */
  get inFlightItems(): number {
    return this.runningItems;
  }

  /**
   * Queues one item. Rejects with `QueueFullError` (queue full), `E_BATCHER_CLOSED`, `E_ABORTED`,
   * `E_DEADLINE_EXCEEDED`, `E_BATCH_COST_EXCEEDED` (item alone over budget), or the error of its batch's run.
   */
  submit(item: Item, options: SubmitOptions = NO_OPTIONS): Promise<Batched<Result>> {
    try {
      this.admit(1);
      return this.enqueue(item, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Queues several items, each as its own request (they may land in different batches). Admission is
   * all-or-nothing: when the queue cannot hold them all, none is queued and the promise rejects with QueueFullError.
   */
  submitMany(items: readonly Item[], options: SubmitOptions = NO_OPTIONS): Promise<Batched<Result>[]> {
    try {
      this.admit(items.length);
      return Promise.all(items.map((item) => this.enqueue(item, options)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Stops accepting requests. With `drain: true` queued work is still run (without waiting for the delay);
   * otherwise queued requests reject with `E_BATCHER_CLOSED`. Either way, resolves once running batches have settled.
   * Calling it again without `drain` during a drain rejects what is still queued.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    // A second close without drain ends a drain early (a shutdown deadline passed): the queue is rejected.
    if (!this.closing || (this.draining && options.drain !== true)) {
      this.closing = true;
      this.draining = options.drain === true;
      if (!this.draining) {
        const reject = (e: Entry<Item, Result>): boolean => {
          this.settle(e, undefined, closedError("closed before the request was batched"));
          return true;
        };
        this.high.eachLive(reject);
        this.normal.eachLive(reject);
      }
      this.wake();
    }
    return this.closed;
  }

  private admit(n: number): void {
    if (this.closing) throw closedError("submit after close()");
    if (this.queued + n > this.opts.maxQueueSize) {
      const retryAfterMs = this.estimateRetryMs();
      throw new QueueFullError(
        `batcher: queue is full (${this.queued} queued, maxQueueSize ${this.opts.maxQueueSize}, ${n} more requested); retry in ~${retryAfterMs} ms`,
        { queueDepth: this.queued, maxQueueSize: this.opts.maxQueueSize, requested: n, retryAfterMs },
      );
    }
  }

  private estimateRetryMs(): number {
    const batchesAhead = Math.ceil((this.queued + 1) / this.opts.maxBatchSize);
    const perBatch = this.avgInferMs > 0 ? this.avgInferMs : Math.max(1, this.opts.maxQueueDelayMs);
    return Math.max(1, Math.ceil((batchesAhead * perBatch) / this.concurrency));
  }

  private enqueue(item: Item, options: SubmitOptions): Promise<Batched<Result>> {
    const { signal, deadline } = options;
    if (signal?.aborted) return Promise.reject(abortedError("submit", signal.reason));
    if (deadline !== undefined && !(deadline > Date.now())) {
      return Promise.reject(deadlineError("submit", deadline));
    }
    let cost: number;
    let key: number;
    let alone: number;
    try {
      cost = this.opts.cost ? this.opts.cost(item) : 1;
      key = this.opts.sortKey ? this.opts.sortKey(item) : 0;
      alone =
        this.opts.maxBatchCost !== undefined && this.opts.batchCost ? this.opts.batchCost([item]) : cost;
    } catch (err) {
      return Promise.reject(err); // a throwing cost/sortKey/batchCost callback fails this request only
    }
    if (this.opts.maxBatchCost !== undefined && alone > this.opts.maxBatchCost) {
      return Promise.reject(
        new TesseraError(
          "E_BATCH_COST_EXCEEDED",
          `batcher: one item costs ${alone}, more than maxBatchCost ${this.opts.maxBatchCost}; split it or raise maxBatchCost`,
          { cost: alone, maxBatchCost: this.opts.maxBatchCost },
        ),
      );
    }
    const e = new Entry<Item, Result>(item, cost, key, deadline, options.priority === "high", signal);
    capturing = e as Entry<unknown, unknown>;
    const promise = new Promise<Batched<Result>>(captureSettlers);
    capturing = undefined;
    if (signal) {
      e.onAbort = () =>
        this.settle(e, undefined, abortedError(e.state === "running" ? "running" : "queued", signal.reason));
      signal.addEventListener("abort", e.onAbort, { once: true });
    }
    // setTimeout cannot wait longer than 2^31-1 ms; later deadlines are still checked when batches are cut.
    if (deadline !== undefined && deadline - Date.now() <= MAX_TIMER_MS) {
      e.timer = setTimeout(
        () =>
          this.settle(e, undefined, deadlineError(e.state === "running" ? "running" : "queued", deadline)),
        Math.max(0, deadline - Date.now()),
      );
      e.timer.unref();
    }
    (e.high ? this.high : this.normal).push(e);
    this.queued++;
    this.queuedCost += e.cost;
    // Wake the loop only when this arrival can change its decision: a slot is free and either no delay timer is
    // armed yet (the queue was empty) or the queue may now close a batch. Otherwise the timer or the end of a
    // running batch wakes it: one wake-up per batch instead of one per request.
    if (this.running < this.concurrency && (this.delayTimer === undefined || this.mayBeFull())) this.wake();
    return promise;
  }

  /** Settles an entry once (result or error), detaching its listeners and updating counters. */
  private settle(e: Entry<Item, Result>, ok: Batched<Result> | undefined, err?: unknown): void {
    if (e.state === "done") return;
    const was = e.state;
    e.state = "done";
    if (e.timer) clearTimeout(e.timer);
    if (e.signal && e.onAbort) e.signal.removeEventListener("abort", e.onAbort);
    if (was === "queued") {
      this.queued--;
      this.queuedCost = this.queued === 0 ? 0 : this.queuedCost - e.cost;
      this.wake();
    } else if (e.batch) {
      e.batch.live--;
      if (e.batch.live === 0 && ok === undefined) e.batch.abort(err);
    }
    if (ok !== undefined) e.resolve(ok);
    else e.reject(err);
  }

  private wake(): void {
    const w = this.wakeUp;
    if (w) {
      this.wakeUp = undefined;
      w();
    }
  }

  private sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeUp = resolve;
    });
  }

  /** The owner loop: the only place batches are cut and dispatched. */
  private async loop(): Promise<void> {
    for (;;) {
      if (this.closing && this.queued === 0 && this.running === 0) break;
      if (this.queued > 0 && this.running < this.concurrency) {
        const oldest = this.oldestEnqueuedAt();
        const wait = oldest + this.opts.maxQueueDelayMs - performance.now();
        const idle = this.opts.eager === true && this.running === 0;
        if (wait > 0 && !this.draining && !idle && !this.mayBeFull()) {
          // O(1) fast path: the queue cannot fill a batch yet and the oldest item may still wait.
          this.armDelay(wait);
          await this.sleep();
          continue;
        }
        let plan: Plan<Item, Result>;
        try {
          plan = this.plan();
        } catch (err) {
          // A user callback (batchCost) threw: fail the request at the head so the loop keeps making progress.
          const head = this.high.first() ?? this.normal.first();
          if (head) this.settle(head, undefined, err);
          continue;
        }
        if (plan.batch.length > 0) {
          const now = performance.now();
          const oldestNow = this.oldestEnqueuedAt(); // planning may have dropped expired items
          if (plan.full || this.draining || idle || now - oldestNow >= this.opts.maxQueueDelayMs) {
            this.clearDelay();
            this.dispatch(plan.batch);
            continue;
          }
          this.armDelay(oldestNow + this.opts.maxQueueDelayMs - now);
        }
      } else if (this.queued === 0) {
        this.clearDelay();
      }
      await this.sleep();
    }
    this.clearDelay();
    this.high.clear();
    this.normal.clear();
  }

  /** Whether the queue might already close a batch by size or cost (false = certainly not). */
  private mayBeFull(): boolean {
    if (this.queued >= this.opts.maxBatchSize) return true;
    if (this.opts.maxBatchCost === undefined) return false;
    if (this.opts.batchCost) return true; // a custom batch cost can only be known by planning
    return this.queuedCost > this.opts.maxBatchCost;
  }

  private armDelay(ms: number): void {
    const at = performance.now() + ms;
    if (this.delayTimer && Math.abs(at - this.delayAt) < 1) return;
    this.clearDelay();
    this.delayAt = at;
    this.delayTimer = setTimeout(
      () => {
        this.delayTimer = undefined;
        this.delayAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, Math.ceil(ms)),
    );
  }

  private clearDelay(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    this.delayAt = Number.POSITIVE_INFINITY;
  }

  private oldestEnqueuedAt(): number {
    const a = this.high.first()?.enqueuedAt ?? Number.POSITIVE_INFINITY;
    const b = this.normal.first()?.enqueuedAt ?? Number.POSITIVE_INFINITY;
    return Math.min(a, b);
  }

  /**
   * Visits queued entries in service order (high first), rejecting and skipping aborted or expired ones, until
   * `visit` returns false. Entries after the stop are not looked at.
   */
  private eachCandidate(visit: (e: Entry<Item, Result>) => boolean): void {
    const now = Date.now();
    const check = (e: Entry<Item, Result>): boolean => {
      if (e.signal?.aborted) {
        this.settle(e, undefined, abortedError("queued", e.signal.reason));
        return true;
      }
      if (this.expired(e, now)) return true;
      return visit(e);
    };
    if (this.high.eachLive(check)) this.normal.eachLive(check);
  }

  private expired(e: Entry<Item, Result>, now: number): boolean {
    if (e.deadline !== undefined && e.deadline <= now) {
      this.settle(e, undefined, deadlineError("queued", e.deadline));
      return true;
    }
    return false;
  }

  private plan(): Plan<Item, Result> {
    return this.opts.sortKey ? this.planSorted() : this.planFifo();
  }

  /** Strict FIFO in priority order: stop at the first item that does not fit (no look-ahead, like TEI). */
  private planFifo(): Plan<Item, Result> {
    const { maxBatchSize, maxBatchCost, batchCost } = this.opts;
    const batch: Entry<Item, Result>[] = [];
    const items: Item[] | undefined = batchCost ? [] : undefined;
    let sum = 0;
    let full = false;
    this.eachCandidate((e) => {
      if (batch.length >= maxBatchSize) {
        full = true;
        return false;
      }
      if (maxBatchCost !== undefined) {
        let c: number;
        if (items && batchCost) {
          items.push(e.item);
          c = batchCost(items);
        } else c = sum + e.cost;
        if (c > maxBatchCost) {
          full = true;
          return false;
        }
        sum += e.cost;
      }
      batch.push(e);
      return true;
    });
    return { batch, full: full || batch.length >= maxBatchSize };
  }

  /**
   * Length-sorted cut: takes a window of queued items (priority order), anchors on the oldest one and grows the
   * batch with the items whose keys are nearest to the anchor's, high-priority items before normal ones.
   */
  private planSorted(): Plan<Item, Result> {
    const { maxBatchSize, maxBatchCost } = this.opts;
    const highs: Entry<Item, Result>[] = [];
    const normals: Entry<Item, Result>[] = [];
    let n = 0;
    this.eachCandidate((e) => {
      if (n++ >= this.sortWindow) return false;
      (e.high ? highs : normals).push(e);
      return true;
    });
    const anchor = highs[0] ?? normals[0];
    if (anchor === undefined) return { batch: [], full: false };
    const batch: Entry<Item, Result>[] = [];
    const items: Item[] = [];
    let sum = 0;
    const add = (e: Entry<Item, Result>): "ok" | "size" | "cost" => {
      if (batch.length >= maxBatchSize) return "size";
      if (maxBatchCost !== undefined) {
        items.push(e.item);
        const c = this.opts.batchCost ? this.opts.batchCost(items) : sum + e.cost;
        if (c > maxBatchCost) {
          items.pop();
          return "cost";
        }
        sum += e.cost;
      }
      batch.push(e);
      return "ok";
    };
    let full = false;
    for (const group of [highs, normals]) {
      const sorted = [...group].sort((a, b) => a.key - b.key || a.enqueuedAt - b.enqueuedAt);
      let lo: number;
      let hi: number;
      const at = sorted.indexOf(anchor);
      if (at >= 0) {
        add(anchor);
        lo = at - 1;
        hi = at + 1;
      } else {
        hi = sorted.findIndex((e) => e.key >= anchor.key);
        if (hi < 0) hi = sorted.length;
        lo = hi - 1;
      }
      let loOpen = true;
      let hiOpen = true;
      for (;;) {
        loOpen &&= lo >= 0;
        hiOpen &&= hi < sorted.length;
        if (!loOpen && !hiOpen) break;
        const takeLo = loOpen && (!hiOpen || anchor.key - sorted[lo]!.key <= sorted[hi]!.key - anchor.key);
        const r = add(sorted[takeLo ? lo : hi]!);
        if (r === "size") return { batch, full: true };
        if (r === "cost") {
          // Items further out on this side are further from the anchor's key: close the side.
          full = true;
          if (takeLo) loOpen = false;
          else hiOpen = false;
        } else if (takeLo) lo--;
        else hi++;
      }
    }
    return { batch, full: full || batch.length >= maxBatchSize };
  }

  private dispatch(batch: Entry<Item, Result>[]): void {
    const running = new RunningBatch(batch.length);
    const now = performance.now();
    const queueMs = new Array<number>(batch.length);
    const items = new Array<Item>(batch.length);
    let sum = 0;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      e.state = "running";
      e.batch = running;
      queueMs[i] = now - e.enqueuedAt;
      items[i] = e.item;
      sum += e.cost;
    }
    this.queued -= batch.length;
    this.queuedCost = this.queued === 0 ? 0 : this.queuedCost - sum; // reset when empty: no float drift
    this.running++;
    this.runningItems += batch.length;
    let cost = sum;
    if (this.opts.batchCost) {
      try {
        cost = this.opts.batchCost(items);
      } catch {
        // stats only; the plan already evaluated batchCost for these items
      }
    }
    let p: Promise<Result[]>;
    try {
      p = Promise.resolve(this.opts.run(items, new BatchInfo(running)));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (results) => this.finish(batch, queueMs, cost, now, results, undefined),
      (err: unknown) =>
        this.finish(batch, queueMs, cost, now, undefined, err ?? new Error("batch run rejected")),
    );
  }

  private finish(
    batch: Entry<Item, Result>[],
    queueMs: number[],
    cost: number,
    start: number,
    results: Result[] | undefined,
    err: unknown,
  ): void {
    const inferMs = performance.now() - start;
    this.avgInferMs = this.avgInferMs === 0 ? inferMs : 0.8 * this.avgInferMs + 0.2 * inferMs;
    this.running--;
    this.runningItems -= batch.length;
    if (err === undefined && (!Array.isArray(results) || results.length !== batch.length)) {
      err = new TesseraError(
        "E_BATCH_RESULT_COUNT",
        `batcher: run returned ${Array.isArray(results) ? results.length : typeof results} results for a batch of ${batch.length} items`,
        { expected: batch.length, got: Array.isArray(results) ? results.length : null },
      );
    }
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      if (err !== undefined) this.settle(e, undefined, err);
      else this.settle(e, { value: results![i]!, queueMs: queueMs[i]!, inferMs, batchSize: batch.length });
    }
    if (this.opts.onBatch) {
      try {
        this.opts.onBatch({
          size: batch.length,
          cost,
          queueMs,
          inferMs,
          ...(err !== undefined ? { error: err } : {}),
        });
      } catch {
        // a metrics hook must never break the loop
      }
    }
    this.wake();
  }
}

function checkOptions<Item, Result>(o: DynamicBatcherOptions<Item, Result>): void {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new TesseraError("E_BATCHER_CONFIG", `batcher: ${field} must be ${expected}, got ${String(got)}`, {
      field,
      got: typeof got === "number" ? got : String(got),
    });
  };
  if (typeof o.run !== "function") bad("run", "a function", typeof o.run);
  const posInt = (field: string, v: number | undefined, optional: boolean) => {
    if (v === undefined && optional) return;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) bad(field, "an integer ≥ 1", v);
  };
  posInt("maxBatchSize", o.maxBatchSize, false);
  posInt("maxQueueSize", o.maxQueueSize, false);
  posInt("concurrency", o.concurrency, true);
  posInt("sortWindow", o.sortWindow, true);
  if (typeof o.maxQueueDelayMs !== "number" || !Number.isFinite(o.maxQueueDelayMs) || o.maxQueueDelayMs < 0) {
    bad("maxQueueDelayMs", "a finite number ≥ 0", o.maxQueueDelayMs);
  }
  if (o.maxBatchCost !== undefined && !(typeof o.maxBatchCost === "number" && o.maxBatchCost > 0)) {
    bad("maxBatchCost", "a number > 0", o.maxBatchCost);
  }
  if (o.eager !== undefined && typeof o.eager !== "boolean") bad("eager", "true or false", o.eager);
}
