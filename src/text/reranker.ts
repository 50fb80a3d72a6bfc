/**
 * Reranker: scores (query, document) pairs with a cross-encoder and sorts them.
 *
 * Each pair is one queued sequence on the shared EncoderRunner, so concurrent rerank calls share
 * batches. The score is the first logit (single-label cross-encoders); `returnScores: "sigmoid"`
 * (default, as TEI's /rerank) maps it to 0..1; `"model"` applies the activation the model's config.json names
 * for sentence-transformers' CrossEncoder (Identity on the ms-marco models: raw logits, as
 * `CrossEncoder.predict` / `rank` return them). Every such activation is non-decreasing, so the order is the same (ReLU ties negative logits, which then keep input order).
 *
 * @example
 * const rr = await Reranker.load("models/ms-marco-MiniLM-L-6-v2");
 * await rr.rerank("what is onnx?", ["a format", "a fruit"]); // [{ index: 0, score: 0.97 }, ...]
 */
import { setMaxListeners } from "node:events";
import type { LoadedModel } from "../runtime/index.ts";
import { TesseraError } from "../tensor/index.ts";
import { TORCH_ACTIVATIONS } from "./dense.ts";
import { type OpenedTextModel, openTextModel, type TextModelOptions, textInputError } from "./embedder.ts";
import type { HfFolder } from "./hf-folder.ts";
import { detectEncoderIO, EncoderRunner } from "./runner.ts";
import type { TextEncoding, TextTokenizer, TruncationDirection } from "./tokenizer.ts";

export interface RerankOptions {
  /**
   * "sigmoid" (default, TEI's /rerank), "raw" logits, or "model": the activation of the folder's
   * config.json as sentence-transformers' CrossEncoder applies it (`Reranker.activation`: Identity, Tanh, ReLU,
   * Sigmoid or SiLU; another throws E_TEXT_OPTIONS).
   */
  readonly returnScores?: "raw" | "sigmoid" | "model";
  /** Keep only the best N. */
  readonly topN?: number;
  /**
   * Default true: cut long pairs (see `pairStrategy`), keeping the template's specials. false: throw
   * E_TEXT_TOO_LONG naming the document.
   */
  readonly truncate?: boolean;
  /**
   * Which side a long pair loses tokens from. "longest_first" (default) cuts the longer of query and document, or
   * both to half the budget when that is not enough (Rust `tokenizers`' LongestFirst, which TEI and
   * sentence-transformers' CrossEncoder use), so scores match theirs. "second_first" cuts the document first and the
   * query only once the document is gone.
   */
  readonly pairStrategy?: "longest_first" | "second_first";
  readonly truncationDirection?: TruncationDirection;
  readonly signal?: AbortSignal;
}

export interface RerankHit {
  /** Position of the document in the input list. */
  readonly index: number;
  readonly score: number;
}

export interface RerankResult {
  readonly hits: readonly RerankHit[];
  readonly totalTokens: number;
}

export class Reranker {
  readonly folder: HfFolder;
  readonly tokenizer: TextTokenizer;
  /**
   * The activation sentence-transformers' CrossEncoder applies to this model's logit (the class name of
   * `folder.crossEncoderActivation`: "Identity", "Sigmoid", "Tanh", ...); `returnScores: "model"` applies it.
   */
  readonly activation: string;
  readonly #runner: EncoderRunner;
  readonly #m: OpenedTextModel;

  private constructor(m: OpenedTextModel, runner: EncoderRunner) {
    this.#m = m;
    this.folder = m.folder;
    this.tokenizer = m.folder.tokenizer;
    this.activation = m.folder.crossEncoderActivation.split(".").at(-1) ?? "";
    this.#runner = runner;
  }

  /**
   * Loads a cross-encoder folder (or a registry LoadedModel, reusing its session). A classifier
   * with several labels (config.json id2label) throws `E_TEXT_MODEL`: its first logit is one
   * label's score, not a relevance score (TEI serves such models on /predict, not /rerank).
   */
  static async load(source: string | LoadedModel, options: TextModelOptions = {}): Promise<Reranker> {
    const m = await openTextModel(source, options);
    try {
      if (m.folder.task === "classifier") {
        const labels = m.folder.labels ?? [];
        throw new TesseraError(
          "E_TEXT_MODEL",
          `${m.folder.dir} is a classifier with ${labels.length} labels (${labels.join(", ")}), not a single-score cross-encoder`,
          { labels },
        );
      }
      const io = detectEncoderIO(m.session, "logits");
      const runner = EncoderRunner.forFolder(m.session, io, m.folder, options);
      return new Reranker(m, runner);
    } catch (e) {
      if (m.ownsSession) await m.session.close();
      throw e;
    }
  }

  /** Scores every document against the query; returns hits sorted by score, best first. */
  async rerank(
    query: string,
    documents: readonly string[],
    options: RerankOptions = {},
  ): Promise<RerankHit[]> {
    return [...(await this.rerankDetailed(query, documents, options)).hits];
  }

  /** Like `rerank`, plus the token count. */
  async rerankDetailed(
    query: string,
    documents: readonly string[],
    options: RerankOptions = {},
  ): Promise<RerankResult> {
    if (typeof query !== "string") throw textInputError("query must be a string", { field: "query" });
    if (!Array.isArray(documents))
      throw textInputError("documents must be an array of strings", { field: "documents" });
    if (options.topN !== undefined && !(Number.isInteger(options.topN) && options.topN > 0)) {
      throw new TesseraError("E_TEXT_OPTIONS", `topN must be a positive integer, got ${options.topN}`, {
        field: "topN",
      });
    }
    const activation = scoreActivation(options.returnScores ?? "sigmoid", this.activation);
    const encs: TextEncoding[] = documents.map((d, i) => {
      if (typeof d !== "string")
        throw textInputError(`document ${i} is ${typeof d}; expected a string`, { index: i });
      try {
        return this.tokenizer.encodePair(query, d, {
          truncate: options.truncate ?? true,
          truncationDirection: options.truncationDirection ?? "right",
          pairStrategy: options.pairStrategy ?? "longest_first",
        });
      } catch (e) {
        if (e instanceof TesseraError)
          throw new TesseraError(e.code, `document ${i}: ${e.message}`, { ...e.facts, index: i });
        throw e;
      }
    });
    if (options.signal) setMaxListeners(0, options.signal);
    const results = await Promise.all(
      encs.map((e) =>
        this.#runner.submit(e, { kind: "logits" }, options.signal ? { signal: options.signal } : {}),
      ),
    );
    const hits = results.map((r, index) => ({ index, score: activation(r.value[0] as number) }));
    hits.sort((a, b) => b.score - a.score || a.index - b.index);
    return {
      hits: options.topN !== undefined ? hits.slice(0, options.topN) : hits,
      totalTokens: encs.reduce((s, e) => s + e.ids.length, 0),
    };
  }

  /** As TextEmbedder.close: queued work finishes, or with `{ drain: false }` is rejected. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    await this.#runner.close(options);
    if (this.#m.ownsSession) await this.#m.session.close();
  }
}

/** The function a `returnScores` choice applies to a logit; throws E_TEXT_OPTIONS for an unknown one. */
function scoreActivation(returnScores: string, modelActivation: string): (x: number) => number {
  const name =
    returnScores === "model"
      ? modelActivation
      : returnScores === "sigmoid"
        ? "Sigmoid"
        : returnScores === "raw"
          ? "Identity"
          : undefined;
  if (name === undefined)
    throw new TesseraError(
      "E_TEXT_OPTIONS",
      `returnScores must be "sigmoid", "raw" or "model", got ${JSON.stringify(returnScores)}`,
      { field: "returnScores" },
    );
  const f = TORCH_ACTIVATIONS[name];
  if (!f)
    throw new TesseraError(
      "E_TEXT_OPTIONS",
      `the model's cross-encoder activation ${name} is not supported (${Object.keys(TORCH_ACTIVATIONS).join(", ")}); use returnScores "raw" or "sigmoid"`,
      { field: "returnScores", activation: name },
    );
  return f;
}
