/** Open Inference Protocol v2 wire format: pure parse/serialize functions (no I/O, no models). */
export * from "./binary.ts";
export * from "./client.ts";
export * from "./datatypes.ts";
export * from "./json-data.ts";
export * from "./request.ts";
export * from "./response.ts";
export type * from "./types.ts";
export { type ArrayBufferSource, fastParseInferJson, PreparsedData } from "./fast-json.ts";
