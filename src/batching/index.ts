/**
 * Batching: a generic dynamic batcher (knows no models) plus the glue that batches ONNX sessions.
 */
export * from "./dynamic-batcher.ts";
export * from "./errors.ts";
