/**
 * Messages between the main thread (`ort-session.ts`) and a session worker (`ort-worker.ts`).
 * Tensors travel as `WireTensor`s whose ArrayBuffers are in the postMessage transfer list.
 */
import type { WireTensor } from "./ort-interop.ts";
import type { ProviderName, ProviderSpec } from "./session.ts";

export interface WorkerInit {
  /** Where the worker reads the model: a file path, or bytes (copied to each replica once). */
  readonly model: { readonly path: string } | { readonly bytes: Uint8Array };
  readonly providers: ProviderSpec[];
  readonly intraOpThreads: number;
  readonly interOpThreads?: number;
  readonly intraOpSpinning: boolean;
  readonly graphOptimization: "disabled" | "basic" | "extended" | "all";
  /** When set, ORT writes the optimized graph here while creating the session. */
  readonly optimizedModelFilePath?: string;
  /**
   * With `optimizedModelFilePath`: a file name (in the same folder) for the optimized model's weights, so that the
   * cached model does not point at the source model's external-data files by a path relative to another folder.
   */
  readonly optimizedModelDataFile?: string;
  readonly label: string;
}

export interface WireValueMeta {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

export type ToWorker =
  | { readonly type: "init"; readonly init: WorkerInit }
  | {
      readonly type: "run";
      readonly id: number;
      readonly inputs: Readonly<Record<string, WireTensor>>;
      readonly outputs?: readonly string[];
    }
  | { readonly type: "close" }
  /** Test-only: makes the worker call process.exit(code), to exercise worker replacement. */
  | { readonly type: "crash"; readonly code: number };

export type FromWorker =
  | {
      readonly type: "ready";
      readonly activeProvider: ProviderName;
      readonly fallbacks: { provider: ProviderName; reason: string }[];
      readonly inputs: WireValueMeta[];
      readonly outputs: WireValueMeta[];
      readonly initMs: number;
    }
  | {
      readonly type: "init-error";
      readonly message: string;
      readonly fallbacks: { provider: ProviderName; reason: string }[];
    }
  | {
      readonly type: "result";
      readonly id: number;
      readonly outputs: Record<string, WireTensor>;
      readonly inferMs: number;
    }
  | { readonly type: "run-error"; readonly id: number; readonly message: string }
  | { readonly type: "closed" };
