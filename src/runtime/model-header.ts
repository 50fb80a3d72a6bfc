/**
 * Reads the top-level fields of an ONNX ModelProto (opsets, producer, metadata_props, ir_version)
 * without decoding the graph: inside the graph field only the initializers' external-data entries are
 * read (nodes and weight bytes are skipped by length), so this stays cheap even for large models. Uses
 * protobufjs' wire reader.
 *
 * Also a cheap validity check: a file that is not a protobuf ModelProto with a graph is rejected
 * here with a reason, before ONNX Runtime sees it.
 */
import protobuf from "protobufjs/minimal.js";
import { TesseraError } from "../tensor/index.ts";

export interface ModelHeader {
  readonly irVersion: number;
  readonly opsets: Record<string, number>;
  readonly producer: string;
  readonly producerVersion: string;
  readonly metadata: Record<string, string>;
  /** Bytes taken by the GraphProto field. */
  readonly graphBytes: number;
  /**
   * Files (paths relative to the model's folder, as written in the model) holding the weights of initializers stored
   * as ONNX external data, e.g. `["model.onnx_data"]` for a Hugging Face export over 2 GB; empty for most models.
   */
  readonly externalData: readonly string[];
}

// GraphProto.initializer, TensorProto.external_data (StringStringEntryProto key = 1 / value = 2).
const F_GRAPH_INITIALIZER = 5;
const F_TENSOR_EXTERNAL_DATA = 13;

/**
 * The external-data locations named by a GraphProto's initializers. Only those small messages are parsed: nodes
 * and every `raw_data` are skipped by length.
 */
function externalLocations(graph: Uint8Array, into: Set<string>): void {
  const g = protobuf.Reader.create(graph);
  while (g.pos < g.len) {
    const tag = g.uint32();
    if (tag >>> 3 !== F_GRAPH_INITIALIZER || (tag & 7) !== 2) {
      g.skipType(tag & 7);
      continue;
    }
    const t = protobuf.Reader.create(g.bytes());
    // Every "location" entry counts (data_location is not consulted).
    while (t.pos < t.len) {
      const tt = t.uint32();
      if (tt >>> 3 === F_TENSOR_EXTERNAL_DATA && (tt & 7) === 2) {
        const [key, value] = stringEntry(t.bytes());
        if (key === "location") into.add(value);
      } else t.skipType(tt & 7);
    }
  }
}

// ModelProto field numbers (onnx.proto3).
const F_IR_VERSION = 1;
const F_PRODUCER_NAME = 2;
const F_PRODUCER_VERSION = 3;
const F_GRAPH = 7;
const F_OPSET_IMPORT = 8;
const F_METADATA_PROPS = 14;

/**
 * Parses the ModelProto header. Throws `E_MODEL_INVALID` when `bytes` is not a well-formed ModelProto
 * (empty, truncated, random bytes, missing graph).
 */
export function readModelHeader(bytes: Uint8Array, label = "model"): ModelHeader {
  const fail = (why: string): never => {
    throw new TesseraError("E_MODEL_INVALID", `${label}: not a valid ONNX model (${why})`, {
      model: label,
      reason: why,
    });
  };
  if (bytes.length === 0) fail("the file is empty");
  const r = protobuf.Reader.create(bytes);
  let irVersion = 0;
  let producer = "";
  let producerVersion = "";
  let graphBytes = -1;
  const external = new Set<string>();
  const opsets: Record<string, number> = {};
  const metadata: Record<string, string> = {};
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) fail(`field number 0 at byte ${r.pos}`);
      if (field === F_IR_VERSION && wire === 0) irVersion = Number(r.int64());
      else if (field === F_PRODUCER_NAME && wire === 2) producer = r.string();
      else if (field === F_PRODUCER_VERSION && wire === 2) producerVersion = r.string();
      else if (field === F_GRAPH && wire === 2) {
        const len = r.uint32();
        if (r.pos + len > r.len)
          fail(`graph field needs ${len} bytes but only ${r.len - r.pos} remain (truncated file?)`);
        externalLocations(bytes.subarray(r.pos, r.pos + len), external);
        r.skip(len);
        graphBytes = len;
      } else if (field === F_OPSET_IMPORT && wire === 2) {
        const sub = protobuf.Reader.create(r.bytes());
        let domain = "";
        let version = 0;
        while (sub.pos < sub.len) {
          const t = sub.uint32();
          if (t >>> 3 === 1 && (t & 7) === 2) domain = sub.string();
          else if (t >>> 3 === 2 && (t & 7) === 0) version = Number(sub.int64());
          else sub.skipType(t & 7);
        }
        opsets[domain === "ai.onnx" ? "" : domain] = version;
      } else if (field === F_METADATA_PROPS && wire === 2) {
        const [key, value] = stringEntry(r.bytes());
        metadata[key] = value;
      } else {
        if (wire === 3 || wire === 4 || wire > 5) fail(`unexpected wire type ${wire} for field ${field}`);
        r.skipType(wire);
      }
    }
  } catch (err) {
    if (err instanceof TesseraError) throw err;
    fail(err instanceof Error ? err.message : String(err));
  }
  if (graphBytes < 0) fail("no graph field");
  if (irVersion <= 0) fail("missing ir_version");
  return { irVersion, opsets, producer, producerVersion, metadata, graphBytes, externalData: [...external] };
}

/** Key and value of an ONNX StringStringEntryProto (metadata_props, external_data): fields 1 and 2. */
function stringEntry(bytes: Uint8Array): [key: string, value: string] {
  const e = protobuf.Reader.create(bytes);
  let key = "";
  let value = "";
  while (e.pos < e.len) {
    const t = e.uint32();
    if (t >>> 3 === 1 && (t & 7) === 2) key = e.string();
    else if (t >>> 3 === 2 && (t & 7) === 2) value = e.string();
    else e.skipType(t & 7);
  }
  return [key, value];
}
