/**
 * Text routes: OpenAI `POST /v1/embeddings` (also at `/embeddings`), `GET /v1/models[/{id}]`, and the
 * TEI-compatible `POST /embed`, `/embed_all`, `/similarity`, `/rerank`, `/predict`, `/tokenize`, `/decode`,
 * `GET /info`, `GET /health` (and `/ping`, `GET /`), and `POST /` / `/invocations` dispatching by body shape
 * (shared/reference/embeddings-apis.md).
 *
 * The routes only parse and answer; the work runs in src/text (one TextEmbedder / Reranker / TextClassifier per
 * loaded model version, reusing the registry's session, so every route shares its batches).
 *
 * Models: registry entries of kind "hf". A request's `model` picks one by name; when it names
 * none we fall back to the only text model of the right task (TEI serves one model; OpenAI
 * clients often send a hosted model id). Limits come from the model's config.json:
 * `maxInputs` (default 2048) and `maxTokens` (default: the folder's max length).
 *
 * Errors: `/v1/*` answer OpenAI's `{error:{message,type,param,code}}`, the TEI routes
 * `{error, error_type}`. Statuses: empty input 400, malformed JSON / invalid UTF-8 400,
 * schema or semantic problems 422, an input over `maxTokens` with truncation off 422 (TEI since 2026),
 * body over the limit 413, queue full 429, rerank on an embedding model or a failed model run
 * (E_ORT_RUN) 424, not ready 503.
 */
import { relative } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { BatchStats } from "../../batching/index.ts";
import { batchingFor, type LoadedModel } from "../../runtime/index.ts";
import { TesseraError } from "../../tensor/index.ts";
import {
  DEFAULT_MAX_BATCH_TOKENS,
  type HfFolder,
  loadHfFolder,
  type LabelScore,
  Reranker,
  TextClassifier,
  TextEmbedder,
  type TextModelOptions,
  type TruncationDirection,
} from "../../text/index.ts";
import { requestGoneSignal } from "../client-gone.ts";
import type { RouteContext } from "../context.ts";
import { httpErrorOf } from "../errors.ts";
import type { ServerMetrics } from "../metrics.ts";

const DEFAULT_MAX_INPUTS = 2048;
/** How long a text model that could not be built answers with the same error before it is built again. */
const FAILED_BUILD_MS = 10_000;

/** Code → status for the text routes (others fall back to the server table). */
const TEXT_STATUS: Readonly<Record<string, number>> = {
  E_TEXT_EMPTY: 400,
  E_REQUEST_INVALID: 400,
  E_TEXT_INPUT: 422,
  E_TEXT_REQUEST: 422,
  E_TEXT_TOO_MANY_INPUTS: 422,
  E_TEXT_DIMENSIONS: 422,
  E_TEXT_PROMPT: 422,
  // TEI's Validation kind: 422 since Feb 2026 (413 before); the body limit stays 413.
  E_TEXT_TOO_LONG: 422,
  E_TEXT_WRONG_MODEL: 424,
  // The text routes build every tensor themselves, so a failed run is the model's (or its
  // config's) fault, never the client's: TEI's Backend kind, 424 (the v2 routes say 400).
  E_ORT_RUN: 424,
  E_TEXT_NAN: 424,
  E_TOKENIZER_CONFIG: 422,
};

const TEI_TYPE: Readonly<Record<number, string>> = {
  400: "Empty",
  413: "Validation",
  422: "Validation",
  424: "Backend",
  429: "Overloaded",
  503: "Unhealthy",
};

interface TextHttpError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly param: string | null;
  readonly retryAfterS?: number;
}

function textErrorOf(err: unknown): TextHttpError {
  if (err instanceof TesseraError && TEXT_STATUS[err.code] !== undefined) {
    const field = err.facts.field;
    return {
      status: TEXT_STATUS[err.code] as number,
      code: err.code,
      message: err.message,
      param: typeof field === "string" ? field : err.code.startsWith("E_TEXT") ? "input" : null,
    };
  }
  const h = httpErrorOf(err);
  return { ...h, param: null };
}

function fail(
  code: string,
  message: string,
  field?: string,
  facts: Record<string, unknown> = {},
): TesseraError {
  return new TesseraError(code, message, { ...facts, ...(field ? { field } : {}) });
}

/**
 * Logs and counts a failed request as the server's own error handler does for the v2 routes:
 * unexpected failures (5xx but 503/504) at error level with the cause, the rest at info, and
 * turned-away requests in `tessera_rejected_requests_total{reason}`.
 */
function account(req: FastifyRequest, metrics: ServerMetrics, h: TextHttpError, err: unknown): void {
  if ((h.status >= 500 && h.status !== 503 && h.status !== 504) || h.code === "E_ORT_RUN")
    req.log.error({ err }, "request failed");
  else req.log.info({ code: h.code, status: h.status }, h.message);
  metrics.rejectStatus(req.tesseraModel, h.status);
}

function sendOpenAIError(reply: FastifyReply, err: unknown, metrics: ServerMetrics): FastifyReply {
  const h = textErrorOf(err);
  account(reply.request, metrics, h, err);
  if (h.retryAfterS !== undefined) reply.header("retry-after", String(h.retryAfterS));
  const type =
    h.status === 429
      ? "rate_limit_error"
      : h.status >= 500 || h.code === "E_ORT_RUN"
        ? "server_error"
        : h.status === 401
          ? "authentication_error"
          : "invalid_request_error";
  return reply
    .code(h.status)
    .type("application/json")
    .send({ error: { message: h.message, type, param: h.param, code: h.code } });
}

function sendTeiError(reply: FastifyReply, err: unknown, metrics: ServerMetrics): FastifyReply {
  const h = textErrorOf(err);
  account(reply.request, metrics, h, err);
  if (h.retryAfterS !== undefined) reply.header("retry-after", String(h.retryAfterS));
  return reply
    .code(h.status)
    .type("application/json")
    .send({
      error: h.message,
      // "Empty" is for empty inputs only (TEI); other 400s (malformed JSON, invalid UTF-8) are Validation.
      error_type:
        h.status === 400 && h.code !== "E_TEXT_EMPTY"
          ? "Validation"
          : (TEI_TYPE[h.status] ?? (h.status >= 500 ? "Backend" : "Validation")),
      code: h.code,
    });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Parses the raw body as JSON; invalid UTF-8 and malformed JSON are 400 with a clear message. */
function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const raw = req.body;
  if (raw === undefined || raw === null || (Buffer.isBuffer(raw) && raw.length === 0)) {
    throw fail("E_REQUEST_INVALID", "request body is empty; expected a JSON object");
  }
  let text: string;
  try {
    text = Buffer.isBuffer(raw) ? UTF8.decode(raw) : String(raw);
  } catch {
    throw fail("E_REQUEST_INVALID", "request body is not valid UTF-8");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fail("E_REQUEST_INVALID", `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw fail("E_TEXT_REQUEST", "request body must be a JSON object");
  return v as Record<string, unknown>;
}

/** Texts or token arrays, after OpenAI's disambiguation rule (TEI routes also take a mix). */
export type ParsedInputs =
  | { readonly kind: "text"; readonly texts: string[] }
  | { readonly kind: "ids"; readonly ids: number[][] }
  | { readonly kind: "mixed"; readonly items: (string | number[])[] };

/**
 * Parses `input` / `inputs`: string | string[] | number[] (ONE input of ids) | number[][], and with
 * `mixed` (TEI's `InputType` batches) an array whose items are each a string or token ids.
 * Empty strings and empty arrays are `E_TEXT_EMPTY` (400); anything else malformed is 422.
 */
export function parseInputs(v: unknown, field: string): Exclude<ParsedInputs, { kind: "mixed" }>;
export function parseInputs(v: unknown, field: string, mixed: true): ParsedInputs;
export function parseInputs(v: unknown, field: string, mixed = false): ParsedInputs {
  if (v === undefined || v === null) throw fail("E_TEXT_REQUEST", `\`${field}\` is required`, field);
  if (typeof v === "string") {
    if (v.length === 0) throw fail("E_TEXT_EMPTY", `\`${field}\` cannot be empty`, field);
    return { kind: "text", texts: [v] };
  }
  if (!Array.isArray(v))
    throw fail(
      "E_TEXT_INPUT",
      `\`${field}\` must be a string, an array of strings, or token ids; got ${typeof v}`,
      field,
    );
  if (v.length === 0) throw fail("E_TEXT_EMPTY", `\`${field}\` cannot be empty`, field);
  if (v.every((x) => typeof x === "string")) {
    const i = v.findIndex((x) => x.length === 0);
    if (i >= 0)
      throw fail("E_TEXT_EMPTY", `\`${field}[${i}]\` cannot be an empty string`, field, { index: i });
    return { kind: "text", texts: v as string[] };
  }
  if (v.every((x) => typeof x === "number")) {
    checkIds(v as number[], field);
    return { kind: "ids", ids: [v as number[]] };
  }
  if (v.every((x) => Array.isArray(x))) {
    const ids = v as unknown[][];
    ids.forEach((row, i) => {
      if (row.length === 0)
        throw fail("E_TEXT_EMPTY", `\`${field}[${i}]\` cannot be empty`, field, { index: i });
      if (!row.every((x) => typeof x === "number"))
        throw fail("E_TEXT_INPUT", `\`${field}[${i}]\` must be an array of token ids`, field, { index: i });
      checkIds(row as number[], `${field}[${i}]`);
    });
    return { kind: "ids", ids: ids as number[][] };
  }
  if (mixed && v.every((x) => typeof x === "string" || Array.isArray(x))) {
    v.forEach((x: string | unknown[], i) => {
      if (x.length === 0)
        throw fail("E_TEXT_EMPTY", `\`${field}[${i}]\` cannot be empty`, field, { index: i });
      if (Array.isArray(x)) {
        if (!x.every((id) => typeof id === "number"))
          throw fail("E_TEXT_INPUT", `\`${field}[${i}]\` must be a string or an array of token ids`, field, {
            index: i,
          });
        checkIds(x as number[], `${field}[${i}]`);
      }
    });
    return { kind: "mixed", items: v as (string | number[])[] };
  }
  const bad = v.findIndex(
    (x) => typeof x !== typeof v[0] || (typeof x !== "string" && typeof x !== "number" && !Array.isArray(x)),
  );
  const at = Math.max(bad, 0);
  const item = v[at];
  throw fail(
    "E_TEXT_INPUT",
    `\`${field}[${at}]\` is ${item === null ? "null" : Array.isArray(item) ? "an array" : typeof item}; expected every item to be a string (or every item token ids)`,
    field,
    { index: at },
  );
}

function checkIds(ids: readonly number[], field: string): void {
  const i = ids.findIndex((x) => !Number.isInteger(x) || x < 0);
  if (i >= 0)
    throw fail("E_TEXT_INPUT", `\`${field}[${i}]\` is ${ids[i]}; token ids are non-negative integers`, field);
}

function optBool(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean")
    throw fail("E_TEXT_REQUEST", `\`${key}\` must be a boolean, got ${JSON.stringify(v)}`, key);
  return v;
}

function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string")
    throw fail("E_TEXT_REQUEST", `\`${key}\` must be a string, got ${JSON.stringify(v)}`, key);
  return v;
}

function optDimensions(body: Record<string, unknown>): number | undefined {
  const v = body.dimensions;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw fail(
      "E_TEXT_DIMENSIONS",
      `\`dimensions\` should be a positive integer, got ${JSON.stringify(v)}`,
      "dimensions",
    );
  }
  return v;
}

function direction(body: Record<string, unknown>): TruncationDirection {
  const v = optString(body, "truncation_direction");
  if (v === undefined) return "right";
  const l = v.toLowerCase();
  if (l !== "left" && l !== "right")
    throw fail(
      "E_TEXT_REQUEST",
      `\`truncation_direction\` must be "right" or "left", got ${JSON.stringify(v)}`,
      "truncation_direction",
    );
  return l;
}

/**
 * Per model version: the embedder, reranker or classifier built on its session, created on first
 * use. A sequence classifier (several labels) serves /predict (and /tokenize, /decode, /info), as
 * TEI has no /rerank or /embed for it; a reranker also answers /predict (as TEI), through a
 * classifier made on the first such request.
 */
interface TextModel {
  readonly model: LoadedModel;
  readonly folder: HfFolder;
  readonly embedder?: TextEmbedder;
  readonly reranker?: Reranker;
  readonly classifier?: TextClassifier;
  /** A reranker's classifier for /predict, made on first use (see `classifierOf`). */
  lazyClassifier?: Promise<TextClassifier>;
  /** The text-model options the model was built with (a reranker's /predict classifier takes the same). */
  readonly options: TextModelOptions;
  readonly maxInputs: number;
}

/** Which models a route can use ("any": routes every model serves, such as /tokenize). */
type Task = "embedding" | "reranker" | "classifier" | "any";

function serves(tm: TextModel, task: Task): boolean {
  if (task === "classifier") return tm.classifier !== undefined || tm.reranker !== undefined;
  return task === "any" || (task === "embedding" ? tm.embedder : tm.reranker) !== undefined;
}

class TextModels {
  readonly #ctx: RouteContext;
  readonly #byKey = new Map<string, Promise<TextModel>>();
  /**
   * Loads that could not be built into a text model (E_MODEL_LOAD_FAILED), by name@version, with the session they
   * were tried on and when: for `FAILED_BUILD_MS` the same load gets the error without re-reading the folder and
   * rebuilding its tokenizer on the event loop per request; a reload (a new session) tries at once, and so does
   * the first request after that time (a read that failed for a passing reason, such as EMFILE, is not kept).
   */
  readonly #failed = new Map<
    string,
    { readonly session: LoadedModel["session"]; readonly error: unknown; readonly at: number }
  >();
  /** What `closeAll` is draining, for `endDrain`. */
  #closing: Promise<TextModel>[] = [];

  constructor(ctx: RouteContext) {
    this.#ctx = ctx;
  }

  #listCache: { at: number; value: Promise<LoadedModel[]> } | undefined;

  /** The model's classifier: its own, or for a reranker one made on first use on the same session. */
  classifierOf(tm: TextModel): Promise<TextClassifier> {
    if (tm.classifier) return Promise.resolve(tm.classifier);
    if (!tm.lazyClassifier) {
      tm.lazyClassifier = TextClassifier.load(tm.model, { ...tm.options, folder: tm.folder });
      tm.lazyClassifier.catch(() => {
        tm.lazyClassifier = undefined;
      });
    }
    return tm.lazyClassifier;
  }

  /**
   * Loaded hf models, in index order. The registry's index reads the repository folder, so the
   * list is cached for a second (requests that name their model skip it altogether); a cached list is
   * brought up to date with unloads and reloads since (map lookups, no folder read).
   */
  list(): Promise<LoadedModel[]> {
    const now = Date.now();
    if (this.#listCache && now - this.#listCache.at < 1000)
      return this.#listCache.value.then((models) => this.#current(models));
    const value = this.#scan();
    this.#listCache = { at: now, value };
    value.catch(() => {
      this.#listCache = undefined;
    });
    return value;
  }

  /** `models` (a list up to a second old) as loaded now: one unloaded since left out, one reloaded at its new load. */
  #current(models: readonly LoadedModel[]): LoadedModel[] {
    return models.flatMap((m) => {
      try {
        const now = this.#ctx.registry.tryGet(m.name, m.version);
        return now.kind === "hf" ? [now] : [];
      } catch {
        return [];
      }
    });
  }

  async #scan(): Promise<LoadedModel[]> {
    const out: LoadedModel[] = [];
    for (const s of await this.#ctx.registry.index()) {
      if (s.state !== "ready") continue;
      try {
        const m = this.#ctx.registry.tryGet(s.name, s.version);
        if (m.kind === "hf" && !out.some((o) => o.name === m.name)) out.push(m);
      } catch {
        // raced with an unload
      }
    }
    return out;
  }

  async pick(name: string | undefined, task: Task): Promise<TextModel> {
    if (name !== undefined) {
      // Fast path: a loaded model by name, without scanning the repository.
      let direct: LoadedModel | undefined;
      try {
        direct = this.#ctx.registry.tryGet(name);
      } catch {
        direct = undefined;
      }
      if (direct?.kind === "hf") {
        const tm = await this.#get(direct);
        if (serves(tm, task)) return tm;
      }
    }
    const models = await this.list();
    const m = name !== undefined ? models.find((x) => x.name === name) : undefined;
    if (!m) {
      // a model that cannot be built does not keep the others from serving; with none that serves, its error stands
      const settled = await Promise.allSettled(models.map((x) => this.#get(x)));
      const wrapped = settled.flatMap((w) => (w.status === "fulfilled" ? [w.value] : []));
      const ofTask = wrapped.filter((w) => serves(w, task));
      if (ofTask.length >= 1 && (name === undefined || ofTask.length === 1)) return ofTask[0] as TextModel;
      const failed = settled.find((w) => w.status === "rejected");
      if (failed !== undefined) throw failed.reason;
      if (ofTask.length === 0 && wrapped.length > 0 && (name === undefined || wrapped.length === 1)) {
        throw fail(
          "E_TEXT_WRONG_MODEL",
          task === "reranker"
            ? "model is not a re-ranker model"
            : task === "classifier"
              ? "model is not a classifier model"
              : "model is not an embedding model",
          "model",
        );
      }
      if (!this.#ctx.models.isReady() && !this.#ctx.lifecycle.draining) {
        throw new TesseraError("E_MODEL_NOT_READY", "models are still loading", { retryAfterMs: 1000 });
      }
      throw new TesseraError(
        "E_MODEL_NOT_FOUND",
        name !== undefined ? `model ${name} is not a loaded text model` : "no text model is loaded",
        {
          model: name ?? null,
          field: "model",
        },
      );
    }
    const tm = await this.#get(m);
    if (task === "embedding" && !tm.embedder)
      throw fail("E_TEXT_WRONG_MODEL", `model ${m.name} is not an embedding model`, "model");
    if (task === "reranker" && !tm.reranker)
      throw fail("E_TEXT_WRONG_MODEL", `model ${m.name} is not a re-ranker model`, "model");
    if (task === "classifier" && !serves(tm, "classifier"))
      throw fail("E_TEXT_WRONG_MODEL", `model ${m.name} is not a classifier model`, "model");
    return tm;
  }

  /**
   * Runs `run` on `tm`; when it fails because a reload closed the model's old session or batcher while the
   * request was queued (E_SESSION_CLOSED / E_BATCHER_CLOSED with a newer load in the registry), runs it once
   * more on the new load, as v2 infer does. A refusal at shutdown (same load) stands.
   */
  async retrying<R>(tm: TextModel, run: (tm: TextModel) => Promise<R>): Promise<R> {
    try {
      return await run(tm);
    } catch (err) {
      const now = this.#ctx.models.reloadedSince(tm.model, err);
      if (now === undefined) throw err;
      return run(await this.#get(now));
    }
  }

  #get(m: LoadedModel): Promise<TextModel> {
    const key = `${m.name}@${m.version}`;
    const failed = this.#failed.get(key);
    if (failed !== undefined) {
      if (failed.session === m.session && Date.now() - failed.at < FAILED_BUILD_MS)
        return Promise.reject(failed.error);
      this.#failed.delete(key);
    }
    const cached = this.#byKey.get(key);
    if (cached) {
      return cached.then((t) => {
        if (t.model.session === m.session) return t;
        this.#byKey.delete(key);
        void close(t);
        return this.#get(m);
      });
    }
    const p = this.#create(m);
    this.#byKey.set(key, p);
    p.catch((error: unknown) => {
      this.#byKey.delete(key);
      if (error instanceof TesseraError && error.code === "E_MODEL_LOAD_FAILED") {
        const at = Date.now();
        // versions unloaded since are never asked for again: drop their expired entries
        for (const [k, f] of this.#failed) if (at - f.at >= FAILED_BUILD_MS) this.#failed.delete(k);
        this.#failed.set(key, { session: m.session, error, at });
      }
    });
    return p;
  }

  /**
   * Builds the text model; a folder that cannot serve text (tokenizer, pooling or graph problems: the model's own
   * files or settings, not the request) answers 503 E_MODEL_LOAD_FAILED naming the reason, not a 500. `#get`
   * remembers that failure for a while (see `#failed`); a reload builds again at once.
   */
  async #create(m: LoadedModel): Promise<TextModel> {
    try {
      return await this.#build(m);
    } catch (err) {
      if (err instanceof TesseraError && /^E_(HF|TEXT|TOKENIZER|SAFETENSORS)_/.test(err.code)) {
        throw new TesseraError(
          "E_MODEL_LOAD_FAILED",
          `model ${m.name} version ${m.version} cannot serve text requests: ${err.message} (fix its files or settings, then load it again: POST /v2/repository/models/${m.name}/load)`,
          { model: m.name, version: m.version, cause: err.code },
        );
      }
      throw err;
    }
  }

  async #build(m: LoadedModel): Promise<TextModel> {
    // The model's own batching settings (with its override for the provider its session runs on),
    // else the server's (--max-batch-size, ...), as for v2 models.
    const b = batchingFor(m.config, m.session.activeProvider);
    const server = this.#ctx.config.batching;
    const opts = {
      ...(m.config.maxTokens !== undefined ? { maxLength: m.config.maxTokens } : {}),
      ...(b.maxBatchCost !== undefined ? { maxBatchTokens: b.maxBatchCost } : {}),
      maxBatchSize: b.maxBatchSize ?? server.maxBatchSize,
      maxQueueDelayMs: b.maxQueueDelayMs ?? server.maxQueueDelayMs,
      maxQueueSize: b.maxQueueSize ?? server.maxQueueSize,
      onBatch: (st: BatchStats) => {
        if (st.error !== undefined) return;
        this.#ctx.metrics.observeBatch(m.name, { size: st.size, inferMs: st.inferMs });
        for (const q of st.queueMs) this.#ctx.metrics.observeQueue(m.name, q);
      },
    };
    // Every input is one queued sequence: a request with more than the queue holds could never
    // be accepted (429 on every retry), so the queue size also bounds the inputs per request (422).
    const maxInputs = Math.min(m.config.maxInputs ?? DEFAULT_MAX_INPUTS, opts.maxQueueSize);
    // Read the folder (and build its tokenizer) once: its task picks the class, which then reuses it.
    const dir = m.hfDir ?? m.dir;
    const folder = loadHfFolder(dir, { ...opts, onnxFile: relative(dir, m.modelPath) });
    if (folder.task !== "embedding" && m.config.pooling !== undefined) {
      // As TEI ignores --pooling for a classifier, with a warning: the logits head does its own pooling.
      this.#ctx.logger.warn(
        { model: m.name, version: m.version, pooling: m.config.pooling },
        `model ${m.name}: "pooling" in its config.json is ignored: it is a ${folder.task === "reranker" ? "re-ranker" : "classifier"} (*ForSequenceClassification), which pools inside the graph`,
      );
    }
    if (folder.task === "classifier")
      return {
        model: m,
        folder,
        classifier: await TextClassifier.load(m, { ...opts, folder }),
        options: opts,
        maxInputs,
      };
    if (folder.task === "reranker")
      return {
        model: m,
        folder,
        reranker: await Reranker.load(m, { ...opts, folder }),
        options: opts,
        maxInputs,
      };
    // Pooling: the model's config.json `pooling`, else the server's (--pooling, for a single HF folder), else the folder's.
    let pooling = m.config.pooling ?? this.#ctx.config.pooling;
    let embedder: TextEmbedder;
    try {
      embedder = await TextEmbedder.load(m, {
        ...opts,
        folder,
        ...(pooling !== undefined ? { pooling } : {}),
      });
    } catch (err) {
      // The server-wide --pooling is a default for folders that leave pooling open; a graph that pools by itself
      // (sentence_embedding) keeps its own, with a warning. A model's own config.json setting stays an error.
      const fromServer = m.config.pooling === undefined && pooling !== undefined;
      const poolingRefused =
        err instanceof TesseraError && err.code === "E_TEXT_OPTIONS" && err.facts.field === "pooling";
      if (!(fromServer && poolingRefused)) throw err;
      this.#ctx.logger.warn(
        { model: m.name, version: m.version, pooling },
        `model ${m.name}: the server's pooling "${pooling}" is not applied: ${err.message}`,
      );
      pooling = undefined;
      embedder = await TextEmbedder.load(m, { ...opts, folder });
    }
    if (pooling === undefined && folder.poolingSource === "default" && !embedder.pooledByModel) {
      // TEI refuses such a folder (or takes CLS for BERT-likes); Tessera keeps its default, but says so.
      this.#ctx.logger.warn(
        { model: m.name, version: m.version, pooling: embedder.pooling, dir },
        `model ${m.name}: no pooling config (1_Pooling/config.json) and no pooling setting; assuming ${embedder.pooling} pooling. If the model was trained with another (e.g. cls for bge exports), set "pooling" in the model's config.json or start with --pooling`,
      );
    }
    return { model: m, folder, embedder, options: opts, maxInputs };
  }

  async closeAll(): Promise<void> {
    const all = [...this.#byKey.values()];
    this.#closing = all;
    this.#byKey.clear();
    this.#failed.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (t) => close(t),
          () => undefined,
        ),
      ),
    );
  }

  /** The shutdown deadline passed: queued text requests are refused (503); running batches finish. */
  endDrain(): void {
    for (const p of [...this.#closing, ...this.#byKey.values()]) {
      void p.then(
        (t) => close(t, { drain: false }),
        () => undefined,
      );
    }
  }
}

async function close(t: TextModel, options: { drain?: boolean } = {}): Promise<void> {
  await t.embedder?.close(options);
  await t.reranker?.close(options);
  await t.classifier?.close(options);
  await t.lazyClassifier?.then(
    (c) => c.close(options),
    () => undefined,
  );
}

/** One /predict input: a text or a pair. */
type PredictItem = string | [string, string];

/**
 * Parses TEI's `PredictInput`: a string, a pair `[a, b]` (also `[a]`: one text), or a batch of
 * `[a]` / `[a, b]` arrays. `batch` says whether the answer is a list of lists.
 */
export function parsePredictInputs(v: unknown): { readonly items: PredictItem[]; readonly batch: boolean } {
  const field = "inputs";
  const seq = (x: unknown, at: string): PredictItem => {
    if (!Array.isArray(x) || x.length < 1 || x.length > 2 || !x.every((s) => typeof s === "string"))
      throw fail("E_TEXT_INPUT", `\`${at}\` must be [text] or [text, text_pair]`, field);
    const i = x.findIndex((s: string) => s.length === 0);
    if (i >= 0) throw fail("E_TEXT_EMPTY", `\`${at}[${i}]\` cannot be an empty string`, field);
    return x.length === 1 ? (x[0] as string) : [x[0] as string, x[1] as string];
  };
  if (v === undefined || v === null) throw fail("E_TEXT_REQUEST", "`inputs` is required", field);
  if (typeof v === "string") {
    if (v.length === 0) throw fail("E_TEXT_EMPTY", "`inputs` cannot be empty", field);
    return { items: [v], batch: false };
  }
  if (!Array.isArray(v))
    throw fail(
      "E_TEXT_INPUT",
      "`inputs` must be a string, a pair of strings [string, string] or a batch [[string], [string, string], ...]",
      field,
    );
  if (v.length === 0) throw fail("E_TEXT_EMPTY", "`inputs` cannot be empty", field);
  if (typeof v[0] === "string") return { items: [seq(v, field)], batch: false };
  return { items: v.map((x, i) => seq(x, `inputs[${i}]`)), batch: true };
}

/** Whether a request that does not say truncates inputs over the model's length (config.json `autoTruncate`, default true). */
function autoTruncate(tm: TextModel): boolean {
  return tm.model.config.autoTruncate ?? true;
}

function inputCount(input: ParsedInputs): number {
  return input.kind === "text"
    ? input.texts.length
    : input.kind === "ids"
      ? input.ids.length
      : input.items.length;
}

function checkCount(n: number, tm: TextModel): void {
  if (n > tm.maxInputs) {
    throw fail(
      "E_TEXT_TOO_MANY_INPUTS",
      `batch size ${n} > maximum allowed batch size ${tm.maxInputs}`,
      "input",
      { inputs: n, maxInputs: tm.maxInputs },
    );
  }
}

function f32ToBase64(v: Float32Array): string {
  // Little-endian float32, as the OpenAI SDKs decode it (x86 and ARM are little-endian; convert otherwise).
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return bytes.toString("base64");
  const out = Buffer.alloc(v.byteLength);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i] as number, i * 4);
  return out.toString("base64");
}

function rows(t: { shape: readonly number[]; data: ArrayLike<number> | Float32Array }): Float32Array[] {
  const [n, d] = t.shape as [number, number];
  const data = t.data as Float32Array;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(data.subarray(i * d, (i + 1) * d));
  return out;
}

function timingHeaders(
  reply: FastifyReply,
  r: { totalTokens: number; queueMs: number; inferMs: number },
  start: number,
): void {
  reply.header("x-compute-tokens", String(r.totalTokens));
  reply.header("x-queue-time", r.queueMs.toFixed(2));
  reply.header("x-inference-time", r.inferMs.toFixed(2));
  reply.header("x-total-time", (performance.now() - start).toFixed(2));
}

/** Registers the text routes; called by buildApp when this file exists. */
export async function registerTextRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const models = new TextModels(ctx);
  app.addHook("onClose", async () => {
    await models.closeAll();
  });
  ctx.models.onEndDrain(() => models.endDrain());

  await app.register(async (openai) => {
    openai.setErrorHandler((err, _req, reply) => sendOpenAIError(reply, err, ctx.metrics));

    const openaiEmbeddings = async (req: FastifyRequest, reply: FastifyReply) => {
      const body = jsonBody(req);
      const input = parseInputs(body.input, "input");
      const fmt = body.encoding_format ?? "float";
      if (fmt !== "float" && fmt !== "base64") {
        throw fail(
          "E_TEXT_REQUEST",
          `\`encoding_format\` must be "float" or "base64", got ${JSON.stringify(fmt)}`,
          "encoding_format",
        );
      }
      const dimensions = optDimensions(body);
      const modelName = optString(body, "model");
      optString(body, "user");
      const tm = await models.pick(modelName, "embedding");
      req.tesseraModel = tm.model.name;
      const n = input.kind === "text" ? input.texts.length : input.ids.length;
      checkCount(n, tm);
      const opts = {
        ...(dimensions !== undefined ? { dimensions } : {}),
        normalize: true,
        // As TEI's /v1/embeddings: no per-request switch, the model's autoTruncate (default true) decides.
        truncate: autoTruncate(tm),
        signal: requestGoneSignal(req),
      };
      const r = await models.retrying(tm, (t) =>
        input.kind === "text"
          ? (t.embedder as TextEmbedder).embedDetailed(input.texts, opts)
          : (t.embedder as TextEmbedder).embedIds(input.ids, opts),
      );
      timingHeaders(reply, r, req.tesseraStart);
      const data = rows(r.embeddings).map((v, index) => ({
        object: "embedding",
        index,
        embedding: fmt === "base64" ? f32ToBase64(v) : Array.from(v),
      }));
      return {
        object: "list",
        data,
        model: tm.model.name,
        usage: { prompt_tokens: r.totalTokens, total_tokens: r.totalTokens },
      };
    };
    openai.post("/v1/embeddings", openaiEmbeddings);
    // TEI serves the OpenAI route at /embeddings too.
    openai.post("/embeddings", openaiEmbeddings);

    const modelObject = (name: string) => ({
      id: name,
      object: "model",
      created: Math.floor(ctx.lifecycle.startedAt / 1000),
      owned_by: "tessera",
    });
    openai.get("/v1/models", async () => {
      const list = await models.list();
      return { object: "list", data: list.map((m) => modelObject(m.name)) };
    });
    // OpenAI's "retrieve model" (the openai client's models.retrieve).
    openai.get("/v1/models/:model", async (req) => {
      const name = (req.params as { model: string }).model;
      if (!(await models.list()).some((m) => m.name === name))
        throw new TesseraError("E_MODEL_NOT_FOUND", `model ${name} is not a loaded text model`, {
          model: name,
          field: "model",
        });
      return modelObject(name);
    });
  });

  await app.register(async (tei) => {
    tei.setErrorHandler((err, _req, reply) => sendTeiError(reply, err, ctx.metrics));

    const embedRoute = async (
      req: FastifyRequest,
      reply: FastifyReply,
      body: Record<string, unknown> = jsonBody(req),
    ) => {
      const input = parseInputs(body.inputs, "inputs", true);
      const tm = await models.pick(optString(body, "model"), "embedding");
      req.tesseraModel = tm.model.name;
      checkCount(inputCount(input), tm);
      const dimensions = optDimensions(body);
      const promptName = optString(body, "prompt_name");
      const opts = {
        ...(dimensions !== undefined ? { dimensions } : {}),
        signal: requestGoneSignal(req),
        normalize: optBool(body, "normalize") ?? true,
        truncate: optBool(body, "truncate") ?? autoTruncate(tm),
        truncationDirection: direction(body),
      };
      const textOpts = { ...opts, ...(promptName ? { promptName } : {}) };
      if (input.kind === "mixed") {
        // TEI batches may mix texts and token ids: embed each kind, then put the rows back in order.
        const textAt: number[] = [];
        const idsAt: number[] = [];
        input.items.forEach((x, i) => {
          (typeof x === "string" ? textAt : idsAt).push(i);
        });
        const [t, d] = await Promise.all([
          models.retrying(tm, (m) =>
            (m.embedder as TextEmbedder).embedDetailed(
              textAt.map((i) => input.items[i] as string),
              textOpts,
            ),
          ),
          models.retrying(tm, (m) =>
            (m.embedder as TextEmbedder).embedIds(
              idsAt.map((i) => input.items[i] as number[]),
              opts,
            ),
          ),
        ]);
        const out: Float32Array[] = new Array(input.items.length);
        rows(t.embeddings).forEach((v, k) => {
          out[textAt[k] as number] = v;
        });
        rows(d.embeddings).forEach((v, k) => {
          out[idsAt[k] as number] = v;
        });
        const n = input.items.length;
        timingHeaders(
          reply,
          {
            totalTokens: t.totalTokens + d.totalTokens,
            queueMs: (t.queueMs * textAt.length + d.queueMs * idsAt.length) / n,
            inferMs: (t.inferMs * textAt.length + d.inferMs * idsAt.length) / n,
          },
          req.tesseraStart,
        );
        return out.map((v) => Array.from(v));
      }
      const r = await models.retrying(tm, (m) =>
        input.kind === "text"
          ? (m.embedder as TextEmbedder).embedDetailed(input.texts, textOpts)
          : (m.embedder as TextEmbedder).embedIds(input.ids, opts),
      );
      timingHeaders(reply, r, req.tesseraStart);
      return rows(r.embeddings).map((v) => Array.from(v));
    };
    tei.post("/embed", (req, reply) => embedRoute(req, reply));

    const rerankRoute = async (
      req: FastifyRequest,
      reply: FastifyReply,
      body: Record<string, unknown> = jsonBody(req),
    ) => {
      const query = body.query;
      if (typeof query !== "string") throw fail("E_TEXT_REQUEST", "`query` must be a string", "query");
      if (query.length === 0) throw fail("E_TEXT_EMPTY", "`query` cannot be empty", "query");
      const texts = body.texts;
      if (!Array.isArray(texts)) throw fail("E_TEXT_REQUEST", "`texts` must be an array of strings", "texts");
      if (texts.length === 0) throw fail("E_TEXT_EMPTY", "`texts` cannot be empty", "texts");
      const bad = texts.findIndex((t) => typeof t !== "string");
      if (bad >= 0) throw fail("E_TEXT_INPUT", `\`texts[${bad}]\` must be a string`, "texts", { index: bad });
      const tm = await models.pick(optString(body, "model"), "reranker");
      req.tesseraModel = tm.model.name;
      checkCount(texts.length, tm);
      const raw = optBool(body, "raw_scores") ?? false;
      const returnText = optBool(body, "return_text") ?? false;
      const rerankOptions = {
        returnScores: raw ? ("raw" as const) : ("sigmoid" as const),
        truncate: optBool(body, "truncate") ?? autoTruncate(tm),
        truncationDirection: direction(body),
        signal: requestGoneSignal(req),
      };
      const r = await models.retrying(tm, (m) =>
        (m.reranker as Reranker).rerankDetailed(query, texts as string[], rerankOptions),
      );
      // As TEI: a NaN score is the model's failure (e.g. an fp16 overflow), and cannot be ranked.
      const nan = r.hits.find((h) => Number.isNaN(h.score));
      if (nan)
        throw fail("E_TEXT_NAN", `score is NaN (texts[${nan.index}])`, undefined, { index: nan.index });
      reply.header("x-compute-tokens", String(r.totalTokens));
      return r.hits.map((h) => ({
        index: h.index,
        score: h.score,
        ...(returnText ? { text: texts[h.index] } : {}),
      }));
    };
    tei.post("/rerank", (req, reply) => rerankRoute(req, reply));

    // TEI /predict: every label with its score, best first. Scores follow the model's config.json as
    // transformers' pipeline does (sigmoid per label for problem_type multi_label_classification,
    // e.g. go_emotions; softmax over several labels; sigmoid for one); TEI itself always takes softmax
    // over several labels. `raw_scores: true` returns the logits.
    const predictRoute = async (
      req: FastifyRequest,
      reply: FastifyReply,
      body: Record<string, unknown> = jsonBody(req),
    ) => {
      const { items, batch } = parsePredictInputs(body.inputs);
      const tm = await models.pick(optString(body, "model"), "classifier");
      req.tesseraModel = tm.model.name;
      checkCount(items.length, tm);
      const raw = optBool(body, "raw_scores") ?? false;
      const classifyOptions = {
        ...(raw ? { scoreFunction: "none" as const } : {}),
        truncate: optBool(body, "truncate") ?? autoTruncate(tm),
        truncationDirection: direction(body),
        signal: requestGoneSignal(req),
      };
      const r = await models.retrying(tm, async (m) =>
        (await models.classifierOf(m)).classifyDetailed(items, classifyOptions),
      );
      // As TEI: a NaN score is the model's failure (e.g. an fp16 overflow).
      const nan = r.predictions.findIndex((p) => p.some((x) => Number.isNaN(x.score)));
      if (nan >= 0) throw fail("E_TEXT_NAN", `score is NaN (inputs[${nan}])`, undefined, { index: nan });
      reply.header("x-compute-tokens", String(r.totalTokens));
      const out = r.predictions.map((p: readonly LabelScore[]) =>
        p.map(({ score, label }) => ({ score, label })),
      );
      return batch ? out : out[0];
    };
    tei.post("/predict", (req, reply) => predictRoute(req, reply));

    tei.post("/tokenize", async (req) => {
      const body = jsonBody(req);
      const input = parseInputs(body.inputs, "inputs");
      if (input.kind !== "text")
        throw fail("E_TEXT_INPUT", "`inputs` must be a string or an array of strings", "inputs");
      const tm = await models
        .pick(optString(body, "model"), "embedding")
        .catch(() => models.pick(optString(body, "model"), "any"));
      const tok = tm.folder.tokenizer;
      checkCount(input.texts.length, tm);
      const add = optBool(body, "add_special_tokens") ?? true;
      const promptName = optString(body, "prompt_name");
      // The prompt /embed would prepend (the named one, else the model's default_prompt_name), so
      // the tokens shown are the tokens embedded.
      const prefix = tm.embedder ? tm.embedder.promptFor(promptName !== undefined ? { promptName } : {}) : "";
      // As TEI: start/stop are UTF-8 byte offsets into the (prompt-prefixed) input, recovered by
      // alignment; `special` marks the tokens the template added (no offsets, `text` is the token);
      // any other token's `text` is its slice of the input (the vocabulary entry when it could not
      // be aligned, with null offsets).
      return input.texts.map((t) => {
        const full = prefix + t;
        const bytes = Buffer.from(full, "utf8");
        const e = tok.encodeWithOffsets(full, add);
        return tok.tokensOf(e.ids).map((x, i) => {
          const span = e.offsets[i] ?? null;
          if (e.added[i]) return { id: x.id, text: x.text, special: true, start: null, stop: null };
          return {
            id: x.id,
            text: span ? bytes.toString("utf8", span[0], span[1]) : x.text,
            special: false,
            start: span ? span[0] : null,
            stop: span ? span[1] : null,
          };
        });
      });
    });

    // TEI health: 200 with an empty body when a text model is loaded and serving, else 503.
    const health = async (_req: FastifyRequest, reply: FastifyReply) => {
      const ok = !ctx.lifecycle.stopping && ctx.models.isReady() && (await models.list()).length > 0;
      if (!ok) {
        return reply.code(503).type("application/json").send({ error: "unhealthy", error_type: "Unhealthy" });
      }
      return reply.code(200).send();
    };
    tei.get("/health", health);
    tei.get("/ping", health);
    // TEI's "Inference API health route" (POST / is the dispatching inference route below).
    tei.get("/", health);

    tei.post("/embed_all", async (req, reply) => {
      const body = jsonBody(req);
      // Texts, token ids or a mix, as /embed (TEI's input type).
      const input = parseInputs(body.inputs, "inputs", true);
      const items = input.kind === "text" ? input.texts : input.kind === "ids" ? input.ids : input.items;
      const tm = await models.pick(optString(body, "model"), "embedding");
      req.tesseraModel = tm.model.name;
      checkCount(items.length, tm);
      const promptName = optString(body, "prompt_name");
      let r: Awaited<ReturnType<TextEmbedder["embedTokens"]>>;
      try {
        const tokensOptions = {
          signal: requestGoneSignal(req),
          truncate: optBool(body, "truncate") ?? autoTruncate(tm),
          truncationDirection: direction(body),
          ...(promptName ? { promptName } : {}),
        };
        r = await models.retrying(tm, (m) => (m.embedder as TextEmbedder).embedTokens(items, tokensOptions));
      } catch (e) {
        if (e instanceof TesseraError && e.code === "E_TEXT_MODEL")
          throw fail("E_TEXT_WRONG_MODEL", e.message, "model");
        throw e;
      }
      reply.header("x-compute-tokens", String(r.totalTokens));
      return r.vectors.map((t) => {
        const [n, d] = t.shape as [number, number];
        const data = t.data as Float32Array;
        const out: number[][] = [];
        for (let i = 0; i < n; i++) out.push(Array.from(data.subarray(i * d, (i + 1) * d)));
        return out;
      });
    });

    const similarityRoute = async (
      req: FastifyRequest,
      reply: FastifyReply,
      body: Record<string, unknown> = jsonBody(req),
    ) => {
      const inputs = body.inputs;
      if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs))
        throw fail("E_TEXT_REQUEST", "`inputs` must be an object {source_sentence, sentences}", "inputs");
      const { source_sentence: source, sentences } = inputs as Record<string, unknown>;
      if (typeof source !== "string")
        throw fail("E_TEXT_REQUEST", "`inputs.source_sentence` must be a string", "inputs.source_sentence");
      if (source.length === 0)
        throw fail("E_TEXT_EMPTY", "`inputs.source_sentence` cannot be empty", "inputs.source_sentence");
      if (!Array.isArray(sentences))
        throw fail("E_TEXT_REQUEST", "`inputs.sentences` must be an array of strings", "inputs.sentences");
      if (sentences.length === 0)
        throw fail("E_TEXT_EMPTY", "`inputs.sentences` cannot be empty", "inputs.sentences");
      const bad = sentences.findIndex((x) => typeof x !== "string" || x.length === 0);
      if (bad >= 0)
        throw fail(
          typeof sentences[bad] === "string" ? "E_TEXT_EMPTY" : "E_TEXT_INPUT",
          `\`inputs.sentences[${bad}]\` must be a non-empty string`,
          "inputs.sentences",
          { index: bad },
        );
      const params = body.parameters ?? {};
      if (typeof params !== "object" || params === null || Array.isArray(params))
        throw fail("E_TEXT_REQUEST", "`parameters` must be an object", "parameters");
      const p = params as Record<string, unknown>;
      const tm = await models.pick(optString(body, "model"), "embedding");
      req.tesseraModel = tm.model.name;
      // As TEI: the source sentence counts toward the batch limit.
      checkCount(sentences.length + 1, tm);
      const promptName = optString(p, "prompt_name");
      const similarityOptions = {
        normalize: true,
        signal: requestGoneSignal(req),
        truncate: optBool(p, "truncate") ?? autoTruncate(tm),
        truncationDirection: direction(p),
        ...(promptName ? { promptName } : {}),
      };
      const r = await models.retrying(tm, (m) =>
        (m.embedder as TextEmbedder).embedDetailed([source, ...(sentences as string[])], similarityOptions),
      );
      timingHeaders(reply, r, req.tesseraStart);
      const [src, ...rest] = rows(r.embeddings);
      return rest.map((v) => {
        let dot = 0;
        for (let i = 0; i < v.length; i++) dot += (v[i] as number) * ((src as Float32Array)[i] as number);
        return dot;
      });
    };
    tei.post("/similarity", (req, reply) => similarityRoute(req, reply));

    tei.post("/decode", async (req) => {
      const body = jsonBody(req);
      const ids = body.ids;
      if (!Array.isArray(ids) || ids.length === 0)
        throw fail(
          ids === undefined || Array.isArray(ids) ? "E_TEXT_EMPTY" : "E_TEXT_REQUEST",
          "`ids` must be a non-empty array of token ids (or of such arrays)",
          "ids",
        );
      const batch: number[][] = ids.every((x) => typeof x === "number")
        ? [ids as number[]]
        : ids.every((x) => Array.isArray(x))
          ? (ids as number[][])
          : [];
      if (batch.length === 0)
        throw fail("E_TEXT_INPUT", "`ids` must hold only token ids, or only arrays of token ids", "ids");
      const empty = batch.findIndex((row) => row.length === 0);
      if (empty >= 0)
        throw fail("E_TEXT_EMPTY", `\`ids[${empty}]\` cannot be empty`, "ids", { index: empty });
      const tm = await models
        .pick(optString(body, "model"), "embedding")
        .catch(() => models.pick(optString(body, "model"), "any"));
      const tok = tm.folder.tokenizer;
      checkCount(batch.length, tm);
      batch.forEach((row, i) => {
        const j = row.findIndex(
          (x) => typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= tok.vocabSize,
        );
        if (j >= 0)
          throw fail(
            "E_TEXT_INPUT",
            `\`ids${batch.length > 1 || Array.isArray(ids[0]) ? `[${i}]` : ""}[${j}]\` is ${JSON.stringify(row[j])}; expected an id in 0..${tok.vocabSize - 1}`,
            "ids",
            { index: i },
          );
      });
      const skip = optBool(body, "skip_special_tokens") ?? true;
      return batch.map((row) => tok.decode(row, skip));
    });

    // SageMaker-style / huggingface_hub InferenceClient pointed at the server URL: POST / (and
    // /invocations) dispatches by body shape as TEI does by model type: {query, texts} → rerank,
    // {inputs: {source_sentence, sentences}} → similarity, other `inputs` → embed, or predict when
    // the model (the named one, else the only text model) is a sequence classifier.
    const dispatch = async (req: FastifyRequest, reply: FastifyReply) => {
      const body = jsonBody(req);
      if (typeof body.query === "string" || Array.isArray(body.texts)) return rerankRoute(req, reply, body);
      const inputs = body.inputs;
      if (typeof inputs === "object" && inputs !== null && !Array.isArray(inputs))
        return similarityRoute(req, reply, body);
      const name = optString(body, "model");
      const target = await models.pick(name, "any").catch(() => undefined);
      if (target?.classifier && (name !== undefined || (await models.list()).length === 1))
        return predictRoute(req, reply, body);
      return embedRoute(req, reply, body);
    };
    tei.post("/", dispatch);
    tei.post("/invocations", dispatch);

    tei.get("/info", async () => {
      const list = await models.list();
      if (list.length === 0)
        throw new TesseraError("E_MODEL_NOT_READY", "no text model is loaded", { retryAfterMs: 1000 });
      const tm = await models
        .pick(undefined, "embedding")
        .catch(() => models.pick(undefined, "reranker"))
        .catch(() => models.pick(undefined, "any"));
      const folder = tm.folder;
      const batching = batchingFor(tm.model.config, tm.model.session.activeProvider);
      const labels = folder.labels ?? ["LABEL_0"];
      const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
      const label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
      return {
        model_id: tm.model.name,
        model_sha: tm.model.description.sha256,
        model_dtype: "float32",
        served_model_name: tm.model.name,
        model_type: tm.embedder
          ? { embedding: { pooling: tm.embedder.pooling === "last" ? "last-token" : tm.embedder.pooling } }
          : tm.reranker
            ? { reranker: { id2label, label2id } }
            : { classifier: { id2label, label2id } },
        max_concurrent_requests: batching.maxQueueSize ?? ctx.config.batching.maxQueueSize,
        max_input_length: folder.maxLength,
        max_batch_tokens: Math.max(batching.maxBatchCost ?? DEFAULT_MAX_BATCH_TOKENS, folder.maxLength),
        max_batch_requests: batching.maxBatchSize ?? ctx.config.batching.maxBatchSize,
        max_client_batch_size: tm.maxInputs,
        auto_truncate: autoTruncate(tm),
        tokenization_workers: 1,
        version: "0.1.0",
        sha: null,
        docker_label: null,
      };
    });
  });
}
