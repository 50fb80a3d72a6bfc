#!/usr/bin/env node
/**
 * `tessera`: the command-line entry. COMMANDS is a plain map of name → lazy module loader; add a
 * command by adding one line (the module exports `run(argv): Promise<number>` and a `help` string).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type CommandModule, EXIT, EXIT_CODES_HELP, type Io, stdio } from "./args.ts";

/** One line per command: name → loader and one-line summary. */
export const COMMANDS: Record<
  string,
  { readonly summary: string; readonly load: () => Promise<CommandModule> }
> = {
  serve: {
    summary: "serve a model repository over HTTP (Open Inference Protocol v2)",
    load: () => import("./commands/serve.ts"),
  },
  models: {
    summary: "list the models of a repository with versions and state",
    load: () => import("./commands/models.ts"),
  },
  inspect: {
    summary: "show an .onnx file's inputs, outputs, opset, ops, size and sha256",
    load: () => import("./commands/inspect.ts"),
  },
  run: {
    summary: "run an .onnx model on inputs from .json, .npy or .safetensors",
    load: () => import("./commands/run.ts"),
  },
  pull: {
    summary: "download a text model folder from a Hugging Face-style hub (resumable, verified)",
    load: () => import("./commands/pull.ts"),
  },
  embed: {
    summary: "embed texts (arguments or JSONL on stdin) with a model folder",
    load: () => import("./commands/embed.ts"),
  },
  score: {
    summary: "score Parquet/Arrow/CSV/JSONL files with a model (streaming, resumable)",
    load: () => import("./commands/score.ts"),
  },
  doctor: {
    summary: "check which execution providers (cpu, webgpu, ...) work on this machine",
    load: async () => {
      const m = await import("./commands/doctor.ts");
      return {
        run: m.doctor,
        help: "usage: tessera doctor [--json] [--require webgpu[,cpu]]",
      };
    },
  },
};

export const MAIN_HELP =
  (): string => `tessera: machine learning for TypeScript (ONNX inference, batching, serving)

usage: tessera <command> [flags]     tessera <command> --help

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}

examples:
  tessera serve --models ./models --port 8000
  tessera inspect ./models/demo-mlp/1/model.onnx
  tessera run model.onnx --input inputs.json

${EXIT_CODES_HELP}`;

/** True when `argv1` (possibly a symlink) is this file: `tsx src/cli/main.ts ...` runs the CLI, an import does not. */
function isEntry(argv1: string): boolean {
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(MAIN_HELP());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === "--version" || name === "-v") {
    io.out("tessera 0.1.0");
    return EXIT.OK;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    io.err(`error: unknown command ${JSON.stringify(name)}\n\n${MAIN_HELP()}`);
    return EXIT.USAGE;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}

if (process.argv[1] && isEntry(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT.FAILURE;
    },
  );
}
