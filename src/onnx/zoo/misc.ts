/**
 * Small zoo models for I/O and scheduling tests: multiIO (several dtypes in and out), matmulModel (one MatMul),
 * slowModel (a Loop of matrix products that keeps one CPU core busy for a chosen time).
 */
import { scalar } from "../../tensor/index.ts";
import { type Dim, GraphBuilder } from "../builder.ts";
import { buildError } from "../errors.ts";
import {
  declare,
  positiveInt,
  WeightMaker,
  type ZooModel,
  type ZooTensorSpec,
  zooMetadata,
} from "./common.ts";

export interface MultiIOConfig {
  readonly opset: number;
}

/**
 * Several inputs and outputs of different dtypes, all with a symbolic "batch" dim:
 *   x float32 [batch, 4], ids int64 [batch, 3], flag bool [batch], half float16 [batch, 2]
 *   → y float32 [batch, 4] = 2x + 1
 *   → ids_plus_one int64 [batch, 3] = ids + 1
 *   → not_flag bool [batch] = !flag
 *   → half_doubled float16 [batch, 2] = float16(2 · float32(half))
 *   → x_sum float32 [batch] = Σ_j x[:, j]
 */
export function multiIO(options: Partial<MultiIOConfig> = {}): ZooModel<MultiIOConfig> {
  const config: MultiIOConfig = { opset: options.opset ?? 17 };
  const g = new GraphBuilder({ name: "multi_io", opset: config.opset });
  const inputs: ZooTensorSpec[] = [
    { name: "x", dtype: "float32", dims: ["batch", 4] },
    { name: "ids", dtype: "int64", dims: ["batch", 3] },
    { name: "flag", dtype: "bool", dims: ["batch"] },
    { name: "half", dtype: "float16", dims: ["batch", 2] },
  ];
  const outputs: ZooTensorSpec[] = [
    { name: "y", dtype: "float32", dims: ["batch", 4] },
    { name: "ids_plus_one", dtype: "int64", dims: ["batch", 3] },
    { name: "not_flag", dtype: "bool", dims: ["batch"] },
    { name: "half_doubled", dtype: "float16", dims: ["batch", 2] },
    { name: "x_sum", dtype: "float32", dims: ["batch"] },
  ];
  declare(g, "input", inputs);
  const two = g.constant(scalar(2, "float32"), "two");
  g.node("Add", [g.op("Mul", ["x", two]), g.constant(scalar(1, "float32"), "one")], ["y"]);
  g.node("Add", ["ids", g.constant(scalar(1n, "int64"), "one_i64")], ["ids_plus_one"]);
  g.node("Not", ["flag"], ["not_flag"]);
  g.node("Cast", [g.op("Mul", [g.op("Cast", ["half"], { to: 1 }), two])], ["half_doubled"], { to: 10 });
  g.node("ReduceSum", ["x", g.constant(scalar(1n, "int64").reshape([1]), "sum_axes")], ["x_sum"], {
    keepdims: 0,
  });
  declare(g, "output", outputs);
  const name = "multi-io";
  const metadata = zooMetadata(
    g,
    name,
    "synthetic model with float32/int64/bool/float16 inputs and outputs",
    config,
  );
  return { name, bytes: g.toBytes(), config, weights: {}, inputs, outputs, metadata };
}

export interface MatmulConfig {
  readonly m: Dim;
  readonly k: number;
  readonly n: number;
  readonly seed: number;
  /** Make "b" a graph input instead of a seeded initializer. */
  readonly bAsInput: boolean;
  readonly opset: number;
}

/**
 * One MatMul: "a" float32 [m, k] @ "b" float32 [k, n] → "c" float32 [m, n]. `m` may be symbolic ("batch").
 * "b" is an initializer ~ N(0, 1/k) from `rng(seed)` unless `bAsInput`.
 */
export function matmulModel(
  m: Dim,
  k: number,
  n: number,
  options: Partial<Omit<MatmulConfig, "m" | "k" | "n">> = {},
): ZooModel<MatmulConfig> {
  const config: MatmulConfig = {
    m,
    k,
    n,
    seed: options.seed ?? 0,
    bAsInput: options.bAsInput ?? false,
    opset: options.opset ?? 17,
  };
  positiveInt("matmulModel", "k", k);
  positiveInt("matmulModel", "n", n);
  const g = new GraphBuilder({ name: "matmul", opset: config.opset });
  const w = new WeightMaker(g, config.seed);
  const inputs: ZooTensorSpec[] = [{ name: "a", dtype: "float32", dims: [m, k] }];
  if (config.bAsInput) inputs.push({ name: "b", dtype: "float32", dims: [k, n] });
  const outputs: ZooTensorSpec[] = [{ name: "c", dtype: "float32", dims: [m, n] }];
  declare(g, "input", inputs);
  if (!config.bAsInput) w.normal("b", [k, n], 1 / Math.sqrt(k));
  g.node("MatMul", ["a", "b"], ["c"]);
  declare(g, "output", outputs);
  const name = "matmul";
  const metadata = zooMetadata(g, name, `synthetic single MatMul [${m},${k}]x[${k},${n}]`, config);
  return { name, bytes: g.toBytes(), config, weights: w.weights, inputs, outputs, metadata };
}

export interface SlowConfig {
  /** Target run time on one core in milliseconds (used with `gflops` when `iterations` is not given). */
  readonly ms: number;
  /** Assumed single-thread MatMul speed in GFLOP/s for turning `ms` into iterations (default 150: measured
   *  ~200 on one AVX-512 core of the dev machine with ORT 1.30; slower CPUs run longer). */
  readonly gflops: number;
  /** Loop iterations; each is one [size,size] x [size,size] MatMul + Tanh (2·size³ flops). */
  readonly iterations: number;
  readonly size: number;
  readonly seed: number;
  readonly opset: number;
}

/**
 * A model whose one run keeps a core busy for about `ms` (for event-loop tests): "x" float32 [batch, size] →
 * "y" float32 [batch, size] with
 *   S_0 = W0 + mean(x);  S_{i+1} = tanh(S_i @ W)  for i < iterations;  y = x @ S_iterations.
 * The loop state depends on x, so ONNX Runtime cannot constant-fold it away. Run time scales with
 * `iterations` (derived from `ms` and `gflops`; measure on your machine and pass `iterations` for precision).
 */
export function slowModel(options: Partial<SlowConfig> = {}): ZooModel<SlowConfig> {
  const size = options.size ?? 256;
  const ms = options.ms ?? 1000;
  const gflops = options.gflops ?? 150;
  const iterations =
    options.iterations ?? Math.max(1, Math.round((ms * 1e-3 * gflops * 1e9) / (2 * size ** 3)));
  const config: SlowConfig = {
    ms,
    gflops,
    iterations,
    size,
    seed: options.seed ?? 0,
    opset: options.opset ?? 17,
  };
  positiveInt("slowModel", "size", size);
  positiveInt("slowModel", "iterations", iterations);
  if (!(ms > 0) || !(gflops > 0))
    throw buildError(`slowModel: ms and gflops must be positive, got ${ms} and ${gflops}`, { ms, gflops });

  const g = new GraphBuilder({ name: "slow_loop", opset: config.opset });
  const w = new WeightMaker(g, config.seed);
  const inputs: ZooTensorSpec[] = [{ name: "x", dtype: "float32", dims: ["batch", size] }];
  const outputs: ZooTensorSpec[] = [{ name: "y", dtype: "float32", dims: ["batch", size] }];
  declare(g, "input", inputs);
  const w0 = w.normal("w0", [size, size], 1 / Math.sqrt(size));
  const wLoop = w.normal("w_loop", [size, size], 1 / Math.sqrt(size));
  const s0 = g.op("Add", [w0, g.op("ReduceMean", ["x"], { keepdims: 0 })]);

  const body = g.subgraph("slow_loop_body");
  body.input("iter", "int64", []);
  body.input("cond_in", "bool", []);
  body.input("state_in", "float32", [size, size]);
  body.node("Identity", ["cond_in"], ["cond_out"]);
  body.node("Tanh", [body.op("MatMul", ["state_in", wLoop])], ["state_out"]);
  body.output("cond_out", "bool", []);
  body.output("state_out", "float32", [size, size]);

  const trip = g.constant(scalar(BigInt(iterations), "int64"), "trip_count");
  const [final] = g.node("Loop", [trip, "", s0], 1, { body });
  g.node("MatMul", ["x", final!], ["y"]);
  declare(g, "output", outputs);
  const name = "slow-model";
  const metadata = zooMetadata(
    g,
    name,
    `synthetic slow model: ${iterations} iterations of a ${size}x${size} MatMul (~${ms} ms at ${gflops} GFLOP/s)`,
    config,
  );
  return { name, bytes: g.toBytes(), config, weights: w.weights, inputs, outputs, metadata };
}
