/**
 * A model whose symbolic first dim is not a batch (float32 [n] → [1]): its outputs cannot be split per request,
 * so the server runs its requests one at a time instead of answering every request with a 500.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { startApp, writeRepo } from "./helpers.ts";

test("a model with a dynamic non-batch first dim answers each request with its own result", async () => {
  const g = new GraphBuilder({ name: "wave", opset: 17 });
  g.input("samples", "float32", ["n"]);
  g.node("ReduceSum", ["samples"], ["total"], { keepdims: 1 });
  g.output("total", "float32", [1]);
  const srv = await startApp(
    writeRepo([
      {
        name: "wave",
        bytes: g.toBytes(),
        config: { replicas: 1, intraOpThreads: 1, batching: { maxQueueDelayMs: 20 } },
      },
    ]),
  );
  try {
    const sum = async (n: number) => {
      const r = await fetch(`${srv.url}/v2/models/wave/infer`, {
        method: "POST",
        body: JSON.stringify({
          id: `n${n}`,
          inputs: [{ name: "samples", datatype: "FP32", shape: [n], data: new Array(n).fill(1) }],
        }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      const json = JSON.parse(text) as { id: string; outputs: { shape: number[]; data: number[] }[] };
      assert.equal(json.id, `n${n}`);
      assert.deepEqual(json.outputs[0]!.shape, [1]);
      return json.outputs[0]!.data[0];
    };
    assert.equal(await sum(10), 10);
    // Concurrent requests would have been concatenated into one [n1+n2+...] input: each keeps its own sum.
    const ns = [3, 5, 7, 11, 13, 17];
    assert.deepEqual(await Promise.all(ns.map(sum)), ns);
    assert.equal(await sum(2), 2);
    // Triton's model config now says what happens: no batch dim, no dynamic batching, dims as the graph has them.
    const config = (await (await fetch(`${srv.url}/v2/models/wave/config`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(config.max_batch_size, 0);
    assert.equal(config.dynamic_batching, undefined);
    assert.deepEqual((config.input as { dims: number[] }[])[0]!.dims, [-1]);
  } finally {
    await srv.close();
  }
});

test('"batching": false in config.json: a Softmax over a dynamic [n] is never concatenated with other requests', async () => {
  // Its outputs keep the input's length, so a merged batch would split "fine" and answer wrong numbers silently:
  // only the config can say that axis 0 is not a batch (as Triton's max_batch_size 0 does).
  const g = new GraphBuilder({ name: "softmax", opset: 17 });
  g.input("logits", "float32", ["n"]);
  g.node("Softmax", ["logits"], ["p"], { axis: 0 });
  g.output("p", "float32", ["n"]);
  const srv = await startApp(
    writeRepo([
      {
        name: "softmax",
        bytes: g.toBytes(),
        config: { replicas: 1, intraOpThreads: 1, batching: false },
      },
    ]),
    // Its first dim is not rows: --max-items does not bound it (it answered 413 'request has 32 rows').
    { maxItemsPerRequest: 16 },
  );
  try {
    const probs = async (n: number) => {
      const r = await fetch(`${srv.url}/v2/models/softmax/infer`, {
        method: "POST",
        body: JSON.stringify({
          inputs: [{ name: "logits", datatype: "FP32", shape: [n], data: new Array(n).fill(0) }],
        }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      return (JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]!.data;
    };
    const ns = [2, 2, 4, 4, 5, 8, 32];
    const got = await Promise.all(ns.map(probs));
    got.forEach((p, i) => {
      const n = ns[i]!;
      assert.equal(p.length, n);
      for (const v of p) assert.ok(Math.abs(v - 1 / n) < 1e-6, `request of ${n}: ${p.join(", ")}`);
    });
    const config = (await (await fetch(`${srv.url}/v2/models/softmax/config`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(config.max_batch_size, 0);
    assert.deepEqual((config.input as { dims: number[] }[])[0]!.dims, [-1]);
  } finally {
    await srv.close();
  }
});
