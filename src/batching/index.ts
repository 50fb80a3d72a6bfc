/**
 * Batching: a generic dynamic batcher (knows no models) plus the glue that batches ONNX sessions
 * (predictBatch, ModelBatcher) and sequence padding.
 */
export * from "./dynamic-batcher.ts";
export * from "./errors.ts";
export * from "./model-batcher.ts";
export * from "./pad.ts";
export { type PredictBatchOptions, predictBatch } from "./predict-batch.ts";
