/**
 * The client side of the same wire format: encode an infer request, decode an infer response.
 * Used by tests, benchmarks and TypeScript clients; the inverse of request.ts / response.ts.
 */
import { decodeBinaryChunk, encodeBinaryChunk, joinBody } from "./binary.ts";
import { DATATYPES } from "./datatypes.ts";
import { elementCount, jsonDataText, parseJsonData } from "./json-data.ts";
import { parseJsonText, splitBody } from "./request.ts";
import type { Datatype, Parameters, Result, WireArray } from "./types.ts";

export interface ClientInput {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: WireArray;
  /** Send as binary (default: only when the datatype has no JSON form). */
  readonly binary?: boolean;
}

export interface ClientRequest {
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly inputs: readonly ClientInput[];
  readonly outputs?: readonly { name: string; parameters?: Parameters }[];
}

export interface EncodedRequest {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/** Encodes a request; adds `Inference-Header-Content-Length` when any input is binary. */
export function encodeInferRequest(req: ClientRequest): EncodedRequest {
  const chunks: Uint8Array[] = [];
  const inputs = req.inputs.map((i) => {
    const binary = i.binary ?? !DATATYPES[i.datatype].json;
    if (binary) {
      const chunk = encodeBinaryChunk(i.datatype, i.data);
      chunks.push(chunk);
      return `{"name":${JSON.stringify(i.name)},"datatype":"${i.datatype}","shape":${JSON.stringify(i.shape)},"parameters":{"binary_data_size":${chunk.byteLength}}}`;
    }
    return `{"name":${JSON.stringify(i.name)},"datatype":"${i.datatype}","shape":${JSON.stringify(i.shape)},"data":${jsonDataText(i.datatype, i.data, { unsafeIntsAsStrings: true })}}`;
  });
  let s = "{";
  if (req.id !== undefined) s += `"id":${JSON.stringify(req.id)},`;
  if (req.parameters) s += `"parameters":${JSON.stringify(req.parameters)},`;
  s += `"inputs":[${inputs.join(",")}]`;
  if (req.outputs) s += `,"outputs":${JSON.stringify(req.outputs)}`;
  s += "}";
  const { body, headerLength } = joinBody(s, chunks);
  const headers: Record<string, string> = {
    "content-type": chunks.length ? "application/octet-stream" : "application/json",
  };
  if (chunks.length) headers["inference-header-content-length"] = String(headerLength);
  return { body, headers };
}

export interface DecodedOutput {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: number[];
  readonly data: WireArray;
  readonly parameters: Parameters;
}

export interface DecodedResponse {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly outputs: DecodedOutput[];
}

interface RawOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  data?: unknown;
  parameters?: Parameters;
}

/** Decodes a response body; `headerLength` is the response's `Inference-Header-Content-Length`. */
export function decodeInferResponse(body: Uint8Array, headerLength?: string): Result<DecodedResponse> {
  const split = splitBody(body, headerLength);
  if (!split.ok) return split;
  const parsed = parseJsonText(split.value.json);
  if (!parsed.ok) return parsed;
  const raw = parsed.value as { outputs?: RawOutput[] } & Omit<DecodedResponse, "outputs">;
  if (!Array.isArray(raw.outputs))
    return { ok: false, issues: [{ path: "outputs", message: "missing outputs" }] };
  const outputs: DecodedOutput[] = [];
  let off = 0;
  for (const o of raw.outputs) {
    const size = o.parameters?.binary_data_size;
    const count = elementCount(o.shape);
    let r: ReturnType<typeof parseJsonData>;
    if (typeof size === "number") {
      r = decodeBinaryChunk(split.value.binary.subarray(off, off + size), o.datatype, count, o.shape);
      off += size;
    } else r = parseJsonData(o.data, o.datatype, o.shape);
    if (!r.ok) return { ok: false, issues: [{ path: `outputs.${o.name}`, message: r.message }] };
    outputs.push({
      name: o.name,
      datatype: o.datatype,
      shape: o.shape,
      data: r.data,
      parameters: o.parameters ?? {},
    });
  }
  return { ok: true, value: { ...raw, outputs } };
}
