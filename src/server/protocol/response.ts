/**
 * Serializes an infer response: plain JSON, or (when any output is binary) JSON header + chunks with
 * `Inference-Header-Content-Length` and `Content-Type: application/octet-stream`.
 *
 * The JSON is written by hand so INT64/UINT64 values keep every digit.
 */
import { encodeBinaryChunk, joinBody } from "./binary.ts";
import { DATATYPES } from "./datatypes.ts";
import { jsonDataText } from "./json-data.ts";
import type { InferResponse } from "./types.ts";

export interface SerializedBody {
  readonly body: Buffer;
  readonly contentType: "application/json" | "application/octet-stream";
  /** Set when the body carries binary chunks: the byte length of the JSON header. */
  readonly headerLength?: number;
}

/** Serializes a response. FP16/BF16 outputs are always sent binary (they have no JSON form). */
export function serializeInferResponse(res: InferResponse): SerializedBody {
  const chunks: Uint8Array[] = [];
  let s = `{"model_name":${JSON.stringify(res.model_name)}`;
  if (res.model_version !== undefined) s += `,"model_version":${JSON.stringify(res.model_version)}`;
  if (res.id !== undefined) s += `,"id":${JSON.stringify(res.id)}`;
  if (res.parameters && Object.keys(res.parameters).length > 0)
    s += `,"parameters":${JSON.stringify(res.parameters)}`;
  s += `,"outputs":[`;
  res.outputs.forEach((o, i) => {
    const binary = o.binary || !DATATYPES[o.datatype].json;
    if (i > 0) s += ",";
    s += `{"name":${JSON.stringify(o.name)},"datatype":"${o.datatype}","shape":[${o.shape.join(",")}]`;
    if (binary) {
      const chunk = encodeBinaryChunk(o.datatype, o.data);
      chunks.push(chunk);
      s +=
        o.parameters === undefined || Object.keys(o.parameters).length === 0
          ? `,"parameters":{"binary_data_size":${chunk.byteLength}}}`
          : `,"parameters":${JSON.stringify({ ...o.parameters, binary_data_size: chunk.byteLength })}}`;
    } else {
      if (o.parameters && Object.keys(o.parameters).length > 0)
        s += `,"parameters":${JSON.stringify(o.parameters)}`;
      s += `,"data":${jsonDataText(o.datatype, o.data)}}`;
    }
  });
  s += "]}";
  if (chunks.length === 0) return { body: Buffer.from(s, "utf8"), contentType: "application/json" };
  const { body, headerLength } = joinBody(s, chunks);
  return { body, contentType: "application/octet-stream", headerLength };
}
