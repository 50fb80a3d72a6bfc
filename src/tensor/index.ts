export * from "./dtype.ts";
export * from "./errors.ts";
export * from "./layout.ts";
export * from "./tensor.ts";
