// Worker-session overheads against raw onnxruntime-node in-process, measured in the same run.
//   1. per-call cost: MLP 256→1024→1024→10, batch 1, sequential calls (raw ORT vs openSession, 1 replica)
//   2. concurrency: 64 callers of batch 1, one 2-thread session vs two 1-thread replicas
//   3. big inputs: a 64 MiB float32 input through an Identity model, copy (default) vs transferInputs
//   4. event loop: p99 timer delay while a ~1 s inference runs, raw ORT in-process vs in a worker
//   5. session start: a BERT-style encoder opened cold vs from the optimized-model cache
// Run: node --import tsx bench/runtime/session.ts
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as ort from "onnxruntime-node";
import { bertEncoder, GraphBuilder, mlpClassifier, slowModel } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { rng, Tensor } from "../../src/tensor/index.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const mlp = mlpClassifier();
const x1 = rng(1).normal([1, 256], { dtype: "float32" }) as Tensor;
const N = 300;
console.log(
  `node ${process.version}, onnxruntime-node ${ort.env.versions.common}, ${availableParallelism()} cores (shared machine: noisy)\n`,
);

// 1. per-call cost
{
  const raw = await ort.InferenceSession.create(mlp.bytes, {
    intraOpNumThreads: 1,
    executionProviders: ["cpu"],
  });
  const feed = { input: new ort.Tensor("float32", x1.data as Float32Array, [1, 256]) };
  for (let i = 0; i < 20; i++) await raw.run(feed);
  const rawTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await raw.run(feed);
    rawTimes.push(performance.now() - t);
  }
  await raw.release();
  const s = await openSession(mlp.bytes, { replicas: 1, intraOpThreads: 1 });
  for (let i = 0; i < 20; i++) await s.run({ input: x1 });
  const wTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await s.run({ input: x1 });
    wTimes.push(performance.now() - t);
  }
  await s.close();
  console.log("1. MLP batch 1, sequential calls (1 intra-op thread)");
  console.log("| path | p50 ms | p99 ms | calls/s |\n|---|---|---|---|");
  for (const [name, ts] of [
    ["raw ORT in-process (baseline)", rawTimes],
    ["openSession (worker, 1 replica)", wTimes],
  ] as const) {
    const total = ts.reduce((a, b) => a + b, 0);
    console.log(
      `| ${name} | ${median(ts).toFixed(3)} | ${pct(ts, 99).toFixed(3)} | ${((ts.length / total) * 1000).toFixed(0)} |`,
    );
  }
  console.log(`worker overhead per call: ${(median(wTimes) - median(rawTimes)).toFixed(3)} ms (p50)\n`);
}

// 2. concurrency: 64 callers
{
  const rows: string[] = [];
  for (const [label, opts] of [
    ["1 replica × 2 threads", { replicas: 1, intraOpThreads: 2 }],
    ["2 replicas × 1 thread", { replicas: 2, intraOpThreads: 1 }],
  ] as const) {
    const s = await openSession(mlp.bytes, opts);
    for (let i = 0; i < 10; i++) await s.run({ input: x1 });
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (let k = 0; k < 10; k++) {
          await s.run({ input: x1 });
          done++;
        }
      }),
    );
    const sec = (performance.now() - t0) / 1000;
    rows.push(`| ${label} | ${(done / sec).toFixed(0)} |`);
    await s.close();
  }
  console.log("2. 64 concurrent callers, batch 1 each, 640 calls\n| sessions | calls/s |\n|---|---|");
  console.log(`${rows.join("\n")}\n`);
}

// 3. big input: copy vs transfer
{
  const g = new GraphBuilder({ opset: 17 });
  g.input("x", "float32", ["n"]);
  g.node("Identity", ["x"], ["y"]);
  g.output("y", "float32", ["n"]);
  const s = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1 });
  const n = (64 * 1024 * 1024) / 4;
  const copyTimes: number[] = [];
  const moveTimes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const a = Tensor.wrap(new Float32Array(n).fill(i), [n]);
    let t = performance.now();
    await s.run({ x: a });
    copyTimes.push(performance.now() - t);
    const b = Tensor.wrap(new Float32Array(n).fill(i), [n]);
    t = performance.now();
    await s.run({ x: b }, { transferInputs: true });
    moveTimes.push(performance.now() - t);
  }
  await s.close();
  console.log(
    "3. 64 MiB float32 through Identity (input out + output back)\n| inputs | median ms |\n|---|---|",
  );
  console.log(
    `| copied into a fresh buffer, transferred (default) | ${median(copyTimes.slice(1)).toFixed(1)} |`,
  );
  console.log(
    `| transferred, caller's buffer detached (transferInputs) | ${median(moveTimes.slice(1)).toFixed(1)} |\n`,
  );
}

// 4. event loop during a long run
{
  const slow = slowModel({ ms: 1000 });
  const xs = rng(2).normal([4, 256], { dtype: "float32" }) as Tensor;
  // A 1 ms interval: how often it fired and the longest gap between fires (a blocked loop shows one
  // gap as long as the run). monitorEventLoopDelay records nothing while the loop is blocked.
  const measure = async (fn: () => Promise<unknown>) => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const iv = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const t = performance.now();
    await fn();
    const ms = performance.now() - t;
    maxGap = Math.max(maxGap, performance.now() - last);
    clearInterval(iv);
    h.disable();
    return { ms, ticks, maxGap, p99: h.percentile(99) / 1e6 };
  };
  const raw = await ort.InferenceSession.create(slow.bytes, { intraOpNumThreads: 1 });
  const rawFeed = { x: new ort.Tensor("float32", xs.data as Float32Array, [4, 256]) };
  const a = await measure(() => raw.run(rawFeed));
  await raw.release();
  const s = await openSession(slow.bytes, { replicas: 1, intraOpThreads: 1 });
  const b = await measure(() => s.run({ x: xs }));
  await s.close();
  console.log("4. event loop while one slow-model run computes (1 ms interval timer)");
  console.log("| path | run ms | timer fires | longest gap ms | p99 delay ms |\n|---|---|---|---|---|");
  for (const [name, r] of [
    ["raw ORT in-process", a],
    ["openSession (worker)", b],
  ] as const) {
    console.log(
      `| ${name} | ${r.ms.toFixed(0)} | ${r.ticks} | ${r.maxGap.toFixed(1)} | ${r.p99.toFixed(1)} |`,
    );
  }
}

// 5. session start with and without the optimized-model cache
{
  const bert = bertEncoder({ layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocabSize: 8000 });
  const dir = mkdtempSync(join(tmpdir(), "tessera-bench-optcache-"));
  const opts = { replicas: 1, intraOpThreads: 1 } as const;
  const time = async (o: Parameters<typeof openSession>[1]) => {
    const t = performance.now();
    const s = await openSession(bert.bytes, o);
    const ms = performance.now() - t;
    await s.close();
    return ms;
  };
  const cold: number[] = [];
  const cached: number[] = [];
  await time(opts); // warm the file cache and the worker bootstrap
  for (let i = 0; i < 3; i++) cold.push(await time(opts));
  await time({ ...opts, optimizedModelCacheDir: dir }); // writes the cache file
  for (let i = 0; i < 3; i++) cached.push(await time({ ...opts, optimizedModelCacheDir: dir }));
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `\n5. openSession of a BERT-style encoder (${(bert.bytes.byteLength / 1e6).toFixed(1)} MB), median of 3`,
  );
  console.log("| start | ms |\n|---|---|");
  console.log(`| graph optimization "all" at every start | ${median(cold).toFixed(0)} |`);
  console.log(`| optimized-model cache hit (optimization skipped) | ${median(cached).toFixed(0)} |`);
}
