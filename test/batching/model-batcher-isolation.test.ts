/**
 * One client's bad values must not fail other clients' requests that happened to share its batch: an ORT error in a
 * batch of several requests is narrowed down to the requests that cause it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ModelBatcher } from "../../src/batching/index.ts";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";

/** y = table[ids] (an embedding lookup): an id outside the 4-row table fails the run inside ORT. */
function lookup(): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  g.input("ids", "int64", ["batch", "seq"]);
  g.initializer("table", Tensor.wrap(Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]), [4, 2]));
  g.node("Gather", ["table", "ids"], ["y"], { axis: 0 });
  g.output("y", "float32", ["batch", "seq", 2]);
  return g.toBytes();
}

const ids = (...v: number[]) => ({ ids: Tensor.wrap(BigInt64Array.from(v.map(BigInt)), [1, v.length]) });

test("a request whose values make ORT fail rejects alone; the others of its batch (same shape or not) get results", async () => {
  const session = await openSession(lookup(), { replicas: 1, intraOpThreads: 1 });
  const batches: { size: number; failed: boolean }[] = [];
  const mb = new ModelBatcher(session, {
    maxBatchSize: 16,
    maxQueueDelayMs: 50,
    maxQueueSize: 16,
    eager: false,
    onBatch: (s) => batches.push({ size: s.size, failed: s.error !== undefined }),
  });
  try {
    const a = mb.infer(ids(1, 2, 3));
    const bad = mb.infer(ids(1, 99, 2));
    const b = mb.infer(ids(3, 3, 3));
    const c = mb.infer(ids(0, 1, 2, 3, 0)); // another seq length: its own group in the same batch
    await assert.rejects(bad, (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_ORT_RUN");
      return true;
    });
    for (const [p, want] of [
      [a, [1, 2, 3]],
      [b, [3, 3, 3]],
      [c, [0, 1, 2, 3, 0]],
    ] as const) {
      const r = await p;
      assert.deepEqual(r.outputs.y!.toArray(), [want.map((v) => [v, v])]);
    }
    // The four shared one batch (else this would not test narrowing), which is not failed as a whole.
    assert.deepEqual(batches, [{ size: 4, failed: false }]);
  } finally {
    await mb.close();
    await session.close();
  }
});
