/** An unload in progress: queued work finishes, new requests are refused (503) instead of starting a new batcher. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { dispatched, SLOW_BODY, slowRepo, startApp, twoVersionRepo, until } from "./helpers.ts";

test("requests that arrive while a model unloads get 503 at once; the ones already queued finish", async () => {
  // A 1 s run: the checks made while the unload drains it take a few HTTP round trips, slow on a busy machine.
  const srv = await startApp(slowRepo(1000, { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 8 }));
  const post = () =>
    fetch(`${srv.url}/v2/models/slow/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: SLOW_BODY,
    });
  const status = async (path: string) => {
    const r = await fetch(`${srv.url}${path}`);
    await r.arrayBuffer();
    return r.status;
  };
  try {
    let firstDone = false;
    const first = post().finally(() => {
      firstDone = true;
    });
    // The first request is running (handed to the session's worker) before the unload starts.
    await dispatched(srv, "slow", 1);
    const unload = fetch(`${srv.url}/v2/repository/models/slow/unload`, { method: "POST" });
    // The unload has started (the model says it is not ready) while the first request still runs.
    await until("the unload to start", async () => (await status("/v2/models/slow/ready")) === 503);
    assert.equal(firstDone, false, "the unload started only after the first request's run");
    const t0 = performance.now();
    const late = await post();
    const lateMs = performance.now() - t0;
    const lateBody = (await late.json()) as { error: string };
    assert.equal(late.status, 503, JSON.stringify(lateBody));
    assert.match(lateBody.error, /slow.* unloading/);
    assert.ok(lateMs < 250, `refused after ${lateMs} ms, not after a run`);
    assert.equal(await status("/v2/models/slow/ready"), 503);
    // An unload in progress takes the server out of readiness too (Triton: not ready while a model unloads).
    const drainingReady = await status("/v2/health/ready");
    assert.equal(firstDone, false, "still draining the first request");
    assert.equal(drainingReady, 503, "/v2/health/ready while the unload drains the first request");

    const f = await first;
    assert.equal(f.status, 200);
    await f.arrayBuffer();
    assert.equal((await unload).status, 200);
    // no batcher was left behind for the closed session: its queue-depth series is gone
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.doesNotMatch(text, /tessera_queue_depth\{model="slow"\}/);
    assert.equal(await status("/v2/health/ready"), 200);

    // loaded again, it serves
    assert.equal((await fetch(`${srv.url}/v2/repository/models/slow/load`, { method: "POST" })).status, 200);
    const again = await post();
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  } finally {
    await srv.close();
  }
});

test("a load that arrives while an unload drains runs after it: the model ends up loaded and serving", async () => {
  const srv = await startApp(slowRepo(300, { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 8 }));
  const post = () =>
    fetch(`${srv.url}/v2/models/slow/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: SLOW_BODY,
    });
  const status = async (path: string, method = "GET") => {
    const r = await fetch(`${srv.url}${path}`, { method });
    await r.arrayBuffer();
    return r.status;
  };
  try {
    const first = post();
    await dispatched(srv, "slow", 1);
    const unload = status("/v2/repository/models/slow/unload", "POST");
    await until("the unload to start", async () => (await status("/v2/models/slow/ready")) === 503);
    assert.equal(await status("/v2/repository/models/slow/load", "POST"), 200);
    assert.equal(await unload, 200);
    assert.equal((await first).status, 200);
    assert.equal(await status("/v2/models/slow/ready"), 200);
    assert.equal(await status("/v2/health/ready"), 200);
    const again = await post();
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  } finally {
    await srv.close();
  }
});

test("an unload that starts while a load records the loaded versions: the load does not load them again", async () => {
  const srv = await startApp(twoVersionRepo());
  try {
    const host = srv.app.tessera.ctx.models;
    // The unload request arrives right after the load read the versions' states (both ready) to record them.
    const registry = host.registry as unknown as { status: (name: string) => Promise<unknown> };
    const status = registry.status.bind(registry);
    let unloading: Promise<void> | undefined;
    registry.status = async (name) => {
      const s = await status(name);
      unloading ??= host.unload("m");
      return s;
    };
    await host.load("m");
    await unloading;
    assert.deepEqual((await status("m")) as unknown, [
      { name: "m", version: "1", state: "unavailable", reason: "unloaded" },
      { name: "m", version: "2", state: "unavailable", reason: "unloaded" },
    ]);
  } finally {
    await srv.close();
  }
});
