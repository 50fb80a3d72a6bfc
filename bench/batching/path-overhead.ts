/**
 * CPU cost of the batching path alone, without ORT or worker threads: ModelBatcher over an in-process stand-in
 * session that answers each run on the next macrotask with zeros of the model's output shape. What it measures is
 * everything ModelBatcher and DynamicBatcher do per request and per batch (validation, queueing, stacking into one
 * buffer, splitting outputs into views, promise resolution), plus the callers' own loop. Deterministic enough to
 * compare small changes on a loaded machine (CPU time, lowest of the rounds).
 *
 *   node --import tsx bench/batching/path-overhead.ts [--base /tmp/base] [--batch 32] [--concurrency 2] [--calls 2000] [--rounds 5]
 *
 * With --base, the same run is repeated against another checkout (e.g. a `git worktree` of an older commit, with a
 * node_modules symlink), alternating, rounds alternating (each checkout's modules loaded side by side in this process).
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { InferenceSession } from "../../src/runtime/index.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string" },
    batch: { type: "string", default: "32" },
    concurrency: { type: "string", default: "2" },
    calls: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
  },
});
const MB = Number(values.batch);
const CONC = Number(values.concurrency);
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const CALLERS = 64;
const DIM = 256;
const OUT = 10;
const roots = [...(values.base ? [resolve(values.base)] : []), resolve(import.meta.dirname, "../..")];

type Batching = typeof import("../../src/batching/index.ts");
type TensorMod = typeof import("../../src/tensor/index.ts");

async function variant(root: string): Promise<{ root: string; round: () => Promise<number> }> {
  const { ModelBatcher } = (await import(`${root}/src/batching/index.ts`)) as Batching;
  const { Tensor, rng } = (await import(`${root}/src/tensor/index.ts`)) as TensorMod;
  const session: InferenceSession = {
    description: {
      inputs: [{ name: "input", dtype: "float32", shape: ["batch", DIM] }],
      outputs: [{ name: "output", dtype: "float32", shape: ["batch", OUT] }],
      opsets: { "": 17 },
      producer: "path-overhead",
      metadata: {},
      byteSize: 0,
      sha256: "",
    },
    activeProvider: "cpu",
    providerFallbacks: [],
    replicas: 1,
    run(inputs) {
      const n = inputs.input!.shape[0]!;
      return new Promise((done) =>
        setImmediate(() =>
          done({
            outputs: { output: Tensor.wrap(new Float32Array(n * OUT), [n, OUT]) },
            inferMs: 0,
            replica: 0,
          }),
        ),
      );
    },
    close: async () => {},
  };
  const gen = rng(1);
  const inputs = Array.from({ length: CALLERS }, () => gen.normal([1, DIM], { dtype: "float32" }));
  return {
    root,
    async round() {
      const mb = new ModelBatcher(session, {
        maxBatchSize: MB,
        concurrency: CONC,
        maxQueueDelayMs: 2,
        maxQueueSize: 4096,
      });
      const c0 = process.cpuUsage();
      await Promise.all(
        inputs.map(async (x) => {
          for (let i = 0; i < CALLS; i++) await mb.infer({ input: x });
        }),
      );
      const c = process.cpuUsage(c0);
      await mb.close();
      return (c.user + c.system) / (CALLERS * CALLS);
    },
  };
}

const vs = [];
for (const root of roots) vs.push(await variant(root));
const best = new Map<string, number>();
for (let r = 0; r < ROUNDS; r++) {
  for (const v of vs)
    best.set(v.root, Math.min(best.get(v.root) ?? Number.POSITIVE_INFINITY, await v.round()));
}
console.log(
  `batching path, stand-in session: ${CALLERS} callers × ${CALLS} calls, maxBatchSize ${MB}, concurrency ${CONC}, lowest of ${ROUNDS} rounds`,
);
for (const v of vs) console.log(`${v.root.padEnd(34)}${best.get(v.root)!.toFixed(3)} cpu µs/row`);
