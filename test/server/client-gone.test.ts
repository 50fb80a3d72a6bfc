import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, test } from "node:test";
import type { FastifyRequest } from "fastify";
import { clientGone, clientGoneSignal, requestGoneSignal } from "../../src/server/client-gone.ts";
import { encodeInferRequest } from "../../src/server/index.ts";
import { type Running, standardRepo, startApp } from "./helpers.ts";

const fakeReq = (socket: object) => ({ raw: { socket }, tesseraAbort: null }) as unknown as FastifyRequest;

describe("client-gone signal", () => {
  test("one signal per connection; a gone client aborts it and the next request gets a fresh one", () => {
    const socket = {};
    const a = fakeReq(socket);
    const b = fakeReq(socket);
    const s1 = clientGoneSignal(a);
    assert.equal(clientGoneSignal(b), s1, "same connection, same signal");
    assert.notEqual(clientGoneSignal(fakeReq({})), s1, "another connection, another signal");
    clientGone(a);
    assert.ok(s1.aborted);
    assert.equal((s1.reason as { code?: string }).code, "E_ABORTED");
    const s2 = clientGoneSignal(fakeReq(socket));
    assert.ok(!s2.aborted);
    assert.notEqual(s2, s1);
    clientGone(fakeReq(socket)); // tesseraAbort null: nothing happens
    assert.ok(!s2.aborted);
  });

  test("a request's own signal aborts alone; its connection's signal stays", () => {
    const socket = {};
    const shared = clientGoneSignal(fakeReq(socket));
    const req = fakeReq(socket);
    const own = requestGoneSignal(req);
    assert.notEqual(own, shared);
    assert.notEqual(requestGoneSignal(fakeReq(socket)), own, "one per request");
    clientGone(req);
    assert.ok(own.aborted);
    assert.equal((own.reason as { code?: string }).code, "E_ABORTED");
    assert.ok(!shared.aborted);
    assert.equal(clientGoneSignal(fakeReq(socket)), shared, "the connection keeps its signal");
  });

  describe("over a keep-alive connection", () => {
    let srv: Running;
    /** The connection signal of the first answered request (seen by an onResponse hook). */
    let signal: AbortSignal | undefined;
    /** The per-request signal of the last `POST /test/wait` (a route that waits up to 5 s for it to abort). */
    let waited: Promise<boolean> | undefined;
    before(async () => {
      srv = await startApp(
        standardRepo(),
        {},
        {
          plugins: [
            (app) => {
              app.addHook("onResponse", async (req) => {
                signal ??= clientGoneSignal(req);
              });
              app.post("/test/wait", async (req) => {
                const s = requestGoneSignal(req);
                waited = new Promise<boolean>((resolve) => {
                  const t = setTimeout(() => resolve(false), 5000);
                  s.addEventListener("abort", () => {
                    clearTimeout(t);
                    resolve(true);
                  });
                });
                await waited;
                return {};
              });
            },
          ],
        },
      );
    });
    after(async () => {
      await srv.close();
    });

    test("many requests on one connection leave no listeners behind and warn nothing", async () => {
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on("warning", onWarning);
      try {
        const { body, headers } = encodeInferRequest({
          inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: new Float32Array(8).fill(0.5) }],
        });
        for (let i = 0; i < 40; i++) {
          const res = await fetch(`${srv.url}/v2/models/mlp/infer`, { method: "POST", body, headers });
          assert.equal(res.status, 200);
          await res.arrayBuffer();
        }
        await new Promise((r) => setImmediate(r));
        assert.ok(signal, "the hook saw a request");
        assert.equal(getEventListeners(signal, "abort").length, 0);
        assert.ok(!signal.aborted);
        assert.deepEqual(
          warnings.map((w) => w.name),
          [],
        );
      } finally {
        process.off("warning", onWarning);
      }
    });

    test("a request's own signal aborts when its client goes away", async () => {
      const ac = new AbortController();
      const res = fetch(`${srv.url}/test/wait`, { method: "POST", body: "{}", signal: ac.signal });
      for (let i = 0; i < 100 && waited === undefined; i++) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      await assert.rejects(res);
      assert.equal(await waited, true, "aborted by the app's close listener, not timed out");
    });
  });
});
