/**
 * Batching-path CPU overhead, A/B in ONE process: this checkout against another one (e.g. a `git worktree` of an
 * older commit), rounds interleaved so both see the same machine load.
 *
 *   git worktree add /tmp/base <commit> && ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   node --import tsx bench/batching/overhead-ab.ts --base /tmp/base [--batch 32] [--concurrency 2] [--calls 300] [--rounds 10]
 *
 * Each variant: its own `openSession` (1 replica × 1 thread) of the zoo MLP 256→1024→1024→10 and a `ModelBatcher`;
 * 64 callers in a closed loop, one row per call. Per round it reads per-thread CPU time from
 * /proc/self/task/<tid>/schedstat (Linux, ns precision) and reports per row: the whole process, the main thread
 * (the batching path: infer, DynamicBatcher, stacking, splitting, session.run messaging), the busiest other
 * thread (the ORT worker: ORT's compute plus message handling) and the rest (V8 GC helpers etc.).
 * Also raw onnxruntime-node in-process with `[batch,256]` runs: the compute floor.
 * min and median over rounds; medians move with machine load, minimums much less.
 */
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";

const { values } = parseArgs({
  options: {
    base: { type: "string" },
    batch: { type: "string", default: "32" },
    concurrency: { type: "string", default: "2" },
    calls: { type: "string", default: "300" },
    rounds: { type: "string", default: "10" },
  },
});
if (!values.base) throw new Error("overhead-ab: --base <checkout dir> is required");
const MB = Number(values.batch);
const CONC = Number(values.concurrency);
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const CALLERS = 64;
const roots = [resolve(values.base), resolve(import.meta.dirname, "../..")];

/** CPU µs used so far per thread id of this process. */
function threadCpu(): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      m.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1000);
    } catch {
      // thread exited
    }
  }
  return m;
}

interface RoundCpu {
  all: number;
  main: number;
  worker: number;
  rest: number;
  rate: number;
}

interface TensorLike {
  readonly shape: readonly number[];
}
interface BatcherLike {
  infer(inputs: Record<string, TensorLike>): Promise<unknown>;
  close(): Promise<void>;
}
interface Variant {
  root: string;
  make: () => BatcherLike;
  inputs: TensorLike[];
  close: () => Promise<void>;
  res: RoundCpu[];
}

const variants: Variant[] = [];
let modelBytes: Uint8Array | undefined;
for (const root of roots) {
  const batching = (await import(
    `${root}/src/batching/index.ts`
  )) as typeof import("../../src/batching/index.ts");
  const onnx = (await import(`${root}/src/onnx/index.ts`)) as typeof import("../../src/onnx/index.ts");
  const runtime = (await import(
    `${root}/src/runtime/index.ts`
  )) as typeof import("../../src/runtime/index.ts");
  const tensor = (await import(`${root}/src/tensor/index.ts`)) as typeof import("../../src/tensor/index.ts");
  const model = onnx.mlpClassifier();
  modelBytes ??= model.bytes;
  const gen = tensor.rng(42);
  const inputs = Array.from({ length: CALLERS }, () => gen.normal([1, 256], { dtype: "float32" }));
  const session = await runtime.openSession(model.bytes, { replicas: 1, intraOpThreads: 1, label: "ab" });
  await session.run({ input: inputs[0]! });
  variants.push({
    root,
    inputs,
    make: () =>
      new batching.ModelBatcher(session, {
        maxBatchSize: MB,
        concurrency: CONC,
        maxQueueDelayMs: 2,
        maxQueueSize: 4096,
      }) as unknown as BatcherLike,
    close: () => session.close(),
    res: [],
  });
}

for (let r = 0; r < ROUNDS; r++) {
  for (const v of r % 2 ? [...variants].reverse() : variants) {
    await new Promise((res) => setTimeout(res, 100));
    const mb = v.make();
    const th0 = threadCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      v.inputs.map(async (x) => {
        for (let i = 0; i < CALLS; i++) await mb.infer({ input: x });
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const th1 = threadCpu();
    await mb.close();
    const rows = CALLERS * CALLS;
    const per = [...th1].map(([tid, us]) => [tid, (us - (th0.get(tid) ?? 0)) / rows] as const);
    const main = per.find(([tid]) => tid === String(process.pid))?.[1] ?? Number.NaN;
    const others = per
      .filter(([tid]) => tid !== String(process.pid))
      .map(([, x]) => x)
      .sort((a, b) => b - a);
    v.res.push({
      all: (c.user + c.system) / rows,
      main,
      worker: others[0] ?? 0,
      rest: others.slice(1).reduce((s, x) => s + x, 0),
      rate: rows / secs,
    });
  }
}

const raw = await ort.InferenceSession.create(modelBytes!, {
  intraOpNumThreads: 1,
  graphOptimizationLevel: "all",
});
const feed = { input: new ort.Tensor("float32", new Float32Array(MB * 256).fill(0.1), [MB, 256]) };
await raw.run(feed);
let rawBest = Number.POSITIVE_INFINITY;
for (let r = 0; r < 5; r++) {
  const c0 = process.cpuUsage();
  const n = Math.ceil((CALLERS * CALLS) / MB);
  for (let i = 0; i < n; i++) await raw.run(feed);
  const c = process.cpuUsage(c0);
  rawBest = Math.min(rawBest, (c.user + c.system) / (n * MB));
}
await raw.release();

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cell = (xs: number[]) => `${Math.min(...xs).toFixed(2)} / ${med(xs).toFixed(2)}`.padEnd(15);
console.log(
  `batching overhead A/B: MLP 256→1024→1024→10, ${CALLERS} callers × ${CALLS} calls, maxBatchSize ${MB}, concurrency ${CONC}, 1 replica × 1 thread, ${ROUNDS} interleaved rounds`,
);
console.log(
  `raw ORT in-process [${MB},256], 1 thread: ${rawBest.toFixed(2)} cpu µs/row (lowest of 5 rounds)`,
);
console.log(
  `${"checkout".padEnd(34)}${"all µs/row".padEnd(15)}${"main".padEnd(15)}${"ORT worker".padEnd(15)}${"rest".padEnd(15)}rows/s max / median`,
);
for (const v of variants) {
  const f = (k: keyof RoundCpu) => cell(v.res.map((x) => x[k]));
  const rates = v.res.map((x) => x.rate);
  console.log(
    `${v.root.padEnd(34)}${f("all")}${f("main")}${f("worker")}${f("rest")}${Math.max(...rates).toFixed(0)} / ${med(rates).toFixed(0)}`,
  );
  await v.close();
}
console.log("(cpu µs per row, min / median over rounds)");
