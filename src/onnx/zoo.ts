/**
 * The model zoo: deterministic synthetic models built with GraphBuilder, used by the tests, benchmarks and the
 * demo repository. Each factory returns the `.onnx` bytes, its resolved config and its weights (so a plain-JS
 * reference can recompute the outputs), and marks the model with metadata `tessera.synthetic=true`.
 */
export {
  type BertConfig,
  bertEncoder,
  type CrossEncoderConfig,
  crossEncoder,
  MASK_FILL,
} from "./zoo/bert.ts";
export type { ZooModel, ZooTensorSpec } from "./zoo/common.ts";
export {
  type MatmulConfig,
  matmulModel,
  type MultiIOConfig,
  multiIO,
  type SlowConfig,
  slowModel,
} from "./zoo/misc.ts";
export { type MlpConfig, mlpClassifier } from "./zoo/mlp.ts";
