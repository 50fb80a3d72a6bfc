/** `tessera run MODEL.onnx --input FILE`: run a model once on inputs from .json, .npy or .safetensors. */
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import {
  type ModelDescription,
  openSession,
  type ProviderSpec,
  parseProvidersFlag,
  type TensorMap,
} from "../../runtime/index.ts";
import { datatypeOfDType, parseInferObject, requestInvalid, toModelInputs } from "../../server/index.ts";
import {
  f16ArrayToF32,
  readNpy,
  readSafetensors,
  type Tensor,
  TesseraError,
  tensor,
} from "../../tensor/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera run MODEL.onnx --input FILE [--json] [--full] [--providers LIST]

Runs the model once and prints every output (dtype, shape, values).
Input files:
  .json          {"input_name": nested array, ...} (dtype taken from the model), or an Open Inference
                 Protocol request body {"inputs": [{"name", "datatype", "shape", "data"}]}
  .npy           one array, for a model with exactly one input
  .safetensors   one tensor per model input, by name
flags:
  --json             print outputs as JSON {name: {dtype, shape, data}}
  --full             print every value (default: the first 20 per output)
  --providers LIST   execution providers, e.g. webgpu,cpu (default cpu)

examples:
  tessera run ./models/demo-mlp/1/model.onnx --input x.json
  echo '{"input": [[0.1, 0.2, 0.3, 0.4]]}' > x.json && tessera run model.onnx --input x.json --json
  tessera run model.onnx --input batch.npy

${EXIT_CODES_HELP}`;

function readInputs(file: string, description: ModelDescription): TensorMap {
  const ext = extname(file).toLowerCase();
  const bytes = readFileSync(file);
  if (ext === ".npy") {
    if (description.inputs.length !== 1) {
      throw new TesseraError(
        "E_INPUT_INVALID",
        `${file}: a .npy file holds one array but the model takes ${description.inputs.length} inputs (${description.inputs.map((i) => i.name).join(", ")}); use .safetensors or .json`,
        {},
      );
    }
    return { [description.inputs[0]!.name]: readNpy(bytes) };
  }
  // BF16 (common in Hugging Face files) widens exactly to float32, as the server does for BF16 request tensors.
  if (ext === ".safetensors") return Object.fromEntries(readSafetensors(bytes, { bf16: "float32" }).tensors);
  if (ext === ".json") {
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new TesseraError("E_INPUT_INVALID", `${file}: malformed JSON: ${(e as Error).message}`, {});
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new TesseraError("E_INPUT_INVALID", `${file}: expected a JSON object`, {});
    }
    if (Array.isArray((raw as { inputs?: unknown }).inputs)) {
      const r = parseInferObject(raw, new Uint8Array(0));
      if (!r.ok) throw requestInvalid(r.issues, "E_INPUT_INVALID");
      return toModelInputs(r.value, description);
    }
    // {"name": nested array}: checked like an Open Inference Protocol request with the model's datatypes (integer
    // ranges, INT64 as numbers up to 2^53 or decimal strings, no fractions for integer inputs); float16 values,
    // which the protocol sends only as binary, go through `tensor`.
    const out: TensorMap = {};
    const wire: { name: string; datatype: string; shape: number[]; data: unknown[] }[] = [];
    for (const [name, value] of Object.entries(raw)) {
      const spec = description.inputs.find((s) => s.name === name);
      if (!spec) {
        throw new TesseraError(
          "E_INPUT_INVALID",
          `${file}: unknown input "${name}"; the model takes ${description.inputs.map((i) => i.name).join(", ")}`,
          {},
        );
      }
      if (spec.dtype === "float16") out[name] = tensor(value as Parameters<typeof tensor>[0], spec.dtype);
      else
        wire.push({
          name,
          datatype: datatypeOfDType(spec.dtype),
          shape: shapeOf(value),
          data: Array.isArray(value) ? value : [value],
        });
    }
    if (wire.length > 0) {
      const r = parseInferObject({ inputs: wire }, new Uint8Array(0));
      if (!r.ok) throw requestInvalid(r.issues, "E_INPUT_INVALID");
      Object.assign(out, toModelInputs(r.value, description));
    }
    return out;
  }
  throw new TesseraError(
    "E_INPUT_INVALID",
    `${file}: unsupported input file type "${ext}"; expected .json, .npy or .safetensors`,
    {},
  );
}

/** The shape a nested JSON array implies (lengths along its first elements; raggedness is checked by the parser). */
function shapeOf(v: unknown): number[] {
  const shape: number[] = [];
  for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  return shape;
}

function values(t: Tensor): (number | bigint | boolean)[] {
  const c = t.contiguous();
  if (t.dtype === "float16") return Array.from(f16ArrayToF32(c.data as Uint16Array));
  if (t.dtype === "bool") return Array.from(c.data as Uint8Array, (b) => b !== 0);
  return Array.from(c.data as ArrayLike<number | bigint>);
}

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      input: { type: "string", short: "i" },
      json: { type: "boolean" },
      full: { type: "boolean" },
      providers: { type: "string" },
    },
    help,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const [model, ...extra] = parsed.positionals;
  if (!model || extra.length > 0 || !parsed.values.input) {
    io.err(`error: expected MODEL.onnx and --input FILE\n\n${help.split("\n")[0]}`);
    return EXIT.USAGE;
  }
  for (const f of [model, parsed.values.input]) {
    if (!existsSync(f)) {
      io.err(`error: ${f} does not exist`);
      return EXIT.NOT_FOUND;
    }
  }
  let session: Awaited<ReturnType<typeof openSession>> | undefined;
  try {
    let providers: ProviderSpec[] | undefined;
    if (parsed.values.providers !== undefined) {
      const p = parseProvidersFlag(parsed.values.providers);
      if (!p.ok) {
        for (const i of p.issues) io.err(`error: ${i.path}: ${i.message}`);
        return EXIT.USAGE;
      }
      providers = p.value;
    }
    session = await openSession(model, { replicas: 1, ...(providers ? { providers } : {}) });
    const inputs = readInputs(parsed.values.input, session.description);
    const res = await session.run(inputs);
    if (parsed.values.json) {
      const out: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(res.outputs)) {
        out[name] = {
          dtype: t.dtype,
          shape: t.shape,
          data: values(t).map((v) => (typeof v === "bigint" ? v.toString() : v)),
        };
      }
      io.out(JSON.stringify(out));
    } else {
      for (const [name, t] of Object.entries(res.outputs)) {
        const v = values(t);
        const shown = parsed.values.full ? v : v.slice(0, 20);
        io.out(
          `${name}  ${t.dtype} [${t.shape.join(", ")}]\n  ${shown.map(String).join(", ")}${shown.length < v.length ? `, ... (${v.length - shown.length} more; --full shows all)` : ""}`,
        );
      }
      io.out(`(${res.inferMs.toFixed(2)} ms in onnxruntime, provider ${session.activeProvider})`);
    }
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  } finally {
    await session?.close();
  }
}
