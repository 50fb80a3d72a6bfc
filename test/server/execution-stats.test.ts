/**
 * What the statistics extension and /metrics count when runs fail or wait: only successful session runs are
 * executions (a batch onnxruntime fails on is narrowed down request by request), and a request's queue time runs
 * until its run starts computing, including the wait in the session worker's queue behind an earlier batch.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GraphBuilder, slowModel } from "../../src/onnx/index.ts";
import { Tensor, tensor } from "../../src/tensor/index.ts";
import { queueMsBehindOne, SLOW_BODY, slowRepo, startApp, writeRepo } from "./helpers.ts";

/** The value of one series in a Prometheus text exposition (0 when absent). */
function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** ids int64 [batch, n] → y float32 [batch, n, 2] = Gather(table[10, 2], ids): an id outside 0..9 fails the run. */
function gatherModel(): Uint8Array {
  const g = new GraphBuilder({ name: "gather", opset: 17 });
  g.input("ids", "int64", ["batch", "n"]);
  const table = g.constant(tensor(Float32Array.from({ length: 20 }, (_, i) => i)).reshape([10, 2]), "table");
  g.node("Gather", [table, "ids"], ["y"], { axis: 0 });
  g.output("y", "float32", ["batch", "n", 2]);
  return g.toBytes();
}

interface Stat {
  inference_count: number;
  execution_count: number;
  inference_stats: Record<string, { count: number; ns: number }>;
  batch_stats: { batch_size: number; compute_infer: { count: number } }[];
}

async function statsOf(url: string, model: string): Promise<Stat> {
  const r = await fetch(`${url}/v2/models/${model}/stats`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { model_stats: Stat[] }).model_stats[0]!;
}

test("a batch onnxruntime fails on: only the runs that succeeded count as executions, with their rows", async () => {
  const srv = await startApp(
    writeRepo([
      {
        name: "gather",
        bytes: gatherModel(),
        config: {
          replicas: 1,
          intraOpThreads: 1,
          batching: { maxBatchSize: 16, maxQueueDelayMs: 20, maxQueueSize: 16 },
        },
      },
    ]),
  );
  try {
    const host = srv.app.tessera.ctx.models;
    const model = await host.model("gather");
    const ids = (v: bigint) => ({ ids: Tensor.wrap(new BigInt64Array([v, 1n, 2n, 3n]), [2, 2]) });
    // Submitted in one tick: one batch of 6 rows, which ORT fails (id 99); then each request runs alone.
    const settled = await Promise.allSettled([
      host.infer(model, ids(0n), {}),
      host.infer(model, ids(99n), {}),
      host.infer(model, ids(5n), {}),
    ]);
    assert.deepEqual(
      settled.map((s) => s.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    const ok = settled[0] as PromiseFulfilledResult<{ batchSize: number }>;
    assert.equal(ok.value.batchSize, 2); // it ran alone in the end
    const s = await statsOf(srv.url, "gather");
    assert.equal(s.inference_stats.success!.count, 2);
    assert.equal(s.inference_stats.fail!.count, 1);
    assert.equal(s.inference_count, 4);
    assert.equal(s.execution_count, 2);
    assert.deepEqual(
      s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [[2, 2]],
    );
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(metric(text, 'tessera_batch_size_count{model="gather"}'), 2);
    assert.equal(metric(text, 'tessera_batch_size_sum{model="gather"}'), 4);
    assert.equal(metric(text, 'tessera_compute_duration_seconds_count{model="gather"}'), 2);
  } finally {
    await srv.close();
  }
});

test("queue time includes the wait in the session worker's queue behind a running batch", async () => {
  // One replica: batches are dispatched two at a time, the second waits in the worker while the first computes.
  // Runs of 500 ms: the second request reaches the server well within the 60% of a run the bounds below allow.
  const srv = await startApp(slowRepo(500, { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 8 }));
  const post = () =>
    fetch(`${srv.url}/v2/models/slow/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: SLOW_BODY,
    });
  try {
    const warm = await post();
    assert.equal(warm.status, 200);
    await warm.arrayBuffer();
    const w = await statsOf(srv.url, "slow");
    const computeMs = w.inference_stats.compute_infer!.ns / 1e6;
    assert.ok(computeMs > 20, `compute ${computeMs} ms`);

    const queueMs = await queueMsBehindOne(srv, "slow", post);
    assert.ok(queueMs >= 0.4 * computeMs, `queue ${queueMs} ms, one run computes ${computeMs} ms`);

    // The stats and the histogram see the same queue time; compute stays the run's own time.
    const s = await statsOf(srv.url, "slow");
    const queueNs = s.inference_stats.queue!.ns - w.inference_stats.queue!.ns;
    assert.ok(queueNs / 1e6 >= 0.4 * computeMs, `queue ${queueNs / 1e6} ms`);
    const perRun = (s.inference_stats.compute_infer!.ns - w.inference_stats.compute_infer!.ns) / 2e6;
    assert.ok(perRun < 1.6 * computeMs, `compute per request ${perRun} ms, alone ${computeMs} ms`);
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.ok(metric(text, 'tessera_queue_duration_seconds_sum{model="slow"}') * 1000 >= 0.4 * computeMs);
  } finally {
    await srv.close();
  }
});

test('a model that runs unbatched ("batching": false): queue time is the wait behind a running request, not the hand-over', async () => {
  const g = new GraphBuilder({ name: "big", opset: 17 });
  g.input("x", "float32", ["batch", 1]);
  g.node("Expand", ["x", g.constant(tensor([1n, 8_000_000n], "int64"), "shape")], ["y"]);
  g.output("y", "float32", ["batch", 8_000_000]);
  const unbatched = { replicas: 1, intraOpThreads: 1, batching: false };
  const srv = await startApp(
    writeRepo([
      { name: "big", bytes: g.toBytes(), config: unbatched },
      { name: "slow", bytes: slowModel({ ms: 500, size: 128 }).bytes, config: unbatched },
    ]),
  );
  try {
    // idle: a 32 MB output takes milliseconds to come back from the worker; that is not queue time
    const host = srv.app.tessera.ctx.models;
    const m = await host.model("big");
    const queue: number[] = [];
    for (let i = 0; i < 5; i++)
      queue.push((await host.infer(m, { x: Tensor.wrap(new Float32Array([i]), [1, 1]) }, {})).queueMs);
    queue.sort((p, q) => p - q);
    assert.ok(queue[2]! < 1, `median queue ${queue[2]} ms (all: ${queue.join(", ")})`);

    // busy: the second request waits for the first one's run
    const post = () =>
      fetch(`${srv.url}/v2/models/slow/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: SLOW_BODY,
      });
    const warm = await post();
    assert.equal(warm.status, 200);
    await warm.arrayBuffer();
    const computeMs = (await statsOf(srv.url, "slow")).inference_stats.compute_infer!.ns / 1e6;
    const queueMs = await queueMsBehindOne(srv, "slow", post);
    assert.ok(queueMs >= 0.4 * computeMs, `queue ${queueMs} ms, one run computes ${computeMs} ms`);
  } finally {
    await srv.close();
  }
});
