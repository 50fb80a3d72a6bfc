/**
 * Text: tokenizer adapter, Hugging Face folders, pooling, TextEmbedder, Reranker, TextClassifier.
 */
export * from "./classifier.ts";
export { type DenseLayer, loadDense } from "./dense.ts";
export * from "./embedder.ts";
export * from "./hf-folder.ts";
export * from "./pooling.ts";
export * from "./reranker.ts";
export * from "./runner.ts";
export * from "./tokenizer.ts";
export * from "./hub.ts";
export * from "./offsets.ts";
export * from "./precompiled.ts";
