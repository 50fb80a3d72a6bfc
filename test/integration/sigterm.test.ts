/**
 * SIGTERM during load, against `tessera serve` as a child process: readiness flips at once, requests that
 * arrive during the drain delay are still served, in-flight requests complete, later ones are refused, exit 0.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import { SLOW_BODY, slowRepo } from "../server/helpers.ts";
import { spawnServe } from "./spawn.ts";

const root = slowRepo(1000, { maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 64 });
after(() => rmSync(root, { recursive: true, force: true }));

const body = SLOW_BODY;

test("SIGTERM: ready 503 at once, served through the drain delay, in-flight requests finish, later ones refused, exit 0", async () => {
  const child = spawnServe(root, ["--drain-delay-ms", "1500"]);
  try {
    const url = await child.url;
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${url}/v2/health/ready`)).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
    // 6 requests in flight: one batch running, the rest queued behind it
    const inflight = Array.from({ length: 6 }, () =>
      fetch(`${url}/v2/models/slow/infer`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      }).then(async (r) => ({
        status: r.status,
        text: await r.text(),
      })),
    );
    // wait until the server holds all 6 (the metrics request itself counts as the 7th in flight)
    for (let i = 0; i < 200; i++) {
      const text = await (await fetch(`${url}/metrics`)).text();
      if (Number(/^tessera_inflight_requests (\d+)/m.exec(text)?.[1] ?? 0) >= 7) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const killedAt = performance.now();
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    const ready = await fetch(`${url}/v2/health/ready`);
    assert.equal(ready.status, 503, "not ready once SIGTERM arrived");
    // Inside the 1.5 s drain delay a load balancer may still route here: the request is served. The six run as
    // two 1 s batches (the second already handed to the worker), so this one runs third, from ~2 s: it is still
    // running when the delay ends and the listener closes.
    const duringDelay = fetch(`${url}/v2/models/slow/infer`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
    assert.ok(performance.now() - killedAt < 1500, "the request went out inside the drain delay");
    await new Promise((r) => setTimeout(r, Math.max(0, 1750 - (performance.now() - killedAt))));
    const refused = await fetch(`${url}/v2/models/slow/infer`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    })
      .then((r) => r.status)
      .catch(() => "connection refused");
    assert.ok(refused === 503 || refused === "connection refused", `new request refused, got ${refused}`);
    const results = await Promise.all([...inflight, duringDelay]);
    for (const r of results) assert.equal(r.status, 200, r.text);
    assert.equal(await child.exited, 0, child.stderr());
    const late = await fetch(`${url}/v2/health/live`).then(
      () => "answered",
      () => "refused",
    );
    assert.equal(late, "refused");
  } finally {
    child.kill("SIGKILL");
  }
});
