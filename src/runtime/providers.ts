/**
 * Execution providers: normalisation of user lists and creation with a real fallback
 * (ORT throws when a provider cannot be used rather than falling back by itself).
 *
 * Minimal version written by the runtime helper so sessions can use it; the GPU helper owns and
 * extends this file.
 */
import { TesseraError } from "../tensor/index.ts";
import type { ProviderName, ProviderSpec } from "./session.ts";

const PROVIDER_NAMES: readonly ProviderName[] = ["cpu", "webgpu", "cuda", "tensorrt", "dml", "coreml"];

/** True when `name` is a provider Tessera knows. */
export function isProviderName(name: unknown): name is ProviderName {
  return typeof name === "string" && (PROVIDER_NAMES as readonly string[]).includes(name);
}

/**
 * Turns a user list (names or specs) into specs, dropping duplicates and ending with `cpu`
 * as the last resort. Unknown names throw `E_PROVIDER_UNKNOWN`. Default: `[{ name: "cpu" }]`.
 */
export function normalizeProviders(list?: readonly (ProviderName | ProviderSpec)[]): ProviderSpec[] {
  const out: ProviderSpec[] = [];
  for (const item of list ?? []) {
    const spec: ProviderSpec = typeof item === "string" ? { name: item } : item;
    if (!isProviderName(spec.name)) {
      throw new TesseraError(
        "E_PROVIDER_UNKNOWN",
        `providers: unknown execution provider ${JSON.stringify(spec.name)}; expected one of ${PROVIDER_NAMES.join(", ")}`,
        { provider: spec.name },
      );
    }
    if (!out.some((p) => p.name === spec.name)) out.push(spec);
  }
  if (!out.some((p) => p.name === "cpu")) out.push({ name: "cpu" });
  return out;
}

/**
 * Calls `create` with each provider in order until one succeeds; records why earlier ones failed.
 * Throws the last error (with every reason in `facts.fallbacks`) when all fail.
 */
export async function createWithFallback<T>(
  providers: ProviderSpec[],
  create: (p: ProviderSpec) => Promise<T>,
): Promise<{ value: T; active: ProviderName; fallbacks: { provider: ProviderName; reason: string }[] }> {
  const fallbacks: { provider: ProviderName; reason: string }[] = [];
  let lastError: unknown;
  for (const p of providers) {
    try {
      const value = await create(p);
      return { value, active: p.name, fallbacks };
    } catch (err) {
      lastError = err;
      fallbacks.push({ provider: p.name, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  if (lastError instanceof Error) {
    (lastError as Error & { fallbacks?: unknown }).fallbacks = fallbacks;
    throw lastError;
  }
  throw new TesseraError("E_PROVIDER_NONE", "providers: the provider list is empty", { fallbacks });
}
