/** `tessera inspect MODEL.onnx`: inputs/outputs with symbolic dims, opsets, ops used, size, sha256. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { decodeModel, type ModelInfo, type ValueInfo } from "../../onnx/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera inspect MODEL.onnx [--json]

Shows what a model needs and holds, without running it: inputs and outputs (symbolic dims by name),
opset imports, ops used with counts, parameter count, file size, sha256 and metadata.
  --json   print the same facts as JSON

examples:
  tessera inspect ./models/demo-mlp/1/model.onnx
  tessera inspect model.onnx --json | jq .inputs

${EXIT_CODES_HELP}`;

function dims(v: ValueInfo): string {
  if (v.dims === null) return "(unknown rank)";
  return `[${v.dims.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r) =>
        `  ${r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join("  ")
          .trimEnd()}`,
    )
    .join("\n");
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** One external-data file a model refers to: where it should be, whether it is there and big enough. */
export interface ExternalFile {
  readonly location: string;
  readonly path: string;
  readonly tensors: number;
  /** Its size, or null when the file is missing. */
  readonly bytes: number | null;
  /** Bytes the tensors need (largest offset + length). */
  readonly needed: number;
}

/** The external-data files of a model at `modelPath` (ONNX resolves `location` beside the model file). */
export function externalFiles(modelPath: string, info: ModelInfo): ExternalFile[] {
  const byLocation = new Map<string, { tensors: number; needed: number }>();
  for (const e of info.externalData) {
    const f = byLocation.get(e.location) ?? { tensors: 0, needed: 0 };
    f.tensors++;
    f.needed = Math.max(f.needed, e.offset + (e.length ?? 0));
    byLocation.set(e.location, f);
  }
  return [...byLocation].map(([location, f]) => {
    const path = isAbsolute(location) ? location : join(dirname(modelPath), location);
    let bytes: number | null = null;
    try {
      bytes = statSync(path).size;
    } catch {
      bytes = null;
    }
    return { location, path, tensors: f.tensors, bytes, needed: f.needed };
  });
}

function externalLine(f: ExternalFile): string {
  const where = `${f.tensors} tensors in ${f.location}`;
  if (f.bytes === null)
    return `  ${where}: MISSING (expected at ${f.path}; the model cannot load without it)`;
  if (f.bytes < f.needed)
    return `  ${where}: ${human(f.bytes)}, TOO SHORT (the tensors need ${f.needed} bytes; truncated copy?)`;
  return `  ${where}: ${human(f.bytes)}`;
}

/** The text report for a decoded model. */
export function formatInspect(path: string, info: ModelInfo, sha256: string): string {
  const io = (vs: readonly ValueInfo[]) =>
    table([["NAME", "TYPE", "SHAPE"], ...vs.map((v) => [v.name, String(v.elemType ?? v.kind), dims(v)])]);
  const lines = [
    `model     ${path}`,
    `size      ${human(info.byteSize)} (${info.byteSize} bytes)`,
    `sha256    ${sha256}`,
    `producer  ${info.producer || "?"} ${info.producerVersion}`.trimEnd(),
    `ir        ${info.irVersion}`,
    `opsets    ${Object.entries(info.opsets)
      .map(([d, v]) => `${d || "ai.onnx"}=${v}`)
      .join(", ")}`,
    `params    ${info.parameterCount.toLocaleString("en-US")} in ${info.initializers.length} initializers (${human(info.initializerBytes)})`,
    "",
    "inputs",
    io(info.inputs),
    "",
    "outputs",
    io(info.outputs),
    "",
    `ops (${info.nodeCount} nodes)`,
    table([
      ["OP", "DOMAIN", "COUNT"],
      ...info.ops.map((o) => [o.opType, o.domain || "ai.onnx", String(o.count)]),
    ]),
  ];
  const meta = Object.entries(info.metadata);
  if (meta.length > 0)
    lines.push(
      "",
      "metadata",
      ...meta.map(([k, v]) => `  ${k} = ${v.length > 120 ? `${v.slice(0, 117)}...` : v}`),
    );
  if (info.externalData.length > 0) {
    const files = externalFiles(path, info);
    const total = files.reduce((a, f) => a + (f.bytes ?? 0), 0);
    lines.push(
      "",
      `external data (${human(total)} beside the model; size and sha256 above cover ${path} only)`,
      ...files.map(externalLine),
    );
  }
  return lines.join("\n");
}

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const parsed = parseFlags(argv, { json: { type: "boolean" } }, help, io);
  if (typeof parsed === "number") return parsed;
  const [path, ...extra] = parsed.positionals;
  if (!path || extra.length > 0) {
    io.err(`error: expected exactly one MODEL.onnx argument\n\n${help.split("\n")[0]}`);
    return EXIT.USAGE;
  }
  if (!existsSync(path)) {
    io.err(`error: ${path} does not exist`);
    return EXIT.NOT_FOUND;
  }
  try {
    const bytes = readFileSync(path);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const info = decodeModel(bytes);
    if (parsed.values.json) {
      io.out(
        JSON.stringify(
          {
            path,
            sha256,
            byteSize: info.byteSize,
            irVersion: info.irVersion,
            opsets: info.opsets,
            producer: info.producer,
            inputs: info.inputs,
            outputs: info.outputs,
            ops: info.ops,
            nodeCount: info.nodeCount,
            parameterCount: info.parameterCount,
            metadata: info.metadata,
            externalData: externalFiles(path, info),
          },
          null,
          2,
        ),
      );
    } else io.out(formatInspect(path, info, sha256));
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}
