/**
 * Child process for memory tests and benchmarks: scores INPUT into OUTPUT with a tiny MLP and prints
 * `{"maxRssMB": ..., "rows": ..., "seconds": ...}` (process.resourceUsage().maxRSS covers this whole process;
 * the worker threads share it).
 * usage: node --import tsx test/pipeline/rss-child.ts INPUT OUTPUT FEATURES [batchSize] [hidden]
 */
import { mlpClassifier } from "../../src/onnx/index.ts";
import { scoreFiles } from "../../src/pipeline/index.ts";
import { openSession } from "../../src/runtime/index.ts";

const [input, output, featuresArg, batchArg, hiddenArg] = process.argv.slice(2);
const features = Number(featuresArg);
const model = mlpClassifier({ inputDim: features, hidden: [Number(hiddenArg ?? 16)], classes: 4, seed: 0 });
const session = await openSession(model.bytes, { replicas: 2, intraOpThreads: 1 });
try {
  const s = await scoreFiles({
    session,
    model: { name: "mlp", version: "1", sha256: session.description.sha256 },
    inputs: [input!],
    output: output!,
    keyColumns: ["id"],
    outputs: ["probabilities"],
    batchSize: Number(batchArg ?? 16384),
    overwrite: true,
    progress: false,
  });
  process.stdout.write(
    `${JSON.stringify({ maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024), rows: s.rowsScored, seconds: s.seconds })}\n`,
  );
} finally {
  await session.close();
}
