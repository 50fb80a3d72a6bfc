export * from "./tensor/index.ts";
