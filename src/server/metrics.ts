/**
 * Prometheus metrics of one server instance (its own registry, so tests can build many apps).
 * Hot-path updates use label children cached per model, so a request costs a few map lookups.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Why a request was turned away (label `reason` of tessera_rejected_requests_total). */
export type RejectReason =
  | "overloaded"
  | "timeout"
  | "too_large"
  | "client_gone"
  | "draining"
  | "unauthorized";

/** Error statuses that count as turned-away requests, and their reason. */
const REJECT_STATUS: Readonly<Record<number, RejectReason>> = {
  429: "overloaded",
  504: "timeout",
  499: "client_gone",
  413: "too_large",
  401: "unauthorized",
};

/** One model run: its requests (or rows) and compute time. Queue times are observed per request (`observeQueue`). */
export interface BatchObservation {
  readonly size: number;
  readonly inferMs: number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "tessera_requests_total",
    help: "HTTP requests by route, model and status code",
    labelNames: ["route", "model", "status"] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "tessera_request_duration_seconds",
    help: "End-to-end HTTP request duration",
    labelNames: ["route", "model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly queue = new Histogram({
    name: "tessera_queue_duration_seconds",
    help: "Time a request waited before its model run started (batch queue and session worker queue)",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly compute = new Histogram({
    name: "tessera_compute_duration_seconds",
    help: "Time of each successful model run of the dynamic batcher (batch copy, onnxruntime run, output split)",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: "tessera_batch_size",
    help: "Rows per successful model run of the dynamic batcher (a formed batch, or part of one)",
    labelNames: ["model"] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: "tessera_rejected_requests_total",
    help: "Requests turned away, by reason",
    labelNames: ["model", "reason"] as const,
    registers: [this.registry],
  });
  private readonly loadTime = new Gauge({
    name: "tessera_model_load_seconds",
    help: "How long the last load of a model version took",
    labelNames: ["model", "version"] as const,
    registers: [this.registry],
  });
  private readonly provider = new Gauge({
    name: "tessera_model_provider_info",
    help: "Execution provider each loaded model version runs on (value 1)",
    labelNames: ["model", "version", "provider"] as const,
    registers: [this.registry],
  });
  private readonly queueDepthSources = new Map<string, () => number>();
  private inflightCount = 0;
  private readonly providers = new Map<string, string>();
  /** Label children cached per (route, model, status): no label hashing on the hot path. */
  private readonly requestChildren = new Map<
    string,
    { count: { inc(): void }; duration: { observe(v: number): void } }
  >();
  private readonly modelChildren = new Map<
    string,
    {
      queue: { observe(v: number): void };
      compute: { observe(v: number): void };
      batch: { observe(v: number): void };
    }
  >();

  private model(model: string) {
    let c = this.modelChildren.get(model);
    if (!c) {
      c = {
        queue: this.queue.labels(model),
        compute: this.compute.labels(model),
        batch: this.batchSize.labels(model),
      };
      this.modelChildren.set(model, c);
    }
    return c;
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const sources = this.queueDepthSources;
    // Read at scrape time, so a request only bumps a number.
    const inflight = () => this.inflightCount;
    new Gauge({
      name: "tessera_inflight_requests",
      help: "HTTP requests being handled now",
      registers: [this.registry],
      collect() {
        this.set(inflight());
      },
    });
    new Gauge({
      name: "tessera_queue_depth",
      help: "Requests waiting in each model's batch queue (a model that runs unbatched: requests in flight)",
      labelNames: ["model"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [model, depth] of sources) this.set({ model }, depth());
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "" });
  }

  /** Call when a request starts (counts it in flight). */
  requestStarted(): void {
    this.inflightCount++;
  }

  /** Call once when a request's response finished or was abandoned (status 499). */
  requestEnded(route: string, model: string, status: number, seconds: number): void {
    this.inflightCount--;
    const key = `${route}\u0000${model}\u0000${status}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      c = {
        count: this.requests.labels(route, model, String(status)),
        duration: this.duration.labels(route, model),
      };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.duration.observe(seconds);
  }

  get inflightRequests(): number {
    return this.inflightCount;
  }

  observeBatch(model: string, b: BatchObservation): void {
    const c = this.model(model);
    c.batch.observe(b.size);
    c.compute.observe(b.inferMs / 1000);
  }

  observeQueue(model: string, queueMs: number): void {
    this.model(model).queue.observe(queueMs / 1000);
  }

  reject(model: string, reason: RejectReason): void {
    this.rejected.inc({ model, reason });
  }

  /** Counts an error answer of `status` as a turned-away request when it is one (429, 504, 499, 413, 401). */
  rejectStatus(model: string, status: number): void {
    const reason = REJECT_STATUS[status];
    if (reason !== undefined) this.reject(model, reason);
  }

  /** Records a model version becoming ready. */
  modelLoaded(model: string, version: string, loadMs: number, provider: string): void {
    this.modelUnloaded(model, version);
    this.loadTime.set({ model, version }, loadMs / 1000);
    this.provider.set({ model, version, provider }, 1);
    this.providers.set(`${model}@${version}`, provider);
  }

  modelUnloaded(model: string, version: string): void {
    const key = `${model}@${version}`;
    const provider = this.providers.get(key);
    this.loadTime.remove({ model, version });
    if (provider !== undefined) this.provider.remove({ model, version, provider });
    this.providers.delete(key);
  }

  /** Registers (or removes, with `null`) the queue-depth reader of a model. */
  trackQueue(model: string, depth: (() => number) | null): void {
    if (depth) this.queueDepthSources.set(model, depth);
    else this.queueDepthSources.delete(model);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
