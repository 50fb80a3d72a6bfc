/**
 * What a worker session costs beyond ORT's own compute, and whether replicas scale: the two facts behind the
 * ModelBatcher-vs-raw-ORT gap in bench/batching/batching.ts.
 *
 *   node --import tsx bench/batching/round-trip.ts [--runs 20000] [--seconds 2]
 *
 * 1. Round trip: a tiny model (Relu on [32,256]) run back to back (a) in-process with onnxruntime-node, (b) through
 *    `openSession` (one worker), its input transferred. CPU per run, all threads of the process: (b) minus (a) is
 *    the price of the worker hop (postMessage both ways, wake-ups, transfers, GC), which every ModelBatcher batch
 *    pays once.
 * 2. Scaling: the zoo MLP (256→1024→1024→10) in 1 or 2 worker threads, each looping on its own batches with no
 *    messages in between, vs one 2-thread session: the throughput replicas could reach if the hop were free.
 */
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { GraphBuilder, mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "20000" }, seconds: { type: "string", default: "2" } },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);

function tinyModel(): Uint8Array {
  const g = new GraphBuilder({ name: "tiny", opset: 17 });
  g.input("input", "float32", ["batch", 256]);
  g.node("Relu", ["input"], ["output"]);
  g.output("output", "float32", ["batch", 256]);
  return g.toBytes();
}

/** CPU µs per call of `fn` (all threads), best of 3 rounds of RUNS calls. */
async function cpuPerCall(fn: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < RUNS; i++) await fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / RUNS);
  }
  return best;
}

async function roundTrip(): Promise<void> {
  const bytes = tinyModel();
  const raw = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const feed = { input: new ort.Tensor("float32", new Float32Array(32 * 256), [32, 256]) };
  for (let i = 0; i < 100; i++) await raw.run(feed);
  const inProcess = await cpuPerCall(() => raw.run(feed));
  await raw.release();

  const session = await openSession(bytes, { replicas: 1, intraOpThreads: 1, label: "tiny" });
  const fresh = await cpuPerCall(() =>
    session.run({ input: Tensor.wrap(new Float32Array(32 * 256), [32, 256]) }, { transferInputs: true }),
  );
  await session.close();
  console.log("1. one run of Relu [32,256], CPU µs per run (all threads, best of 3 × %d runs)", RUNS);
  console.log(`   in-process onnxruntime-node           ${inProcess.toFixed(1)}`);
  console.log(
    `   worker session                         ${fresh.toFixed(1)}  (+${(fresh - inProcess).toFixed(1)} for the hop)`,
  );
}

/** Each worker loads the MLP and runs [batch,256] back to back for SECONDS; returns rows/s summed over workers. */
async function scaling(workers: number, threads: number, batch: number, bytes: Uint8Array): Promise<number> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const ort = require(workerData.ort);
    (async () => {
      const s = await ort.InferenceSession.create(workerData.bytes, { intraOpNumThreads: workerData.threads });
      const b = workerData.batch;
      const feed = { input: new ort.Tensor("float32", new Float32Array(b * 256).fill(0.1), [b, 256]) };
      for (let i = 0; i < 20; i++) await s.run(feed);
      parentPort.postMessage("ready");
      parentPort.once("message", async () => {
        const t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < workerData.ms) { await s.run(feed); n += b; }
        parentPort.postMessage(n / ((performance.now() - t0) / 1000));
        await s.release();
      });
    })();`;
  const ortPath = import.meta.resolve("onnxruntime-node").replace("file://", "");
  const ws = Array.from(
    { length: workers },
    () =>
      new Worker(code, {
        eval: true,
        workerData: { bytes, threads, batch, ms: SECONDS * 1000, ort: ortPath },
      }),
  );
  await Promise.all(ws.map((w) => new Promise((r) => w.once("message", r))));
  const done = ws.map((w) => new Promise<number>((r) => w.once("message", r)));
  for (const w of ws) w.postMessage("go");
  const rates = await Promise.all(done);
  await Promise.all(ws.map((w) => w.terminate()));
  return rates.reduce((a, b) => a + b, 0);
}

await roundTrip();
const mlp = mlpClassifier().bytes;
console.log(
  `2. the MLP 256→1024→1024→10 computing back to back in workers, no messages (${SECONDS} s each), rows/s`,
);
for (const [w, t, b] of [
  [1, 1, 32],
  [2, 1, 32],
  [2, 1, 64],
  [1, 2, 32],
  [1, 2, 64],
] as const) {
  console.log(`   ${w} worker(s) × ${t} thread(s), batch ${b}: ${(await scaling(w, t, b, mlp)).toFixed(0)}`);
}
