/**
 * Where a ModelBatcher batch spends its time beyond ORT's compute, measured in one process with the three kinds of
 * work interleaved, so that the machine's speed (which drifts by ±25 % over minutes on a shared 2-vCPU VM) is the
 * same for all three:
 *
 *   node --import tsx bench/batching/gap.ts [--rounds 10] [--calls 300]
 *
 * Per round, for the zoo MLP (256→1024→1024→10) at 64 rows per run and 2 intra-op threads:
 *   raw run        onnxruntime-node in-process, [64,256] back to back: p50 µs per run
 *   worker run     `openSession` (1 replica × 2 threads), the same input sequentially: p50 of ORT's own run time in
 *                  the worker (RunResult.inferMs) and p50 of the round trip seen by the caller (hop = the difference)
 *   batcher        64 one-row callers in a closed loop through ModelBatcher (maxBatchSize 64, concurrency 1): mean µs
 *                  per batch, and p50 of the batch's run function (stacking + round trip); the rest of the batch's
 *                  time is the main thread handing results to 64 callers and taking their next 64 calls
 * Early rounds include JIT warm-up of the batching path; read the later ones.
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { ModelBatcher } from "../../src/batching/index.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "10" }, calls: { type: "string", default: "300" } },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const ROWS = 64;
const DIM = 256;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]! * 1000;
};
const mean = (xs: number[]): number => (xs.reduce((a, b) => a + b, 0) / xs.length) * 1000;
const fill = () => new Float32Array(ROWS * DIM).fill(0.1);

const model = mlpClassifier();
const raw = await ort.InferenceSession.create(model.bytes, {
  intraOpNumThreads: 2,
  graphOptimizationLevel: "all",
});
const session = await openSession(model.bytes, { replicas: 1, intraOpThreads: 2, label: "gap-mlp" });
const rows = Array.from({ length: ROWS }, () => Tensor.wrap(new Float32Array(DIM).fill(0.1), [1, DIM]));

console.log(
  `MLP 256→1024→1024→10, ${ROWS} rows per run, 2 intra-op threads; µs per run or batch (mean; p50 in brackets)`,
);
console.log(
  "| round | raw run | worker run | worker round trip | hop | batcher per batch | batch run fn | rest of batch | raw run ÷ batcher per batch |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (let r = 1; r <= ROUNDS; r++) {
  const rawMs: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const x = new ort.Tensor("float32", fill(), [ROWS, DIM]);
    const t = performance.now();
    await raw.run({ input: x });
    rawMs.push(performance.now() - t);
  }
  const inWorker: number[] = [];
  const trip: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    const res = await session.run({ input: Tensor.wrap(fill(), [ROWS, DIM]) }, { transferInputs: true });
    trip.push(performance.now() - t);
    inWorker.push(res.inferMs);
  }
  const runFn: number[] = [];
  const batcher = new ModelBatcher(session, {
    maxBatchSize: ROWS,
    concurrency: 1,
    maxQueueDelayMs: 2,
    maxQueueSize: 4096,
    onBatch: (s) => runFn.push(s.inferMs),
  });
  const t0 = performance.now();
  await Promise.all(
    rows.map(async (x) => {
      for (let i = 0; i < CALLS; i++) await batcher.infer({ input: x });
    }),
  );
  const perBatch = ((performance.now() - t0) * 1000) / runFn.length;
  await batcher.close();
  const rawRun = mean(rawMs);
  const both = (xs: number[]) => `${mean(xs).toFixed(0)} (${median(xs).toFixed(0)})`;
  console.log(
    `| ${r} | ${both(rawMs)} | ${both(inWorker)} | ${both(trip)} | ${(mean(trip) - mean(inWorker)).toFixed(0)} | ` +
      `${perBatch.toFixed(0)} | ${both(runFn)} | ${(perBatch - mean(runFn)).toFixed(0)} | ${(rawRun / perBatch).toFixed(2)} |`,
  );
}
await raw.release();
await session.close();
