/**
 * Reloading a model (`POST /v2/repository/models/{m}/load` on a loaded model) while requests wait in its batcher:
 * they finish on the new session (Triton: in-flight requests are allowed to finish), none fails.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { slowModel } from "../../src/onnx/index.ts";
import type { ModelVersionStatus } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { SLOW_BODY, slowRepo, startApp, writeRepo } from "./helpers.ts";

test("a reload while requests are queued: every request answers 200, none 'session is closed'", async () => {
  // One run at a time, no merging: the third request waits in the batcher while the reload swaps sessions.
  const srv = await startApp(slowRepo(600, { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 16 }));
  try {
    const body = SLOW_BODY;
    const infer = () =>
      fetch(`${srv.url}/v2/models/slow/infer`, { method: "POST", body }).then(async (r) => ({
        status: r.status,
        text: await r.text(),
      }));
    const expected = await infer();
    assert.equal(expected.status, 200, expected.text);
    const pending = [infer(), infer(), infer(), infer()];
    await new Promise((r) => setTimeout(r, 50));
    const load = await fetch(`${srv.url}/v2/repository/models/slow/load`, { method: "POST" });
    assert.equal(load.status, 200, await load.text());
    pending.push(infer());
    for (const r of await Promise.all(pending)) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, expected.text);
    }
  } finally {
    await srv.close();
  }
});

test("a reload whose version policy drops a version removes that version's metric series", async () => {
  const bytes = slowModel({ ms: 1, size: 8 }).bytes;
  const config = (versionPolicy: unknown) => ({ replicas: 1, intraOpThreads: 1, versionPolicy });
  const srv = await startApp(
    writeRepo([
      { name: "pv", version: "1", bytes, config: config("all") },
      { name: "pv", version: "2", bytes, config: config("all") },
    ]),
  );
  try {
    const series = async () => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      return text
        .split("\n")
        .filter((l) => /^tessera_model_(provider_info|load_seconds)\{model="pv"/.test(l));
    };
    assert.equal((await series()).length, 4, (await series()).join("\n"));
    const body = JSON.stringify({
      inputs: [{ name: "x", datatype: "FP32", shape: [1, 8], data: new Array(8).fill(0.5) }],
    });
    assert.equal(
      (await fetch(`${srv.url}/v2/models/pv/versions/1/infer`, { method: "POST", body })).status,
      200,
    );
    writeFileSync(join(srv.root, "pv", "config.json"), JSON.stringify(config("latest")));
    const load = await fetch(`${srv.url}/v2/repository/models/pv/load`, { method: "POST" });
    assert.equal(load.status, 200, await load.text());
    const left = await series();
    assert.equal(left.length, 2, left.join("\n"));
    for (const line of left) assert.match(line, /version="2"/);
    const v1 = await fetch(`${srv.url}/v2/models/pv/versions/1/infer`, { method: "POST", body });
    assert.equal(v1.status, 404, await v1.text());
  } finally {
    await srv.close();
  }
});

test("unloading a model that never served a request removes its metric series too", async () => {
  const srv = await startApp(
    writeRepo([
      {
        name: "idle",
        bytes: slowModel({ ms: 1, size: 8 }).bytes,
        config: { replicas: 1, intraOpThreads: 1 },
      },
    ]),
  );
  try {
    const series = async () =>
      (await (await fetch(`${srv.url}/metrics`)).text())
        .split("\n")
        .filter((l) => /^tessera_model_(provider_info|load_seconds)\{model="idle"/.test(l));
    assert.equal((await series()).length, 2);
    const unload = await fetch(`${srv.url}/v2/repository/models/idle/unload`, { method: "POST" });
    assert.equal(unload.status, 200, await unload.text());
    assert.deepEqual(await series(), []);
  } finally {
    await srv.close();
  }
});

test("without a version, requests go to the highest version that is ready (a newer one that failed to load is skipped)", async () => {
  const good = slowModel({ ms: 1, size: 8 }).bytes;
  const config = { replicas: 1, intraOpThreads: 1, versionPolicy: "all" };
  const srv = await startApp(
    writeRepo([
      { name: "vv", version: "1", bytes: good, config },
      { name: "vv", version: "2", bytes: new Uint8Array([1, 2, 3]), config },
    ]),
  );
  try {
    const body = JSON.stringify({
      inputs: [{ name: "x", datatype: "FP32", shape: [1, 8], data: new Array(8).fill(0.5) }],
    });
    const r = await fetch(`${srv.url}/v2/models/vv/infer`, { method: "POST", body });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.equal((JSON.parse(text) as { model_version: string }).model_version, "1");
    assert.equal((await fetch(`${srv.url}/v2/models/vv/ready`)).status, 200);
    const meta = await fetch(`${srv.url}/v2/models/vv`);
    assert.equal(meta.status, 200);
    // The failed version itself still says why.
    const v2 = await fetch(`${srv.url}/v2/models/vv/versions/2/infer`, { method: "POST", body });
    assert.equal(v2.status, 503);
  } finally {
    await srv.close();
  }
});

test("a request resolved before a reload runs on the new load's batcher and keeps its stats", async () => {
  const srv = await startApp(
    writeRepo([
      { name: "rl", bytes: slowModel({ ms: 1, size: 8 }).bytes, config: { replicas: 1, intraOpThreads: 1 } },
    ]),
  );
  try {
    const host = srv.app.tessera.ctx.models;
    const inputs = { x: Tensor.wrap(new Float32Array(8).fill(0.5), [1, 8]) };
    const stale = await host.model("rl");
    await host.infer(stale, inputs, {});
    await host.load("rl");
    const now = await host.model("rl");
    assert.notEqual(now.session, stale.session);
    await host.infer(now, inputs, {});
    // The old load (its session closed by the reload) no longer swaps in a runner of its own, which reset the stats.
    const r = await host.infer(stale, inputs, {});
    assert.equal(r.outputs.y?.shape[0], 1);
    assert.equal(host.statsOf(now).inference_stats.success.count, 2);
  } finally {
    await srv.close();
  }
});

test("a version that is loading again when a load is recorded (a concurrent reload) keeps its series", async () => {
  const srv = await startApp(
    writeRepo([
      { name: "cc", bytes: slowModel({ ms: 1, size: 8 }).bytes, config: { replicas: 1, intraOpThreads: 1 } },
    ]),
  );
  try {
    const series = async () =>
      (await (await fetch(`${srv.url}/metrics`)).text())
        .split("\n")
        .filter((l) => /^tessera_model_(provider_info|load_seconds)\{model="cc"/.test(l));
    assert.equal((await series()).length, 2);
    const host = srv.app.tessera.ctx.models;
    const registry = host.registry as { status(name: string): readonly ModelVersionStatus[] };
    const status = registry.status.bind(registry);
    // Another reload (the watcher's, a second POST .../load) has the version loading while its old load serves.
    registry.status = (name) => status(name).map((s) => ({ ...s, state: "loading" as const }));
    try {
      await host.load("cc");
    } finally {
      registry.status = status;
    }
    assert.equal((await series()).length, 2, (await series()).join("\n"));
  } finally {
    await srv.close();
  }
});

test("the stats of a model that is reloading stay listed: its previous load serves meanwhile", async () => {
  const srv = await startApp(
    writeRepo([
      { name: "st", bytes: slowModel({ ms: 1, size: 8 }).bytes, config: { replicas: 1, intraOpThreads: 1 } },
    ]),
  );
  try {
    const host = srv.app.tessera.ctx.models;
    await host.infer(await host.model("st"), { x: Tensor.wrap(new Float32Array(8).fill(0.5), [1, 8]) }, {});
    const registry = host.registry as unknown as {
      once(event: "state", f: (s: ModelVersionStatus) => void): void;
    };
    // Read the stats at the moment the reload starts (state "loading", the old session still serving).
    const during = new Promise<{ model_stats: { name: string; inference_count: number }[] }>((resolve) =>
      registry.once("state", () => {
        void srv.app.inject({ method: "GET", url: "/v2/models/st/stats" }).then((r) => resolve(r.json()));
      }),
    );
    const all = new Promise<{ model_stats: { name: string }[] }>((resolve) =>
      registry.once("state", () => {
        void srv.app.inject({ method: "GET", url: "/v2/models/stats" }).then((r) => resolve(r.json()));
      }),
    );
    const reload = host.load("st");
    const s = await during;
    assert.deepEqual(
      s.model_stats.map((m) => [m.name, m.inference_count]),
      [["st", 1]],
    );
    assert.deepEqual(
      (await all).model_stats.map((m) => m.name),
      ["st"],
    );
    await reload;
  } finally {
    await srv.close();
  }
});
