/**
 * Streaming batch scoring: sources (Parquet, Arrow IPC, CSV, JSONL) read as record batches, column
 * mapping to model inputs, sinks, checkpointed parts, progress. Other modules import only from here.
 */
export * from "./arrow-convert.ts";
export * from "./batch.ts";
export * from "./errors.ts";
export * from "./sinks/index.ts";
export * from "./sources/index.ts";
export * from "./atomic.ts";
export * from "./mapping.ts";
export * from "./progress.ts";
export * from "./rebatch.ts";
export * from "./score.ts";
