/**
 * Runtime: inference sessions in worker threads (onnxruntime-node), execution providers, the model
 * registry. Other modules import only from here.
 */
export * from "./model-header.ts";
export * from "./ort-interop.ts";
export * from "./ort-session.ts";
export * from "./providers.ts";
export type * from "./registry-types.ts";
export type * from "./session.ts";
export * from "./validate.ts";
export * from "./model-config.ts";
export * from "./registry.ts";
export * from "./matmul-backend.ts";
