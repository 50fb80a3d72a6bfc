/**
 * TextEmbedder: text → one `[n, dim]` float32 tensor of sentence embeddings.
 *
 * Steps per call: prompt → tokenize (with truncation rules) → queue each sequence on the shared
 * EncoderRunner (token-budget, length-sorted batches on worker sessions) → pool (mean / cls /
 * last / max, over the real tokens) → Matryoshka cut to `dimensions` → L2 normalize.
 * Tokenization happens in chunks that are queued as soon as they are ready, so the first
 * batches compute while later texts are still being tokenized.
 *
 * @example
 * const emb = await TextEmbedder.load("models/all-MiniLM-L6-v2");
 * const t = await emb.embed(["hello", "world"]);  // Tensor float32 [2, 384]
 * t.select(0, 1);                                 // row 1, a view
 * await emb.close();
 */
import { setMaxListeners } from "node:events";
import { relative } from "node:path";
import type { Priority, SubmitOptions } from "../batching/index.ts";
import {
  type InferenceSession,
  type LoadedModel,
  openSession,
  type SessionOptions,
} from "../runtime/index.ts";
import { Tensor, TesseraError } from "../tensor/index.ts";
import { type DenseLayer, loadDense } from "./dense.ts";
import { type HfFolder, type HfFolderOptions, loadHfFolder, type Pooling } from "./hf-folder.ts";
import { l2NormalizeInPlace } from "./pooling.ts";
import { type BatchingOptions, detectEncoderIO, EncoderRunner } from "./runner.ts";
import type { TextEncoding, TextTokenizer, TruncationDirection } from "./tokenizer.ts";

export interface TextModelOptions extends HfFolderOptions, BatchingOptions {
  /** Session options when Tessera opens the session (ignored for a LoadedModel). */
  readonly session?: SessionOptions;
  /** The folder already read by `loadHfFolder` (e.g. to look at its task first): it is not read again. */
  readonly folder?: HfFolder;
}

export interface EmbedderOptions extends TextModelOptions {
  /** Override the folder's pooling (from 1_Pooling/config.json). */
  readonly pooling?: Pooling;
  /** Override whether embeddings are L2-normalized by default (folder: Normalize module). */
  readonly normalize?: boolean;
}

export interface EmbedOptions {
  readonly pooling?: Pooling;
  /** L2-normalize each row. Default: the model's setting (true when it has a Normalize module). */
  readonly normalize?: boolean;
  /** Keep the first N dimensions (Matryoshka), then renormalize when normalizing. */
  readonly dimensions?: number;
  /** Literal text prepended to every input. */
  readonly prompt?: string;
  /** Name of a prompt from config_sentence_transformers.json ("query", "document"). */
  readonly promptName?: string;
  /** Cut inputs longer than the model's max length (default false: throw E_TEXT_TOO_LONG naming the input). */
  readonly truncate?: boolean;
  readonly truncationDirection?: TruncationDirection;
  readonly signal?: AbortSignal;
  /** Epoch ms. */
  readonly deadline?: number;
  readonly priority?: Priority;
}

/** Embeddings plus what the server needs for `usage` and headers. */
export interface EmbedResult {
  /** `[n, dim]` float32, contiguous; `select(0, i)` gives row i as a view. */
  readonly embeddings: Tensor<"float32">;
  /** Tokens embedded per input (after truncation, special tokens included). */
  readonly tokens: readonly number[];
  readonly totalTokens: number;
  /** Mean ms the inputs waited in the queue / spent in their batch's run. */
  readonly queueMs: number;
  readonly inferMs: number;
}

/** Tokenizing in chunks of this many texts lets compute start before a large call is fully tokenized. */
const TOKENIZE_CHUNK = 64;

/** Shared model plumbing of TextEmbedder and Reranker. */
export interface OpenedTextModel {
  readonly folder: HfFolder;
  readonly session: InferenceSession;
  readonly ownsSession: boolean;
}

/** Loads the folder and opens (or reuses) its session. */
export async function openTextModel(
  source: string | LoadedModel,
  options: TextModelOptions,
): Promise<OpenedTextModel> {
  const dir = typeof source === "string" ? source : (source.hfDir ?? source.dir);
  if (typeof source !== "string") {
    // The registry already chose the graph (its config's variant); read the folder around that file.
    const folder =
      options.folder ?? loadHfFolder(dir, { ...options, onnxFile: relative(dir, source.modelPath) });
    return { folder, session: source.session, ownsSession: false };
  }
  const folder = options.folder ?? loadHfFolder(dir, options);
  const session = await openSession(folder.modelPath, {
    graphOptimization: "all",
    label: dir,
    ...options.session,
  });
  return { folder, session, ownsSession: true };
}

export function textInputError(message: string, facts: Record<string, unknown>): TesseraError {
  return new TesseraError("E_TEXT_INPUT", message, facts);
}

/** Encodes texts with the index of the input in errors. */
export function encodeAll(
  tok: TextTokenizer,
  texts: readonly string[],
  from: number,
  to: number,
  prefix: string,
  truncate: boolean,
  direction: TruncationDirection,
): TextEncoding[] {
  const out: TextEncoding[] = [];
  for (let i = from; i < to; i++) {
    const t = texts[i];
    if (typeof t !== "string")
      throw textInputError(`input ${i} is ${t === null ? "null" : typeof t}; expected a string`, {
        index: i,
      });
    try {
      out.push(tok.encode(prefix + t, { truncate, truncationDirection: direction }));
    } catch (e) {
      if (e instanceof TesseraError && e.code === "E_TEXT_INPUT")
        throw textInputError(`input ${i}: ${e.message}`, { ...e.facts, index: i });
      if (e instanceof TesseraError && e.code === "E_TEXT_TOO_LONG") {
        throw new TesseraError(
          "E_TEXT_TOO_LONG",
          `input ${i} has ${String(e.facts.tokens)} tokens; the limit is ${String(e.facts.maxTokens)} (truncation is off)`,
          {
            ...e.facts,
            index: i,
          },
        );
      }
      throw e;
    }
  }
  return out;
}

export class TextEmbedder {
  readonly folder: HfFolder;
  readonly tokenizer: TextTokenizer;
  /** Embedding width of the model. */
  readonly dim: number;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  readonly maxLength: number;
  readonly session: InferenceSession;
  /** True when the graph returns pooled vectors itself (sentence_embedding); `pooling` is then fixed. */
  readonly pooledByModel: boolean;
  readonly #runner: EncoderRunner;
  readonly #ownsSession: boolean;
  /** Dense modules applied here after pooling (empty when the graph pools, or the pipeline has none). */
  readonly #dense: readonly DenseLayer[];

  private constructor(
    m: OpenedTextModel,
    runner: EncoderRunner,
    dim: number,
    options: EmbedderOptions,
    pooledByModel: boolean,
    dense: readonly DenseLayer[],
  ) {
    this.#dense = dense;
    this.pooledByModel = pooledByModel;
    this.folder = m.folder;
    this.tokenizer = m.folder.tokenizer;
    this.session = m.session;
    this.#ownsSession = m.ownsSession;
    this.#runner = runner;
    this.dim = dim;
    this.pooling = options.pooling ?? m.folder.pooling;
    this.normalize = options.normalize ?? m.folder.normalize;
    this.maxLength = m.folder.maxLength;
  }

  /**
   * Loads a Hugging Face folder (or a registry `LoadedModel` of kind "hf", reusing its session)
   * and probes the embedding width with one tiny run.
   */
  static async load(source: string | LoadedModel, options: EmbedderOptions = {}): Promise<TextEmbedder> {
    const m = await openTextModel(source, options);
    try {
      // The graph's own pooled output wins when the pipeline has layers after pooling (Dense), or
      // when the folder does not say how to pool (no 1_Pooling config) and no override is given.
      const mustPool = m.folder.modulesAfterPooling.length > 0;
      const preferPooled =
        mustPool || (m.folder.poolingSource === "default" && options.pooling === undefined);
      const io = detectEncoderIO(m.session, "embedding", { preferPooled });
      // A graph with token states only (transformers.js / optimum exports): Dense modules after pooling
      // run here from their safetensors weights; any other module cannot be reproduced.
      const dense: DenseLayer[] = [];
      if (
        mustPool &&
        io.outputRank !== 2 &&
        m.folder.modulesAfterPoolingPaths.every((x) => /Dense$/.test(x.type))
      )
        for (const x of m.folder.modulesAfterPoolingPaths) dense.push(loadDense(m.folder.dir, x.path));
      if (mustPool && io.outputRank !== 2 && dense.length === 0) {
        throw new TesseraError(
          "E_TEXT_MODEL",
          `modules.json has ${m.folder.modulesAfterPooling.join(", ")} after pooling, but the graph has no pooled output (sentence_embedding); pooling ${io.output} here would skip those layers`,
          { output: io.output, modules: m.folder.modulesAfterPooling },
        );
      }
      // A pooling override the graph's own pooled output would not honour is a mistake, not a no-op.
      if (
        options.pooling !== undefined &&
        io.outputRank === 2 &&
        (m.folder.poolingSource !== "config" || options.pooling !== m.folder.pooling)
      ) {
        throw new TesseraError(
          "E_TEXT_OPTIONS",
          `pooling "${options.pooling}" cannot be applied: the graph returns pooled embeddings (${io.output})${m.folder.poolingSource === "config" ? ` made with ${m.folder.pooling} pooling` : ""}; use a graph with token states (last_hidden_state / token_embeddings) or drop the override`,
          { field: "pooling", pooling: options.pooling, output: io.output },
        );
      }
      const runner = EncoderRunner.forFolder(m.session, io, m.folder, options);
      const probe = await runner.submit(m.folder.tokenizer.encode("a", { truncate: true }), {
        kind: "pool",
        pooling: "cls",
      });
      let dim = probe.value.length;
      for (const d of dense) {
        if (d.inFeatures !== dim) {
          await runner.close({ drain: false });
          throw new TesseraError(
            "E_TEXT_MODEL",
            `${d.path} takes vectors of ${d.inFeatures}, but the layer before gives ${dim}`,
            { path: d.path, inFeatures: d.inFeatures, got: dim },
          );
        }
        dim = d.outFeatures;
      }
      return new TextEmbedder(m, runner, dim, options, io.outputRank === 2, dense);
    } catch (e) {
      if (m.ownsSession) await m.session.close();
      throw e;
    }
  }

  /** Returns the `[n, dim]` float32 embeddings of `texts` (rows are views of one buffer). */
  async embed(texts: string | readonly string[], options: EmbedOptions = {}): Promise<Tensor<"float32">> {
    return (await this.embedDetailed(typeof texts === "string" ? [texts] : texts, options)).embeddings;
  }

  /** The prompt prefix an options object selects (literal `prompt`, `promptName`, or the model default). */
  promptFor(options: Pick<EmbedOptions, "prompt" | "promptName">): string {
    if (options.prompt !== undefined) return options.prompt;
    const name = options.promptName ?? this.folder.defaultPromptName;
    if (name === undefined) return "";
    const p = this.folder.prompts[name];
    if (p === undefined) {
      const known = Object.keys(this.folder.prompts);
      throw new TesseraError(
        "E_TEXT_PROMPT",
        `unknown prompt name "${name}"; the model has ${known.length ? known.join(", ") : "no prompts"}`,
        {
          promptName: name,
          known,
        },
      );
    }
    return p;
  }

  /** Checks `dimensions` against the model width; throws `E_TEXT_DIMENSIONS`. */
  checkDimensions(dimensions: number | undefined): number {
    if (dimensions === undefined) return this.dim;
    if (!Number.isInteger(dimensions) || dimensions <= 0 || dimensions > this.dim) {
      throw new TesseraError(
        "E_TEXT_DIMENSIONS",
        `dimensions must be an integer in 1..${this.dim}, got ${dimensions}`,
        {
          field: "dimensions",
          dimensions,
          max: this.dim,
        },
      );
    }
    return dimensions;
  }

  /** Like `embed`, plus token counts and timings. */
  async embedDetailed(texts: readonly string[], options: EmbedOptions = {}): Promise<EmbedResult> {
    if (!Array.isArray(texts)) throw textInputError("texts must be an array of strings", {});
    const prefix = this.promptFor(options);
    const dims = this.checkDimensions(options.dimensions);
    const truncate = options.truncate ?? false;
    const direction = options.truncationDirection ?? "right";
    // Tokenize in chunks and queue each chunk at once, so compute starts while later chunks are
    // tokenized; a bad input later on aborts what was already queued.
    const encs: TextEncoding[] = [];
    const pending: Promise<{ value: Float32Array; queueMs: number; inferMs: number }>[] = [];
    const reduce = {
      kind: "pool",
      pooling: this.#poolingFor(options.pooling),
      skip: this.#promptSkip(prefix),
    } as const;
    // One signal per call (the caller's, joined with ours to cancel the rest when an item fails).
    const controller = new AbortController();
    const submitOpts = this.#submitOptions(
      options,
      options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal,
    );
    let failed = false;
    try {
      for (let from = 0; from < texts.length; from += TOKENIZE_CHUNK) {
        const chunk = encodeAll(
          this.tokenizer,
          texts,
          from,
          Math.min(texts.length, from + TOKENIZE_CHUNK),
          prefix,
          truncate,
          direction,
        );
        for (const e of chunk) {
          encs.push(e);
          const p = this.#runner.submit(e, reduce, submitOpts);
          p.catch(() => {
            failed = true;
          });
          pending.push(p);
        }
        if (from + TOKENIZE_CHUNK < texts.length) {
          if (failed) break;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } catch (e) {
      controller.abort();
      throw e;
    }
    let results: { value: Float32Array; queueMs: number; inferMs: number }[];
    try {
      results = await Promise.all(pending);
    } catch (e) {
      controller.abort();
      throw e;
    }
    const normalize = options.normalize ?? this.normalize;
    const n = texts.length;
    const out = new Float32Array(n * dims);
    let queueMs = 0;
    let inferMs = 0;
    const tokens: number[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = results[i] as { value: Float32Array; queueMs: number; inferMs: number };
      const v = this.#afterPooling(r.value);
      out.set(dims === v.length ? v : v.subarray(0, dims), i * dims);
      if (normalize) l2NormalizeInPlace(out, i * dims, dims);
      queueMs += r.queueMs;
      inferMs += r.inferMs;
      const t = (encs[i] as TextEncoding).ids.length;
      tokens.push(t);
      total += t;
    }
    return {
      embeddings: Tensor.wrap(out, [n, dims]) as Tensor<"float32">,
      tokens,
      totalTokens: total,
      queueMs: n ? queueMs / n : 0,
      inferMs: n ? inferMs / n : 0,
    };
  }

  /**
   * Embeds pre-tokenized inputs (OpenAI / TEI token-array input). As in TEI, the ids are the whole
   * model input, special tokens included (`[101, 2054, 102]`); pass `addSpecialTokens: true` to have
   * the template's specials added around content ids. Ids outside the vocabulary throw `E_TEXT_INPUT`.
   */
  async embedIds(
    inputs: readonly (readonly number[])[],
    options: Omit<EmbedOptions, "prompt" | "promptName"> & { readonly addSpecialTokens?: boolean } = {},
  ): Promise<EmbedResult> {
    const dims = this.checkDimensions(options.dimensions);
    const encs: TextEncoding[] = inputs.map((ids, i) => this.#encodeIdInput(ids, i, options));
    const reduce = { kind: "pool", pooling: this.#poolingFor(options.pooling) } as const;
    const submitOpts = this.#submitOptions(options);
    const results = await Promise.all(encs.map((e) => this.#runner.submit(e, reduce, submitOpts)));
    const normalize = options.normalize ?? this.normalize;
    const out = new Float32Array(encs.length * dims);
    results.forEach((r, i) => {
      out.set(this.#afterPooling(r.value).subarray(0, dims), i * dims);
      if (normalize) l2NormalizeInPlace(out, i * dims, dims);
    });
    const tokens = encs.map((e) => e.ids.length);
    const n = encs.length;
    return {
      embeddings: Tensor.wrap(out, [n, dims]) as Tensor<"float32">,
      tokens,
      totalTokens: tokens.reduce((a, b) => a + b, 0),
      queueMs: n ? results.reduce((a, r) => a + r.queueMs, 0) / n : 0,
      inferMs: n ? results.reduce((a, r) => a + r.inferMs, 0) / n : 0,
    };
  }

  /**
   * One pre-tokenized input (the whole model input unless `addSpecialTokens`) as an encoding;
   * ids outside the vocabulary, too many ids with truncation off, or none at all throw, naming input `i`.
   */
  #encodeIdInput(
    ids: readonly number[],
    i: number,
    options: Pick<EmbedOptions, "truncate" | "truncationDirection"> & { readonly addSpecialTokens?: boolean },
  ): TextEncoding {
    for (const [j, id] of ids.entries()) {
      if (!Number.isInteger(id) || id < 0 || id >= this.tokenizer.vocabSize) {
        throw textInputError(
          `input ${i} token ${j} is ${id}; expected an integer id in 0..${this.tokenizer.vocabSize - 1}`,
          { index: i, token: j },
        );
      }
    }
    try {
      const enc = this.tokenizer.encodeIds(ids, {
        addSpecialTokens: options.addSpecialTokens ?? false,
        truncate: options.truncate ?? false,
        truncationDirection: options.truncationDirection ?? "right",
      });
      // Nothing to run: pooling over no tokens would answer an all-zero vector.
      if (enc.ids.length === 0)
        throw new TesseraError("E_TEXT_EMPTY", "no token ids to embed", { field: "input" });
      return enc;
    } catch (e) {
      if (e instanceof TesseraError)
        throw new TesseraError(e.code, `input ${i}: ${e.message}`, { ...e.facts, index: i });
      throw e;
    }
  }

  /**
   * Per-token vectors (TEI /embed_all): one `[tokens, dim]` float32 tensor per input, special
   * tokens included, no pooling or normalization. An input is a text, or token ids taken as the
   * whole model input (as `embedIds`). Throws `E_TEXT_MODEL` when the graph only returns pooled
   * vectors.
   */
  async embedTokens(
    texts: readonly (string | readonly number[])[],
    options: Pick<
      EmbedOptions,
      "prompt" | "promptName" | "truncate" | "truncationDirection" | "signal" | "deadline" | "priority"
    > = {},
  ): Promise<{
    readonly vectors: Tensor<"float32">[];
    readonly tokens: readonly number[];
    readonly totalTokens: number;
  }> {
    if (this.pooledByModel)
      throw new TesseraError(
        "E_TEXT_MODEL",
        "the model's graph returns pooled embeddings only; per-token vectors are not available",
        {},
      );
    const prefix = this.promptFor(options);
    const truncate = options.truncate ?? false;
    const direction = options.truncationDirection ?? "right";
    const encs = texts.map((t, i) =>
      Array.isArray(t)
        ? this.#encodeIdInput(t, i, options)
        : (encodeAll(
            this.tokenizer,
            texts as readonly string[],
            i,
            i + 1,
            prefix,
            truncate,
            direction,
          )[0] as TextEncoding),
    );
    const submitOpts = this.#submitOptions(options);
    const results = await Promise.all(
      encs.map((e) => this.#runner.submit(e, { kind: "tokens" }, submitOpts)),
    );
    const tokens = encs.map((e) => e.ids.length);
    const vectors = results.map(
      // token states are the graph's width (this.dim is after any Dense module)
      (r, i) =>
        Tensor.wrap(r.value, [
          tokens[i] as number,
          r.value.length / (tokens[i] as number),
        ]) as Tensor<"float32">,
    );
    return { vectors, tokens, totalTokens: tokens.reduce((a, b) => a + b, 0) };
  }

  /**
   * What a call's sequences are queued with: its signal (one listener per queued sequence, hence
   * no listener limit), deadline and priority.
   */
  #submitOptions(
    options: Pick<EmbedOptions, "signal" | "deadline" | "priority">,
    signal: AbortSignal | undefined = options.signal,
  ): SubmitOptions {
    if (signal) setMaxListeners(0, signal);
    return {
      ...(signal ? { signal } : {}),
      ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
      ...(options.priority ? { priority: options.priority } : {}),
    };
  }

  /**
   * Leading tokens that pooling over the mask (all modes but cls / last) leaves out for a prompt when the Pooling module says
   * `include_prompt: false`: as sentence-transformers, the prompt's token count with specials minus
   * one (so [CLS] and the prompt's tokens; the final [SEP] of the prompt alone is not in the input).
   */
  #promptSkip(prefix: string): number {
    if (this.folder.includePrompt || prefix === "") return 0;
    return Math.max(0, this.tokenizer.countTokens(prefix) - 1);
  }

  /** The pooled vector through the Dense modules run here (itself when there are none). */
  #afterPooling(v: Float32Array): Float32Array {
    let x = v;
    for (const d of this.#dense) x = d.apply(x);
    return x;
  }

  #poolingFor(requested: Pooling | undefined): Pooling {
    if (requested === undefined || requested === this.pooling) return this.pooling;
    if (this.pooledByModel) {
      throw new TesseraError(
        "E_TEXT_OPTIONS",
        `pooling "${requested}" cannot be applied: the model's graph returns pooled embeddings (${this.pooling})`,
        { field: "pooling", pooling: requested },
      );
    }
    return requested;
  }

  /** Sequences waiting in the batcher. */
  get queueDepth(): number {
    return this.#runner.queueDepth;
  }

  /**
   * Finishes queued work (with `{ drain: false }`: rejects it, E_BATCHER_CLOSED; also ends an earlier drain);
   * closes the session when this embedder opened it.
   */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    await this.#runner.close(options);
    if (this.#ownsSession) await this.session.close();
  }
}
