import assert from "node:assert/strict";
import { test } from "node:test";
import { batchingFor, parseModelConfig, parsePoolingMode } from "../../src/runtime/index.ts";

test("batching.providers: per-provider overrides are parsed and applied for the active provider", () => {
  const r = parseModelConfig({
    batching: {
      maxBatchSize: 32,
      maxQueueDelayMs: 2,
      providers: { webgpu: { maxBatchSize: 128, maxQueueDelayMs: 5 }, cpu: { maxQueueSize: 10 } },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.deepEqual(r.value.batching, {
    maxBatchSize: 32,
    maxQueueDelayMs: 2,
    providers: { webgpu: { maxBatchSize: 128, maxQueueDelayMs: 5 }, cpu: { maxQueueSize: 10 } },
  });
  assert.deepEqual(batchingFor(r.value, "webgpu"), { maxBatchSize: 128, maxQueueDelayMs: 5 });
  assert.deepEqual(batchingFor(r.value, "cpu"), { maxBatchSize: 32, maxQueueDelayMs: 2, maxQueueSize: 10 });
  // A provider without an override (or an unknown name) gets the plain settings, without `providers`.
  assert.deepEqual(batchingFor(r.value, "cuda"), { maxBatchSize: 32, maxQueueDelayMs: 2 });
  assert.deepEqual(batchingFor(r.value, "nonsense"), { maxBatchSize: 32, maxQueueDelayMs: 2 });
  const empty = parseModelConfig({});
  assert.ok(empty.ok);
  assert.deepEqual(batchingFor(empty.value, "cpu"), {});
});

test("batching.providers: every problem is reported with its path", () => {
  const r = parseModelConfig({
    batching: {
      maxBatchSize: 0,
      providers: {
        gpu: { maxBatchSize: 8 },
        webgpu: { maxBatchSize: -1, maxQueueDelayMs: "soon", providers: {}, extra: 1 },
        cpu: 5,
      },
    },
  });
  assert.equal(r.ok, false);
  const issues = r.ok ? [] : r.issues;
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, [
    "batching.maxBatchSize",
    "batching.providers.cpu",
    "batching.providers.gpu",
    "batching.providers.webgpu.extra",
    "batching.providers.webgpu.maxBatchSize",
    "batching.providers.webgpu.maxQueueDelayMs",
    "batching.providers.webgpu.providers",
  ]);
  assert.match(
    issues.find((i) => i.path === "batching.providers.gpu")!.message,
    /unknown provider "gpu"; expected one of .*webgpu/,
  );
  assert.match(issues.find((i) => i.path === "batching.providers.cpu")!.message, /expected an object/);
  const bad = parseModelConfig({ batching: { providers: [1] } });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.ok ? [] : bad.issues.map((i) => i.path), ["batching.providers"]);
});

test("intraOpSpinning: a boolean, reported with its path otherwise", () => {
  const ok = parseModelConfig({ intraOpSpinning: true });
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
  assert.equal(ok.value.intraOpSpinning, true);
  const bad = parseModelConfig({ intraOpSpinning: "yes" });
  assert.ok(!bad.ok);
  assert.deepEqual(
    bad.issues.map((i) => i.path),
    ["intraOpSpinning"],
  );
  assert.match(bad.issues[0]!.message, /expected true or false/);
});

test("variant and autoTruncate: parsed, and bad values reported with their paths", () => {
  const ok = parseModelConfig({ kind: "hf", variant: "quantized", autoTruncate: false });
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
  assert.equal(ok.value.variant, "quantized");
  assert.equal(ok.value.autoTruncate, false);
  const bad = parseModelConfig({ kind: "hf", variant: "../model", autoTruncate: "yes" });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.issues.map((i) => i.path).sort(), ["autoTruncate", "variant"]);
});

test('"batching": false marks the model unbatched; other non-object values are refused naming both forms', () => {
  const r = parseModelConfig({ batching: false });
  assert.ok(r.ok);
  assert.equal(r.value.unbatched, true);
  assert.equal(r.value.batching, undefined);
  assert.equal((parseModelConfig({}) as { value: { unbatched?: boolean } }).value.unbatched, undefined);
  for (const bad of [true, "no", 0]) {
    const b = parseModelConfig({ batching: bad });
    assert.ok(!b.ok);
    assert.equal(b.issues[0]!.path, "batching");
    assert.match(b.issues[0]!.message, /expected an object of batching settings or false/);
  }
});

test("pooling: a text model's pooling (sentence-transformers' and TEI's names), validated with the other keys", () => {
  const r = parseModelConfig({ kind: "hf", source: "../bge", pooling: "cls" });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.equal(r.value.pooling, "cls");
  for (const [name, want] of [
    ["mean", "mean"],
    ["max", "max"],
    ["last", "last"],
    ["lasttoken", "last"],
    ["last-token", "last"],
    ["CLS", "cls"],
    ["weightedmean", "weightedmean"],
    ["mean_sqrt_len_tokens", "mean_sqrt_len_tokens"],
  ] as const) {
    const c = parseModelConfig({ source: "x", pooling: name });
    assert.ok(c.ok, name);
    assert.equal(c.value.pooling, want, name);
    assert.equal(parsePoolingMode(name), want);
  }
  assert.equal(parsePoolingMode("splade"), undefined);
  assert.equal(parsePoolingMode(1), undefined);
  const bad = parseModelConfig({ kind: "hf", pooling: "splade", maxTokens: 0 });
  assert.equal(bad.ok, false);
  const issues = bad.ok ? [] : bad.issues;
  assert.deepEqual(issues.map((i) => i.path).sort(), ["maxTokens", "pooling"]);
  assert.match(
    issues.find((i) => i.path === "pooling")!.message,
    /expected one of mean, cls, last, max, weightedmean, mean_sqrt_len_tokens.*got "splade"/,
  );
  const onnx = parseModelConfig({ kind: "onnx", pooling: "cls" });
  assert.equal(onnx.ok, false);
  assert.match(onnx.ok ? "" : (onnx.issues[0]?.message ?? ""), /only used with kind "hf"/);
});
