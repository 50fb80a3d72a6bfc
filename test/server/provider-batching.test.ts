/** Per-provider batching overrides (config.json batching.providers) and provider fallbacks as the server shows them. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import pino from "pino";
import { mlpClassifier, slowModel } from "../../src/onnx/index.ts";
import { encodeInferRequest } from "../../src/server/index.ts";
import { type Running, startApp, writeRepo } from "./helpers.ts";

let srv: Running;
const logs: Record<string, unknown>[] = [];

before(async () => {
  const bytes = mlpClassifier({ inputDim: 8, hidden: [16], classes: 4, seed: 1 }).bytes;
  // ~150 ms per run whatever the batch size: while the first (eager) request runs, the other requests queue, so
  // how they are batched depends on maxBatchSize alone and not on how fast they happen to arrive.
  const slow = slowModel({ ms: 150, size: 64 }).bytes;
  const batching = { maxBatchSize: 64, maxQueueDelayMs: 300, maxQueueSize: 256 };
  const root = writeRepo([
    // The override for the provider the session runs on (cpu here) caps batches at 2 rows.
    {
      name: "capped",
      bytes: slow,
      config: {
        replicas: 1,
        intraOpThreads: 1,
        batching: { ...batching, providers: { cpu: { maxBatchSize: 2 } } },
      },
    },
    // An override for another provider changes nothing on cpu.
    {
      name: "plain",
      bytes: slow,
      config: {
        replicas: 1,
        intraOpThreads: 1,
        batching: { ...batching, providers: { webgpu: { maxBatchSize: 2 } } },
      },
    },
    // cuda is not bundled with onnxruntime-node here: the session falls back to cpu and says why.
    { name: "fallback", bytes, config: { replicas: 1, intraOpThreads: 1, providers: ["cuda", "cpu"] } },
  ]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  srv = await startApp(root, {}, { logger: pino({ level: "warn" }, sink) });
});

after(async () => {
  await srv.close();
});

async function batchSizes(model: string, n: number): Promise<number[]> {
  const { body, headers } = encodeInferRequest({
    inputs: [{ name: "x", datatype: "FP32", shape: [1, 64], data: new Float32Array(64).fill(0.5) }],
  });
  const res = await Promise.all(
    Array.from({ length: n }, () =>
      fetch(`${srv.url}/v2/models/${model}/infer`, { method: "POST", body, headers }),
    ),
  );
  const texts = await Promise.all(res.map((r) => r.text()));
  for (const [i, r] of res.entries()) assert.equal(r.status, 200, texts[i]);
  return res.map((r) => Number(r.headers.get("x-tessera-batch-size")));
}

test("the batcher takes batching.providers[<active provider>] over the model's batching", async () => {
  const capped = await batchSizes("capped", 8);
  assert.ok(
    capped.every((s) => s >= 1 && s <= 2),
    `cpu override maxBatchSize 2: ${capped}`,
  );
  // (as with "plain" below, the requests queued behind the first run fill batches to the cap)
  assert.equal(Math.max(...capped), 2, `batches reach the cap: ${capped}`);
  const plain = await batchSizes("plain", 8);
  assert.ok(Math.max(...plain) > 2, `no cpu override: batches up to 64 rows, got ${plain}`);
});

test("a session that came up after provider fallbacks: warning at load, provider and reasons in metadata", async () => {
  const meta = (await (await fetch(`${srv.url}/v2/models/fallback`)).json()) as {
    properties: Record<string, string>;
  };
  assert.equal(meta.properties.provider, "cpu");
  const fallbacks = JSON.parse(meta.properties.provider_fallbacks ?? "[]") as {
    provider: string;
    reason: string;
  }[];
  assert.equal(fallbacks.length, 1);
  assert.equal(fallbacks[0]!.provider, "cuda");
  assert.ok(fallbacks[0]!.reason.length > 0);
  const warn = logs.find((l) => l.model === "fallback" && l.level === 40);
  assert.ok(warn, `a warning for model "fallback" in ${JSON.stringify(logs)}`);
  assert.match(String(warn.msg), /runs on cpu after provider fallbacks: cuda: /);
  const plainMeta = (await (await fetch(`${srv.url}/v2/models/plain`)).json()) as {
    properties: Record<string, string>;
  };
  assert.equal(plainMeta.properties.provider, "cpu");
  assert.equal(plainMeta.properties.provider_fallbacks, undefined);
  assert.equal(logs.filter((l) => l.model === "plain").length, 0);
});
