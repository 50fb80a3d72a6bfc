/** Readiness while models load, and lazy loading when start-up loading is off (in-process, app.inject). */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import pino from "pino";
import { matmulModel, mlpClassifier } from "../../src/onnx/index.ts";
import { buildApp } from "../../src/server/index.ts";
import { writeRepo } from "./helpers.ts";

const bytes = mlpClassifier({ inputDim: 4, hidden: [8], classes: 2 }).bytes;
const body = JSON.stringify({
  inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }],
});

test("ready is 503 while the repository loads, 200 once every model is ready", async () => {
  const root = writeRepo([
    { name: "a", bytes, config: { replicas: 1, intraOpThreads: 1 } },
    { name: "b", bytes, config: { replicas: 1, intraOpThreads: 1 } },
  ]);
  const app = await buildApp({
    config: { modelsDir: root },
    logger: pino({ level: "silent" }),
    defaultMetrics: true,
  });
  try {
    const early = await app.inject({ method: "GET", url: "/v2/health/ready" });
    assert.equal(early.statusCode, 503);
    assert.equal(early.json().reason, "loading models");
    assert.equal((await app.inject({ method: "GET", url: "/v2/health/live" })).statusCode, 200);
    await app.tessera.loading;
    assert.equal((await app.inject({ method: "GET", url: "/v2/health/ready" })).statusCode, 200);
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, /tessera_model_load_seconds\{model="a",version="1"\} \d/);
    assert.match(metrics, /^process_resident_memory_bytes \d+/m);
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a repository with a broken model: the others serve, ready stays false, index says why", async () => {
  const root = writeRepo([
    { name: "good", bytes, config: { replicas: 1, intraOpThreads: 1 } },
    { name: "broken", bytes: new Uint8Array([1, 2, 3, 4]) },
  ]);
  const app = await buildApp({
    config: { modelsDir: root },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  try {
    await app.tessera.loading;
    assert.equal((await app.inject({ method: "GET", url: "/v2/health/ready" })).statusCode, 503);
    const ok = await app.inject({
      method: "POST",
      url: "/v2/models/good/infer",
      payload: body,
      headers: { "content-type": "application/json" },
    });
    assert.equal(ok.statusCode, 200);
    const broken = await app.inject({
      method: "POST",
      url: "/v2/models/broken/infer",
      payload: body,
      headers: { "content-type": "application/json" },
    });
    assert.equal(broken.statusCode, 503, broken.body);
    const index = (await app.inject({ method: "POST", url: "/v2/repository/index" })).json() as {
      name: string;
      state: string;
      reason: string;
    }[];
    const b = index.find((m) => m.name === "broken")!;
    assert.equal(b.state, "UNAVAILABLE");
    assert.ok(b.reason.length > 0);
    // An explicit load that fails is the client's 400 with the reason (Triton); infer stays 503.
    const load = await app.inject({ method: "POST", url: "/v2/repository/models/broken/load" });
    assert.equal(load.statusCode, 400, load.body);
    assert.equal((load.json() as { code: string }).code, "E_MODEL_LOAD_REJECTED");
    // Probing names that are no model answers 404 and adds no metric series labelled with them.
    for (let i = 0; i < 5; i++) {
      const r = await app.inject({ method: "POST", url: `/v2/models/probe-${i}/infer`, payload: body });
      assert.equal(r.statusCode, 404);
    }
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.ok(metrics.includes('model="good"'), "known models are labelled");
    assert.ok(
      !metrics.includes("probe-"),
      metrics
        .split("\n")
        .filter((l) => l.includes("probe-"))
        .join("\n"),
    );
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("with start-up loading off, the first request loads the model", async () => {
  const root = writeRepo([{ name: "lazy", bytes, config: { replicas: 1, intraOpThreads: 1 } }]);
  const app = await buildApp({
    config: { modelsDir: root, loadAll: false },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  try {
    await app.tessera.loading;
    assert.equal(
      (await app.inject({ method: "GET", url: "/v2/health/ready" })).statusCode,
      200,
      "lazy mode is ready once indexed",
    );
    const r = await app.inject({
      method: "POST",
      url: "/v2/models/lazy/infer",
      payload: body,
      headers: { "content-type": "application/json" },
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().model_name, "lazy");
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a model with a fixed first dim cannot be batched: its requests run one by one, still bounded", async () => {
  const root = writeRepo([
    { name: "fixed", bytes: matmulModel(2, 3, 2).bytes, config: { replicas: 1, intraOpThreads: 1 } },
  ]);
  const app = await buildApp({
    config: { modelsDir: root },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  try {
    await app.tessera.loading;
    const payload = JSON.stringify({
      inputs: [{ name: "a", datatype: "FP32", shape: [2, 3], data: [1, 0, 0, 0, 1, 0] }],
    });
    const rs = await Promise.all(
      Array.from({ length: 4 }, () =>
        app.inject({
          method: "POST",
          url: "/v2/models/fixed/infer",
          payload,
          headers: { "content-type": "application/json" },
        }),
      ),
    );
    for (const r of rs) assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(rs[0]!.json().outputs[0].shape, [2, 2]);
    const bad = await app.inject({
      method: "POST",
      url: "/v2/models/fixed/infer",
      payload: JSON.stringify({
        inputs: [{ name: "a", datatype: "FP32", shape: [3, 3], data: new Array(9).fill(0) }],
      }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(bad.statusCode, 400, bad.body);
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
});
