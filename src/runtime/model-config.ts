/**
 * `<root>/<model>/config.json`: Tessera's model config, parsed from outside input with every problem
 * reported (`{ok:false, issues:[{path, message}]}`), never thrown.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isProviderName, PROVIDER_NAMES, parseProviders } from "./providers.ts";
import type { BatchingConfig, ModelBatchingConfig, ModelConfig } from "./registry-types.ts";
import type { ProviderName } from "./session.ts";

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export type ConfigResult =
  | { readonly ok: true; readonly value: ModelConfig }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

const TOP_KEYS = [
  "kind",
  "source",
  "batching",
  "replicas",
  "intraOpThreads",
  "intraOpSpinning",
  "providers",
  "versionPolicy",
  "inputs",
  "outputs",
  "labels",
  "maxInputs",
  "maxTokens",
  "description",
  "variant",
  "autoTruncate",
  "pooling",
] as const;
/**
 * How a text embedder pools token vectors into one: sentence-transformers' Pooling modes ("last" is its
 * "lasttoken"). `parsePoolingMode` also takes sentence-transformers' and TEI's spellings.
 */
export const POOLING_MODES = ["mean", "cls", "last", "max", "weightedmean", "mean_sqrt_len_tokens"] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/**
 * A pooling name as a user may write it: one of POOLING_MODES, or "lasttoken" (sentence-transformers) /
 * "last-token" / "last_token" (TEI) for "last"; case-insensitive. Undefined for anything else.
 */
export function parsePoolingMode(v: unknown): PoolingMode | undefined {
  if (typeof v !== "string") return undefined;
  const l = v.trim().toLowerCase();
  if (l === "lasttoken" || l === "last-token" || l === "last_token") return "last";
  return (POOLING_MODES as readonly string[]).includes(l) ? (l as PoolingMode) : undefined;
}

/** The expected-value text of a pooling issue. */
export const POOLING_EXPECTED = `one of ${POOLING_MODES.join(", ")} (or lasttoken / last-token for last)`;

const BATCHING_KEYS = ["maxBatchSize", "maxQueueDelayMs", "maxQueueSize", "maxBatchCost"] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v === undefined ? "undefined" : JSON.stringify(v);
}

function posInt(
  v: unknown,
  path: string,
  issues: ConfigIssue[],
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    issues.push({
      path,
      message: `expected an integer in 1..${max === Number.MAX_SAFE_INTEGER ? "∞" : max}, got ${show(v)}`,
    });
    return undefined;
  }
  return v;
}

function nonNegNumber(v: unknown, path: string, issues: ConfigIssue[]): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    issues.push({ path, message: `expected a number >= 0, got ${show(v)}` });
    return undefined;
  }
  return v;
}

function stringMap(v: unknown, path: string, issues: ConfigIssue[]): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v)) {
    issues.push({ path, message: `expected an object mapping names to graph names, got ${show(v)}` });
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string" || val.length === 0)
      issues.push({ path: `${path}.${k}`, message: `expected a non-empty string, got ${show(val)}` });
    else out[k] = val;
  }
  return out;
}

function parseVersionPolicy(v: unknown, issues: ConfigIssue[]): ModelConfig["versionPolicy"] {
  const path = "versionPolicy";
  const expected = `expected "latest", "all", {"latest": n} or {"specific": [versions]}`;
  if (v === undefined) return undefined;
  if (v === "latest" || v === "all") return v;
  if (isRecord(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "latest") {
      const n = posInt(v.latest, `${path}.latest`, issues);
      return n === undefined ? undefined : { latest: n };
    }
    if (keys.length === 1 && keys[0] === "specific") {
      const list = v.specific;
      if (!Array.isArray(list) || list.length === 0) {
        issues.push({
          path: `${path}.specific`,
          message: `expected a non-empty array of version numbers, got ${show(list)}`,
        });
        return undefined;
      }
      const out: number[] = [];
      list.forEach((x: unknown, i: number) => {
        if (typeof x !== "number" || !Number.isInteger(x) || x < 0) {
          issues.push({
            path: `${path}.specific[${i}]`,
            message: `expected a non-negative integer version, got ${show(x)}`,
          });
        } else out.push(x);
      });
      return { specific: out };
    }
  }
  issues.push({ path, message: `${expected}, got ${show(v)}` });
  return undefined;
}

/**
 * Validates a parsed config.json value. Reports every issue: unknown keys, wrong types, out-of-range
 * numbers, bad providers, bad version policy. Missing fields take their defaults (`kind: "onnx"`).
 */
export function parseModelConfig(raw: unknown): ConfigResult {
  const issues: ConfigIssue[] = [];
  if (!isRecord(raw))
    return { ok: false, issues: [{ path: "", message: `expected a JSON object, got ${show(raw)}` }] };
  for (const k of Object.keys(raw)) {
    if (!(TOP_KEYS as readonly string[]).includes(k))
      issues.push({ path: k, message: `unknown field "${k}"; expected one of ${TOP_KEYS.join(", ")}` });
  }
  let kind: "onnx" | "hf" = "onnx";
  if (raw.kind !== undefined) {
    if (raw.kind === "onnx" || raw.kind === "hf") kind = raw.kind;
    else issues.push({ path: "kind", message: `expected "onnx" or "hf", got ${show(raw.kind)}` });
  }
  let source: string | undefined;
  if (raw.source !== undefined) {
    if (typeof raw.source !== "string" || raw.source.length === 0)
      issues.push({ path: "source", message: `expected a folder path, got ${show(raw.source)}` });
    else source = raw.source;
  }
  if (source !== undefined && kind !== "hf" && raw.kind !== undefined) {
    issues.push({
      path: "source",
      message: `"source" is only used with kind "hf", got kind ${show(raw.kind)}`,
    });
  }
  if (source !== undefined && raw.kind === undefined) kind = "hf";

  let batching: ModelBatchingConfig | undefined;
  // `"batching": false` (Triton's max_batch_size 0): the first dim is not a batch, so requests are never merged.
  const unbatched = raw.batching === false;
  if (raw.batching !== undefined && !unbatched) {
    if (!isRecord(raw.batching))
      issues.push({
        path: "batching",
        message: `expected an object of batching settings or false, got ${show(raw.batching)}`,
      });
    else {
      const base = parseBatchingFields(raw.batching, "batching", issues, true);
      let providers: Partial<Record<ProviderName, Partial<BatchingConfig>>> | undefined;
      const rawProviders = raw.batching.providers;
      if (rawProviders !== undefined) {
        if (!isRecord(rawProviders)) {
          issues.push({
            path: "batching.providers",
            message: `expected an object of provider name → batching settings, got ${show(rawProviders)}`,
          });
        } else {
          providers = {};
          for (const [name, v] of Object.entries(rawProviders)) {
            const path = `batching.providers.${name}`;
            if (!isProviderName(name)) {
              issues.push({
                path,
                message: `unknown provider ${JSON.stringify(name)}; expected one of ${PROVIDER_NAMES.join(", ")}`,
              });
            } else if (!isRecord(v)) {
              issues.push({ path, message: `expected an object of batching settings, got ${show(v)}` });
            } else {
              providers[name] = parseBatchingFields(v, path, issues, false);
            }
          }
        }
      }
      batching = { ...base, ...(providers !== undefined ? { providers } : {}) };
    }
  }
  const replicas = posInt(raw.replicas, "replicas", issues, 64);
  const intraOpThreads = posInt(raw.intraOpThreads, "intraOpThreads", issues, 1024);
  let providers: ModelConfig["providers"];
  if (raw.providers !== undefined) {
    const p = parseProviders(raw.providers);
    if (p.ok) providers = p.value;
    else issues.push(...p.issues);
  }
  const versionPolicy = parseVersionPolicy(raw.versionPolicy, issues);
  const inputs = stringMap(raw.inputs, "inputs", issues);
  const outputs = stringMap(raw.outputs, "outputs", issues);
  let labels: string[] | undefined;
  if (raw.labels !== undefined) {
    if (!Array.isArray(raw.labels))
      issues.push({ path: "labels", message: `expected an array of strings, got ${show(raw.labels)}` });
    else {
      labels = [];
      raw.labels.forEach((l: unknown, i: number) => {
        if (typeof l !== "string")
          issues.push({ path: `labels[${i}]`, message: `expected a string, got ${show(l)}` });
        else labels?.push(l);
      });
    }
  }
  const maxInputs = posInt(raw.maxInputs, "maxInputs", issues);
  const maxTokens = posInt(raw.maxTokens, "maxTokens", issues);
  let description: string | undefined;
  if (raw.description !== undefined) {
    if (typeof raw.description !== "string")
      issues.push({ path: "description", message: `expected a string, got ${show(raw.description)}` });
    else description = raw.description;
  }
  let variant: string | undefined;
  if (raw.variant !== undefined) {
    if (typeof raw.variant !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(raw.variant))
      issues.push({
        path: "variant",
        message: `expected a graph variant name such as "quantized" or "fp16" (letters, digits, _ . -), got ${show(raw.variant)}`,
      });
    else variant = raw.variant;
  }
  let intraOpSpinning: boolean | undefined;
  if (raw.intraOpSpinning !== undefined) {
    if (typeof raw.intraOpSpinning !== "boolean")
      issues.push({
        path: "intraOpSpinning",
        message: `expected true or false, got ${show(raw.intraOpSpinning)}`,
      });
    else intraOpSpinning = raw.intraOpSpinning;
  }
  let autoTruncate: boolean | undefined;
  if (raw.autoTruncate !== undefined) {
    if (typeof raw.autoTruncate !== "boolean")
      issues.push({ path: "autoTruncate", message: `expected true or false, got ${show(raw.autoTruncate)}` });
    else autoTruncate = raw.autoTruncate;
  }
  let pooling: PoolingMode | undefined;
  if (raw.pooling !== undefined) {
    pooling = parsePoolingMode(raw.pooling);
    if (pooling === undefined)
      issues.push({ path: "pooling", message: `expected ${POOLING_EXPECTED}, got ${show(raw.pooling)}` });
  }
  if (pooling !== undefined && raw.kind === "onnx")
    issues.push({ path: "pooling", message: `"pooling" is only used with kind "hf", got kind "onnx"` });
  if (issues.length > 0) return { ok: false, issues };
  const value: ModelConfig = {
    kind,
    ...(source !== undefined ? { source } : {}),
    ...(batching !== undefined ? { batching } : {}),
    ...(unbatched ? { unbatched: true } : {}),
    ...(replicas !== undefined ? { replicas } : {}),
    ...(intraOpThreads !== undefined ? { intraOpThreads } : {}),
    ...(intraOpSpinning !== undefined ? { intraOpSpinning } : {}),
    ...(providers !== undefined ? { providers } : {}),
    ...(versionPolicy !== undefined ? { versionPolicy } : {}),
    ...(inputs !== undefined ? { inputs } : {}),
    ...(outputs !== undefined ? { outputs } : {}),
    ...(labels !== undefined ? { labels } : {}),
    ...(maxInputs !== undefined ? { maxInputs } : {}),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(variant !== undefined ? { variant } : {}),
    ...(autoTruncate !== undefined ? { autoTruncate } : {}),
    ...(pooling !== undefined ? { pooling } : {}),
  };
  return { ok: true, value };
}

/**
 * Reads and validates `<dir>/config.json`. A missing file is a valid default config (`kind: "onnx"`);
 * unreadable or malformed JSON is an issue at path `""`. In a folder holding `tokenizer.json`, a
 * config.json without `kind`/`source` is the Hugging Face model config and yields `{ kind: "hf" }`.
 */
export function loadModelConfig(dir: string): ConfigResult {
  const file = join(dir, "config.json");
  if (!existsSync(file)) return { ok: true, value: { kind: "onnx" } };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { ok: false, issues: [{ path: "", message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      issues: [{ path: "", message: `config.json is not valid JSON: ${(err as Error).message}` }],
    };
  }
  // An HF model folder carries its own config.json (architectures, hidden_size, ...). Without a
  // "kind" field it is that file, not Tessera's: the folder is a kind "hf" model with defaults.
  if (
    existsSync(join(dir, "tokenizer.json")) &&
    isRecord(raw) &&
    raw.kind === undefined &&
    raw.source === undefined
  ) {
    return { ok: true, value: { kind: "hf" } };
  }
  return parseModelConfig(raw);
}

/** The batcher fields of one `batching` object (`providers` allowed only at the top level). */
function parseBatchingFields(
  b: Record<string, unknown>,
  path: string,
  issues: ConfigIssue[],
  allowProviders: boolean,
): Partial<BatchingConfig> {
  for (const k of Object.keys(b)) {
    if (allowProviders && k === "providers") continue;
    if (!(BATCHING_KEYS as readonly string[]).includes(k)) {
      const keys = allowProviders ? [...BATCHING_KEYS, "providers"] : BATCHING_KEYS;
      issues.push({
        path: `${path}.${k}`,
        message: `unknown field "${k}"; expected one of ${keys.join(", ")}`,
      });
    }
  }
  const maxBatchSize = posInt(b.maxBatchSize, `${path}.maxBatchSize`, issues);
  const maxQueueDelayMs = nonNegNumber(b.maxQueueDelayMs, `${path}.maxQueueDelayMs`, issues);
  const maxQueueSize = posInt(b.maxQueueSize, `${path}.maxQueueSize`, issues);
  let maxBatchCost: number | undefined;
  if (b.maxBatchCost !== undefined) {
    if (typeof b.maxBatchCost !== "number" || !Number.isFinite(b.maxBatchCost) || b.maxBatchCost <= 0) {
      issues.push({
        path: `${path}.maxBatchCost`,
        message: `expected a number > 0, got ${show(b.maxBatchCost)}`,
      });
    } else maxBatchCost = b.maxBatchCost;
  }
  return {
    ...(maxBatchSize !== undefined ? { maxBatchSize } : {}),
    ...(maxQueueDelayMs !== undefined ? { maxQueueDelayMs } : {}),
    ...(maxQueueSize !== undefined ? { maxQueueSize } : {}),
    ...(maxBatchCost !== undefined ? { maxBatchCost } : {}),
  };
}

/**
 * The batching settings of a model for the provider its session runs on: the config's fields, with
 * `batching.providers[provider]` on top when present. Returns a new object without `providers`.
 *
 * ```ts
 * batchingFor({ batching: { maxBatchSize: 32, providers: { webgpu: { maxBatchSize: 128 } } } }, "webgpu")
 * // → { maxBatchSize: 128 }
 * ```
 */
export function batchingFor(config: ModelConfig, provider: string): Partial<BatchingConfig> {
  const { providers, ...base } = config.batching ?? {};
  const override = isProviderName(provider) ? providers?.[provider] : undefined;
  return { ...base, ...(override ?? {}) };
}
