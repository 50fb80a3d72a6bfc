export * from "./hf-folder.ts";
export * from "./tokenizer.ts";
