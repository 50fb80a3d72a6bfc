/**
 * Reranker: scores (query, document) pairs with a cross-encoder and sorts them.
 *
 * Each pair is one queued sequence on the shared EncoderRunner, so concurrent rerank calls share
 * batches. The score is the first logit (single-label cross-encoders); `returnScores: "sigmoid"`
 * (default) maps it to 0..1.
 *
 * @example
 * const rr = await Reranker.load("models/ms-marco-MiniLM-L-6-v2");
 * await rr.rerank("what is onnx?", ["a format", "a fruit"]); // [{ index: 0, score: 0.97 }, ...]
 */
import { setMaxListeners } from "node:events";
import type { LoadedModel } from "../runtime/index.ts";
import { TesseraError } from "../tensor/index.ts";
import { type OpenedTextModel, openTextModel, type TextModelOptions, textInputError } from "./embedder.ts";
import type { HfFolder } from "./hf-folder.ts";
import { detectEncoderIO, EncoderRunner } from "./runner.ts";
import type { TextEncoding, TextTokenizer, TruncationDirection } from "./tokenizer.ts";

export interface RerankOptions {
  /** "sigmoid" (default) or "raw" logits. */
  readonly returnScores?: "raw" | "sigmoid";
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
  readonly #runner: EncoderRunner;
  readonly #m: OpenedTextModel;

  private constructor(m: OpenedTextModel, runner: EncoderRunner) {
    this.#m = m;
    this.folder = m.folder;
    this.tokenizer = m.folder.tokenizer;
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
    const sigmoid = (options.returnScores ?? "sigmoid") === "sigmoid";
    const hits = results.map((r, index) => {
      const logit = r.value[0] as number;
      return { index, score: sigmoid ? 1 / (1 + Math.exp(-logit)) : logit };
    });
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
