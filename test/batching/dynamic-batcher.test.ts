import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { type BatchStats, DynamicBatcher, QueueFullError } from "../../src/batching/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}
/** A promise resolved by hand. Like real in-flight work (a worker, a socket) it keeps the event loop alive. */
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  const keepAlive = setTimeout(() => {}, 60_000);
  void promise.then(() => clearTimeout(keepAlive));
  return { promise, resolve };
}

/** Rejects-with-code helper: asserts the promise rejects with a TesseraError of `code`. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<TesseraError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TesseraError, `expected TesseraError, got ${String(e)}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

/** A batcher whose run doubles numbers and records each batch; `gate` (if set) holds every run until resolved. */
function recorder(opts: Partial<ConstructorParameters<typeof DynamicBatcher<number, number>>[0]> = {}) {
  const batches: number[][] = [];
  const starts: number[] = [];
  const signals: AbortSignal[] = [];
  let gate: Deferred | undefined;
  const b = new DynamicBatcher<number, number>({
    maxBatchSize: 4,
    maxQueueDelayMs: 20,
    maxQueueSize: 100,
    run: async (items, info) => {
      batches.push([...items]);
      starts.push(performance.now());
      signals.push(info.signal);
      if (gate) await gate.promise;
      return items.map((x) => x * 2);
    },
    ...opts,
  });
  return {
    b,
    batches,
    starts,
    signals,
    hold() {
      gate = deferred();
      return gate;
    },
    release() {
      gate?.resolve();
      gate = undefined;
    },
  };
}

describe("DynamicBatcher closing rules", () => {
  test("closes on maxBatchSize without waiting for the delay", async () => {
    const r = recorder({ maxBatchSize: 4, maxQueueDelayMs: 60_000 });
    const ps = Array.from({ length: 10 }, (_, i) => r.b.submit(i));
    const full = await Promise.all(ps.slice(0, 8));
    // The two full batches went at once; the partial one is still waiting for its (one-minute) delay.
    assert.deepEqual(r.batches, [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    assert.equal(r.b.queueDepth, 2);
    assert.deepEqual(
      full.map((o) => [o.value, o.batchSize]),
      Array.from({ length: 8 }, (_, i) => [i * 2, 4]),
    );
    await r.b.close({ drain: true });
    const rest = await Promise.all(ps.slice(8));
    assert.deepEqual(
      rest.map((o) => [o.value, o.batchSize]),
      [
        [16, 2],
        [18, 2],
      ],
    );
    assert.deepEqual(r.batches[2], [8, 9]);
  });

  test("closes on maxQueueDelayMs since the oldest item", async () => {
    const r = recorder({ maxBatchSize: 100, maxQueueDelayMs: 50 });
    const a = r.b.submit(1);
    await sleep(20);
    const b = r.b.submit(2);
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(r.batches, [[1, 2]]);
    assert.ok(ra.queueMs >= 45, `oldest waited ${ra.queueMs} ms`);
    assert.ok(rb.queueMs < ra.queueMs);
    assert.ok(ra.inferMs >= 0 && ra.inferMs === rb.inferMs);
    await r.b.close();
  });

  test("maxQueueDelayMs 0 dispatches whatever is queued at once", async () => {
    const r = recorder({ maxBatchSize: 100, maxQueueDelayMs: 0 });
    const out = await Promise.all([r.b.submit(1), r.b.submit(2)]);
    assert.deepEqual(r.batches, [[1, 2]]);
    assert.equal(out[0]!.batchSize, 2);
    await r.b.close();
  });

  test("closes on maxBatchCost (sum of cost)", async () => {
    const r = recorder({ maxBatchSize: 100, maxQueueDelayMs: 30, cost: (x) => x, maxBatchCost: 10 });
    const out = await Promise.all([4, 4, 4, 4, 9].map((x) => r.b.submit(x)));
    assert.deepEqual(
      out.map((o) => o.value),
      [8, 8, 8, 8, 18],
    );
    // [4,4] fits (8), adding 4 would make 12 > 10: closed by cost. Strict FIFO, so [9] goes alone after the delay.
    assert.deepEqual(r.batches, [[4, 4], [4, 4], [9]]);
    await r.b.close();
  });

  test("closes on a padded batchCost (longest × count)", async () => {
    const stats: BatchStats[] = [];
    const r = recorder({
      maxBatchSize: 100,
      maxQueueDelayMs: 30,
      cost: (x) => x,
      batchCost: (items) => Math.max(...items) * items.length,
      maxBatchCost: 12,
      onBatch: (s) => stats.push(s),
    });
    await Promise.all([2, 2, 6, 1, 1].map((x) => r.b.submit(x)));
    // [2,2] = 4, + 6 → 6×3 = 18 > 12: close. [6,1] = 12, + 1 → 18: close. [1].
    assert.deepEqual(r.batches, [[2, 2], [6, 1], [1]]);
    assert.deepEqual(
      stats.map((s) => [s.size, s.cost]),
      [
        [2, 4],
        [2, 12],
        [1, 1],
      ],
    );
    await r.b.close();
  });

  test("an item that alone exceeds maxBatchCost is refused with E_BATCH_COST_EXCEEDED", async () => {
    const r = recorder({ cost: (x) => x, maxBatchCost: 10 });
    await rejectsWith(r.b.submit(11), "E_BATCH_COST_EXCEEDED");
    assert.equal(r.b.queueDepth, 0);
    await r.b.close();
  });
});

describe("DynamicBatcher queue bound, abort, deadline, priority", () => {
  test("a full queue refuses with a typed QueueFullError carrying retryAfterMs", async () => {
    const r = recorder({ maxBatchSize: 1, maxQueueSize: 3, maxQueueDelayMs: 0 });
    r.hold();
    const running = r.b.submit(0);
    await sleep(5);
    assert.equal(r.b.inFlight, 1);
    const queued = [r.b.submit(1), r.b.submit(2), r.b.submit(3)];
    assert.equal(r.b.queueDepth, 3);
    const err = await rejectsWith(r.b.submit(4), "E_QUEUE_FULL");
    assert.ok(err instanceof QueueFullError);
    assert.ok(err.retryAfterMs >= 1);
    assert.equal(err.facts.maxQueueSize, 3);
    // submitMany is all-or-nothing.
    r.release();
    await running;
    await Promise.all(queued);
    r.hold();
    const first = r.b.submit(10);
    await sleep(5);
    await rejectsWith(r.b.submitMany([11, 12, 13, 14]), "E_QUEUE_FULL");
    assert.equal(r.b.queueDepth, 0);
    const many = r.b.submitMany([11, 12, 13]);
    r.release();
    await first;
    assert.deepEqual(
      (await many).map((o) => o.value),
      [22, 24, 26],
    );
    await r.b.close();
  });

  test("aborted requests are dropped before batching and reject promptly with E_ABORTED", async () => {
    const r = recorder({ maxBatchSize: 10, maxQueueDelayMs: 0 });
    r.hold();
    const first = r.b.submit(0);
    await sleep(5);
    const ac = new AbortController();
    const victim = r.b.submit(1, { signal: ac.signal });
    const other = r.b.submit(2);
    assert.equal(r.b.queueDepth, 2);
    const t0 = performance.now();
    ac.abort(new Error("client went away"));
    const err = await rejectsWith(victim, "E_ABORTED");
    assert.ok(performance.now() - t0 < 200);
    assert.equal((err.cause as Error).message, "client went away");
    assert.equal(r.b.queueDepth, 1);
    r.release();
    await first;
    assert.equal((await other).value, 4);
    assert.deepEqual(r.batches, [[0], [2]]);
    // An already-aborted signal never queues.
    await rejectsWith(r.b.submit(3, { signal: AbortSignal.abort() }), "E_ABORTED");
    await r.b.close();
  });

  test("a request aborted while its batch runs rejects promptly; the batch signal aborts when all are gone", async () => {
    const r = recorder({ maxBatchSize: 2, maxQueueDelayMs: 0 });
    r.hold();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const p1 = r.b.submit(1, { signal: a1.signal });
    const p2 = r.b.submit(2, { signal: a2.signal });
    await sleep(5);
    assert.equal(r.batches.length, 1);
    a1.abort();
    await rejectsWith(p1, "E_ABORTED");
    assert.equal(r.signals[0]!.aborted, false, "one item still wants its result");
    a2.abort();
    await rejectsWith(p2, "E_ABORTED");
    assert.equal(r.signals[0]!.aborted, true);
    r.release();
    // The loop goes on after a batch whose callers all left.
    assert.equal((await r.b.submit(5)).value, 10);
    await r.b.close();
  });

  test("expired requests are dropped before batching with E_DEADLINE_EXCEEDED", async () => {
    const r = recorder({ maxBatchSize: 10, maxQueueDelayMs: 0 });
    await rejectsWith(r.b.submit(1, { deadline: Date.now() - 1 }), "E_DEADLINE_EXCEEDED");
    r.hold();
    const first = r.b.submit(0);
    await sleep(5);
    const t0 = Date.now();
    const late = r.b.submit(1, { deadline: t0 + 30 });
    const fine = r.b.submit(2, { deadline: t0 + 10_000 });
    await rejectsWith(late, "E_DEADLINE_EXCEEDED");
    const waited = Date.now() - t0;
    assert.ok(waited >= 25 && waited < 500, `rejected after ${waited} ms`);
    r.release();
    await first;
    assert.equal((await fine).value, 4);
    assert.deepEqual(r.batches, [[0], [2]]);
    await r.b.close();
  });

  test("a deadline that passes while the batch runs rejects promptly; its batch-mates still get results", async () => {
    const r = recorder({ maxBatchSize: 2, maxQueueDelayMs: 0 });
    r.hold();
    const late = r.b.submit(1, { deadline: Date.now() + 30 });
    const other = r.b.submit(2);
    await rejectsWith(late, "E_DEADLINE_EXCEEDED");
    assert.equal(r.batches.length, 1, "it was already running");
    r.release();
    assert.equal((await other).value, 4);
    await r.b.close();
  });

  test("high priority is served before normal", async () => {
    const r = recorder({ maxBatchSize: 2, maxQueueDelayMs: 0 });
    r.hold();
    const first = r.b.submit(0);
    await sleep(5);
    const ps = [
      r.b.submit(1),
      r.b.submit(2),
      r.b.submit(101, { priority: "high" }),
      r.b.submit(3),
      r.b.submit(102, { priority: "high" }),
    ];
    r.release();
    await Promise.all([first, ...ps]);
    assert.deepEqual(r.batches, [[0], [101, 102], [1, 2], [3]]);
    await r.b.close();
  });
});

describe("DynamicBatcher failures and concurrency", () => {
  test("an exception in run fails only its batch; later batches work", async () => {
    const batches: number[][] = [];
    const b = new DynamicBatcher<number, number>({
      maxBatchSize: 2,
      maxQueueDelayMs: 0,
      maxQueueSize: 100,
      run: async (items) => {
        batches.push(items);
        if (items.includes(13)) throw new Error("unlucky batch");
        return items.map((x) => x + 1);
      },
    });
    const ps = [1, 13, 2, 3].map((x) =>
      b.submit(x).then(
        (r) => r.value,
        (e: Error) => e.message,
      ),
    );
    assert.deepEqual(await Promise.all(ps), ["unlucky batch", "unlucky batch", 3, 4]);
    assert.deepEqual(batches, [
      [1, 13],
      [2, 3],
    ]);
    assert.equal((await b.submit(7)).value, 8);
    await b.close();
  });

  test("a synchronous throw and a wrong result count fail their batch only", async () => {
    let calls = 0;
    const b = new DynamicBatcher<number, number>({
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      maxQueueSize: 10,
      run: (items) => {
        calls++;
        if (calls === 1) throw new TypeError("sync boom");
        if (calls === 2) return Promise.resolve([]);
        return Promise.resolve(items);
      },
    });
    await assert.rejects(b.submit(1), /sync boom/);
    await rejectsWith(b.submit(2), "E_BATCH_RESULT_COUNT");
    assert.equal((await b.submit(3)).value, 3);
    await b.close();
  });

  test("the next batch is assembled while one runs and starts the moment the slot frees", async () => {
    const starts: number[] = [];
    const ends: number[] = [];
    const sizes: number[] = [];
    const b = new DynamicBatcher<number, number>({
      maxBatchSize: 8,
      maxQueueDelayMs: 10,
      maxQueueSize: 100,
      run: async (items) => {
        starts.push(performance.now());
        sizes.push(items.length);
        await sleep(150);
        ends.push(performance.now());
        return items;
      },
    });
    const first = b.submit(0);
    await sleep(30);
    assert.equal(b.inFlight, 1);
    const more = [1, 2, 3].map((x) => b.submit(x));
    await sleep(5);
    // Queued (not blocked) while the first batch runs; the loop is waiting for the slot.
    assert.equal(b.queueDepth, 3);
    await Promise.all([first, ...more]);
    assert.deepEqual(sizes, [1, 3]);
    const gap = starts[1]! - ends[0]!;
    assert.ok(gap < 100, `second batch started ${gap} ms after the first finished`);
    await b.close();
  });

  test("concurrency 2 keeps two batches in flight", async () => {
    let maxInFlight = 0;
    let now = 0;
    const b = new DynamicBatcher<number, number>({
      maxBatchSize: 2,
      maxQueueDelayMs: 0,
      maxQueueSize: 100,
      concurrency: 2,
      run: async (items) => {
        now++;
        maxInFlight = Math.max(maxInFlight, now);
        await sleep(30);
        now--;
        return items;
      },
    });
    await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.submit(x)));
    assert.equal(maxInFlight, 2);
    await b.close();
  });

  test("close({drain:true}) finishes queued work; close() rejects it with E_BATCHER_CLOSED", async () => {
    const r = recorder({ maxBatchSize: 10, maxQueueDelayMs: 5000 });
    const drained = [r.b.submit(1), r.b.submit(2)];
    await r.b.close({ drain: true });
    assert.deepEqual(
      (await Promise.all(drained)).map((o) => o.value),
      [2, 4],
    );
    await rejectsWith(r.b.submit(3), "E_BATCHER_CLOSED");

    const s = recorder({ maxBatchSize: 1, maxQueueDelayMs: 0 });
    s.hold();
    const running = s.b.submit(1);
    await sleep(5);
    const queued = s.b.submit(2);
    const closing = s.b.close();
    await rejectsWith(queued, "E_BATCHER_CLOSED");
    s.release();
    await closing;
    assert.equal((await running).value, 2, "running batches complete before close resolves");
  });

  test("close() during a drain rejects what is still queued (a shutdown deadline ending the drain)", async () => {
    const r = recorder({ maxBatchSize: 1, maxQueueDelayMs: 0 });
    r.hold();
    const running = r.b.submit(1);
    await sleep(5);
    const queued = [r.b.submit(2), r.b.submit(3)];
    const draining = r.b.close({ drain: true });
    const ended = r.b.close();
    for (const q of queued) await rejectsWith(q, "E_BATCHER_CLOSED");
    r.release();
    await Promise.all([draining, ended]);
    assert.equal((await running).value, 2, "the running batch still completes");
    assert.deepEqual(r.batches, [[1]], "nothing queued ran after the drain was ended");
  });

  test("throwing cost/batchCost callbacks fail one request, never the loop", async () => {
    const b = new DynamicBatcher<number, number>({
      maxBatchSize: 10,
      maxQueueDelayMs: 0,
      maxQueueSize: 10,
      cost: (x) => {
        if (x === 1) throw new Error("bad cost");
        return x;
      },
      // Throws only for a pair containing 7: the plan fails, the head request is rejected, the rest go on.
      batchCost: (xs) => {
        if (xs.length > 1 && xs.includes(7)) throw new Error("bad batchCost");
        return xs.reduce((a, v) => a + v, 0);
      },
      maxBatchCost: 100,
      run: async (xs) => xs,
    });
    await assert.rejects(b.submit(1), /bad cost/);
    const ps = [7, 2, 3].map((x) =>
      b.submit(x).then(
        (r) => r.value,
        (e: Error) => e.message,
      ),
    );
    assert.deepEqual(await Promise.all(ps), ["bad batchCost", 2, 3]);
    assert.equal((await b.submit(4)).value, 4);
    await b.close();
  });

  test("invalid options throw E_BATCHER_CONFIG", () => {
    const run = async (xs: number[]) => xs;
    assert.throws(
      () => new DynamicBatcher<number, number>({ run, maxBatchSize: 0, maxQueueDelayMs: 0, maxQueueSize: 1 }),
      (e: unknown) =>
        e instanceof TesseraError && e.code === "E_BATCHER_CONFIG" && /maxBatchSize/.test(e.message),
    );
    assert.throws(
      () =>
        new DynamicBatcher<number, number>({ run, maxBatchSize: 1, maxQueueDelayMs: -1, maxQueueSize: 1 }),
      /maxQueueDelayMs/,
    );
  });
});

describe("DynamicBatcher length sorting", () => {
  test("sortKey groups similar keys, anchored on the oldest item", async () => {
    const r = recorder({ maxBatchSize: 3, maxQueueDelayMs: 0, sortKey: (x) => x });
    r.hold();
    const first = r.b.submit(0);
    await sleep(5);
    const lens = [50, 3, 48, 5, 49, 4, 100];
    const ps = lens.map((x) => r.b.submit(x));
    r.release();
    await Promise.all([first, ...ps]);
    // The oldest (50) goes with its nearest keys (49, 48); then the oldest left (3) with 4, 5; then 100.
    assert.deepEqual(
      r.batches.slice(1).map((b) => [...b].sort((x, y) => x - y)),
      [[48, 49, 50], [3, 4, 5], [100]],
    );
    await r.b.close();
  });

  test("sorted cuts respect a padded cost budget", async () => {
    const r = recorder({
      maxBatchSize: 10,
      maxQueueDelayMs: 0,
      sortKey: (x) => x,
      cost: (x) => x,
      batchCost: (items) => Math.max(...items) * items.length,
      maxBatchCost: 30,
    });
    r.hold();
    const first = r.b.submit(1);
    await sleep(5);
    const ps = [10, 2, 9, 3, 10, 2].map((x) => r.b.submit(x));
    r.release();
    await Promise.all([first, ...ps]);
    for (const b of r.batches) assert.ok(Math.max(...b) * b.length <= 30, `batch ${b} over budget`);
    assert.deepEqual(
      r.batches.slice(1).map((b) => [...b].sort((x, y) => x - y)),
      [
        [9, 10, 10],
        [2, 2, 3],
      ],
    );
    await r.b.close();
  });
});

describe("DynamicBatcher property", () => {
  test("every submitted item gets exactly its own result (or its own abort)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxBatchSize: fc.integer({ min: 1, max: 8 }),
          concurrency: fc.integer({ min: 1, max: 3 }),
          delay: fc.integer({ min: 0, max: 3 }),
          sorted: fc.boolean(),
          budget: fc.option(fc.integer({ min: 8, max: 30 }), { nil: undefined }),
          items: fc.array(
            fc.record({
              len: fc.integer({ min: 1, max: 8 }),
              high: fc.boolean(),
              abortAfter: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
              gap: fc.integer({ min: 0, max: 2 }),
            }),
            { minLength: 1, maxLength: 30 },
          ),
        }),
        async (cfg) => {
          const seen = new Map<number, number>();
          const b = new DynamicBatcher<{ id: number; len: number }, string>({
            maxBatchSize: cfg.maxBatchSize,
            maxQueueDelayMs: cfg.delay,
            maxQueueSize: 1000,
            concurrency: cfg.concurrency,
            cost: (x) => x.len,
            ...(cfg.budget !== undefined ? { maxBatchCost: cfg.budget } : {}),
            ...(cfg.sorted ? { sortKey: (x: { len: number }) => x.len } : {}),
            run: async (items) => {
              for (const it of items) seen.set(it.id, (seen.get(it.id) ?? 0) + 1);
              await sleep(items.length % 2);
              return items.map((it) => `result-${it.id}`);
            },
          });
          const ps: Promise<string>[] = [];
          for (let id = 0; id < cfg.items.length; id++) {
            const it = cfg.items[id]!;
            const ac = new AbortController();
            if (it.abortAfter !== undefined) setTimeout(() => ac.abort(), it.abortAfter);
            ps.push(
              b
                .submit({ id, len: it.len }, { signal: ac.signal, priority: it.high ? "high" : "normal" })
                .then(
                  (r) => {
                    assert.ok(r.batchSize >= 1 && r.batchSize <= cfg.maxBatchSize);
                    return r.value;
                  },
                  (e: TesseraError) => e.code,
                ),
            );
            if (it.gap) await sleep(it.gap);
          }
          const out = await Promise.all(ps);
          for (let id = 0; id < out.length; id++) {
            const o = out[id]!;
            if (o === "E_ABORTED") assert.ok(cfg.items[id]!.abortAfter !== undefined);
            else assert.equal(o, `result-${id}`);
            assert.ok((seen.get(id) ?? 0) <= 1, `item ${id} ran ${seen.get(id)} times`);
          }
          assert.equal(b.queueDepth, 0);
          await b.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("eager dispatch", () => {
  test("an idle batcher runs a lone item at once; items arriving during a run wait for it and batch together", async () => {
    const sizes: number[] = [];
    let release: (() => void) | undefined;
    const b = new DynamicBatcher<number, number>({
      run: async (items) => {
        sizes.push(items.length);
        if (sizes.length === 1) await new Promise<void>((r) => (release = r));
        return items;
      },
      maxBatchSize: 8,
      maxQueueDelayMs: 10_000, // without eager, the first item would wait 10 s
      maxQueueSize: 64,
      concurrency: 1,
      eager: true,
    });
    const t0 = performance.now();
    const first = b.submit(1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sizes, [1], "the first item ran without waiting for the delay");
    const rest = [2, 3, 4].map((i) => b.submit(i));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sizes, [1], "a batch is in flight: the next ones wait");
    release!();
    const results = await Promise.all([first, ...rest]);
    assert.deepEqual(
      results.map((r) => r.value),
      [1, 2, 3, 4],
    );
    assert.deepEqual(sizes, [1, 3], "items queued during the run formed one batch as soon as it ended");
    assert.ok(performance.now() - t0 < 5_000, "nothing waited for maxQueueDelayMs");
    await b.close();
  });

  test("eager must be a boolean", () => {
    assert.throws(
      () =>
        new DynamicBatcher<number, number>({
          run: async (x) => x,
          maxBatchSize: 1,
          maxQueueDelayMs: 0,
          maxQueueSize: 1,
          eager: "yes" as unknown as boolean,
        }),
      /eager/,
    );
  });
});
