/**
 * Text routes across lifecycle events: the shutdown deadline (`ModelHost.endDrain`, what start.ts calls when
 * --drain-timeout-ms passes) makes the embedders' queued requests fail fast (503) instead of running the whole
 * queue; a reload (`POST /v2/repository/models/{m}/load`) while requests are queued lets every one finish on
 * the new load, as v2 infer does.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import type { FastifyInstance } from "fastify";
import { makeModelFolder } from "../text/helpers.ts";
import { loadedApp, writeTextRepo } from "./helpers.ts";

/** An app serving one text model "emb" that runs one sequence per forward pass (so queues get long). */
async function oneAtATimeApp(): Promise<{ app: FastifyInstance; cleanup(): Promise<void> }> {
  const emb = makeModelFolder({ normalize: true, maxSeqLength: 256 });
  const root = writeTextRepo({
    emb: { source: emb.dir, batching: { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 1000 } },
  });
  const app = await loadedApp(root);
  return {
    app,
    async cleanup() {
      await app.close();
      emb.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

test("endDrain refuses the text routes' queued requests (503) and lets the running batch finish", async () => {
  const { app, cleanup } = await oneAtATimeApp();
  try {
    const embed = (i: number) =>
      app.inject({
        method: "POST",
        url: "/embed",
        payload: { inputs: `text number ${i} with a few more words in it` },
        headers: { "content-type": "application/json" },
      });
    assert.equal((await embed(-1)).statusCode, 200);
    const pending = Array.from({ length: 300 }, (_, i) => embed(i));
    // Wait until some have been answered (so the queue is live), then end the drain.
    let answered = 0;
    void Promise.all(pending.map((p) => p.then(() => answered++)));
    for (let i = 0; i < 500 && answered < 5; i++) await new Promise((r) => setTimeout(r, 2));
    app.tessera.ctx.models.endDrain();
    const codes = (await Promise.all(pending)).map((r) => r.statusCode);
    const ok = codes.filter((c) => c === 200).length;
    const refused = codes.filter((c) => c === 503).length;
    assert.equal(ok + refused, 300, `only 200 and 503: ${[...new Set(codes)].join(", ")}`);
    assert.ok(ok >= 5, `requests answered before the deadline stay answered (${ok})`);
    assert.ok(refused > 100, `the queue was refused, not run to the end (${refused} of 300 refused)`);
  } finally {
    await cleanup();
  }
});

test("a reload while text requests are queued: every request answers 200 with the same embedding", async () => {
  const { app, cleanup } = await oneAtATimeApp();
  try {
    const embed = () =>
      app.inject({
        method: "POST",
        url: "/embed",
        payload: { inputs: "the same text every time" },
        headers: { "content-type": "application/json" },
      });
    const expected = await embed();
    assert.equal(expected.statusCode, 200, expected.body);
    const pending = Array.from({ length: 900 }, () => embed());
    let answered = 0;
    void Promise.all(pending.map((p) => p.then(() => answered++)));
    for (let i = 0; i < 500 && answered < 5; i++) await new Promise((r) => setTimeout(r, 2));
    const load = await app.inject({ method: "POST", url: "/v2/repository/models/emb/load" });
    assert.equal(load.statusCode, 200, load.body);
    const done = await Promise.all(pending);
    const failed = done.filter((r) => r.statusCode !== 200);
    assert.equal(failed.length, 0, `${failed.length} of 900 failed, e.g. ${failed[0]?.body}`);
    for (const r of done) assert.equal(r.body, expected.body);
  } finally {
    await cleanup();
  }
});
