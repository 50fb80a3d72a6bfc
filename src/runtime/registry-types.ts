/**
 * Public types of the model registry: repository layout, model config, states.
 *
 * Repository layout:
 *   <root>/<model>/config.json          optional Tessera model config (ModelConfig)
 *   <root>/<model>/<version>/model.onnx  numeric version folders
 *   <root>/<model>/  holding a Hugging Face folder (tokenizer.json + onnx/model.onnx or model.onnx),
 *                    or a config.json with `"source": "<path to HF folder>"` → kind "hf", version 1.
 */
import type { PoolingMode } from "./model-config.ts";
import type { InferenceSession, ModelDescription, ProviderName, ProviderSpec } from "./session.ts";

export type ModelState = "unavailable" | "loading" | "ready" | "failed" | "unloading";

export interface BatchingConfig {
  /** Largest batch (items) the dynamic batcher forms. */
  readonly maxBatchSize: number;
  /** How long the first queued item may wait for others, in ms. */
  readonly maxQueueDelayMs: number;
  /** Items allowed to wait; beyond it requests get QueueFullError (HTTP 429). */
  readonly maxQueueSize: number;
  /** Optional cost budget per batch (e.g. padded tokens). */
  readonly maxBatchCost?: number;
}

/**
 * A model's `batching` in config.json: batcher settings, plus optional overrides per execution provider
 * (`{"maxBatchSize": 32, "providers": {"webgpu": {"maxBatchSize": 128}}}`) that apply when the session's
 * active provider is that one. See `batchingFor`.
 */
export interface ModelBatchingConfig extends Partial<BatchingConfig> {
  readonly providers?: Readonly<Partial<Record<ProviderName, Partial<BatchingConfig>>>>;
}

export interface ModelConfig {
  /** "onnx" (versioned .onnx folders) or "hf" (a Hugging Face text-model folder). */
  readonly kind: "onnx" | "hf";
  /** For kind "hf": the folder holding config.json/tokenizer.json (absolute or relative to the model dir). */
  readonly source?: string;
  readonly batching?: ModelBatchingConfig;
  /**
   * Set by `"batching": false` in config.json: the model's first dim is not a batch (e.g. a Softmax over a
   * dynamic `[n]`), so requests must never be concatenated; a server runs them one at a time.
   */
  readonly unbatched?: boolean;
  readonly replicas?: number;
  readonly intraOpThreads?: number;
  /** ORT intra-op pool threads spin-wait between runs (see SessionOptions.intraOpSpinning); default true. */
  readonly intraOpSpinning?: boolean;
  readonly providers?: readonly (ProviderName | ProviderSpec)[];
  /** Version policy: "latest" (default, highest number), `{ latest: n }`, or `{ specific: [1, 3] }`. */
  readonly versionPolicy?:
    | "latest"
    | "all"
    | { readonly latest: number }
    | { readonly specific: readonly number[] };
  /** Map of logical → graph input names (optional renaming). */
  readonly inputs?: Readonly<Record<string, string>>;
  readonly outputs?: Readonly<Record<string, string>>;
  /** Class labels for classifier outputs (index → label). */
  readonly labels?: readonly string[];
  /** For kind "hf": graph variant, e.g. "quantized" → onnx/model_quantized.onnx (default: onnx/model.onnx). */
  readonly variant?: string;
  /**
   * For kind "hf": whether TEI routes truncate over-long inputs when the request does not say (`truncate`
   * absent). Default true, as TEI's `--auto-truncate` since 2026; false answers such inputs with 413.
   */
  readonly autoTruncate?: boolean;
  /**
   * For kind "hf" embedding models: how token vectors are pooled, overriding the folder's
   * 1_Pooling/config.json (e.g. "cls" for a transformers.js export of a CLS-pooled model that has no
   * pooling config). Default: the folder's config, else mean (last for decoder models).
   */
  readonly pooling?: PoolingMode;
  /** Text limits for kind "hf". */
  readonly maxInputs?: number;
  readonly maxTokens?: number;
  /** Free-form description shown in metadata. */
  readonly description?: string;
}

export interface ModelVersionStatus {
  readonly name: string;
  readonly version: string;
  readonly state: ModelState;
  /** Why the version is failed/unavailable. */
  readonly reason?: string;
}

export interface LoadedModel {
  readonly name: string;
  readonly version: string;
  readonly kind: "onnx" | "hf";
  /** Folder of the model (`<root>/<model>`), and for kind "hf" the HF folder it points to. */
  readonly dir: string;
  readonly hfDir?: string;
  readonly modelPath: string;
  readonly config: ModelConfig;
  readonly session: InferenceSession;
  readonly description: ModelDescription;
  readonly loadMs: number;
}
