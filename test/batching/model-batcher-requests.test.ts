/**
 * ModelBatcher from a caller's side: what a request that can never fit is told, in the terms the caller configured.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ModelBatcher } from "../../src/batching/index.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";

test("a request with more rows than maxBatchSize is refused in rows and maxBatchSize, not in batcher cost terms", async () => {
  const session = await openSession(mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes, {
    replicas: 1,
    intraOpThreads: 1,
  });
  const mb = new ModelBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 1, maxQueueSize: 10 });
  try {
    await assert.rejects(mb.infer({ input: Tensor.empty("float32", [9, 4]) }), (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_BATCH_COST_EXCEEDED");
      assert.match(e.message, /^ModelBatcher: the request has 9 rows, more than maxBatchSize 8/);
      assert.deepEqual(e.facts, { rows: 9, maxBatchSize: 8 });
      return true;
    });
    const ok = await mb.infer({ input: Tensor.empty("float32", [8, 4]) });
    assert.deepEqual(ok.outputs.logits!.shape, [8, 2]);
  } finally {
    await mb.close();
    await session.close();
  }
});
