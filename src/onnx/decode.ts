/**
 * Reading `.onnx` files: `decodeModelProto` gives the protobuf message, `decodeModel` a summary of what a
 * model needs and holds (opsets, inputs/outputs with symbolic dims, ops used, initializer sizes, metadata,
 * external-data references) without copying any weights.
 */
import type { DType } from "../tensor/index.ts";
import type { Dim } from "./builder.ts";
import { dataTypeByteSize, dtypeOfDataType, elemTypeName, type OnnxElemType } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import {
  type GraphProto,
  int64ToNumber,
  type ModelProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from "./proto-types.ts";
import { ModelProtoType } from "./schema.ts";
import { tensorFromProto } from "./tensor-proto.ts";
import type { Tensor } from "../tensor/index.ts";

export type ValueKind = "tensor" | "sparse_tensor" | "sequence" | "map" | "optional" | "opaque" | "unknown";

export interface ValueInfo {
  readonly name: string;
  readonly kind: ValueKind;
  /** Element type name ("float32", "int64", "string", "bfloat16", …); for sequences/optionals, of the inner tensor. */
  readonly elemType: OnnxElemType | `code${number}` | null;
  /** The Tessera dtype when one exists (null for string, bfloat16, non-tensors, …). */
  readonly dtype: DType | null;
  /** Dims (number, symbolic name, or null when unknown); null when the rank itself is unknown. */
  readonly dims: Dim[] | null;
}

export interface OpUse {
  /** "" is the default ONNX domain. */
  readonly domain: string;
  readonly opType: string;
  /** Nodes of this op in the main graph and all subgraphs (If/Loop/Scan bodies, functions excluded). */
  readonly count: number;
}

export interface InitializerInfo {
  readonly name: string;
  readonly elemType: OnnxElemType | `code${number}`;
  readonly dtype: DType | null;
  readonly dims: number[];
  /** Bytes of the data (computed from dims for fixed-width types; string bytes for strings). */
  readonly byteSize: number;
  /** True when the data lives in an external file. */
  readonly external: boolean;
}

export interface ExternalDataRef {
  readonly tensor: string;
  /** File path relative to the model's folder. */
  readonly location: string;
  readonly offset: number;
  /** Bytes, or null when the entry does not say (then: to the end of the file). */
  readonly length: number | null;
  readonly checksum: string | null;
}

export interface ModelInfo {
  readonly irVersion: number;
  /** Opset imports: `{ "": 17, "com.microsoft": 1 }`. */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  readonly producerVersion: string;
  readonly domain: string;
  readonly modelVersion: number;
  readonly docString: string;
  readonly graphName: string;
  /** Graph inputs that are not initializers (what a caller must feed). */
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Ops used, most frequent first. */
  readonly ops: readonly OpUse[];
  /** Nodes in the main graph and subgraphs. */
  readonly nodeCount: number;
  readonly initializers: readonly InitializerInfo[];
  /** Sum of `initializers[].byteSize`. */
  readonly initializerBytes: number;
  /** Number of elements in all initializers. */
  readonly parameterCount: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly externalData: readonly ExternalDataRef[];
  /** Names of model-local functions (ModelProto.functions). */
  readonly functions: readonly string[];
  /** Size of the encoded model. */
  readonly byteSize: number;
}

/**
 * Parses `.onnx` bytes into the ModelProto message (64-bit fields as Long). Weight bytes stay views of
 * `bytes`, so keep `bytes` alive and unmodified while using the result. Throws `E_ONNX_DECODE` for bytes
 * that are not a protobuf ModelProto or that have no graph.
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    throw new OnnxError("E_ONNX_DECODE", "decodeModel: expected the model's bytes as a Uint8Array", {});
  }
  if (bytes.byteLength === 0)
    throw new OnnxError("E_ONNX_DECODE", "decodeModel: the file is empty (0 bytes)", { byteSize: 0 });
  let model: ModelProto;
  try {
    model = ModelProtoType.decode(bytes) as unknown as ModelProto;
  } catch (err) {
    throw new OnnxError(
      "E_ONNX_DECODE",
      `decodeModel: not an ONNX model or truncated (${bytes.byteLength} bytes): ${(err as Error).message}`,
      { byteSize: bytes.byteLength },
      { cause: err },
    );
  }
  if (model.graph === undefined || model.graph === null) {
    throw new OnnxError(
      "E_ONNX_DECODE",
      `decodeModel: no graph in ${bytes.byteLength} bytes; not an ONNX model`,
      {
        byteSize: bytes.byteLength,
      },
    );
  }
  if (int64ToNumber(model.ir_version) <= 0 || (model.opset_import?.length ?? 0) === 0) {
    throw new OnnxError(
      "E_ONNX_DECODE",
      `decodeModel: missing ir_version or opset_import (got ir_version ${int64ToNumber(model.ir_version)}, ${model.opset_import?.length ?? 0} opsets); not an ONNX model`,
      { byteSize: bytes.byteLength },
    );
  }
  return model;
}

function describeType(type: TypeProto | undefined): Omit<ValueInfo, "name"> {
  if (type === undefined || type === null)
    return { kind: "unknown", elemType: null, dtype: null, dims: null };
  const tensorLike = (kind: ValueKind, t: NonNullable<TypeProto["tensor_type"]>): Omit<ValueInfo, "name"> => {
    const code = t.elem_type ?? 0;
    const dims =
      t.shape === undefined || t.shape === null
        ? null
        : (t.shape.dim ?? []).map((d): Dim => {
            // Decoded messages keep defaults on the prototype: only own properties were present in the file.
            if (Object.hasOwn(d, "dim_param") && d.dim_param) return d.dim_param;
            if (Object.hasOwn(d, "dim_value") && d.dim_value !== undefined && d.dim_value !== null)
              return int64ToNumber(d.dim_value);
            return null;
          });
    return { kind, elemType: elemTypeName(code), dtype: dtypeOfDataType(code), dims };
  };
  if (type.tensor_type) return tensorLike("tensor", type.tensor_type);
  if (type.sparse_tensor_type) return tensorLike("sparse_tensor", type.sparse_tensor_type);
  const inner = (kind: ValueKind, t: TypeProto | undefined) => ({ ...describeType(t), kind });
  if (type.sequence_type) return inner("sequence", type.sequence_type.elem_type);
  if (type.optional_type) return inner("optional", type.optional_type.elem_type);
  if (type.map_type) return { kind: "map", elemType: null, dtype: null, dims: null };
  if (type.opaque_type) return { kind: "opaque", elemType: null, dtype: null, dims: null };
  return { kind: "unknown", elemType: null, dtype: null, dims: null };
}

function valueInfo(v: ValueInfoProto): ValueInfo {
  return { name: v.name ?? "", ...describeType(v.type) };
}

function entries(props: StringStringEntryProto[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of props ?? []) out[p.key ?? ""] = p.value ?? "";
  return out;
}

function initializerInfo(t: TensorProto): InitializerInfo {
  const code = t.data_type ?? 0;
  const dims = (t.dims ?? []).map((d) => int64ToNumber(d));
  const size = dims.reduce((a, b) => a * b, 1);
  const width = dataTypeByteSize(code);
  let byteSize: number;
  if (width !== null) byteSize = size * width;
  else if (t.string_data) byteSize = t.string_data.reduce((a, s) => a + s.byteLength, 0);
  else byteSize = t.raw_data?.byteLength ?? Math.ceil(size / 2);
  const external = t.data_location === 1 || (t.external_data?.length ?? 0) > 0;
  return {
    name: t.name ?? "",
    elemType: elemTypeName(code),
    dtype: dtypeOfDataType(code),
    dims,
    byteSize,
    external,
  };
}

/** Visits a graph and every subgraph held in node attributes (g / graphs), depth first. */
function walkGraphs(graph: GraphProto, visit: (g: GraphProto) => void): void {
  visit(graph);
  for (const node of graph.node ?? []) {
    for (const attr of node.attribute ?? []) {
      if (attr.g) walkGraphs(attr.g, visit);
      for (const sub of attr.graphs ?? []) walkGraphs(sub, visit);
    }
  }
}

/** Summarises a ModelProto (see ModelInfo). */
export function describeModel(model: ModelProto, byteSize = 0): ModelInfo {
  const graph = model.graph ?? {};
  const opsets: Record<string, number> = {};
  for (const o of model.opset_import ?? [])
    opsets[o.domain === "ai.onnx" ? "" : (o.domain ?? "")] = int64ToNumber(o.version);

  const counts = new Map<string, OpUse>();
  let nodeCount = 0;
  const initializers: InitializerInfo[] = [];
  const externalData: ExternalDataRef[] = [];
  walkGraphs(graph, (g) => {
    for (const node of g.node ?? []) {
      nodeCount++;
      const domain = node.domain === "ai.onnx" ? "" : (node.domain ?? "");
      const key = `${domain}\u0000${node.op_type ?? ""}`;
      const prev = counts.get(key);
      counts.set(key, { domain, opType: node.op_type ?? "", count: (prev?.count ?? 0) + 1 });
    }
    for (const t of g.initializer ?? []) {
      const info = initializerInfo(t);
      if (g === graph) initializers.push(info);
      if (info.external) {
        const ext = entries(t.external_data);
        externalData.push({
          tensor: info.name,
          location: ext.location ?? "",
          offset: ext.offset !== undefined ? Number(ext.offset) : 0,
          length: ext.length !== undefined ? Number(ext.length) : null,
          checksum: ext.checksum ?? null,
        });
      }
    }
  });
  const ops = [...counts.values()].sort(
    (a, b) => b.count - a.count || a.domain.localeCompare(b.domain) || a.opType.localeCompare(b.opType),
  );
  const initNames = new Set(initializers.map((i) => i.name));
  const initializerBytes = initializers.reduce((a, i) => a + i.byteSize, 0);
  const parameterCount = initializers.reduce((a, i) => a + i.dims.reduce((x, y) => x * y, 1), 0);
  return {
    irVersion: int64ToNumber(model.ir_version),
    opsets,
    producer: model.producer_name ?? "",
    producerVersion: model.producer_version ?? "",
    domain: model.domain ?? "",
    modelVersion: int64ToNumber(model.model_version),
    docString: model.doc_string ?? "",
    graphName: graph.name ?? "",
    inputs: (graph.input ?? []).filter((v) => !initNames.has(v.name ?? "")).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    ops,
    nodeCount,
    initializers,
    initializerBytes,
    parameterCount,
    metadata: entries(model.metadata_props),
    externalData,
    functions: (model.functions ?? []).map((f) =>
      f.domain ? `${f.domain}.${f.name ?? ""}` : (f.name ?? ""),
    ),
    byteSize,
  };
}

/** Decodes `.onnx` bytes and summarises them. Throws `E_ONNX_DECODE` for non-ONNX or truncated bytes. */
export function decodeModel(bytes: Uint8Array): ModelInfo {
  return describeModel(decodeModelProto(bytes), bytes.byteLength);
}

/**
 * The main graph's initializers as Tensors (copied into aligned storage), by name. Throws `E_ONNX_DECODE`
 * for external data and element types Tessera has no dtype for.
 */
export function readInitializers(bytes: Uint8Array): Map<string, Tensor> {
  const model = decodeModelProto(bytes);
  const out = new Map<string, Tensor>();
  for (const t of model.graph?.initializer ?? []) out.set(t.name ?? "", tensorFromProto(t));
  return out;
}
