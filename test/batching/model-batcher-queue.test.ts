// queueMs of ModelBatcher: the wait until the run starts computing. Handing a batch to an idle worker and copying its
// outputs back is not queue time (a 32 MB output takes milliseconds to come back).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ModelBatcher } from "../../src/batching/index.ts";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor, tensor } from "../../src/tensor/index.ts";

/** x float32 [batch, 1] → y float32 [batch, 8e6] (Expand): a large output per row. */
function bigOutputModel(): Uint8Array {
  const g = new GraphBuilder({ name: "big", opset: 17 });
  g.input("x", "float32", ["batch", 1]);
  g.node("Expand", ["x", g.constant(tensor([1n, 8_000_000n], "int64"), "shape")], ["y"]);
  g.output("y", "float32", ["batch", 8_000_000]);
  return g.toBytes();
}

test("an idle model: queueMs stays near zero even when the output takes milliseconds to come back", async () => {
  const s = await openSession(bigOutputModel(), { replicas: 1, intraOpThreads: 1 });
  const b = new ModelBatcher(s, { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueSize: 8 });
  try {
    const queue: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await b.infer({ x: Tensor.wrap(new Float32Array([i]), [1, 1]) });
      assert.equal(r.outputs.y?.shape[1], 8_000_000);
      queue.push(r.queueMs);
    }
    queue.sort((p, q) => p - q);
    assert.ok(queue[2]! < 1, `median queue ${queue[2]} ms (all: ${queue.join(", ")})`);
  } finally {
    await b.close();
    await s.close();
  }
});
