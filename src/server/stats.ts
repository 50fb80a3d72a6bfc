/**
 * Per model version inference statistics in the shape of Triton's statistics extension
 * (`GET /v2/models[/{m}[/versions/{v}]]/stats`, read by `tritonclient`'s `get_inference_statistics()` and
 * perf_analyzer's server-side breakdown). Counters are plain number fields bumped on the hot path: a request
 * costs a few additions and one `Date.now()`; a batch size seen for the first time allocates its row once.
 *
 * What the numbers mean here (and where they are coarser than Triton's):
 * 1. `success` / `fail`: requests that reached the model's batcher (or direct runner), with the time from
 *    handing the request over until its result or error came back (validation + queue + batch run + split).
 *    HTTP parsing and response writing are not included. A request turned away by a full queue, a deadline,
 *    a client that went away or a failed batch counts as `fail`; a request refused by the route before it
 *    reaches the model (bad JSON, wrong datatype, too many rows) is not counted, as in Triton.
 *    Only the v2 infer route is counted: the text routes (`/v1/embeddings`, `/embed`, `/rerank`, ...) run through
 *    src/text's own batchers, outside ModelHost.
 * 2. `queue`: per successful request, the time from submit until its run started computing: the wait for its
 *    batch to be dispatched plus the wait in the session worker's queue behind an earlier batch (as Triton's
 *    queue time ends when execution starts).
 * 3. `compute_infer`: per successful request, the wall time of the batch run it rode in (one batch run counts
 *    for each of its requests, as Triton counts it). That time includes copying the requests into the batch
 *    buffer, ONNX Runtime's run and splitting the outputs: Tessera does not time input preparation and output
 *    extraction apart, so `compute_input` and `compute_output` report the right counts with `ns: 0`, and their
 *    time is inside `compute_infer`.
 * 4. `inference_count`: rows (first-dimension items) of successful requests; for a model without a batch
 *    dimension (`max_batch_size` 0) each request counts 1, as in Triton. `execution_count`: successful session
 *    runs (Triton: "successful inference executions"). A batch that mixes request shapes runs (and counts) once
 *    per shape; a batch onnxruntime fails on is run again request by request, and only the runs that succeed
 *    count, each with its own rows.
 * 5. `batch_stats`: per batch size (rows of one session run; 1 for a model without a batch dim), the successful
 *    runs of that size and their total run time, sorted by size.
 * 6. `cache_hit` / `cache_miss` are always zero: there is no response cache.
 * Counters live as long as the model version's runner: a reload (new session) or an unload starts them at zero.
 */

/** Triton's `$duration_stat`: a count and a cumulative duration in nanoseconds. */
export interface DurationStat {
  readonly count: number;
  readonly ns: number;
}

/** One entry of `batch_stats`. */
export interface BatchStat {
  readonly batch_size: number;
  readonly compute_input: DurationStat;
  readonly compute_infer: DurationStat;
  readonly compute_output: DurationStat;
}

/** One entry of `model_stats` (Triton's `$model_stat`). */
export interface ModelStat {
  readonly name: string;
  readonly version: string;
  /** Milliseconds since the epoch of the last request that finished (0: none yet). */
  readonly last_inference: number;
  readonly inference_count: number;
  readonly execution_count: number;
  readonly inference_stats: {
    readonly success: DurationStat;
    readonly fail: DurationStat;
    readonly queue: DurationStat;
    readonly compute_input: DurationStat;
    readonly compute_infer: DurationStat;
    readonly compute_output: DurationStat;
    readonly cache_hit: DurationStat;
    readonly cache_miss: DurationStat;
  };
  readonly batch_stats: readonly BatchStat[];
}

/** Runs of one batch size. */
interface BatchRow {
  count: number;
  ns: number;
}

const NS_PER_MS = 1e6;

function ns(ms: number): number {
  return ms > 0 ? Math.round(ms * NS_PER_MS) : 0;
}

/** The counters of one model version (see the module comment for what each one measures). */
export class VersionStats {
  lastInference = 0;
  inferenceCount = 0;
  executionCount = 0;
  successCount = 0;
  successNs = 0;
  failCount = 0;
  failNs = 0;
  queueNs = 0;
  computeNs = 0;
  private readonly batches = new Map<number, BatchRow>();

  /** @param batched whether the model has a batch dim (false: each request counts as one inference). */
  constructor(readonly batched: boolean) {}

  /** A request that got its result: `rows` of its first dimension, its queue and batch-run times, its total time. */
  succeeded(rows: number, queueMs: number, inferMs: number, totalMs: number): void {
    this.lastInference = Date.now();
    this.inferenceCount += this.batched ? rows : 1;
    this.successCount++;
    this.successNs += ns(totalMs);
    this.queueNs += ns(queueMs);
    this.computeNs += ns(inferMs);
  }

  /** A request that reached the model and failed (rejected, timed out, aborted, or its batch failed). */
  failed(totalMs: number): void {
    this.lastInference = Date.now();
    this.failCount++;
    this.failNs += ns(totalMs);
  }

  /** A successful batch run of `size` rows that took `inferMs`. */
  executed(size: number, inferMs: number): void {
    this.executionCount++;
    let row = this.batches.get(size);
    if (row === undefined) {
      row = { count: 0, ns: 0 };
      this.batches.set(size, row);
    }
    row.count++;
    row.ns += ns(inferMs);
  }

  /** The `$model_stat` JSON object for this version. Copies the counters. */
  snapshot(name: string, version: string): ModelStat {
    const sizes = [...this.batches.keys()].sort((a, b) => a - b);
    const s = this.successCount;
    return {
      name,
      version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: { count: s, ns: this.successNs },
        fail: { count: this.failCount, ns: this.failNs },
        queue: { count: s, ns: this.queueNs },
        compute_input: { count: s, ns: 0 },
        compute_infer: { count: s, ns: this.computeNs },
        compute_output: { count: s, ns: 0 },
        cache_hit: { count: 0, ns: 0 },
        cache_miss: { count: 0, ns: 0 },
      },
      batch_stats: sizes.map((size) => {
        const row = this.batches.get(size)!;
        return {
          batch_size: size,
          compute_input: { count: row.count, ns: 0 },
          compute_infer: { count: row.count, ns: row.ns },
          compute_output: { count: row.count, ns: 0 },
        };
      }),
    };
  }
}

/** The `$model_stat` of a version that has not run anything since it was loaded. */
export function emptyModelStat(name: string, version: string): ModelStat {
  return new VersionStats(true).snapshot(name, version);
}
