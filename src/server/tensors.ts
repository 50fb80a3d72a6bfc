/**
 * Protocol tensors ↔ model tensors, knowing the model's description. Pure functions.
 *
 * Inputs: the request datatype must be the model input's datatype (no silent casts), except BF16,
 * which is widened exactly to float32 when the model input is float32. Outputs: every Tessera dtype has
 * a protocol datatype; `classification` turns a score tensor into BYTES "score:index[:label]" strings.
 */
import { f16ArrayToF32, Tensor, TesseraError } from "../tensor/index.ts";
import type { ModelDescription, TensorMap, TensorSpec } from "../runtime/index.ts";
import { DATATYPES, datatypeOfDType } from "./protocol/datatypes.ts";
import type {
  Datatype,
  InferRequest,
  Issue,
  ResponseOutput,
  WireArray,
  WireTensor,
} from "./protocol/index.ts";
import { requestInvalid } from "./errors.ts";

/** `-1` for symbolic or unknown dims, as the protocol writes variable dimensions. */
export function protocolShape(spec: TensorSpec): number[] {
  return spec.shape.map((d) => (typeof d === "number" ? d : -1));
}

/** A model input or output as the protocol describes it (`$metadata_tensor`): name, datatype, shape with -1s. */
export function protocolTensor(spec: TensorSpec): { name: string; datatype: Datatype; shape: number[] } {
  return { name: spec.name, datatype: datatypeOfDType(spec.dtype), shape: protocolShape(spec) };
}

/** BF16 bits → float32 values (exact: BF16 is the top half of a float32). Copies. */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/**
 * What the request checks need from a model description, computed once per description (a loaded model
 * version keeps its description object): inputs by name, output names, the texts error messages use.
 */
interface DescriptionPlan {
  readonly inputs: ReadonlyMap<string, { readonly spec: TensorSpec; readonly datatype: Datatype }>;
  readonly inputNames: string;
  readonly outputs: ReadonlySet<string>;
  readonly outputNames: string;
  /** Every output with default settings, in the model's order (the answer when a request names none). */
  readonly defaultOutputs: readonly { readonly name: string; readonly parameters: Record<string, never> }[];
}
const plans = new WeakMap<ModelDescription, DescriptionPlan>();

function planOf(description: ModelDescription): DescriptionPlan {
  let p = plans.get(description);
  if (p === undefined) {
    p = {
      inputs: new Map(
        description.inputs.map((s) => [s.name, { spec: s, datatype: datatypeOfDType(s.dtype) }]),
      ),
      inputNames: description.inputs.map((s) => s.name).join(", "),
      outputs: new Set(description.outputs.map((o) => o.name)),
      outputNames: description.outputs.map((o) => o.name).join(", "),
      defaultOutputs: Object.freeze(
        description.outputs.map((o) => Object.freeze({ name: o.name, parameters: {} })),
      ),
    };
    plans.set(description, p);
  }
  return p;
}

/**
 * Turns the request's inputs into model tensors (views of the parsed arrays: no copy, except BF16).
 * Throws `E_INPUT_INVALID` / `E_DATATYPE_MISMATCH` with every problem.
 */
export function toModelInputs(req: InferRequest, description: ModelDescription): TensorMap {
  const plan = planOf(description);
  let issues: Issue[] | undefined;
  let code = "E_INPUT_INVALID";
  const out: TensorMap = {};
  for (let i = 0; i < req.inputs.length; i++) {
    const input: WireTensor = req.inputs[i]!;
    const entry = plan.inputs.get(input.name);
    if (entry === undefined) {
      issues = withIssue(issues, {
        path: `inputs[${i}].name`,
        message: `unknown input "${input.name}"; the model takes ${plan.inputNames}`,
      });
      continue;
    }
    const { spec, datatype: want } = entry;
    let data: WireArray = input.data;
    if (input.datatype === "BF16" && spec.dtype === "float32")
      data = bf16ToFloat32(input.data as Uint16Array);
    else if (input.datatype !== want) {
      code = "E_DATATYPE_MISMATCH";
      issues = withIssue(issues, {
        path: `inputs[${i}].datatype`,
        message: `input "${input.name}": expected ${want}, got ${input.datatype}${input.datatype === "BF16" ? " (BF16 is only converted for FP32 inputs)" : ""}`,
      });
      continue;
    }
    out[input.name] = Tensor.wrap(
      data as Exclude<WireArray, Uint8Array[] | Uint32Array | BigUint64Array>,
      input.shape,
      spec.dtype,
    );
  }
  for (const spec of description.inputs) {
    if (out[spec.name] === undefined && !req.inputs.some((w) => w.name === spec.name)) {
      issues = withIssue(issues, {
        path: "inputs",
        message: `missing input "${spec.name}" (${datatypeOfDType(spec.dtype)} ${JSON.stringify(protocolShape(spec))})`,
      });
    }
  }
  if (issues !== undefined) throw requestInvalid(issues, code);
  return out;
}

/** Appends to a lazily created list (no array per request when nothing is wrong). */
function withIssue(list: Issue[] | undefined, issue: Issue): Issue[] {
  const out = list ?? [];
  out.push(issue);
  return out;
}

/** Rows of a request: the largest first dimension among its inputs (0-d inputs count 1). */
export function requestRows(req: InferRequest): number {
  let rows = 0;
  for (const i of req.inputs) rows = Math.max(rows, i.shape.length > 0 ? i.shape[0]! : 1);
  return rows;
}

/** Checks requested output names against the model; throws `E_OUTPUT_UNKNOWN`. */
export function checkRequestedOutputs(req: InferRequest, description: ModelDescription): void {
  if (!req.outputs) return;
  const plan = planOf(description);
  let issues: Issue[] | undefined;
  req.outputs.forEach((o, i) => {
    if (!plan.outputs.has(o.name)) {
      issues = withIssue(issues, {
        path: `outputs[${i}].name`,
        message: `unknown output "${o.name}"; the model has ${plan.outputNames}`,
      });
    }
  });
  if (issues !== undefined) throw requestInvalid(issues, "E_OUTPUT_UNKNOWN");
}

function tensorData(t: Tensor): WireArray {
  return t.contiguous().data as WireArray;
}

const encoder = new TextEncoder();

/**
 * Triton's classification extension: for a tensor [..., C] returns BYTES [..., k] holding
 * "score:index" or "score:index:label" for the k best classes, best first.
 */
export function classify(
  t: Tensor,
  k: number,
  labels?: readonly string[],
): { shape: number[]; data: Uint8Array[] } {
  if (t.ndim === 0)
    throw new TesseraError(
      "E_REQUEST_INVALID",
      "classification needs an output with at least one dimension",
      {},
    );
  const c = t.shape.at(-1)!;
  const kk = Math.min(k, c);
  const rows = t.size / Math.max(c, 1);
  // float16 elements are raw half bits: rank and print their values, not the bit patterns.
  const raw = tensorData(t);
  const values = t.dtype === "float16" ? f16ArrayToF32(raw as Uint16Array) : raw;
  const out: Uint8Array[] = [];
  for (let r = 0; r < rows; r++) {
    const idx = Array.from({ length: c }, (_, j) => j);
    const score = (j: number) => Number((values as Float32Array)[r * c + j]);
    idx.sort((a, b) => score(b) - score(a) || a - b);
    for (const j of idx.slice(0, kk)) {
      const label = labels?.[j];
      out.push(encoder.encode(label !== undefined ? `${score(j)}:${j}:${label}` : `${score(j)}:${j}`));
    }
  }
  return { shape: [...t.shape.slice(0, -1), kk], data: out };
}

/** Builds the response outputs in the requested order (or the model's order when none were requested). */
export function toResponseOutputs(
  req: InferRequest,
  description: ModelDescription,
  outputs: TensorMap,
  labels?: readonly string[],
): ResponseOutput[] {
  const wanted = req.outputs ?? planOf(description).defaultOutputs;
  return wanted.map((w) => {
    const t = outputs[w.name];
    if (!t)
      throw new TesseraError("E_OUTPUT_MISSING", `the model did not return output "${w.name}"`, {
        output: w.name,
      });
    const binary =
      ("binary" in w && w.binary !== undefined ? w.binary : undefined) ?? req.binaryOutputDefault;
    const k = "classification" in w ? w.classification : undefined;
    if (k !== undefined) {
      const c = classify(t, k, labels);
      return { name: w.name, datatype: "BYTES", shape: c.shape, data: c.data, binary };
    }
    const datatype = datatypeOfDType(t.dtype);
    return {
      name: w.name,
      datatype,
      shape: [...t.shape],
      data: tensorData(t),
      binary: binary || !DATATYPES[datatype].json,
    };
  });
}
