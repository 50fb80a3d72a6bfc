/**
 * The contract every inference session implements. `ort-session.ts` (worker threads running
 * onnxruntime-node) is the implementation; callers depend only on this file.
 */
import type { DType, Tensor } from "../tensor/index.ts";

/** A dimension: a fixed size, a symbolic name (`"batch"`), or unknown (`null`). */
export type Dim = number | string | null;

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export interface ModelDescription {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Opset imports, e.g. `{ "": 17, "com.microsoft": 1 }`. */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Bytes of the .onnx file. */
  readonly byteSize: number;
  /** Hex sha256 of the .onnx file: the model's content version. */
  readonly sha256: string;
  /**
   * Graph inputs and outputs Tessera tensors cannot carry (string, uint32/uint64 or bfloat16 tensors; non-tensor
   * values such as the sequence of maps scikit-learn's ZipMap outputs), left out of `inputs`/`outputs`. A run
   * without `outputs` computes only the outputs listed in `outputs`; asking for one of these is `E_INPUT_INVALID`,
   * and a model with such an input cannot run here (`E_DTYPE_UNSUPPORTED`). Absent when there are none.
   */
  readonly unsupported?: readonly UnsupportedValue[];
}

/** A graph input or output Tessera cannot carry (see `ModelDescription.unsupported`). */
export interface UnsupportedValue {
  readonly name: string;
  readonly io: "input" | "output";
  /** ORT's element type (`"string"`, `"uint32"`, …) or `"non-tensor (sequence or map)"`. */
  readonly type: string;
}

export type TensorMap = Record<string, Tensor>;

/** Execution provider names accepted by Tessera (ORT names). */
export type ProviderName = "cpu" | "webgpu" | "cuda" | "tensorrt" | "dml" | "coreml";

export interface ProviderSpec {
  readonly name: ProviderName;
  /** Provider options passed to ORT (e.g. webgpu `{ preferredLayout: "NHWC" }`). */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
}

export interface SessionOptions {
  /** Threads inside one op (ORT intraOpNumThreads). Default: chosen from os.availableParallelism() and replicas. */
  readonly intraOpThreads?: number;
  /**
   * ORT interOpNumThreads: threads that run independent nodes at once. ORT uses them only in its parallel execution
   * mode, which Tessera does not enable (sequential is ORT's default and usually faster), so today this has no
   * effect on speed; it is passed through for parity with ORT's options. Parallelism comes from `replicas` and
   * `intraOpThreads`.
   */
  readonly interOpThreads?: number;
  /**
   * Let ORT's intra-op pool threads spin-wait for work between parallel sections. Default true (ORT's own
   * default): measured on a 2-core VM, a 1 replica × 2 thread ModelBatcher ran 109k–124k rows/s spinning vs 87k–108k not
   * (waking a sleeping pool thread per op is slow there). The price: after each run a pool thread keeps a core
   * busy for a few ms (~20–30 ms of CPU per 100 ms idle after a run, `test/runtime/spinning.test.ts`). Set false
   * when other work on the same cores (the HTTP event loop, other replicas) needs that CPU. Only matters with
   * intraOpThreads > 1.
   */
  readonly intraOpSpinning?: boolean;
  readonly graphOptimization?: "disabled" | "basic" | "extended" | "all";
  /** Providers in order of preference; the first that creates a session wins. Default `["cpu"]`. */
  readonly providers?: readonly (ProviderName | ProviderSpec)[];
  /** Worker replicas, each with its own session. Default: chosen from os.availableParallelism(). */
  readonly replicas?: number;
  /** Folder for optimized-model cache files keyed by model sha256; unset disables the cache. */
  readonly optimizedModelCacheDir?: string;
  /** Name used in error messages and metrics (e.g. `"demo-mlp@1"`). */
  readonly label?: string;
}

export interface RunOptions {
  /** Output names to compute; default all. */
  readonly outputs?: readonly string[];
  /** Aborting before the run starts rejects with `E_ABORTED`; a started run completes and is discarded. */
  readonly signal?: AbortSignal;
  /**
   * Hand input buffers to the worker instead of copying them: zero-copy, but each input tensor that
   * owns its whole ArrayBuffer is detached (unusable, length 0) in the caller afterwards. Default
   * false: each input is copied (one memcpy) into a fresh buffer that is transferred.
   */
  readonly transferInputs?: boolean;
}

export interface RunResult {
  readonly outputs: TensorMap;
  /** Milliseconds spent inside ORT's run() in the worker. */
  readonly inferMs: number;
  /** Which replica ran it. */
  readonly replica: number;
}

export interface InferenceSession {
  readonly description: ModelDescription;
  /** The provider each replica actually runs on after fallback (e.g. `"cpu"` when webgpu failed). */
  readonly activeProvider: ProviderName;
  /** Why preferred providers were skipped, in order (empty when the first one worked). */
  readonly providerFallbacks: readonly { provider: ProviderName; reason: string }[];
  readonly replicas: number;
  /**
   * Runs the model. Inputs are validated against the description (names, dtypes, ranks, fixed dims)
   * before reaching ORT; their buffers are copied into transferable memory only when needed.
   */
  run(inputs: TensorMap, options?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}
