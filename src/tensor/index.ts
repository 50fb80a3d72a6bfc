/**
 * The tensor core: the only module other modules import from src/tensor. It imports nothing outside itself
 * (Node built-ins excepted; test/architecture.test.ts checks).
 *
 * - dtype.ts, layout.ts, tensor.ts: the dtype table, Layout {shape, strides, offset}, and `Tensor` with its
 *   view methods (slice, transpose, expand, … never copy; `contiguous()` copies only when needed).
 * - walk.ts (internal): `walkRows`, the strided row walker that the ops and `clone()` run on.
 * - create.ts: `tensor(nested)`, `fromBuffer` (no copy), zeros/ones/full/arange/linspace/eye.
 * - rng.ts: Philox4x32-10 `Generator` / `rng(seed)`: uniform, normal, integers, permutation, shuffle,
 *   child/split streams; the same numbers on every machine.
 * - float16.ts, cast.ts: binary16 conversion (round to nearest even) and `cast`.
 * - ops/: free functions with broadcasting and `out` (one family per file): arithmetic, comparisons, where,
 *   unary math, reductions, matmul (+ backend hooks), softmax, norms, topk, concat/stack.
 * - io/: safetensors and .npy read and write; reads give views of the file bytes where alignment and byte order
 *   allow, copies otherwise (and for safetensors BF16 decoded to float32).
 * - kernels/: JS and WASM SIMD (AssemblyScript) kernels behind the ops.
 */
export * from "./dtype.ts";
export * from "./errors.ts";
export * from "./layout.ts";
export * from "./tensor.ts";
export * from "./cast.ts";
export * from "./create.ts";
export * from "./float16.ts";
export * from "./rng.ts";
export * from "./values.ts";
export * from "./ops/index.ts";
export * from "./io/npy.ts";
export * from "./io/safetensors.ts";
