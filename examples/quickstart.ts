// Quick start (README): build a seeded ONNX model, run it in worker threads, batch, reduce.
import { argmax, batching, onnx, rng, runtime } from "../src/index.ts";

const model = onnx.mlpClassifier({ inputDim: 4, hidden: [16], classes: 3, seed: 0 }); // synthetic, seeded
const session = await runtime.openSession(model.bytes); // ORT in worker threads; the event loop stays free
const x = rng(42).normal([6, 4], { dtype: "float32" }); // seeded input [6, 4]

const { outputs } = await session.run({ input: x });
const classes = argmax(outputs.probabilities!, { axis: -1 });
console.log("probabilities", outputs.probabilities!.shape, "classes", classes.toArray());

const items = Array.from({ length: 6 }, (_, i) => ({ input: x.select(0, i) })); // six [4] row views, no copies
const results = await batching.predictBatch(session, items, { batchSize: 4 }); // 2 runs, per-item views
console.log("predictBatch", results.length, "items, first", results[0]!.probabilities!.shape);
await session.close();
