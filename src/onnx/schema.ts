/**
 * The ONNX protobuf schema (onnx/onnx.proto, IR version 10) as a protobufjs JSON descriptor, so no
 * `.proto` file is read at runtime. Field names keep ONNX's snake_case spelling; field numbers match
 * onnx.proto exactly (a wrong number would silently produce a file that ONNX Runtime misreads).
 *
 * Only the messages a model file contains are described: ModelProto and what it reaches. Fields this
 * package never reads are still listed so that decoding keeps them instead of dropping them.
 */
import protobuf from "protobufjs/light.js";

type Fields = Record<string, { type: string; id: number; rule?: "repeated" }>;

const str = (id: number) => ({ type: "string", id });
const i64 = (id: number) => ({ type: "int64", id });
const rep = (type: string, id: number) => ({ type, id, rule: "repeated" as const });
const msg = (type: string, id: number) => ({ type, id });

const metadataProps = (id: number) => rep("StringStringEntryProto", id);

const AttributeProto: Fields = {
  name: str(1),
  ref_attr_name: str(21),
  doc_string: str(13),
  type: msg("AttributeType", 20),
  f: { type: "float", id: 2 },
  i: i64(3),
  s: { type: "bytes", id: 4 },
  t: msg("TensorProto", 5),
  g: msg("GraphProto", 6),
  sparse_tensor: msg("SparseTensorProto", 22),
  tp: msg("TypeProto", 14),
  floats: rep("float", 7),
  ints: rep("int64", 8),
  strings: rep("bytes", 9),
  tensors: rep("TensorProto", 10),
  graphs: rep("GraphProto", 11),
  sparse_tensors: rep("SparseTensorProto", 23),
  type_protos: rep("TypeProto", 15),
};

/** AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  TYPE_PROTO: 13,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
  TYPE_PROTOS: 14,
} as const;

const ValueInfoProto: Fields = {
  name: str(1),
  type: msg("TypeProto", 2),
  doc_string: str(3),
  metadata_props: metadataProps(4),
};

const NodeProto: Fields = {
  input: rep("string", 1),
  output: rep("string", 2),
  name: str(3),
  op_type: str(4),
  domain: str(7),
  overload: str(8),
  attribute: rep("AttributeProto", 5),
  doc_string: str(6),
  metadata_props: metadataProps(9),
};

const TrainingInfoProto: Fields = {
  initialization: msg("GraphProto", 1),
  algorithm: msg("GraphProto", 2),
  initialization_binding: rep("StringStringEntryProto", 3),
  update_binding: rep("StringStringEntryProto", 4),
};

const ModelProto: Fields = {
  ir_version: i64(1),
  opset_import: rep("OperatorSetIdProto", 8),
  producer_name: str(2),
  producer_version: str(3),
  domain: str(4),
  model_version: i64(5),
  doc_string: str(6),
  graph: msg("GraphProto", 7),
  metadata_props: metadataProps(14),
  training_info: rep("TrainingInfoProto", 20),
  functions: rep("FunctionProto", 25),
};

const StringStringEntryProto: Fields = { key: str(1), value: str(2) };

const TensorAnnotation: Fields = {
  tensor_name: str(1),
  quant_parameter_tensor_names: rep("StringStringEntryProto", 2),
};

const GraphProto: Fields = {
  node: rep("NodeProto", 1),
  name: str(2),
  initializer: rep("TensorProto", 5),
  sparse_initializer: rep("SparseTensorProto", 15),
  doc_string: str(10),
  input: rep("ValueInfoProto", 11),
  output: rep("ValueInfoProto", 12),
  value_info: rep("ValueInfoProto", 13),
  quantization_annotation: rep("TensorAnnotation", 14),
  metadata_props: metadataProps(16),
};

const TensorProto: Fields = {
  dims: rep("int64", 1),
  data_type: { type: "int32", id: 2 },
  segment: msg("Segment", 3),
  float_data: rep("float", 4),
  int32_data: rep("int32", 5),
  string_data: rep("bytes", 6),
  int64_data: rep("int64", 7),
  name: str(8),
  doc_string: str(12),
  raw_data: { type: "bytes", id: 9 },
  external_data: rep("StringStringEntryProto", 13),
  data_location: msg("DataLocation", 14),
  double_data: rep("double", 10),
  uint64_data: rep("uint64", 11),
  metadata_props: metadataProps(16),
};

/** TensorProto.DataType: element type codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const;

const SparseTensorProto: Fields = {
  values: msg("TensorProto", 1),
  indices: msg("TensorProto", 2),
  dims: rep("int64", 3),
};

const TensorShapeProto_Dimension = {
  oneofs: { value: { oneof: ["dim_value", "dim_param"] } },
  fields: { dim_value: i64(1), dim_param: str(2), denotation: str(3) },
};

const TypeProto = {
  oneofs: {
    value: {
      oneof: [
        "tensor_type",
        "sequence_type",
        "map_type",
        "optional_type",
        "sparse_tensor_type",
        "opaque_type",
      ],
    },
  },
  fields: {
    tensor_type: msg("Tensor", 1),
    sequence_type: msg("Sequence", 4),
    map_type: msg("Map", 5),
    optional_type: msg("Optional", 9),
    sparse_tensor_type: msg("SparseTensor", 8),
    opaque_type: msg("Opaque", 7),
    denotation: str(6),
  },
  nested: {
    Tensor: { fields: { elem_type: { type: "int32", id: 1 }, shape: msg("TensorShapeProto", 2) } },
    Sequence: { fields: { elem_type: msg("TypeProto", 1) } },
    Map: { fields: { key_type: { type: "int32", id: 1 }, value_type: msg("TypeProto", 2) } },
    Optional: { fields: { elem_type: msg("TypeProto", 1) } },
    SparseTensor: { fields: { elem_type: { type: "int32", id: 1 }, shape: msg("TensorShapeProto", 2) } },
    Opaque: { fields: { domain: str(1), name: str(2) } },
  },
};

const OperatorSetIdProto: Fields = { domain: str(1), version: i64(2) };

const FunctionProto: Fields = {
  name: str(1),
  input: rep("string", 4),
  output: rep("string", 5),
  attribute: rep("string", 6),
  attribute_proto: rep("AttributeProto", 11),
  node: rep("NodeProto", 7),
  doc_string: str(8),
  opset_import: rep("OperatorSetIdProto", 9),
  domain: str(10),
  overload: str(13),
  value_info: rep("ValueInfoProto", 12),
  metadata_props: metadataProps(14),
};

/** The descriptor itself (package `onnx`), for tools that want to inspect or extend it. */
export const ONNX_DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: { fields: AttributeProto, nested: { AttributeType: { values: AttributeType } } },
        ValueInfoProto: { fields: ValueInfoProto },
        NodeProto: { fields: NodeProto },
        TrainingInfoProto: { fields: TrainingInfoProto },
        ModelProto: { fields: ModelProto },
        StringStringEntryProto: { fields: StringStringEntryProto },
        TensorAnnotation: { fields: TensorAnnotation },
        GraphProto: { fields: GraphProto },
        TensorProto: {
          fields: TensorProto,
          nested: {
            DataType: { values: DataType },
            Segment: { fields: { begin: i64(1), end: i64(2) } },
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
          },
        },
        SparseTensorProto: { fields: SparseTensorProto },
        TensorShapeProto: {
          fields: { dim: rep("Dimension", 1) },
          nested: { Dimension: TensorShapeProto_Dimension },
        },
        TypeProto,
        OperatorSetIdProto: { fields: OperatorSetIdProto },
        FunctionProto: { fields: FunctionProto },
      },
    },
  },
} as const;

const root = protobuf.Root.fromJSON(ONNX_DESCRIPTOR as unknown as protobuf.INamespace);

/** The protobufjs message type of a whole `.onnx` file. */
export const ModelProtoType: protobuf.Type = root.lookupType("onnx.ModelProto");
/** The protobufjs message type of one tensor (initializers, Constant values). */
export const TensorProtoType: protobuf.Type = root.lookupType("onnx.TensorProto");
/** The protobufjs message type of one graph (used by tests to encode subgraphs alone). */
export const GraphProtoType: protobuf.Type = root.lookupType("onnx.GraphProto");
