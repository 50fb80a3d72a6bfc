/**
 * TextClassifier: scores texts (or text pairs) with a sequence-classification model
 * (`*ForSequenceClassification`: sentiment, emotions, NLI, cross-encoders) and names each score by
 * its label from config.json `id2label`.
 *
 * Steps per call: tokenize (a text, or a pair with the template's pair specials) → queue each
 * sequence on the shared EncoderRunner → the logits row → score function → labels, best first.
 * The score function follows transformers' TextClassificationPipeline (see `scoreFunctionOf`):
 * sigmoid per label for `problem_type: "multi_label_classification"` (e.g. go_emotions) or one
 * label, softmax over the labels otherwise.
 *
 * @example
 * const clf = await TextClassifier.load("models/distilbert-sst2");
 * await clf.classify(["I love it"]); // [[{ label: "POSITIVE", score: 0.99 }, { label: "NEGATIVE", score: 0.01 }]]
 * await clf.close();
 */
import { setMaxListeners } from "node:events";
import type { LoadedModel } from "../runtime/index.ts";
import { TesseraError } from "../tensor/index.ts";
import { type OpenedTextModel, openTextModel, type TextModelOptions, textInputError } from "./embedder.ts";
import type { HfFolder, ScoreFunction } from "./hf-folder.ts";
import { detectEncoderIO, EncoderRunner } from "./runner.ts";
import type { TextEncoding, TextTokenizer, TruncationDirection } from "./tokenizer.ts";

/** One input: a text, or a pair (premise/hypothesis, query/document) encoded with the pair template. */
export type ClassifierInput = string | readonly [string, string];

export interface ClassifyOptions {
  /**
   * How logits become scores. Default: the model's (`folder.scoreFunction`: sigmoid for
   * multi-label models and single-label heads, softmax otherwise). "none" returns the raw logits.
   */
  readonly scoreFunction?: ScoreFunction;
  /** Keep the best K labels per input. Default: every label. */
  readonly topK?: number;
  /** Cut inputs longer than the model's max length (default false: throw E_TEXT_TOO_LONG naming the input). */
  readonly truncate?: boolean;
  readonly truncationDirection?: TruncationDirection;
  readonly signal?: AbortSignal;
}

export interface LabelScore {
  readonly label: string;
  readonly score: number;
}

export interface ClassifyResult {
  /** Per input, its labels with scores, best first (ties keep label order). */
  readonly predictions: readonly (readonly LabelScore[])[];
  /** Tokens per input (after truncation, special tokens included). */
  readonly tokens: readonly number[];
  readonly totalTokens: number;
}

/** Applies `fn` to one logits row; returns a new array. Softmax subtracts the max first. */
export function applyScoreFunction(logits: Float32Array, fn: ScoreFunction): Float64Array {
  const out = new Float64Array(logits.length);
  if (fn === "none") {
    out.set(logits);
    return out;
  }
  if (fn === "sigmoid") {
    for (let i = 0; i < logits.length; i++) out[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
    return out;
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i] as number) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

export class TextClassifier {
  readonly folder: HfFolder;
  readonly tokenizer: TextTokenizer;
  /** Label of each logit (config.json id2label; `LABEL_<i>` where it names none). */
  readonly labels: readonly string[];
  readonly #runner: EncoderRunner;
  readonly #m: OpenedTextModel;

  private constructor(m: OpenedTextModel, runner: EncoderRunner, width: number) {
    this.#m = m;
    this.folder = m.folder;
    this.tokenizer = m.folder.tokenizer;
    this.#runner = runner;
    const names = m.folder.labels ?? [];
    this.labels = Array.from({ length: width }, (_, i) => names[i] ?? `LABEL_${i}`);
  }

  /**
   * Loads a sequence-classification folder (or a registry LoadedModel, reusing its session) and
   * probes the logits width with one tiny run. A width that differs from config.json's `id2label`
   * throws `E_TEXT_MODEL` (the labels would name the wrong scores).
   */
  static async load(source: string | LoadedModel, options: TextModelOptions = {}): Promise<TextClassifier> {
    const m = await openTextModel(source, options);
    try {
      const io = detectEncoderIO(m.session, "logits");
      const runner = EncoderRunner.forFolder(m.session, io, m.folder, options);
      const probe = await runner.submit(m.folder.tokenizer.encode("a", { truncate: true }), {
        kind: "logits",
      });
      const width = probe.value.length;
      const labels = m.folder.labels;
      if (labels !== undefined && labels.length !== width) {
        await runner.close({ drain: false });
        throw new TesseraError(
          "E_TEXT_MODEL",
          `config.json id2label has ${labels.length} labels but the graph's ${io.output} has ${width} scores`,
          { labels: labels.length, width, output: io.output },
        );
      }
      return new TextClassifier(m, runner, width);
    } catch (e) {
      if (m.ownsSession) await m.session.close();
      throw e;
    }
  }

  /** Classifies each input; returns its labels with scores, best first. */
  async classify(
    inputs: readonly ClassifierInput[],
    options: ClassifyOptions = {},
  ): Promise<(readonly LabelScore[])[]> {
    return [...(await this.classifyDetailed(inputs, options)).predictions];
  }

  /** Like `classify`, plus token counts. */
  async classifyDetailed(
    inputs: readonly ClassifierInput[],
    options: ClassifyOptions = {},
  ): Promise<ClassifyResult> {
    if (!Array.isArray(inputs)) throw textInputError("inputs must be an array", { field: "inputs" });
    if (options.topK !== undefined && !(Number.isInteger(options.topK) && options.topK > 0)) {
      throw new TesseraError("E_TEXT_OPTIONS", `topK must be a positive integer, got ${options.topK}`, {
        field: "topK",
      });
    }
    const encOptions = {
      truncate: options.truncate ?? false,
      truncationDirection: options.truncationDirection ?? "right",
    } as const;
    const encs: TextEncoding[] = inputs.map((x, i) => {
      const pair = Array.isArray(x) && x.length === 2 && x.every((s) => typeof s === "string");
      if (typeof x !== "string" && !pair)
        throw textInputError(`input ${i} is not a string or a pair of strings`, { index: i });
      try {
        return pair
          ? this.tokenizer.encodePair(x[0] as string, x[1] as string, encOptions)
          : this.tokenizer.encode(x as string, encOptions);
      } catch (e) {
        if (e instanceof TesseraError)
          throw new TesseraError(e.code, `input ${i}: ${e.message}`, { ...e.facts, index: i });
        throw e;
      }
    });
    if (options.signal) setMaxListeners(0, options.signal);
    const results = await Promise.all(
      encs.map((e) =>
        this.#runner.submit(e, { kind: "logits" }, options.signal ? { signal: options.signal } : {}),
      ),
    );
    const fn = options.scoreFunction ?? this.folder.scoreFunction;
    const predictions = results.map((r) => {
      const scores = applyScoreFunction(r.value, fn);
      const ranked = Array.from(scores, (score, i) => ({ label: this.labels[i] ?? `LABEL_${i}`, score, i }))
        .sort((a, b) => b.score - a.score || a.i - b.i)
        .map(({ label, score }) => ({ label, score }));
      return options.topK !== undefined ? ranked.slice(0, options.topK) : ranked;
    });
    const tokens = encs.map((e) => e.ids.length);
    return { predictions, tokens, totalTokens: tokens.reduce((a, b) => a + b, 0) };
  }

  /** Sequences waiting in the batcher. */
  get queueDepth(): number {
    return this.#runner.queueDepth;
  }

  /** As TextEmbedder.close: queued work finishes, or with `{ drain: false }` is rejected. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    await this.#runner.close(options);
    if (this.#m.ownsSession) await this.#m.session.close();
  }
}
