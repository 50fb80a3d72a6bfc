// Replicas after the first start on the provider the first one ended on (cuda cannot start here: it falls back).
import assert from "node:assert/strict";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

test("with providers [cuda, cpu] and 3 replicas, only the first replica tries cuda; the others start on cpu", async () => {
  const bytes = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes;
  const s = await openSession(bytes, { replicas: 3, intraOpThreads: 1, providers: ["cuda", "cpu"] });
  try {
    assert.equal(s.activeProvider, "cpu");
    assert.deepEqual(
      s.providerFallbacks.map((f) => f.provider),
      ["cuda"],
    );
    const per = s.replicaProviders;
    assert.equal(per.length, 3);
    assert.deepEqual(
      per.map((r) => r.provider),
      ["cpu", "cpu", "cpu"],
    );
    assert.deepEqual(
      per.map((r) => r.fallbacks.map((f) => f.provider)),
      [["cuda"], [], []],
    );
    // every replica runs
    const x = Tensor.wrap(new Float32Array(4).fill(0.5), [1, 4]);
    const runs = await Promise.all(Array.from({ length: 6 }, () => s.run({ input: x })));
    assert.ok(runs.every((r) => r.outputs.logits?.size === 2));
    assert.ok(
      s.dispatchCounts.every((n) => n > 0),
      JSON.stringify(s.dispatchCounts),
    );
  } finally {
    await s.close();
  }
});
