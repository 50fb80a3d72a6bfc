// Provider list validation, ORT mapping, fallback order and per-device serialization (no GPU needed).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  allowedProviderOptions,
  createWithFallback,
  deviceKey,
  normalizeProviders,
  parseProviders,
  parseProvidersFlag,
  runExclusive,
  toOrtExecutionProviders,
} from "../../src/runtime/index.ts";
import type { ProviderSpec } from "../../src/runtime/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";

function codeOf(fn: () => unknown): { code: string; message: string; facts: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TesseraError, `expected TesseraError, got ${String(err)}`);
    return { code: err.code, message: err.message, facts: err.facts as Record<string, unknown> };
  }
  assert.fail("expected a throw");
}

test("normalizeProviders: default is cpu, cpu appended as last resort unless strict", () => {
  assert.deepEqual(normalizeProviders(), [{ name: "cpu" }]);
  assert.deepEqual(normalizeProviders([]), [{ name: "cpu" }]);
  assert.deepEqual(normalizeProviders(["webgpu"]), [{ name: "webgpu" }, { name: "cpu" }]);
  assert.deepEqual(normalizeProviders(["webgpu"], { strict: true }), [{ name: "webgpu" }]);
  assert.deepEqual(normalizeProviders(["cpu", "webgpu"]), [{ name: "cpu" }, { name: "webgpu" }]);
  const specs = normalizeProviders([
    { name: "webgpu", options: { preferredLayout: "NHWC", enableRobustness: true } },
    "cpu",
  ]);
  assert.deepEqual(specs, [
    { name: "webgpu", options: { preferredLayout: "NHWC", enableRobustness: true } },
    { name: "cpu" },
  ]);
  assert.ok(Object.isFrozen(specs[0]) && Object.isFrozen(specs[0]?.options));
});

test("normalizeProviders: unknown provider name → E_PROVIDER_NAME naming the allowed names", () => {
  const e = codeOf(() => normalizeProviders(["webgpu", "gpu" as "cpu"]));
  assert.equal(e.code, "E_PROVIDER_NAME");
  assert.match(e.message, /providers\[1\]: unknown provider "gpu"; expected one of cpu, webgpu, cuda/);
});

test("normalizeProviders: unknown webgpu option key → E_PROVIDER_OPTION with the allowed list", () => {
  const e = codeOf(() => normalizeProviders([{ name: "webgpu", options: { enableGraphCapture: true } }]));
  assert.equal(e.code, "E_PROVIDER_OPTION");
  for (const k of [
    "preferredLayout",
    "validationMode",
    "storageBufferCacheMode",
    "uniformBufferCacheMode",
    "queryResolveBufferCacheMode",
    "defaultBufferCacheMode",
    "enableRobustness",
    "forceCpuNodeNames",
  ]) {
    assert.ok(e.message.includes(k), `message lists ${k}: ${e.message}`);
  }
  assert.match(
    e.message,
    /providers\[0\]\.options\.enableGraphCapture: unknown webgpu option "enableGraphCapture"/,
  );
  assert.deepEqual(allowedProviderOptions("coreml"), []);
  // The 1.30 binding refuses deviceId for webgpu (test/gpu/webgpu.test.ts checks the binding itself).
  assert.equal(
    codeOf(() => normalizeProviders([{ name: "webgpu", options: { deviceId: 0 } }])).code,
    "E_PROVIDER_OPTION",
  );
});

test("parseProviders reports every issue with its path", () => {
  const r = parseProviders([
    {
      name: "webgpu",
      options: { preferredLayout: "nhwc", validationMode: "full", enableRobustness: "yes" },
    },
    "tpu",
    { name: "cpu", extra: 1 },
    42,
    "cpu",
  ]);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => i.path),
    [
      "providers[0].options.preferredLayout",
      "providers[0].options.enableRobustness",
      "providers[1]",
      "providers[2].extra",
      "providers[3]",
      "providers[4]",
    ],
  );
  assert.match(r.issues[0]?.message ?? "", /expected one of NCHW, NHWC, got "nhwc"/);
  assert.match(r.issues[5]?.message ?? "", /provider device "cpu" is already listed at providers\[2\]/);
  assert.equal(parseProviders("webgpu").ok, false);
});

test("same provider on two devices is allowed; same device twice is not", () => {
  const two = normalizeProviders([{ name: "cuda", options: { deviceId: 1 } }, "cuda", "webgpu"]);
  assert.deepEqual(two.map(deviceKey), ["cuda:1", "cuda:0", "webgpu:0", "cpu"]);
  const e = codeOf(() => normalizeProviders(["cuda", { name: "cuda", options: { deviceId: 0 } }]));
  assert.equal(e.code, "E_PROVIDER_OPTION");
  assert.match(e.message, /provider device "cuda:0" is already listed at providers\[0\]/);
  const bad = parseProviders([
    { name: "cuda", options: { deviceId: -1 } },
    { name: "cuda", options: { deviceId: 1.5 } },
  ]);
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.issues.length, 2);
});

test("parseProvidersFlag parses --providers webgpu,cpu", () => {
  const ok = parseProvidersFlag(" webgpu , cpu ");
  assert.deepEqual(ok, { ok: true, value: [{ name: "webgpu" }, { name: "cpu" }] });
  const bad = parseProvidersFlag("webgpu,vulkan");
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.issues[0]?.path, "--providers[1]");
});

test("toOrtExecutionProviders maps specs to onnxruntime-node entries", () => {
  assert.deepEqual(toOrtExecutionProviders({ name: "cpu" }), ["cpu"]);
  assert.deepEqual(toOrtExecutionProviders({ name: "webgpu" }), ["webgpu"]);
  assert.deepEqual(
    toOrtExecutionProviders({
      name: "webgpu",
      options: { preferredLayout: "NHWC", forceCpuNodeNames: "a, b" },
    }),
    [{ name: "webgpu", preferredLayout: "NHWC", forceCpuNodeNames: ["a", "b"] }],
  );
  assert.deepEqual(toOrtExecutionProviders({ name: "cuda", options: { deviceId: 2 } }), [
    { name: "cuda", deviceId: 2 },
  ]);
});

test("deviceKey: cpu vs <provider>:<deviceId>", () => {
  assert.equal(deviceKey("cpu"), "cpu");
  assert.equal(deviceKey("webgpu"), "webgpu:0");
  assert.equal(deviceKey({ name: "cuda", options: { deviceId: 3 } }), "cuda:3");
  assert.equal(deviceKey({ name: "cpu", options: { useArena: false } }), "cpu");
});

test("createWithFallback: first success wins, earlier failures are recorded in order", async () => {
  const tried: string[] = [];
  const specs: ProviderSpec[] = [{ name: "cuda" }, { name: "webgpu" }, { name: "cpu" }];
  const r = await createWithFallback(specs, async (p) => {
    tried.push(p.name);
    if (p.name === "cuda") throw new Error("cuda: libcudart.so.12 not found\nmore log lines");
    if (p.name === "webgpu")
      throw new Error(
        "/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 lambda adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters",
      );
    return `session on ${p.name}`;
  });
  assert.deepEqual(tried, ["cuda", "webgpu", "cpu"]);
  assert.equal(r.value, "session on cpu");
  assert.equal(r.active, "cpu");
  assert.deepEqual(r.fallbacks, [
    { provider: "cuda", reason: "cuda: libcudart.so.12 not found" },
    { provider: "webgpu", reason: "Failed to get a WebGPU adapter: No supported adapters" },
  ]);
  const first = await createWithFallback(specs, async (p) => p.name);
  assert.deepEqual(first, { value: "cuda", active: "cuda", fallbacks: [] });
});

test("createWithFallback: all failing → E_PROVIDER_UNAVAILABLE listing every reason", async () => {
  await assert.rejects(
    createWithFallback([{ name: "webgpu" }, { name: "cpu" }], async (p) => {
      throw new Error(`${p.name} broke`);
    }),
    (err: unknown) => {
      assert.ok(err instanceof TesseraError);
      assert.equal(err.code, "E_PROVIDER_UNAVAILABLE");
      assert.match(err.message, /webgpu: webgpu broke; cpu: cpu broke/);
      assert.deepEqual(err.facts.attempts, [
        { provider: "webgpu", reason: "webgpu broke" },
        { provider: "cpu", reason: "cpu broke" },
      ]);
      assert.ok(err.cause instanceof Error && err.cause.message === "cpu broke");
      return true;
    },
  );
});

test("runExclusive serializes runs per device key (FIFO), cpu runs concurrently", async () => {
  const log: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const job = (key: string, name: string, ms: number, fail = false) =>
    runExclusive(key, async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([
    job("webgpu:0", "a", 30, true),
    job("webgpu:0", "b", 5),
    job("webgpu:1", "c", 5),
    job("cpu", "d", 5),
    job("cpu", "e", 5),
  ]);
  assert.equal(results[0]?.status, "rejected");
  assert.deepEqual(
    results.slice(1).map((r) => (r.status === "fulfilled" ? r.value : "x")),
    ["b", "c", "d", "e"],
  );
  // a and b never overlap (b starts only after a ended, even though a failed); c, d, e do not wait for a.
  assert.ok(log.indexOf("start b") > log.indexOf("end a"));
  assert.ok(log.indexOf("start c") < log.indexOf("end a"));
  assert.ok(log.indexOf("start e") < log.indexOf("end d"));
});
