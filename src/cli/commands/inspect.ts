/** `tessera inspect MODEL.onnx`: inputs/outputs with symbolic dims, opsets, ops used, size, sha256. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
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
  if (info.externalData.length > 0)
    lines.push(
      "",
      `external data: ${info.externalData.length} tensors in ${[...new Set(info.externalData.map((e) => e.location))].join(", ")}`,
    );
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
