/**
 * Execution providers: validation of the user's provider list, mapping to onnxruntime-node's
 * `executionProviders`, a real fallback (ORT throws instead of falling back), availability probes
 * and the device key used to serialize runs per GPU device.
 *
 * Invariants:
 *  1. `normalizeProviders` returns a non-empty list of frozen specs, no two with the same device key,
 *     and (unless `strict`) ending with — or already containing — `cpu`.
 *  2. Options of every spec use only the keys the onnxruntime-node 1.30 binding accepts for that provider
 *     (other keys make ORT throw at session creation, so they are refused here, with the allowed list).
 *  3. `createWithFallback` tries providers in order and records why each one failed; it never swallows the
 *     last failure.
 */
import * as ort from "onnxruntime-node";
import { TesseraError } from "../tensor/index.ts";
import type { ProviderName, ProviderSpec } from "./session.ts";

/** Provider names Tessera accepts, in the order `tessera doctor` lists them. */
export const PROVIDER_NAMES: readonly ProviderName[] = Object.freeze([
  "cpu",
  "webgpu",
  "cuda",
  "tensorrt",
  "dml",
  "coreml",
]);

const CACHE_MODES = ["disabled", "lazyRelease", "simple", "bucket"] as const;

type OptionRule =
  | { readonly kind: "enum"; readonly values: readonly string[] }
  | { readonly kind: "boolean" }
  | { readonly kind: "deviceId" }
  /** A list of strings, written as one comma-separated string (ProviderSpec options hold scalars only). */
  | { readonly kind: "stringList" };

/** Option keys (and their value rules) the onnxruntime-node 1.30 binding accepts, per provider. */
const OPTION_RULES: { readonly [P in ProviderName]: Readonly<Record<string, OptionRule>> } = {
  cpu: { useArena: { kind: "boolean" } },
  webgpu: {
    preferredLayout: { kind: "enum", values: ["NCHW", "NHWC"] },
    validationMode: { kind: "enum", values: ["disabled", "wgpuOnly", "basic", "full"] },
    storageBufferCacheMode: { kind: "enum", values: CACHE_MODES },
    uniformBufferCacheMode: { kind: "enum", values: CACHE_MODES },
    queryResolveBufferCacheMode: { kind: "enum", values: CACHE_MODES },
    defaultBufferCacheMode: { kind: "enum", values: CACHE_MODES },
    enableRobustness: { kind: "boolean" },
    forceCpuNodeNames: { kind: "stringList" },
    // Not deviceId: the 1.30 binding refuses it for webgpu ("unrecognized option"), measured. Dawn picks
    // the adapter; restrict it with the Vulkan loader's VK_DRIVER_FILES (docs/gpu.md).
  },
  cuda: { deviceId: { kind: "deviceId" } },
  tensorrt: { deviceId: { kind: "deviceId" } },
  dml: { deviceId: { kind: "deviceId" } },
  coreml: {},
};

/** The option keys accepted for a provider (e.g. for webgpu: preferredLayout, validationMode, ...). */
export function allowedProviderOptions(name: ProviderName): readonly string[] {
  return Object.keys(OPTION_RULES[name]);
}

export function isProviderName(value: unknown): value is ProviderName {
  return typeof value === "string" && (PROVIDER_NAMES as readonly string[]).includes(value);
}

/** One problem found in outside input, with the path to the offending value. */
export interface ProviderIssue {
  readonly path: string;
  readonly message: string;
}

export type ProvidersParseResult =
  | { readonly ok: true; readonly value: ProviderSpec[] }
  | { readonly ok: false; readonly issues: ProviderIssue[] };

export interface NormalizeOptions {
  /** Do not append `cpu` as a last resort: fail when every listed provider fails. Default false. */
  readonly strict?: boolean;
}

function checkOption(
  provider: ProviderName,
  key: string,
  value: unknown,
  path: string,
  issues: ProviderIssue[],
): void {
  const rule = OPTION_RULES[provider][key];
  if (rule === undefined) {
    const allowed = allowedProviderOptions(provider);
    issues.push({
      path,
      message: `unknown ${provider} option "${key}"; allowed: ${allowed.length ? allowed.join(", ") : "(none)"}`,
    });
    return;
  }
  switch (rule.kind) {
    case "enum":
      if (typeof value !== "string" || !rule.values.includes(value)) {
        issues.push({
          path,
          message: `expected one of ${rule.values.join(", ")}, got ${JSON.stringify(value)}`,
        });
      }
      return;
    case "boolean":
      if (typeof value !== "boolean")
        issues.push({ path, message: `expected a boolean, got ${JSON.stringify(value)}` });
      return;
    case "deviceId":
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
        issues.push({
          path,
          message: `expected a non-negative integer device id, got ${JSON.stringify(value)}`,
        });
      }
      return;
    case "stringList":
      if (typeof value !== "string") {
        issues.push({
          path,
          message: `expected a comma-separated string of node names, got ${JSON.stringify(value)}`,
        });
      }
      return;
  }
}

/**
 * Parses a provider list from outside input (config.json, JSON request, library call) and reports every
 * issue. Accepts names (`"webgpu"`) and specs (`{ "name": "webgpu", "options": { "preferredLayout": "NHWC" } }`).
 * `undefined` or an empty list means `["cpu"]`; `cpu` is appended as last resort unless `strict`.
 */
export function parseProviders(input: unknown, opts: NormalizeOptions = {}): ProvidersParseResult {
  const issues: ProviderIssue[] = [];
  if (input === undefined || input === null) return { ok: true, value: [Object.freeze({ name: "cpu" })] };
  if (!Array.isArray(input)) {
    return {
      ok: false,
      issues: [
        { path: "providers", message: `expected an array of provider names or specs, got ${typeof input}` },
      ],
    };
  }
  const out: ProviderSpec[] = [];
  const seen = new Map<string, number>();
  input.forEach((entry: unknown, i: number) => {
    const path = `providers[${i}]`;
    let name: unknown;
    let rawOptions: unknown;
    if (typeof entry === "string") name = entry;
    else if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
      const rec = entry as Record<string, unknown>;
      name = rec.name;
      rawOptions = rec.options;
      for (const k of Object.keys(rec)) {
        if (k !== "name" && k !== "options")
          issues.push({ path: `${path}.${k}`, message: `unknown field "${k}"; expected name, options` });
      }
    } else {
      issues.push({
        path,
        message: `expected a provider name or {name, options}, got ${JSON.stringify(entry)}`,
      });
      return;
    }
    if (!isProviderName(name)) {
      issues.push({
        path: typeof entry === "string" ? path : `${path}.name`,
        message: `unknown provider ${JSON.stringify(name)}; expected one of ${PROVIDER_NAMES.join(", ")}`,
      });
      return;
    }
    const entryIssues = issues.length;
    let options: Record<string, string | number | boolean> | undefined;
    if (rawOptions !== undefined) {
      if (typeof rawOptions !== "object" || rawOptions === null || Array.isArray(rawOptions)) {
        issues.push({
          path: `${path}.options`,
          message: `expected an object, got ${JSON.stringify(rawOptions)}`,
        });
        return;
      }
      options = {};
      for (const [k, v] of Object.entries(rawOptions as Record<string, unknown>)) {
        const before = issues.length;
        checkOption(name, k, v, `${path}.options.${k}`, issues);
        if (issues.length === before) options[k] = v as string | number | boolean;
      }
    }
    const spec: ProviderSpec = Object.freeze(
      options && Object.keys(options).length > 0 ? { name, options: Object.freeze(options) } : { name },
    );
    if (issues.length > entryIssues) return; // a bad option may hide the real device: skip the duplicate check
    const key = deviceKey(spec);
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({ path, message: `provider device "${key}" is already listed at providers[${first}]` });
      return;
    }
    seen.set(key, i);
    out.push(spec);
  });
  if (issues.length > 0) return { ok: false, issues };
  if (out.length === 0) out.push(Object.freeze({ name: "cpu" }));
  if (!opts.strict && !out.some((p) => p.name === "cpu")) out.push(Object.freeze({ name: "cpu" }));
  return { ok: true, value: out };
}

/**
 * Parses the CLI form `--providers webgpu,cpu` (names only; options go in config.json).
 */
export function parseProvidersFlag(text: string, opts: NormalizeOptions = {}): ProvidersParseResult {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const r = parseProviders(names, opts);
  if (r.ok) return r;
  return {
    ok: false,
    issues: r.issues.map((iss) => ({
      path: iss.path.replace(/^providers/, "--providers"),
      message: iss.message,
    })),
  };
}

/**
 * Validates a provider list and returns frozen specs, `cpu` appended as last resort unless `strict`.
 * Throws `E_PROVIDER_NAME` for unknown names and `E_PROVIDER_OPTION` for unknown option keys or bad values
 * (the message lists the allowed keys); `facts.issues` holds every issue found.
 */
export function normalizeProviders(
  list?: readonly (ProviderName | ProviderSpec)[],
  opts: NormalizeOptions = {},
): ProviderSpec[] {
  const r = parseProviders(list, opts);
  if (r.ok) return r.value;
  const nameIssue = r.issues.every((iss) => iss.message.startsWith("unknown provider"));
  throw new TesseraError(
    nameIssue ? "E_PROVIDER_NAME" : "E_PROVIDER_OPTION",
    `invalid providers: ${r.issues.map((iss) => `${iss.path}: ${iss.message}`).join("; ")}`,
    { issues: r.issues },
  );
}

/** One entry of onnxruntime-node's `SessionOptions.executionProviders`. */
export type OrtExecutionProvider = ort.InferenceSession.ExecutionProviderConfig;

/**
 * Maps one validated spec to onnxruntime-node's `executionProviders` (a list holding just that provider;
 * ORT always keeps its CPU kernels for the nodes the provider cannot run, e.g. int64 shape arithmetic).
 * `forceCpuNodeNames` is split on commas into the string array the binding expects.
 */
export function toOrtExecutionProviders(spec: ProviderSpec): OrtExecutionProvider[] {
  const opts = spec.options;
  if (opts === undefined || Object.keys(opts).length === 0) return [spec.name];
  const entry: Record<string, string | number | boolean | readonly string[]> = { name: spec.name };
  for (const [k, v] of Object.entries(opts)) {
    if (OPTION_RULES[spec.name][k]?.kind === "stringList" && typeof v === "string") {
      entry[k] = v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    } else entry[k] = v;
  }
  return [entry as unknown as OrtExecutionProvider];
}

/**
 * The scheduling key of a provider's device: `"cpu"` for CPU, `"<name>:<deviceId>"` otherwise
 * (e.g. `"webgpu:0"`). Runs on the same non-CPU key must be serialized (onnxruntime issue 32561).
 */
export function deviceKey(provider: ProviderName | ProviderSpec): string {
  const spec = typeof provider === "string" ? { name: provider } : provider;
  if (spec.name === "cpu") return "cpu";
  const id = spec.options?.deviceId;
  return `${spec.name}:${typeof id === "number" ? id : 0}`;
}

/** Whether runs on this provider must be serialized per device (everything but CPU). */
export function isExclusiveDevice(provider: ProviderName | ProviderSpec): boolean {
  return deviceKey(provider) !== "cpu";
}

/** First line of an error's message, trimmed to a readable length (ORT messages can hold whole logs). */
export function failureReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  let line = (msg.split("\n").find((l) => l.trim().length > 0) ?? msg).trim();
  // ORT_ENFORCE messages start with "<source path>:<line> <function> <condition> was false. <what>".
  const enforced = /^\/\S+:\d+ .* was false\. (.+)$/.exec(line);
  if (enforced?.[1]) line = enforced[1];
  // Other ORT errors start with "<source path>:<line> <C++ signature>(<parameters>) <what>".
  else {
    const located = /^\/\S+:\d+ [^()]*\([^()]*\)(?: const)? (.+)$/.exec(line);
    if (located?.[1]) line = located[1];
  }
  const trimmed = line.trim();
  return trimmed.length > 400 ? `${trimmed.slice(0, 397)}...` : trimmed;
}

export interface FallbackResult<T> {
  readonly value: T;
  readonly active: ProviderName;
  /** Providers tried before the active one, each with why it failed. */
  readonly fallbacks: { provider: ProviderName; reason: string }[];
}

/**
 * Tries `create` with each provider in order until one succeeds (ORT does not fall back by itself:
 * `['webgpu', 'cpu']` throws when no adapter exists). Throws `E_PROVIDER_UNAVAILABLE` listing every
 * provider's reason when all fail; `cause` is the last error.
 */
export async function createWithFallback<T>(
  providers: ProviderSpec[],
  create: (p: ProviderSpec) => Promise<T>,
): Promise<FallbackResult<T>> {
  if (providers.length === 0) {
    throw new TesseraError("E_PROVIDER_UNAVAILABLE", "no providers to try: the provider list is empty", {
      attempts: [],
    });
  }
  const fallbacks: { provider: ProviderName; reason: string }[] = [];
  let last: unknown;
  for (const p of providers) {
    try {
      const value = await create(p);
      return { value, active: p.name, fallbacks };
    } catch (err) {
      last = err;
      fallbacks.push({ provider: p.name, reason: failureReason(err) });
    }
  }
  throw new TesseraError(
    "E_PROVIDER_UNAVAILABLE",
    `no execution provider could create the session: ${fallbacks.map((f) => `${f.provider}: ${f.reason}`).join("; ")}`,
    { attempts: fallbacks },
    { cause: last },
  );
}

// ---------------------------------------------------------------------------------------------------
// Per-device serialization (one in-flight run per GPU device across replicas of this process).

const deviceTails = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` when no other run holds the same device key (FIFO); `"cpu"` runs at once. Serializes within
 * one process (call it where runs are dispatched to workers). A rejection releases the device.
 * Not reentrant: calling it again for the same key from inside `fn` (e.g. wrapping `session.run()`,
 * which already uses it) waits forever.
 */
export function runExclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
  if (key === "cpu") return fn();
  const prev = deviceTails.get(key) ?? Promise.resolve();
  const result = prev.then(fn, fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  deviceTails.set(key, tail);
  void tail.then(() => {
    if (deviceTails.get(key) === tail) deviceTails.delete(key);
  });
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Availability probes.

/** A tiny ONNX model: y = x + x, x float32 [1, 4] (opset 13). Built by hand so that probes need no graph builder. */
export function probeModelBytes(): Uint8Array {
  const bytes: number[] = [];
  const varint = (out: number[], v: number): void => {
    let n = v;
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
  };
  const field = (out: number[], no: number, wire: number): void => varint(out, (no << 3) | wire);
  const int = (out: number[], no: number, v: number): void => {
    field(out, no, 0);
    varint(out, v);
  };
  const len = (out: number[], no: number, body: number[]): void => {
    field(out, no, 2);
    varint(out, body.length);
    out.push(...body);
  };
  const str = (out: number[], no: number, s: string): void => len(out, no, [...new TextEncoder().encode(s)]);
  const valueInfo = (name: string): number[] => {
    const dims: number[] = [];
    for (const d of [1, 4]) {
      const dim: number[] = [];
      int(dim, 1, d);
      len(dims, 1, dim);
    }
    const tensorType: number[] = [];
    int(tensorType, 1, 1); // FLOAT
    len(tensorType, 2, dims);
    const type: number[] = [];
    len(type, 1, tensorType);
    const vi: number[] = [];
    str(vi, 1, name);
    len(vi, 2, type);
    return vi;
  };
  const node: number[] = [];
  str(node, 1, "x");
  str(node, 1, "x");
  str(node, 2, "y");
  str(node, 3, "add");
  str(node, 4, "Add");
  const graph: number[] = [];
  len(graph, 1, node);
  str(graph, 2, "probe");
  len(graph, 11, valueInfo("x"));
  len(graph, 12, valueInfo("y"));
  const opset: number[] = [];
  str(opset, 1, "");
  int(opset, 2, 13);
  int(bytes, 1, 8); // ir_version
  str(bytes, 2, "tessera-probe");
  len(bytes, 7, graph);
  len(bytes, 8, opset);
  return Uint8Array.from(bytes);
}

export interface ProviderAvailability {
  readonly name: string;
  /** onnxruntime-node ships this provider's code in its package. */
  readonly bundled: boolean;
  /** A session was created and ran the probe model on it. */
  readonly available: boolean;
  /** Why it is not available (or unknown to Tessera). */
  readonly reason?: string;
}

/**
 * Probes one provider by creating a session for a tiny model and running it once.
 * Returns `undefined` when it works, else the reason.
 */
export async function probeProvider(spec: ProviderSpec): Promise<string | undefined> {
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(probeModelBytes(), {
      executionProviders: toOrtExecutionProviders(spec),
      logSeverityLevel: 3,
    });
    const x = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const out = await session.run({ x });
    const y = out.y?.data;
    if (!(y instanceof Float32Array) || y[3] !== 8) return `probe model returned wrong values: ${String(y)}`;
    return undefined;
  } catch (err) {
    return failureReason(err);
  } finally {
    await session?.release();
  }
}

const NOT_BUNDLED_REASON =
  "its libraries come from an install-time download that Tessera skips (.npmrc onnxruntime-node-install=skip)";

/**
 * Lists the providers onnxruntime-node knows on this platform (`listSupportedBackends()`), and for each
 * bundled one creates a tiny session to find out whether it really works here (e.g. webgpu needs
 * libvulkan.so.1 and a Vulkan driver). Probes run one at a time.
 */
export async function listProviders(): Promise<ProviderAvailability[]> {
  const out: ProviderAvailability[] = [];
  for (const b of ort.listSupportedBackends()) {
    if (!isProviderName(b.name)) {
      out.push({ name: b.name, bundled: b.bundled, available: false, reason: "not supported by Tessera" });
    } else if (!b.bundled) {
      out.push({ name: b.name, bundled: false, available: false, reason: NOT_BUNDLED_REASON });
    } else {
      const reason = await probeProvider({ name: b.name });
      out.push(
        reason === undefined
          ? { name: b.name, bundled: true, available: true }
          : { name: b.name, bundled: true, available: false, reason },
      );
    }
  }
  return out;
}
