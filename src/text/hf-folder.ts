/**
 * Reads a Hugging Face model folder (as written by the hub or `tessera pull`):
 *
 *   config.json                       model_type, hidden_size, architectures, id2label
 *   tokenizer.json                    required
 *   tokenizer_config.json             model_max_length, pad_token (optional)
 *   special_tokens_map.json           (optional)
 *   onnx/model.onnx | model.onnx      the graph; `variant` picks onnx/model_<variant>.onnx
 *   modules.json + 1_Pooling/config.json   sentence-transformers pooling / Normalize module
 *   sentence_bert_config.json         max_seq_length, do_lower_case
 *   config_sentence_transformers.json prompts {"query": "...", "document": "..."}
 *
 * Config files are outside input: `parseHfFolder` returns every issue; `loadHfFolder` throws
 * `E_HF_FOLDER` listing them all.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PoolingMode } from "../runtime/index.ts";
import { TesseraError } from "../tensor/index.ts";
import { TextTokenizer } from "./tokenizer.ts";

/**
 * sentence-transformers' pooling modes ("last" is its "lasttoken"): mean, cls, last, max,
 * weightedmean (SGPT: position-weighted mean) and mean_sqrt_len_tokens (sum / sqrt(tokens)).
 */
export type Pooling = PoolingMode;

export interface Issue {
  readonly path: string;
  readonly message: string;
}
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly Issue[] };

export interface HfFolderOptions {
  /** Quantized / other graph variant: "quantized" → onnx/model_quantized.onnx. Default: the plain model. */
  readonly variant?: string;
  /** Explicit graph file relative to the folder (wins over `variant`). */
  readonly onnxFile?: string;
  /** Max tokens per input, overriding the folder's configs (e.g. a server's `maxTokens`). */
  readonly maxLength?: number;
}

export interface HfFolder {
  readonly dir: string;
  readonly modelPath: string;
  readonly modelType: string;
  /** "reranker" when config.json names a *ForSequenceClassification architecture with one label. */
  readonly task: "embedding" | "reranker" | "classifier";
  readonly hiddenSize?: number;
  readonly pooling: Pooling;
  /** "config" when modules.json / 1_Pooling/config.json set the pooling, "default" when guessed. */
  readonly poolingSource: "config" | "default";
  /**
   * sentence-transformers' Pooling `include_prompt` (default true). false (INSTRUCTOR, GritLM): with a
   * prompt, pooling over the attention mask (all modes but cls / last) leaves out its tokens ([CLS] included), as `SentenceTransformer.encode`
   * does (prompt length = the prompt's own token count with specials, minus one).
   */
  readonly includePrompt: boolean;
  /** Normalize by default: the Normalize module of modules.json, or true for a folder without modules.json. */
  readonly normalize: boolean;
  /**
   * modules.json entries after Pooling other than Normalize (e.g. `sentence_transformers.models.Dense`):
   * only a graph with a pooled `sentence_embedding` output includes them.
   */
  readonly modulesAfterPooling: readonly string[];
  /** The same modules with their folder (modules.json `path`), e.g. `{type: "...Dense", path: "2_Dense"}`. */
  readonly modulesAfterPoolingPaths: readonly { readonly type: string; readonly path: string }[];
  /** Max tokens per input (special tokens included). */
  readonly maxLength: number;
  readonly prompts: Readonly<Record<string, string>>;
  readonly defaultPromptName?: string;
  /**
   * Class labels by logit index, from config.json `id2label` (keys are the indices; an index the map
   * skips gets `LABEL_<i>`, as transformers names unnamed labels).
   */
  readonly labels?: readonly string[];
  /** config.json `problem_type` ("single_label_classification", "multi_label_classification", "regression"). */
  readonly problemType?: string;
  /**
   * How a sequence classifier's logits become scores, as transformers' TextClassificationPipeline
   * decides: none for `problem_type: "regression"`, sigmoid per label for `problem_type: "multi_label_classification"` or a single label,
   * softmax over the labels for single-label classification or several labels, else config.json
   * `function_to_apply`, else none.
   */
  readonly scoreFunction: ScoreFunction;
  /**
   * The activation sentence-transformers' `CrossEncoder.predict` / `rank` apply to a cross-encoder's logits, as
   * a torch class path: config.json `sentence_transformers.activation_fn`, else the legacy
   * `sbert_ce_default_activation_function` (e.g. "torch.nn.modules.linear.Identity" on the ms-marco
   * cross-encoders), else Sigmoid for one label and Identity for several (CrossEncoder's default; like it,
   * a path outside `torch.` is not trusted and gives the default). `Reranker` applies it with
   * `returnScores: "model"`.
   */
  readonly crossEncoderActivation: string;
  readonly tokenizer: TextTokenizer;
}

/** What turns a classifier's logits into scores. */
export type ScoreFunction = "sigmoid" | "softmax" | "none";

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readJson(dir: string, rel: string, issues: Issue[], required: boolean): Json | undefined {
  const p = join(dir, rel);
  if (!existsSync(p)) {
    if (required) issues.push({ path: rel, message: "file is missing" });
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(readFileSync(p, "utf8"));
    if (!isObj(v)) {
      issues.push({ path: rel, message: "expected a JSON object" });
      return undefined;
    }
    return v;
  } catch (e) {
    issues.push({ path: rel, message: `invalid JSON: ${(e as Error).message}` });
    return undefined;
  }
}

/** The .onnx graphs of a folder (top level and onnx/), relative paths. */
export function onnxFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ["onnx", ""]) {
    try {
      for (const f of readdirSync(join(dir, sub))) if (f.endsWith(".onnx")) out.push(sub ? `${sub}/${f}` : f);
    } catch {
      // no such folder
    }
  }
  return out;
}

/** sentence-transformers' legacy boolean keys and the mode each stands for (its own order). */
const LEGACY_POOLING_KEYS: readonly (readonly [string, string])[] = [
  ["pooling_mode_cls_token", "cls"],
  ["pooling_mode_max_tokens", "max"],
  ["pooling_mode_mean_tokens", "mean"],
  ["pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"],
  ["pooling_mode_weightedmean_tokens", "weightedmean"],
  ["pooling_mode_lasttoken", "lasttoken"],
];

/**
 * Pooling from a sentence-transformers Pooling config (1_Pooling/config.json), in either format:
 * the current `{"pooling_mode": "mean"}` (a name or a list of names, as sentence-transformers 5
 * writes) or the legacy `pooling_mode_*_token(s)` booleans, where none set means "mean" (as
 * sentence-transformers reads it). Undefined when several modes are set (sentence-transformers
 * would concatenate them) or the mode is unknown.
 */
export function poolingFromConfig(cfg: Json): Pooling | undefined {
  let modes: string[];
  const pm = cfg.pooling_mode;
  if (pm !== undefined && pm !== null) {
    modes = typeof pm === "string" ? [pm] : Array.isArray(pm) ? pm.map(String) : [];
  } else {
    modes = LEGACY_POOLING_KEYS.filter(([k]) => cfg[k] === true).map(([, mode]) => mode);
    if (modes.length === 0) modes = ["mean"];
  }
  if (modes.length !== 1) return undefined;
  const mode = modes[0];
  if (mode === "cls") return "cls";
  if (mode === "lasttoken") return "last";
  if (mode === "max") return "max";
  if (mode === "mean") return "mean";
  if (mode === "weightedmean") return "weightedmean";
  if (mode === "mean_sqrt_len_tokens") return "mean_sqrt_len_tokens";
  return undefined;
}

/**
 * Positions a model can use, from config.json `max_position_embeddings`. RoBERTa-style models
 * (RoBERTa, XLM-R, CamemBERT, MPNet, Longformer...) number positions from `pad_token_id + 1`, so
 * 514 table rows hold 512 tokens (what TEI and transformers use).
 */
export function usablePositions(config: Readonly<Record<string, unknown>>): number | undefined {
  const maxPos = config.max_position_embeddings;
  if (typeof maxPos !== "number" || !Number.isInteger(maxPos) || maxPos <= 0) return undefined;
  const type = typeof config.model_type === "string" ? config.model_type : "";
  if (
    /^(roberta|xlm-roberta|xlm_roberta|camembert|mpnet|longformer|data2vec-text|ibert|luke|markuplm)$/.test(
      type,
    )
  ) {
    const pad = typeof config.pad_token_id === "number" ? config.pad_token_id : 1;
    return Math.max(1, maxPos - pad - 1);
  }
  return maxPos;
}

/**
 * Whether config.json describes learned absolute position embeddings (BERT, RoBERTa, XLM-R, ...):
 * then `max_position_embeddings` is a hard limit, and a longer input fails inside the graph.
 * Rotary / ALiBi models (nomic, jina-v2, ModernBERT, decoders) can run past it.
 */
export function hasAbsolutePositions(config: Readonly<Record<string, unknown>>): boolean {
  const kind = config.position_embedding_type;
  if (kind !== undefined && kind !== "absolute") return false;
  const type = typeof config.model_type === "string" ? config.model_type : "";
  return /^(bert|roberta|xlm-roberta|xlm_roberta|camembert|distilbert|mpnet|electra|albert|data2vec-text|ibert|luke|markuplm|longformer)$/.test(
    type,
  );
}

/**
 * Labels by logit index from config.json `id2label` (`{"0": "NEGATIVE", "1": "POSITIVE"}`): the
 * key is the index, so the map's order does not matter and an index it skips (`{"0": .., "2": ..}`)
 * is named `LABEL_<i>` instead of shifting the later labels onto the wrong logits.
 */
export function labelsByIndex(id2label: Readonly<Record<string, unknown>>): string[] {
  const byIndex = new Map<number, string>();
  for (const [k, v] of Object.entries(id2label)) {
    const i = Number(k);
    if (Number.isInteger(i) && i >= 0) byIndex.set(i, String(v));
  }
  const n = byIndex.size === 0 ? 0 : Math.max(...byIndex.keys()) + 1;
  return Array.from({ length: n }, (_, i) => byIndex.get(i) ?? `LABEL_${i}`);
}

/**
 * The score function of a classifier, by transformers' TextClassificationPipeline rule: none for
 * `problem_type` "regression"; sigmoid when it is "multi_label_classification" or there is one label; softmax when it is
 * "single_label_classification" or there are several labels; else `function_to_apply` from
 * config.json; else none. (TEI's /predict always takes softmax over several labels, which turns
 * a multi-label model's independent probabilities into one distribution.)
 */
export function scoreFunctionOf(
  problemType: string | undefined,
  numLabels: number,
  functionToApply?: unknown,
): ScoreFunction {
  if (problemType === "regression") return "none";
  if (problemType === "multi_label_classification" || numLabels === 1) return "sigmoid";
  if (problemType === "single_label_classification" || numLabels > 1) return "softmax";
  if (functionToApply === "sigmoid" || functionToApply === "softmax") return functionToApply;
  return "none";
}

/** sentence-transformers CrossEncoder's activation from config.json (see `HfFolder.crossEncoderActivation`). */
export function crossEncoderActivationOf(
  config: Readonly<Record<string, unknown>>,
  numLabels: number,
): string {
  const st = config.sentence_transformers;
  const named =
    isObj(st) && typeof st.activation_fn === "string"
      ? st.activation_fn
      : typeof config.sbert_ce_default_activation_function === "string"
        ? config.sbert_ce_default_activation_function
        : undefined;
  if (named?.startsWith("torch.")) return named;
  return numLabels <= 1 ? "torch.nn.modules.activation.Sigmoid" : "torch.nn.modules.linear.Identity";
}

const POOLING_CONFIG_EXPECTED =
  'expected exactly one pooling mode: pooling_mode "cls" / "mean" / "max" / "lasttoken" / "weightedmean" / "mean_sqrt_len_tokens", or exactly one of pooling_mode_cls_token / _mean_tokens / _max_tokens / _lasttoken / _weightedmean_tokens / _mean_sqrt_len_tokens true (several modes are concatenated by sentence-transformers, which Tessera does not reproduce)';

/** Parses a model folder; every problem found is returned as an issue. */
export function parseHfFolder(dir: string, options: HfFolderOptions = {}): Parsed<HfFolder> {
  const issues: Issue[] = [];
  const config = readJson(dir, "config.json", issues, false) ?? {};
  const tokJson = readJson(dir, "tokenizer.json", issues, true);
  const tokCfg = readJson(dir, "tokenizer_config.json", issues, false);
  const stMap = readJson(dir, "special_tokens_map.json", issues, false);
  const sbert = readJson(dir, "sentence_bert_config.json", issues, false);
  const stCfg = readJson(dir, "config_sentence_transformers.json", issues, false);

  let modelPath: string | undefined;
  const candidates = options.onnxFile
    ? [options.onnxFile]
    : options.variant
      ? [`onnx/model_${options.variant}.onnx`, `model_${options.variant}.onnx`]
      : ["onnx/model.onnx", "model.onnx"];
  for (const c of candidates) {
    if (existsSync(join(dir, c))) {
      modelPath = join(dir, c);
      break;
    }
  }
  if (!modelPath) {
    const found = onnxFiles(dir);
    issues.push({
      path: candidates.join(" | "),
      message: `no ONNX graph found${found.length ? ` (the folder has ${found.join(", ")}; pick one with variant/onnxFile)` : ""}`,
    });
  }

  // sentence-transformers modules: pooling + normalize.
  let pooling: Pooling | undefined;
  let includePrompt = true;
  const modulesAfterPooling: string[] = [];
  const modulesAfterPoolingPaths: { type: string; path: string }[] = [];
  const modulesPath = join(dir, "modules.json");
  // With sentence-transformers' modules.json, normalization is exactly its Normalize module. Without one
  // (a bare transformers export) default to unit vectors, as TEI and OpenAI-style endpoints return.
  let normalize = !existsSync(modulesPath);
  if (existsSync(modulesPath)) {
    let modules: unknown;
    try {
      modules = JSON.parse(readFileSync(modulesPath, "utf8"));
    } catch (e) {
      issues.push({ path: "modules.json", message: `invalid JSON: ${(e as Error).message}` });
    }
    if (modules !== undefined && !Array.isArray(modules))
      issues.push({ path: "modules.json", message: "expected a list" });
    if (Array.isArray(modules)) {
      for (const [i, m] of modules.entries()) {
        if (!isObj(m) || typeof m.type !== "string") {
          issues.push({ path: `modules.json[${i}]`, message: "expected {type, path}" });
          continue;
        }
        if (m.type.endsWith("Pooling")) {
          const rel = join(typeof m.path === "string" ? m.path : "1_Pooling", "config.json");
          const pc = readJson(dir, rel, issues, true);
          if (pc) {
            pooling = poolingFromConfig(pc);
            if (pc.include_prompt === false) includePrompt = false;
            if (!pooling) issues.push({ path: rel, message: POOLING_CONFIG_EXPECTED });
          }
        } else if (m.type.endsWith("Normalize")) normalize = true;
        else if (pooling !== undefined) {
          modulesAfterPooling.push(m.type);
          modulesAfterPoolingPaths.push({ type: m.type, path: typeof m.path === "string" ? m.path : "" });
        }
      }
    }
  } else if (existsSync(join(dir, "1_Pooling", "config.json"))) {
    const pc = readJson(dir, join("1_Pooling", "config.json"), issues, false);
    if (pc) {
      pooling = poolingFromConfig(pc);
      if (pc.include_prompt === false) includePrompt = false;
      // Without modules.json too (TEI reads 1_Pooling alone): a config it cannot follow is not "no config".
      if (!pooling) issues.push({ path: join("1_Pooling", "config.json"), message: POOLING_CONFIG_EXPECTED });
    }
  }

  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  const id2label = isObj(config.id2label) ? config.id2label : undefined;
  const labels = id2label ? labelsByIndex(id2label) : undefined;
  const problemType = typeof config.problem_type === "string" ? config.problem_type : undefined;
  const isClassifier = archs.some((a) => a.endsWith("ForSequenceClassification"));
  const task: HfFolder["task"] = isClassifier
    ? (labels?.length ?? 1) <= 1
      ? "reranker"
      : "classifier"
    : "embedding";

  const prompts: Record<string, string> = {};
  if (stCfg && isObj(stCfg.prompts)) {
    for (const [k, v] of Object.entries(stCfg.prompts)) {
      if (typeof v === "string") prompts[k] = v;
      else
        issues.push({ path: `config_sentence_transformers.json.prompts.${k}`, message: "expected a string" });
    }
  }
  const defaultPromptName =
    stCfg && typeof stCfg.default_prompt_name === "string" ? stCfg.default_prompt_name : undefined;

  // Max tokens: explicit option, else sentence_bert_config.json, else tokenizer_config.json, at
  // most the position table of an absolute-position model.
  const stMax = sbert && typeof sbert.max_seq_length === "number" ? sbert.max_seq_length : undefined;
  const tokMax =
    tokCfg && typeof tokCfg.model_max_length === "number" && tokCfg.model_max_length < 1e9
      ? tokCfg.model_max_length
      : undefined;
  const maxPos = usablePositions(config);
  let maxLength: number | undefined =
    options.maxLength ??
    stMax ??
    (tokMax !== undefined && maxPos !== undefined ? Math.min(tokMax, maxPos) : (tokMax ?? maxPos));
  if (maxLength === undefined) maxLength = 512;
  // No setting (sentence_bert_config, a server's maxTokens) can take a BERT-like model past its
  // position table: cap there, as TEI caps max_input_length.
  if (maxPos !== undefined && hasAbsolutePositions(config) && maxLength > maxPos) maxLength = maxPos;
  if (!(Number.isInteger(maxLength) && maxLength > 0))
    issues.push({
      path: options.maxLength !== undefined ? "maxLength" : "max_seq_length",
      message: `expected a positive integer, got ${maxLength}`,
    });

  let tokenizer: TextTokenizer | undefined;
  if (tokJson) {
    try {
      tokenizer = TextTokenizer.fromJSON(tokJson, {
        ...(tokCfg ? { tokenizerConfig: tokCfg } : {}),
        ...(stMap ? { specialTokensMap: stMap } : {}),
        maxLength,
        ...(sbert?.do_lower_case === true ? { lowercase: true } : {}),
      });
    } catch (e) {
      issues.push({ path: "tokenizer.json", message: (e as Error).message });
    }
  }
  if (issues.length > 0 || !tokenizer || !modelPath) return { ok: false, issues };
  const modelType = typeof config.model_type === "string" ? config.model_type : "unknown";
  // Decoder-style embedders (Qwen/Mistral-based) pool the last token; BERT-likes default to mean.
  const defaultPooling: Pooling = /qwen|mistral|llama|gemma/i.test(modelType)
    ? "last"
    : task === "embedding"
      ? "mean"
      : "cls";
  return {
    ok: true,
    value: {
      dir,
      modelPath,
      modelType,
      task,
      ...(typeof config.hidden_size === "number" ? { hiddenSize: config.hidden_size } : {}),
      pooling: pooling ?? defaultPooling,
      poolingSource: pooling !== undefined ? "config" : "default",
      includePrompt,
      normalize,
      modulesAfterPooling,
      modulesAfterPoolingPaths,
      maxLength,
      prompts,
      ...(defaultPromptName ? { defaultPromptName } : {}),
      ...(labels ? { labels } : {}),
      ...(problemType !== undefined ? { problemType } : {}),
      scoreFunction: scoreFunctionOf(problemType, labels?.length ?? 1, config.function_to_apply),
      crossEncoderActivation: crossEncoderActivationOf(config, labels?.length ?? 1),
      tokenizer,
    },
  };
}

/** Loads a model folder or throws `E_HF_FOLDER` naming every problem. */
export function loadHfFolder(dir: string, options: HfFolderOptions = {}): HfFolder {
  const r = parseHfFolder(dir, options);
  if (r.ok) return r.value;
  const list = r.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new TesseraError("E_HF_FOLDER", `model folder ${dir}: ${list}`, { dir, issues: r.issues });
}
