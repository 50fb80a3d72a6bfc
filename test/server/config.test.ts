import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CONFIG, resolveServerConfig } from "../../src/server/index.ts";
import { httpErrorOf } from "../../src/server/index.ts";
import { QueueFullError } from "../../src/batching/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";

test("defaults bind loopback on 8000 with CORS and keys off", () => {
  const r = resolveServerConfig({});
  assert.ok(r.ok);
  assert.equal(r.value.host, "127.0.0.1");
  assert.equal(r.value.port, 8000);
  assert.deepEqual(r.value.apiKeys, []);
  assert.deepEqual(r.value.corsOrigins, []);
  assert.deepEqual(r.value.batching, DEFAULT_CONFIG.batching);
});

test("precedence: flags > env (TESSERA_PORT > PORT) > file > defaults", () => {
  const file = {
    name: "server.json",
    value: { port: 7000, host: "0.0.0.0", batching: { maxBatchSize: 8 }, apiKeys: ["f"] },
  };
  const r1 = resolveServerConfig({ file });
  assert.ok(r1.ok);
  assert.equal(r1.value.port, 7000);
  assert.equal(r1.value.batching.maxBatchSize, 8);
  assert.equal(r1.value.batching.maxQueueDelayMs, DEFAULT_CONFIG.batching.maxQueueDelayMs);
  const r2 = resolveServerConfig({ file, env: { PORT: "7100", TESSERA_API_KEYS: "a, b" } });
  assert.ok(r2.ok);
  assert.equal(r2.value.port, 7100);
  assert.deepEqual(r2.value.apiKeys, ["a", "b"]);
  const r3 = resolveServerConfig({ file, env: { PORT: "7100", TESSERA_PORT: "7200" } });
  assert.ok(r3.ok);
  assert.equal(r3.value.port, 7200);
  const r4 = resolveServerConfig({
    file,
    env: { TESSERA_PORT: "7200" },
    flags: { port: "7300", "api-key": ["x"], "max-batch-size": "4" },
  });
  assert.ok(r4.ok);
  assert.equal(r4.value.port, 7300);
  assert.deepEqual(r4.value.apiKeys, ["x"]);
  assert.equal(r4.value.batching.maxBatchSize, 4);
  assert.equal(r4.value.host, "0.0.0.0");
});

test("every problem is reported with where it came from", () => {
  const r = resolveServerConfig({
    file: {
      name: "s.json",
      value: { port: "eighty", colour: "blue", batching: { maxBatchSize: 0, speed: 1 } },
    },
    env: { TESSERA_LOG_LEVEL: "loud", TESSERA_PROVIDERS: "gpu9" },
    flags: { "timeout-ms": "-5" },
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const paths = r.issues.map((i) => i.path);
  for (const p of [
    "s.json: colour",
    "s.json: batching.speed",
    "s.json: port",
    "s.json: batching.maxBatchSize",
    "env TESSERA_LOG_LEVEL",
    "--timeout-ms",
  ]) {
    assert.ok(paths.includes(p), `${p} in ${JSON.stringify(paths)}`);
  }
  assert.ok(
    r.issues.some((i) => i.path.startsWith("env TESSERA_PROVIDERS") && /unknown provider/.test(i.message)),
  );
});

test("the error table: client mistakes are 4xx, overload 429 with Retry-After, unknown 500", () => {
  assert.equal(httpErrorOf(new TesseraError("E_MODEL_NOT_FOUND", "x")).status, 404);
  assert.equal(httpErrorOf(new TesseraError("E_INPUT_INVALID", "x")).status, 400);
  assert.equal(httpErrorOf(new TesseraError("E_DEADLINE_EXCEEDED", "x")).status, 504);
  assert.equal(httpErrorOf(new TesseraError("E_MODEL_NOT_READY", "x")).status, 503);
  const q = httpErrorOf(new QueueFullError("full", { retryAfterMs: 2500 }));
  assert.deepEqual([q.status, q.retryAfterS], [429, 3]);
  assert.equal(
    httpErrorOf({ code: "FST_ERR_CTP_BODY_TOO_LARGE", statusCode: 413, message: "big" }).status,
    413,
  );
  const unknown = httpErrorOf(new Error("kaboom"));
  assert.equal(unknown.status, 500);
  assert.doesNotMatch(unknown.message, /kaboom/);
});
