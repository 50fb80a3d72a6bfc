/** API keys (constant-time compare, 401), draining (503), CORS when configured, model-name validation. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { ApiKeys } from "../../src/server/auth.ts";
import { checkModelName } from "../../src/server/index.ts";
import { type Running, startApp, writeRepo } from "./helpers.ts";

let srv: Running;
const body = JSON.stringify({
  inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }],
});

async function call(method: string, path: string, headers: Record<string, string> = {}, payload?: string) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(payload ? { body: payload } : {}),
  });
  const text = await res.text();
  const json =
    res.headers.get("content-type")?.includes("json") && text
      ? (JSON.parse(text) as Record<string, unknown>)
      : {};
  return { status: res.status, headers: res.headers, json };
}

before(async () => {
  const root = writeRepo([
    {
      name: "m",
      bytes: mlpClassifier({ inputDim: 4, hidden: [8], classes: 2 }).bytes,
      config: { replicas: 1, intraOpThreads: 1 },
    },
  ]);
  srv = await startApp(root, { apiKeys: ["k-one", "k-two"], corsOrigins: ["https://app.example"] });
});
after(async () => {
  await srv.close();
});

describe("API keys", () => {
  test("missing or bad key 401 on infer, metadata and repository; health and metrics stay open", async () => {
    for (const [method, path, payload] of [
      ["POST", "/v2/models/m/infer", body],
      ["GET", "/v2/models/m", undefined],
      ["GET", "/v2", undefined],
      ["GET", "/v2/models/m/config", undefined],
      ["GET", "/v2/models/m/versions/1/stats", undefined],
      ["GET", "/v2/models/stats", undefined],
      ["POST", "/v2/repository/index", "{}"],
      ["POST", "/v2/repository/models/m/unload", "{}"],
    ] as const) {
      const none = await call(method, path, {}, payload);
      assert.equal(none.status, 401, `${path} without a key`);
      assert.match(String(none.json.error), /requires an API key/);
      const bad = await call(method, path, { authorization: "Bearer k-three" }, payload);
      assert.equal(bad.status, 401, `${path} with a bad key`);
      assert.equal((await call(method, path, { authorization: "Basic k-one" }, payload)).status, 401);
    }
    assert.equal((await call("GET", "/v2/health/live")).status, 200);
    assert.equal((await call("GET", "/v2/health/ready")).status, 200);
    assert.equal((await call("GET", "/metrics")).status, 200);
    // TEI probes: open too (503 here: this server has no text model), never 401.
    for (const probe of ["/health", "/ping", "/"])
      assert.equal((await call("GET", probe)).status, 503, probe);
    // GET / is TEI's health; POST / is TEI's embed/predict/rerank dispatch and needs the key.
    assert.equal((await call("POST", "/", {}, JSON.stringify({ inputs: "x" }))).status, 401);
  });

  test("a 401 carries WWW-Authenticate: Bearer (RFC 9110), so clients know which scheme to send", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const r = await call("POST", "/v2/models/m/infer", headers, body);
      assert.equal(r.status, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer\b/);
    }
    // The OpenAI and TEI routes answer in their own error handlers: their 401s carry it too.
    for (const path of ["/v1/embeddings", "/embed", "/"]) {
      const r = await call("POST", path, {}, JSON.stringify({ input: "x", inputs: "x" }));
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer\b/, path);
    }
    const ok = await call("POST", "/v2/models/m/infer", { authorization: "Bearer k-one" }, body);
    assert.equal(ok.headers.get("www-authenticate"), null);
  });

  test("config and stats answer with a key", async () => {
    for (const path of ["/v2/models/m/config", "/v2/models/m/stats", "/v2/models/stats"]) {
      assert.equal((await call("GET", path, { authorization: "Bearer k-two" })).status, 200, path);
    }
  });

  test("either configured key works", async () => {
    assert.equal(
      (await call("POST", "/v2/models/m/infer", { authorization: "Bearer k-one" }, body)).status,
      200,
    );
    assert.equal(
      (await call("POST", "/v2/repository/index", { authorization: "bearer k-two" }, "{}")).status,
      200,
    );
  });

  test("ApiKeys compares digests of equal length (no length leak) and rejects empty keys", () => {
    const keys = new ApiKeys(["secret"]);
    assert.equal(keys.matches("Bearer secret"), true);
    assert.equal(keys.matches("Bearer secre"), false);
    assert.equal(keys.matches("Bearer "), false);
    assert.equal(keys.matches(undefined), false);
    assert.equal(new ApiKeys([]).enabled, false);
  });
});

describe("CORS and names", () => {
  test("an allowed origin gets CORS headers and a preflight answer; others do not", async () => {
    const ok = await call("GET", "/v2/health/live", { origin: "https://app.example" });
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    const pre = await fetch(`${srv.url}/v2/models/m/infer`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const other = await call("GET", "/v2/health/live", { origin: "https://evil.example" });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  test("a preflight gets the headers it asks for (the openai JS client sends x-stainless-*); Vary: Origin always", async () => {
    const pre = await fetch(`${srv.url}/v2/models/m/infer`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-stainless-os,x-stainless-lang,content-type,authorization",
      },
    });
    assert.equal(pre.status, 204);
    const allowed = (pre.headers.get("access-control-allow-headers") ?? "").split(/\s*,\s*/);
    for (const h of ["x-stainless-os", "x-stainless-lang", "content-type", "authorization"])
      assert.ok(allowed.includes(h), `${h} in ${allowed.join(", ")}`);
    // A response for another origin (or none) must not be cached and reused for the allowed one.
    for (const headers of [{ origin: "https://evil.example" }, {}] as Record<string, string>[]) {
      const r = await call("GET", "/v2/health/live", headers);
      assert.match(r.headers.get("vary") ?? "", /origin/i);
    }
  });

  test("model names that could leave the repository are refused", () => {
    for (const bad of ["..", "../x", "a/b", "a\\b", ".hidden", "", "x".repeat(200), "a\0b"]) {
      assert.throws(() => checkModelName(bad), /E_MODEL_NAME_INVALID|invalid/, bad);
    }
    checkModelName("demo-mlp.v2_final");
  });
});

describe("draining", () => {
  test("during the drain delay, ready is 503 but requests are still served (on closing connections)", async () => {
    srv.app.tessera.ctx.lifecycle.stopping = true;
    try {
      const ready = await call("GET", "/v2/health/ready");
      assert.equal(ready.status, 503);
      assert.equal(ready.json.reason, "draining");
      const r = await call("POST", "/v2/models/m/infer", { authorization: "Bearer k-one" }, body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.headers.get("connection"), "close");
    } finally {
      srv.app.tessera.ctx.lifecycle.stopping = false;
    }
  });

  test("once draining, ready is 503 and new requests get 503 with Retry-After", async () => {
    srv.app.tessera.ctx.lifecycle.stopping = true;
    srv.app.tessera.ctx.lifecycle.draining = true;
    try {
      const ready = await call("GET", "/v2/health/ready");
      assert.equal(ready.status, 503);
      assert.equal(ready.json.reason, "draining");
      const r = await call("POST", "/v2/models/m/infer", { authorization: "Bearer k-one" }, body);
      assert.equal(r.status, 503);
      assert.equal(r.json.code, "E_DRAINING");
      assert.ok(r.headers.get("retry-after"));
      assert.equal((await call("GET", "/v2/health/live")).status, 200);
    } finally {
      srv.app.tessera.ctx.lifecycle.stopping = false;
      srv.app.tessera.ctx.lifecycle.draining = false;
    }
  });
});
