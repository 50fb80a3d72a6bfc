/**
 * Parses an infer request body (JSON, or JSON header + binary chunks) into an `InferRequest`.
 * Pure function: every problem is returned as an issue with its path; nothing throws on bad input.
 */
import { decodeBinaryChunk } from "./binary.ts";
import { DATATYPE_NAMES, DATATYPES, isDatatype } from "./datatypes.ts";
import { type ArrayBufferSource, fastParseInferJson } from "./fast-json.ts";
import { describeJson, elementCount, parseJsonData } from "./json-data.ts";
import type {
  Datatype,
  InferRequest,
  Issue,
  Parameters,
  RequestedOutput,
  Result,
  WireTensor,
} from "./types.ts";

/** Most issues reported for one request (the rest are summarised). */
const MAX_ISSUES = 20;

/** Splits a body by the `Inference-Header-Content-Length` header value (undefined = all JSON). */
export function splitBody(
  body: Uint8Array,
  headerLength: string | undefined,
): Result<{ json: Uint8Array; binary: Uint8Array }> {
  if (headerLength === undefined)
    return { ok: true, value: { json: body, binary: body.subarray(body.byteLength) } };
  const n = /^\d{1,15}$/.test(headerLength.trim()) ? Number(headerLength.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > body.byteLength) {
    return {
      ok: false,
      issues: [
        {
          path: "Inference-Header-Content-Length",
          message: `header says ${JSON.stringify(headerLength)} but the body has ${body.byteLength} bytes; expected an integer in [0, ${body.byteLength}]`,
        },
      ],
    };
  }
  if (n === 0) {
    return {
      ok: false,
      issues: [
        {
          path: "Inference-Header-Content-Length",
          message:
            "raw binary requests (header length 0) are not supported; send a JSON header describing the inputs",
        },
      ],
    };
  }
  return { ok: true, value: { json: body.subarray(0, n), binary: body.subarray(n) } };
}

/** The one input a raw binary request (`Inference-Header-Content-Length: 0`) can feed. */
export interface RawInputSpec {
  readonly name: string;
  readonly datatype: Datatype;
  /** The model's dims, -1 where variable. */
  readonly shape: readonly number[];
}

/**
 * Triton's raw binary request: the whole body is the bytes of the model's single input, whose shape is
 * derived from the byte length (at most one variable dim; BYTES only for shape [1] or [-1] → one element).
 * Treated as batch 1 when the model's first dim is variable; every output comes back binary.
 */
export function parseRawRequest(body: Uint8Array, spec: RawInputSpec): Result<InferRequest> {
  const path = "Inference-Header-Content-Length";
  const variable = spec.shape.filter((d) => d < 0).length;
  let shape: number[];
  if (spec.datatype === "BYTES") {
    if (spec.shape.some((d) => d > 1) || spec.shape.length === 0) {
      return {
        ok: false,
        issues: [
          {
            path,
            message: `raw binary BYTES input "${spec.name}" needs shape [1], the model has [${spec.shape.join(",")}]`,
          },
        ],
      };
    }
    shape = spec.shape.map(() => 1);
  } else {
    const size = DATATYPES[spec.datatype].byteSize;
    const fixed = spec.shape.reduce((p, d) => (d < 0 ? p : p * d), 1);
    // A variable batch dim counts 1: raw requests are batch-1 requests.
    const batchVar = spec.shape.length > 0 && spec.shape[0]! < 0 && variable > 1;
    if (variable - (batchVar ? 1 : 0) > 1) {
      return {
        ok: false,
        issues: [
          {
            path,
            message: `raw binary input "${spec.name}" has more than one variable dim ([${spec.shape.join(",")}]); send a JSON header with its shape`,
          },
        ],
      };
    }
    const elements = body.byteLength / size;
    const free = elements / fixed;
    if (!Number.isInteger(elements) || !Number.isInteger(free) || (variable === 0 && free !== 1)) {
      return {
        ok: false,
        issues: [
          {
            path,
            message: `raw binary body of ${body.byteLength} bytes does not fill ${spec.datatype} [${spec.shape.join(",")}]`,
          },
        ],
      };
    }
    let seen = false;
    shape = spec.shape.map((d, i) => {
      if (d >= 0) return d;
      if (i === 0 && batchVar) return 1;
      if (seen) return 1;
      seen = true;
      return free;
    });
  }
  const r = decodeBinaryChunk(body, spec.datatype, elementCount(shape), shape);
  if (!r.ok) return { ok: false, issues: [{ path, message: `input "${spec.name}": ${r.message}` }] };
  return {
    ok: true,
    value: {
      parameters: {},
      inputs: [{ name: spec.name, datatype: spec.datatype, shape, data: r.data, parameters: {} }],
      binaryOutputDefault: true,
    },
  };
}

/** Parses JSON text into a value, or an issue naming the syntax error. */
export function parseJsonText(bytes: Uint8Array): Result<unknown> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, issues: [{ path: "", message: `malformed JSON: ${(e as Error).message}` }] };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a `$parameters` object (flat: string | number | boolean values). */
export function parseParameters(raw: unknown, path: string, issues: Issue[]): Parameters {
  if (raw === undefined) return {};
  if (!isObject(raw)) {
    issues.push({ path, message: `parameters must be an object, got ${describeJson(raw)}` });
    return {};
  }
  const out: Parameters = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
    else
      issues.push({
        path: `${path}.${k}`,
        message: `parameter values must be string, number or boolean, got ${describeJson(v)}`,
      });
  }
  return out;
}

/**
 * Parses an infer request. `headerLength` is the raw `Inference-Header-Content-Length` header.
 * Binary chunks are taken in input order; their total must equal the bytes after the JSON header.
 * `alloc` supplies the memory of FP32/FP64 arrays parsed from JSON text (default: fresh arrays).
 */
export function parseInferRequest(
  body: Uint8Array,
  headerLength?: string,
  alloc?: ArrayBufferSource,
): Result<InferRequest> {
  const split = splitBody(body, headerLength);
  if (!split.ok) return split;
  if (split.value.json.byteLength === 0 && headerLength !== undefined) {
    return {
      ok: false,
      issues: [
        {
          path: "Inference-Header-Content-Length",
          message: "0 means a raw binary request: parse it with parseRawRequest and the model's input",
        },
      ],
    };
  }
  // FP32/FP64 `data` arrays straight into typed arrays; null → the generic parse (and its messages).
  const fast = fastParseInferJson(split.value.json, alloc);
  if (fast !== null) return parseInferObject(fast, split.value.binary);
  const parsed = parseJsonText(split.value.json);
  if (!parsed.ok) return parsed;
  return parseInferObject(parsed.value, split.value.binary);
}

/** Validates a parsed JSON request object; `binary` holds the bytes after the JSON header. */
export function parseInferObject(raw: unknown, binary: Uint8Array): Result<InferRequest> {
  const issues: Issue[] = [];
  if (!isObject(raw)) {
    return {
      ok: false,
      issues: [{ path: "", message: `request must be a JSON object, got ${describeJson(raw)}` }],
    };
  }
  let id: string | undefined;
  if (raw.id !== undefined) {
    if (typeof raw.id === "string") id = raw.id;
    else issues.push({ path: "id", message: `id must be a string, got ${describeJson(raw.id)}` });
  }
  const parameters = parseParameters(raw.parameters, "parameters", issues);
  let binaryOutputDefault = false;
  if (parameters.binary_data_output !== undefined) {
    if (typeof parameters.binary_data_output === "boolean")
      binaryOutputDefault = parameters.binary_data_output;
    else
      issues.push({ path: "parameters.binary_data_output", message: "binary_data_output must be a boolean" });
  }

  const inputs: WireTensor[] = [];
  let offset = 0;
  let binaryUsed = false;
  if (!Array.isArray(raw.inputs) || raw.inputs.length === 0) {
    issues.push({
      path: "inputs",
      message: `inputs must be a non-empty array, got ${describeJson(raw.inputs)}`,
    });
  } else {
    const seen = new Set<string>();
    raw.inputs.forEach((rawInput: unknown, i: number) => {
      if (issues.length >= MAX_ISSUES) return;
      const path = `inputs[${i}]`;
      if (!isObject(rawInput)) {
        issues.push({ path, message: `input must be an object, got ${describeJson(rawInput)}` });
        return;
      }
      const before = issues.length;
      const name = rawInput.name;
      if (typeof name !== "string" || name.length === 0) {
        issues.push({
          path: `${path}.name`,
          message: `name must be a non-empty string, got ${describeJson(name)}`,
        });
      } else if (seen.has(name)) {
        issues.push({ path: `${path}.name`, message: `input "${name}" is given twice` });
      } else seen.add(name);
      const label = typeof name === "string" ? `input "${name}"` : path;
      const datatype = rawInput.datatype;
      if (!isDatatype(datatype)) {
        issues.push({
          path: `${path}.datatype`,
          message: `${label}: datatype ${describeJson(datatype)} is not one of ${DATATYPE_NAMES.join(", ")}`,
        });
      }
      const shape = rawInput.shape;
      if (
        !Array.isArray(shape) ||
        !shape.every((dim) => typeof dim === "number" && Number.isSafeInteger(dim) && dim >= 0)
      ) {
        issues.push({
          path: `${path}.shape`,
          message: `${label}: shape must be an array of non-negative integers, got ${JSON.stringify(shape) ?? "nothing"}`,
        });
      }
      const params = parseParameters(rawInput.parameters, `${path}.parameters`, issues);
      const size = params.binary_data_size;
      const hasData = rawInput.data !== undefined;
      if (size !== undefined && hasData) {
        issues.push({
          path,
          message: `${label}: set exactly one of data and parameters.binary_data_size, not both`,
        });
      } else if (size === undefined && !hasData) {
        issues.push({
          path,
          message: `${label}: data is missing (or set parameters.binary_data_size for binary data)`,
        });
      } else if (
        size !== undefined &&
        (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
      ) {
        issues.push({
          path: `${path}.parameters.binary_data_size`,
          message: `${label}: binary_data_size must be a non-negative integer, got ${describeJson(size)}`,
        });
      }
      if (issues.length > before || !isDatatype(datatype) || !Array.isArray(shape)) {
        // Keep consuming the binary stream in order so later inputs still find their chunks.
        if (typeof size === "number" && Number.isSafeInteger(size) && size >= 0) offset += size;
        return;
      }
      const dims = shape as number[];
      let result: { ok: true; data: WireTensor["data"] } | { ok: false; message: string };
      if (size !== undefined) {
        binaryUsed = true;
        const n = size as number;
        if (offset + n > binary.byteLength) {
          issues.push({
            path: `${path}.parameters.binary_data_size`,
            message: `${label}: binary_data_size ${n} runs past the end of the binary data (${binary.byteLength - offset} bytes left)`,
          });
          offset += n;
          return;
        }
        result = decodeBinaryChunk(binary.subarray(offset, offset + n), datatype, elementCount(dims), dims);
        offset += n;
      } else {
        result = parseJsonData(rawInput.data, datatype, dims);
      }
      if (!result.ok) {
        issues.push({
          path: size !== undefined ? `${path}.parameters.binary_data_size` : `${path}.data`,
          message: `${label}: ${result.message}`,
        });
        return;
      }
      inputs.push({ name: name as string, datatype, shape: dims, data: result.data, parameters: params });
    });
  }
  if (issues.length === 0 && offset !== binary.byteLength) {
    issues.push({
      path: "binary",
      message: binaryUsed
        ? `the body holds ${binary.byteLength} bytes after the JSON header but the inputs' binary_data_size add up to ${offset}`
        : `the body has ${binary.byteLength} bytes after the JSON header but no input sets binary_data_size`,
    });
  }

  let outputs: RequestedOutput[] | undefined;
  if (raw.outputs !== undefined) {
    if (!Array.isArray(raw.outputs)) {
      issues.push({ path: "outputs", message: `outputs must be an array, got ${describeJson(raw.outputs)}` });
    } else {
      outputs = [];
      const seen = new Set<string>();
      raw.outputs.forEach((o: unknown, i: number) => {
        const path = `outputs[${i}]`;
        if (!isObject(o) || typeof o.name !== "string" || o.name.length === 0) {
          issues.push({
            path,
            message: "each requested output must be an object with a non-empty string name",
          });
          return;
        }
        if (seen.has(o.name)) {
          issues.push({ path: `${path}.name`, message: `output "${o.name}" is requested twice` });
          return;
        }
        seen.add(o.name);
        const params = parseParameters(o.parameters, `${path}.parameters`, issues);
        let binary: boolean | undefined;
        if (params.binary_data !== undefined) {
          if (typeof params.binary_data === "boolean") binary = params.binary_data;
          else
            issues.push({ path: `${path}.parameters.binary_data`, message: "binary_data must be a boolean" });
        }
        let classification: number | undefined;
        if (params.classification !== undefined) {
          const c = params.classification;
          if (typeof c === "number" && Number.isSafeInteger(c) && c > 0) classification = c;
          else
            issues.push({
              path: `${path}.parameters.classification`,
              message: "classification must be a positive integer",
            });
        }
        outputs!.push({
          name: o.name,
          parameters: params,
          ...(binary !== undefined ? { binary } : {}),
          ...(classification !== undefined ? { classification } : {}),
        });
      });
    }
  }

  if (issues.length > 0) {
    if (issues.length >= MAX_ISSUES)
      issues.push({ path: "", message: `stopped after ${MAX_ISSUES} problems` });
    return { ok: false, issues };
  }
  return {
    ok: true,
    value: {
      ...(id !== undefined ? { id } : {}),
      parameters,
      inputs,
      binaryOutputDefault,
      // An empty list asks for nothing in particular: every output, as Triton answers it.
      ...(outputs !== undefined && outputs.length > 0 ? { outputs } : {}),
    },
  };
}
