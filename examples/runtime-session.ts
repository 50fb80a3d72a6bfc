// Opens an ONNX model in worker-thread replicas, describes it, runs it, and shows a rejected input.
// Run: node --import tsx examples/runtime-session.ts
import { mlpClassifier } from "../src/onnx/index.ts";
import { openSession } from "../src/runtime/index.ts";
import { rng, Tensor, TesseraError } from "../src/tensor/index.ts";

const model = mlpClassifier({ inputDim: 16, hidden: [32], classes: 3, seed: 1 });
const session = await openSession(model.bytes, { replicas: 2, intraOpThreads: 1, label: "demo-mlp@1" });
try {
  const d = session.description;
  const fmt = (s: { name: string; dtype: string; shape: readonly (number | string | null)[] }) =>
    `${s.name}: ${s.dtype} [${s.shape.join(", ")}]`;
  console.log(`inputs  ${d.inputs.map(fmt).join("; ")}`);
  console.log(`outputs ${d.outputs.map(fmt).join("; ")}`);
  console.log(`opsets ${JSON.stringify(d.opsets)}, ${d.byteSize} bytes, sha256 ${d.sha256.slice(0, 12)}…`);
  console.log(`provider ${session.activeProvider}, replicas ${session.replicas}`);

  const x = rng(0).normal([4, 16], { dtype: "float32" }) as Tensor;
  const results = await Promise.all([session.run({ input: x }), session.run({ input: x })]);
  const probs = results[0]!.outputs.probabilities!;
  const row0 = (probs.data as Float32Array).subarray(0, 3).reduce((a, b) => a + b, 0);
  console.log(`probabilities [${probs.shape.join(",")}], row 0 sums to ${row0.toFixed(4)}`);
  console.log(`replicas used: ${[...new Set(results.map((r) => r.replica))].sort().join(",")}`);

  try {
    await session.run({ input: Tensor.empty("float32", [4, 15]) });
  } catch (err) {
    if (err instanceof TesseraError) console.log(`${err.code}: ${err.message}`);
  }
} finally {
  await session.close();
}
