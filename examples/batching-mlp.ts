// Batched inference: a generic DynamicBatcher, then ModelBatcher and predictBatch on the zoo MLP.
//   node --import tsx examples/batching-mlp.ts
import { DynamicBatcher, ModelBatcher, predictBatch, QueueFullError } from "../src/batching/index.ts";
import { mlpClassifier } from "../src/onnx/index.ts";
import { openSession } from "../src/runtime/index.ts";
import { rng, type Tensor } from "../src/tensor/index.ts";

// 1. DynamicBatcher knows no models: here a batch is an array of strings.
const upper = new DynamicBatcher<string, string>({
  run: async (words) => words.map((w) => w.toUpperCase()),
  maxBatchSize: 4,
  maxQueueDelayMs: 5,
  maxQueueSize: 8,
});
const words = await Promise.all(["a", "b", "c", "d", "e"].map((w) => upper.submit(w)));
console.log(`words: ${words.map((r) => `${r.value}(batch ${r.batchSize})`).join(" ")}`);
try {
  await upper.submitMany(Array.from({ length: 9 }, (_, i) => `w${i}`));
} catch (e) {
  if (e instanceof QueueFullError) console.log(`queue full: ${e.code}, retry in ~${e.retryAfterMs} ms`);
}
await upper.close({ drain: true });

// 2. ModelBatcher: concurrent requests (1 or more rows each) share one session.run; outputs are views.
const mlp = mlpClassifier({ inputDim: 16, hidden: [32], classes: 3, seed: 1 });
const session = await openSession(mlp.bytes, { replicas: 1, intraOpThreads: 1, label: "example-mlp" });
const batcher = new ModelBatcher(session, { maxBatchSize: 32, maxQueueDelayMs: 5, maxQueueSize: 256 });
const gen = rng(0);
const requests = Array.from({ length: 8 }, (_, i) => ({
  input: gen.normal([1 + (i % 2), 16], { dtype: "float32" }) as Tensor,
}));
const results = await Promise.all(requests.map((r) => batcher.infer(r, { outputs: ["probabilities"] })));
for (const [i, r] of results.entries()) {
  const rows = r.outputs.probabilities!.shape[0];
  if (i < 3)
    console.log(
      `request ${i}: ${rows} row(s) → probabilities [${r.outputs.probabilities!.shape}], ran in a batch of ${r.batchSize} rows`,
    );
}
console.log(
  `requests: ${results.length}, largest batch: ${Math.max(...results.map((r) => r.batchSize))} rows`,
);
await batcher.close({ drain: true });

// 3. predictBatch: many single examples (no batch dim) in chunks of 4.
const items = Array.from({ length: 10 }, () => ({ input: gen.normal([16], { dtype: "float32" }) as Tensor }));
const out = await predictBatch(session, items, { batchSize: 4 });
console.log(`predictBatch: ${out.length} results, first logits shape [${out[0]!.logits!.shape}]`);
await session.close();
