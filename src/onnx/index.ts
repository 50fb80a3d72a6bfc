/**
 * ONNX graph building and inspection (no runtime): `GraphBuilder` writes `.onnx` bytes, `decodeModel`
 * summarises existing ones, `zoo` holds deterministic test/benchmark models.
 */
export * from "./attributes.ts";
export * from "./builder.ts";
export * from "./decode.ts";
export * from "./dtypes.ts";
export * from "./errors.ts";
export * from "./proto-types.ts";
export {
  AttributeType,
  DataType,
  GraphProtoType,
  ModelProtoType,
  ONNX_DESCRIPTOR,
  TensorProtoType,
} from "./schema.ts";
export * from "./tensor-proto.ts";
export * from "./zoo.ts";
