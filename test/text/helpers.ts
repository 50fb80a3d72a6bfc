/**
 * Builds small Hugging Face model folders in a temp dir for the text tests: the committed WordPiece
 * tokenizer (test/fixtures/text/wordpiece) + an onnx-zoo bertEncoder / crossEncoder with that vocabulary.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bertEncoder, crossEncoder } from "../../src/onnx/index.ts";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "text");

export function wordpieceTokenizerJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES, "wordpiece", "tokenizer.json"), "utf8")) as Record<
    string,
    unknown
  >;
}

/** Texts the small vocabulary covers (from the golden corpus). */
export function sampleTexts(n: number): string[] {
  const g = JSON.parse(readFileSync(join(FIXTURES, "wordpiece", "goldens.json"), "utf8")) as {
    cases: { text: string }[];
  };
  return g.cases.slice(0, n).map((c) => c.text);
}

export interface FolderOptions {
  readonly kind?: "embedding" | "reranker";
  readonly pooling?: "mean" | "cls" | "lasttoken";
  readonly normalize?: boolean;
  readonly maxSeqLength?: number;
  readonly prompts?: Record<string, string>;
  readonly hidden?: number;
  /** Also write model.onnx at the top and onnx/model_quantized.onnx. */
  readonly variants?: boolean;
}

export interface TempFolder {
  readonly dir: string;
  cleanup(): void;
}

export function makeModelFolder(options: FolderOptions = {}): TempFolder {
  const dir = mkdtempSync(join(tmpdir(), "tessera-text-"));
  const tj = wordpieceTokenizerJson();
  const vocabSize = Object.keys((tj.model as { vocab: Record<string, number> }).vocab).length;
  const cfg = { vocabSize, hidden: options.hidden ?? 32, layers: 2, heads: 4, maxPositions: 256, seed: 7 };
  const kind = options.kind ?? "embedding";
  const model = kind === "reranker" ? crossEncoder({ ...cfg, labels: 1 }) : bertEncoder(cfg);
  mkdirSync(join(dir, "onnx"));
  writeFileSync(join(dir, "onnx", "model.onnx"), model.bytes);
  if (options.variants) writeFileSync(join(dir, "onnx", "model_quantized.onnx"), model.bytes);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tj));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ model_max_length: 256, pad_token: "[PAD]", do_lower_case: true }),
  );
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "bert",
      hidden_size: cfg.hidden,
      max_position_embeddings: 256,
      architectures: kind === "reranker" ? ["BertForSequenceClassification"] : ["BertModel"],
      ...(kind === "reranker" ? { id2label: { "0": "LABEL_0" } } : {}),
    }),
  );
  if (kind === "embedding") {
    const modules = [
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      ...(options.normalize
        ? [{ idx: 2, name: "2", path: "2_Normalize", type: "sentence_transformers.models.Normalize" }]
        : []),
    ];
    writeFileSync(join(dir, "modules.json"), JSON.stringify(modules));
    mkdirSync(join(dir, "1_Pooling"));
    const p = options.pooling ?? "mean";
    writeFileSync(
      join(dir, "1_Pooling", "config.json"),
      JSON.stringify({
        word_embedding_dimension: cfg.hidden,
        pooling_mode_cls_token: p === "cls",
        pooling_mode_mean_tokens: p === "mean",
        pooling_mode_max_tokens: false,
        pooling_mode_lasttoken: p === "lasttoken",
      }),
    );
    writeFileSync(
      join(dir, "sentence_bert_config.json"),
      JSON.stringify({ max_seq_length: options.maxSeqLength ?? 128, do_lower_case: false }),
    );
    if (options.prompts)
      writeFileSync(
        join(dir, "config_sentence_transformers.json"),
        JSON.stringify({ prompts: options.prompts }),
      );
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
