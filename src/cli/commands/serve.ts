/** `tessera serve`: serve a model repository (Open Inference Protocol v2 over HTTP). */
import { existsSync, readFileSync } from "node:fs";
import type { ParseArgsConfig } from "node:util";
import { CONFIG_FIELDS, type ConfigSources, resolveServerConfig, startServer } from "../../server/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

const FLAG_HELP: Record<string, string> = {
  host: "interface to bind (default 127.0.0.1; 0.0.0.0 for all)",
  port: "TCP port (default 8000; 0 = any free port)",
  models: "model repository folder (default ./models)",
  demo: "create the synthetic demo repository in --models when the folder does not exist",
  "api-key": "require Authorization: Bearer KEY (repeat for several keys)",
  "cors-origin": "allow this browser origin (repeat; * for any); CORS is off by default",
  providers: "execution providers in preference order, e.g. webgpu,cpu",
  "body-limit-bytes": "largest request body (default 33554432); larger → 413",
  "max-items": "most rows per infer request (default 1024); more → 413",
  "timeout-ms": "per-request deadline (default 30000); past it → 504",
  "drain-delay-ms": "after SIGTERM, keep serving while not ready (default 0)",
  "drain-timeout-ms": "after SIGTERM, most time to finish in-flight work (default 30000)",
  "max-batch-size": "default batcher: most rows per batch (default 64)",
  "max-queue-delay-ms": "default batcher: longest wait for a fuller batch (default 2)",
  "max-queue-size": "default batcher: most queued requests before 429 (default 2048)",
  "log-level": "fatal|error|warn|info|debug|trace|silent (default info)",
  "load-all": "true|false: load every model at start-up (default true); false loads on first use",
  pooling:
    "text embedders: mean|cls|last|max|weightedmean|mean_sqrt_len_tokens, over the folder's 1_Pooling config (a model's config.json pooling wins)",
};

export const help = `usage: tessera serve [--models DIR] [--host HOST] [--port PORT] [--config FILE] [flags]

Serves every model in DIR over HTTP: Open Inference Protocol v2 (/v2/...), Triton binary tensors,
model repository API, Prometheus /metrics. JSON logs go to stdout.

flags (precedence: flags > environment > --config file > defaults):
  --config FILE            JSON file with any of the settings below (camelCase keys, e.g. {"port": 9000},
                           {"batching": {"maxBatchSize": 32}}); env TESSERA_CONFIG names one too
${CONFIG_FIELDS.map((f) => `  --${`${f.flag} ${f.kind === "bool" && f.flag === "demo" ? "" : "V"}`.padEnd(23)}${FLAG_HELP[f.flag] ?? ""}  [env ${f.env.join(", ")}]`).join("\n")}

examples:
  tessera serve --models ./models
  tessera serve --models ./models --demo --port 8000
  TESSERA_API_KEYS=secret tessera serve --models /srv/models --host 0.0.0.0
  tessera serve --config server.json --providers webgpu,cpu

${EXIT_CODES_HELP}`;

const options = {
  config: { type: "string" },
  ...Object.fromEntries(
    CONFIG_FIELDS.map((f) => [
      f.flag,
      f.flag === "demo"
        ? { type: "boolean" }
        : f.kind === "list"
          ? { type: "string", multiple: true }
          : { type: "string" },
    ]),
  ),
} as NonNullable<ParseArgsConfig["options"]>;

/** Resolves the configuration from argv + env + file; prints every problem (exit 3) or returns it. */
export function serveConfig(argv: string[], env: NodeJS.ProcessEnv, io: Io = stdio) {
  const parsed = parseFlags(argv, options, help, io);
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals.length > 0) {
    io.err(
      `error: unexpected argument ${JSON.stringify(parsed.positionals[0])}; use --models DIR\n(run tessera serve --help)`,
    );
    return EXIT.USAGE;
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const sources: { -readonly [K in keyof ConfigSources]: ConfigSources[K] } = { env, flags: values };
  const file = typeof values.config === "string" ? values.config : env.TESSERA_CONFIG;
  if (file) {
    if (!existsSync(file)) {
      io.err(`error: config file ${file} does not exist`);
      return EXIT.NOT_FOUND;
    }
    try {
      sources.file = { name: file, value: JSON.parse(readFileSync(file, "utf8")) as unknown };
    } catch (e) {
      io.err(`error: config file ${file} is not valid JSON: ${(e as Error).message}`);
      return EXIT.CONFIG;
    }
  }
  const r = resolveServerConfig(sources);
  if (!r.ok) {
    io.err(`error: invalid configuration (${r.issues.length} problem${r.issues.length > 1 ? "s" : ""}):`);
    for (const i of r.issues) io.err(`  ${i.path}: ${i.message}`);
    return EXIT.CONFIG;
  }
  return r.value;
}

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const config = serveConfig(argv, process.env, io);
  if (typeof config === "number") return config;
  if (!config.demo && !existsSync(config.modelsDir)) {
    io.err(
      `error: models folder ${config.modelsDir} does not exist (add --demo to create the synthetic demo repository there)`,
    );
    return EXIT.NOT_FOUND;
  }
  try {
    const server = await startServer({ config });
    io.err(`tessera: serving ${config.modelsDir} on ${server.url} (Ctrl-C to stop)`);
    return await server.done;
  } catch (err) {
    return reportError(err, io);
  }
}
