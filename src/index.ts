export * from "./tensor/index.ts";
export * as batching from "./batching/index.ts";
export * as onnx from "./onnx/index.ts";
export * as pipeline from "./pipeline/index.ts";
export * as runtime from "./runtime/index.ts";
export * as server from "./server/index.ts";
export * as text from "./text/index.ts";
