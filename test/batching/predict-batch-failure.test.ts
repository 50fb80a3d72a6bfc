import assert from "node:assert/strict";
import { test } from "node:test";
import { predictBatch } from "../../src/batching/index.ts";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";

test("predictBatch stops every lane at the first failed chunk instead of running the rest for nothing", async () => {
  // y = table[ids]: an index out of range fails that run inside ORT (E_ORT_RUN).
  const g = new GraphBuilder({ opset: 17 });
  g.input("ids", "int64", ["batch"]);
  g.initializer("table", Tensor.wrap(Float32Array.from([10, 20, 30]), [3]));
  g.node("Gather", ["table", "ids"], ["y"], { axis: 0 });
  g.output("y", "float32", ["batch"]);
  // One replica, two lanes: both lanes' chunks go through one worker, which runs and answers them in order, so the
  // failure of chunk 0 reaches its lane before the other lane's chunk 1 is answered, however the machine schedules
  // the threads. With two replicas the count depended on how long a busy machine kept one worker waiting.
  const session = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1 });
  try {
    const items = Array.from({ length: 200 }, (_, i) => ({
      ids: Tensor.wrap(BigInt64Array.from([i === 0 ? 100n : BigInt(i % 3)]), []),
    }));
    await assert.rejects(predictBatch(session, items, { batchSize: 1, concurrency: 2 }), (e: unknown) => {
      assert.ok(e instanceof TesseraError);
      assert.equal(e.code, "E_ORT_RUN");
      return true;
    });
    await new Promise((r) => setTimeout(r, 300)); // anything still running would go on dispatching meanwhile
    const runs = session.dispatchCounts.reduce((a, b) => a + b, 0);
    // Chunk 0 and the other lane's chunk 1, in flight together; the old code ran all 200.
    assert.ok(runs <= 20, `${runs} chunks were run after/around the failure of chunk 0 (of 200)`);
    assert.equal(runs, 2, `${runs} chunks were run: chunk 0 (failed) and chunk 1 (in flight) expected`);
  } finally {
    await session.close();
  }
});
