/**
 * Server configuration: defaults < config file < environment (TESSERA_*) < command-line flags.
 * Every layer is validated and every problem is reported with where it came from
 * (`config.json: port`, `env TESSERA_PORT`, `--port`).
 */
import {
  type BatchingConfig,
  POOLING_EXPECTED,
  type PoolingMode,
  type ProviderSpec,
  parsePoolingMode,
  parseProviders,
  parseProvidersFlag,
} from "../runtime/index.ts";
import type { Issue, Result } from "./protocol/index.ts";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface ServerConfig {
  /** Interface to bind. Default 127.0.0.1 (loopback only). */
  readonly host: string;
  /** TCP port; 0 picks a free one. Default 8000. */
  readonly port: number;
  /** Model repository folder. */
  readonly modelsDir: string;
  /** Create the synthetic demo repository when `modelsDir` does not exist. */
  readonly demo: boolean;
  /** Accepted API keys (`Authorization: Bearer <key>`); empty = no auth, and repository endpoints stay open. */
  readonly apiKeys: readonly string[];
  /** Origins allowed by CORS; empty = CORS off. `*` allows any. */
  readonly corsOrigins: readonly string[];
  /** Execution providers in preference order (models' config.json may override). */
  readonly providers?: readonly ProviderSpec[];
  /** Largest request body, bytes (413 above). */
  readonly bodyLimitBytes: number;
  /** Most rows (first dimension) one infer request may carry (413 above). */
  readonly maxItemsPerRequest: number;
  /** Longest a request may wait for its result, ms (504 after). Requests may shorten it (`parameters.timeout`, µs). */
  readonly requestTimeoutMs: number;
  /** After SIGTERM: keep serving (ready=false) this long so load balancers notice, ms. */
  readonly drainDelayMs: number;
  /** After SIGTERM: most time to finish in-flight work before exiting anyway, ms. */
  readonly drainTimeoutMs: number;
  /** Batcher settings for models whose config.json has no `batching`. */
  readonly batching: BatchingConfig;
  readonly logLevel: LogLevel;
  /** Load every model at start-up (ready turns true when they are). Default true. */
  readonly loadAll: boolean;
  /**
   * Pooling of text embedding models whose config.json has no `pooling` (TEI's `--pooling`): it overrides
   * the folder's 1_Pooling/config.json. Meant for serving one Hugging Face folder (`--models <folder>`),
   * whose own config.json cannot hold Tessera settings. Default: each folder's pooling config.
   */
  readonly pooling?: PoolingMode;
}

export const DEFAULT_CONFIG: ServerConfig = Object.freeze({
  host: "127.0.0.1",
  port: 8000,
  modelsDir: "./models",
  demo: false,
  apiKeys: [],
  corsOrigins: [],
  bodyLimitBytes: 32 * 1024 * 1024,
  maxItemsPerRequest: 1024,
  requestTimeoutMs: 30_000,
  drainDelayMs: 0,
  drainTimeoutMs: 30_000,
  batching: Object.freeze({ maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 2048 }),
  logLevel: "info",
  loadAll: true,
});

type Kind = "string" | "port" | "int" | "bool" | "list" | "providers" | "logLevel" | "pooling";

interface Field {
  /** Key path in ServerConfig (and in the config file). */
  readonly key: string;
  readonly kind: Kind;
  readonly env: readonly string[];
  readonly flag: string;
  readonly min?: number;
}

/** Every setting, its environment variables and its flag. The CLI help is generated from this table. */
export const CONFIG_FIELDS: readonly Field[] = Object.freeze([
  { key: "host", kind: "string", env: ["TESSERA_HOST"], flag: "host" },
  { key: "port", kind: "port", env: ["TESSERA_PORT", "PORT"], flag: "port" },
  { key: "modelsDir", kind: "string", env: ["TESSERA_MODELS"], flag: "models" },
  { key: "demo", kind: "bool", env: ["TESSERA_DEMO"], flag: "demo" },
  { key: "apiKeys", kind: "list", env: ["TESSERA_API_KEYS"], flag: "api-key" },
  { key: "corsOrigins", kind: "list", env: ["TESSERA_CORS_ORIGINS"], flag: "cors-origin" },
  { key: "providers", kind: "providers", env: ["TESSERA_PROVIDERS"], flag: "providers" },
  { key: "bodyLimitBytes", kind: "int", env: ["TESSERA_BODY_LIMIT_BYTES"], flag: "body-limit-bytes", min: 1 },
  { key: "maxItemsPerRequest", kind: "int", env: ["TESSERA_MAX_ITEMS"], flag: "max-items", min: 1 },
  { key: "requestTimeoutMs", kind: "int", env: ["TESSERA_REQUEST_TIMEOUT_MS"], flag: "timeout-ms", min: 1 },
  { key: "drainDelayMs", kind: "int", env: ["TESSERA_DRAIN_DELAY_MS"], flag: "drain-delay-ms", min: 0 },
  { key: "drainTimeoutMs", kind: "int", env: ["TESSERA_DRAIN_TIMEOUT_MS"], flag: "drain-timeout-ms", min: 0 },
  {
    key: "batching.maxBatchSize",
    kind: "int",
    env: ["TESSERA_MAX_BATCH_SIZE"],
    flag: "max-batch-size",
    min: 1,
  },
  {
    key: "batching.maxQueueDelayMs",
    kind: "int",
    env: ["TESSERA_MAX_QUEUE_DELAY_MS"],
    flag: "max-queue-delay-ms",
    min: 0,
  },
  {
    key: "batching.maxQueueSize",
    kind: "int",
    env: ["TESSERA_MAX_QUEUE_SIZE"],
    flag: "max-queue-size",
    min: 1,
  },
  { key: "logLevel", kind: "logLevel", env: ["TESSERA_LOG_LEVEL"], flag: "log-level" },
  { key: "loadAll", kind: "bool", env: ["TESSERA_LOAD_ALL"], flag: "load-all" },
  { key: "pooling", kind: "pooling", env: ["TESSERA_POOLING"], flag: "pooling" },
]);

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export interface ConfigSources {
  /** Parsed config file content and its name for messages. */
  readonly file?: { readonly name: string; readonly value: unknown };
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flag values as parseArgs gives them (strings, booleans, string arrays). */
  readonly flags?: Readonly<Record<string, string | boolean | readonly string[] | undefined>>;
}

/** Coerces one raw value; strings are accepted for every kind (env and flags are text). */
function coerce(field: Field, raw: unknown, where: string, issues: Issue[]): unknown {
  const bad = (expected: string) => {
    issues.push({ path: where, message: `expected ${expected}, got ${JSON.stringify(raw)}` });
    return undefined;
  };
  switch (field.kind) {
    case "string":
      return typeof raw === "string" && raw.length > 0 ? raw : bad("a non-empty string");
    case "port":
    case "int": {
      const n =
        typeof raw === "number"
          ? raw
          : typeof raw === "string" && /^\s*\d+\s*$/.test(raw)
            ? Number(raw)
            : Number.NaN;
      const max = field.kind === "port" ? 65535 : Number.MAX_SAFE_INTEGER;
      const min = field.kind === "port" ? 0 : (field.min ?? 0);
      if (!Number.isSafeInteger(n) || n < min || n > max) return bad(`an integer in [${min}, ${max}]`);
      return n;
    }
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      return bad("true or false");
    case "list": {
      const items = Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",") : null;
      if (!items?.every((s) => typeof s === "string")) return bad("a list of strings");
      return (items as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
    }
    case "providers": {
      const r = typeof raw === "string" ? parseProvidersFlag(raw) : parseProviders(raw);
      if (!r.ok) {
        for (const i of r.issues) issues.push({ path: `${where} ${i.path}`, message: i.message });
        return undefined;
      }
      return r.value;
    }
    case "logLevel":
      return typeof raw === "string" && (LOG_LEVELS as readonly string[]).includes(raw)
        ? raw
        : bad(`one of ${LOG_LEVELS.join(", ")}`);
    case "pooling":
      return parsePoolingMode(raw) ?? bad(POOLING_EXPECTED);
  }
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let o = target;
  for (const p of parts.slice(0, -1)) {
    o[p] = { ...((o[p] as Record<string, unknown> | undefined) ?? {}) };
    o = o[p] as Record<string, unknown>;
  }
  o[parts.at(-1)!] = value;
}

function getPath(source: unknown, key: string): unknown {
  let o = source;
  for (const p of key.split(".")) {
    if (typeof o !== "object" || o === null || Array.isArray(o)) return undefined;
    o = (o as Record<string, unknown>)[p];
  }
  return o;
}

/** Merges and validates every source; flags win over env, env over the file, the file over defaults. */
export function resolveServerConfig(sources: ConfigSources): Result<ServerConfig> {
  const issues: Issue[] = [];
  const out = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  const file = sources.file;
  if (file) {
    if (typeof file.value !== "object" || file.value === null || Array.isArray(file.value)) {
      issues.push({ path: file.name, message: "the config file must hold a JSON object" });
    } else {
      const known = new Set(CONFIG_FIELDS.map((f) => f.key.split(".")[0]));
      for (const k of Object.keys(file.value)) {
        if (!known.has(k))
          issues.push({
            path: `${file.name}: ${k}`,
            message: `unknown setting; expected one of ${[...known].join(", ")}`,
          });
      }
      const batching = (file.value as Record<string, unknown>).batching;
      if (batching !== undefined && typeof batching === "object" && batching !== null) {
        for (const k of Object.keys(batching)) {
          if (!["maxBatchSize", "maxQueueDelayMs", "maxQueueSize"].includes(k)) {
            issues.push({
              path: `${file.name}: batching.${k}`,
              message: "unknown setting; expected maxBatchSize, maxQueueDelayMs, maxQueueSize",
            });
          }
        }
      }
    }
  }
  for (const field of CONFIG_FIELDS) {
    const layers: [string, unknown][] = [];
    if (file) layers.push([`${file.name}: ${field.key}`, getPath(file.value, field.key)]);
    for (const name of [...field.env].reverse()) layers.push([`env ${name}`, sources.env?.[name]]);
    layers.push([`--${field.flag}`, sources.flags?.[field.flag]]);
    for (const [where, raw] of layers) {
      if (raw === undefined || (typeof raw === "string" && raw === "" && where.startsWith("env"))) continue;
      const v = coerce(field, raw, where, issues);
      if (v !== undefined) setPath(out, field.key, v);
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: out as unknown as ServerConfig };
}
