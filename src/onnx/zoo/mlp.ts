/**
 * mlpClassifier: input "input" float32 [batch, inputDim] → Dense+ReLU per hidden layer → Dense →
 * "logits" [batch, classes] and Softmax → "probabilities" [batch, classes].
 *
 * Math (weights stored [in, out], so a layer is `x @ W + b`):
 *   h_0 = input; h_{i+1} = relu(h_i @ fc{i}.weight + fc{i}.bias); logits = h_L @ head.weight + head.bias;
 *   probabilities = softmax(logits, axis = -1).
 * Weights ~ N(0, 1/fanIn), biases ~ N(0, 0.1²), drawn in that order from `rng(seed)`.
 */
import { GraphBuilder } from "../builder.ts";
import {
  declare,
  positiveInt,
  WeightMaker,
  type ZooModel,
  type ZooTensorSpec,
  zooMetadata,
} from "./common.ts";

export interface MlpConfig {
  readonly inputDim: number;
  readonly hidden: readonly number[];
  readonly classes: number;
  readonly seed: number;
  /** Name of the batch dimension (default "batch"). */
  readonly batchDim: string;
  readonly opset: number;
}

/** A ReLU MLP classifier (default 256 → 1024 → 1024 → 10, the shape `bench/batching` uses). */
export function mlpClassifier(options: Partial<MlpConfig> = {}): ZooModel<MlpConfig> {
  const config: MlpConfig = {
    inputDim: options.inputDim ?? 256,
    hidden: [...(options.hidden ?? [1024, 1024])],
    classes: options.classes ?? 10,
    seed: options.seed ?? 0,
    batchDim: options.batchDim ?? "batch",
    opset: options.opset ?? 17,
  };
  const f = "mlpClassifier";
  positiveInt(f, "inputDim", config.inputDim);
  positiveInt(f, "classes", config.classes);
  for (const [i, h] of config.hidden.entries()) positiveInt(f, `hidden[${i}]`, h);

  const g = new GraphBuilder({ name: "mlp_classifier", opset: config.opset });
  const w = new WeightMaker(g, config.seed);
  const inputs: ZooTensorSpec[] = [
    { name: "input", dtype: "float32", dims: [config.batchDim, config.inputDim] },
  ];
  const outputs: ZooTensorSpec[] = [
    { name: "logits", dtype: "float32", dims: [config.batchDim, config.classes] },
    { name: "probabilities", dtype: "float32", dims: [config.batchDim, config.classes] },
  ];
  declare(g, "input", inputs);

  let x = "input";
  let width = config.inputDim;
  config.hidden.forEach((h, i) => {
    const weight = w.normal(`fc${i}.weight`, [width, h], 1 / Math.sqrt(width));
    const bias = w.normal(`fc${i}.bias`, [h], 0.1);
    x = g.op("Relu", [g.op("Add", [g.op("MatMul", [x, weight]), bias])]);
    width = h;
  });
  const headW = w.normal("head.weight", [width, config.classes], 1 / Math.sqrt(width));
  const headB = w.normal("head.bias", [config.classes], 0.1);
  g.node("Add", [g.op("MatMul", [x, headW]), headB], ["logits"]);
  g.node("Softmax", ["logits"], ["probabilities"], { axis: -1 });
  declare(g, "output", outputs);

  const name = "mlp-classifier";
  const metadata = zooMetadata(
    g,
    name,
    `synthetic ReLU MLP ${[config.inputDim, ...config.hidden, config.classes].join("→")}`,
    config,
  );
  return { name, bytes: g.toBytes(), config, weights: w.weights, inputs, outputs, metadata };
}
