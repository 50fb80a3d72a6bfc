/**
 * Streaming scoring benchmark.
 *
 *   node --import tsx bench/score/score.ts [--rows 2000000] [--rss-rows 1000000,4000000] [--skip-rss]
 *
 * 1. Throughput: a 2M-row Parquet file (id + 64 float32 features, row groups of 65536) scored with an MLP
 *    (64 → 256 → 256 → 10, labels) by `scoreFiles` into Parquet (id, probabilities, label_index, label),
 *    vs the same rows already in memory through `predictBatch` (items of one row each), vs raw `session.run`
 *    on ready [batch, 64] tensors with the same number in flight (the compute ceiling). Same session, same run.
 * 2. Memory: peak RSS (process.resourceUsage().maxRSS of a child process) scoring 1M vs 4M rows with a tiny MLP,
 *    with default V8 flags and with --max-old-space-size=128.
 * Input files are generated into bench/.fixtures/ (git-ignored) and reused.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { predictBatch } from "../../src/batching/index.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSource, scoreFiles } from "../../src/pipeline/index.ts";
import { openSession, type TensorMap } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "2000000" },
    "rss-rows": { type: "string", default: "1000000,4000000" },
    "skip-rss": { type: "boolean", default: false },
    "batch-size": { type: "string", default: "8192" },
  },
});
const ROWS = Number(args.rows);
const BATCH = Number(args["batch-size"]);
const FIX = path.resolve("bench/.fixtures");
fs.mkdirSync(FIX, { recursive: true });

/** Generates the input in a child process (bench/score/generate.ts), once. */
function generate(file: string, rows: number, features: number): void {
  const gen = spawnSync(
    process.execPath,
    ["--import", "tsx", "bench/score/generate.ts", file, String(rows), String(features)],
    { encoding: "utf8" },
  );
  if (gen.status !== 0) throw new Error(gen.stderr);
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

async function throughput(): Promise<void> {
  const F = 64;
  const input = path.join(FIX, `score-${ROWS}x${F}.parquet`);
  const t0 = performance.now();
  generate(input, ROWS, F);
  console.log(
    `input ${input} (${(fs.statSync(input).size / 2 ** 20).toFixed(0)} MB) ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const model = mlpClassifier({ inputDim: F, hidden: [256, 256], classes: 10, seed: 0 });
  const labels = Array.from({ length: 10 }, (_, i) => `class${i}`);
  const session = await openSession(model.bytes);
  const inFlight = session.replicas * 2;
  console.log(
    `session: ${session.replicas} replicas, batch ${BATCH}, ${inFlight} in flight, ${ROWS.toLocaleString("en-US")} rows`,
  );
  try {
    // warm-up (first call per replica)
    await Promise.all(
      Array.from({ length: session.replicas }, () =>
        session.run({ input: Tensor.wrap(new Float32Array(BATCH * F), [BATCH, F]) }),
      ),
    );

    // rows into memory once (not timed): one [rows, F] matrix
    const matrix = new Float32Array(ROWS * F);
    const src = await openSource(input);
    for await (const c of src.chunks()) {
      for (let f = 0; f < F; f++) {
        const v = c.batch.columns.get(`f${f}`)!.values as Float32Array;
        for (let i = 0; i < c.batch.numRows; i++) matrix[(c.firstRow + i) * F + f] = v[i]!;
      }
    }

    // (a) raw session.run on ready batch tensors, `inFlight` at once: the compute ceiling
    let t = performance.now();
    {
      let next = 0;
      const worker = async () => {
        for (;;) {
          const start = next;
          next += BATCH;
          if (start >= ROWS) return;
          const n = Math.min(BATCH, ROWS - start);
          await session.run({ input: Tensor.wrap(matrix.subarray(start * F, (start + n) * F), [n, F]) });
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    }
    const rawS = (performance.now() - t) / 1000;

    // (b) predictBatch over per-row items already in memory
    const items: TensorMap[] = new Array(ROWS);
    for (let i = 0; i < ROWS; i++)
      items[i] = { input: Tensor.wrap(matrix.subarray(i * F, (i + 1) * F), [F]) };
    t = performance.now();
    const preds = await predictBatch(session, items, {
      batchSize: BATCH,
      outputs: ["probabilities"],
      concurrency: inFlight,
    });
    const memS = (performance.now() - t) / 1000;
    if (preds.length !== ROWS) throw new Error("predictBatch returned the wrong count");
    items.length = 0;
    preds.length = 0;

    // (c) streaming from the Parquet file to a Parquet output
    const output = path.join(FIX, "score-out.parquet");
    t = performance.now();
    const s = await scoreFiles({
      session,
      model: { name: "mlp", version: "1", sha256: session.description.sha256, labels },
      inputs: [input],
      output,
      keyColumns: ["id"],
      outputs: ["probabilities"],
      batchSize: BATCH,
      overwrite: true,
      progress: false,
    });
    const fileS = (performance.now() - t) / 1000;
    const m = JSON.parse(fs.readFileSync(s.manifest, "utf8"));
    console.log("\n| path | rows/s | vs predictBatch |");
    console.log("|---|---:|---:|");
    console.log(
      `| session.run on ready [${BATCH},${F}] tensors (compute ceiling) | ${fmt(ROWS / rawS)} | ${(memS / rawS).toFixed(2)}x |`,
    );
    console.log(`| predictBatch, rows in memory (baseline) | ${fmt(ROWS / memS)} | 1.00x |`);
    console.log(`| scoreFiles parquet → parquet | ${fmt(ROWS / fileS)} | ${(memS / fileS).toFixed(2)}x |`);
    console.log(
      `\nscoreFiles timings (ms, main thread except infer = sum over worker runs): ${JSON.stringify(m.timings)}`,
    );
  } finally {
    await session.close();
  }
}

function rss(): void {
  const sizes = String(args["rss-rows"]).split(",").map(Number);
  const F = 16;
  console.log("\n| rows | peak RSS, default flags | peak RSS, --max-old-space-size=128 | seconds |");
  console.log("|---:|---:|---:|---:|");
  const base: number[] = [];
  for (const rows of sizes) {
    const input = path.join(FIX, `rss-${rows}x${F}.parquet`);
    generate(input, rows, F);
    const out: string[] = [];
    let secs = 0;
    for (const flags of [[], ["--max-old-space-size=128"]]) {
      const r = spawnSync(
        process.execPath,
        [
          ...flags,
          "--import",
          "tsx",
          "test/pipeline/rss-child.ts",
          input,
          path.join(FIX, "rss-out.parquet"),
          String(F),
          "8192",
        ],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(r.stderr);
      const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { maxRssMB: number; seconds: number };
      out.push(`${j.maxRssMB} MB`);
      base.push(j.maxRssMB);
      secs = j.seconds;
    }
    console.log(`| ${fmt(rows)} | ${out[0]} | ${out[1]} | ${secs.toFixed(1)} |`);
  }
  if (base.length === 4) {
    console.log(
      `\nRSS ${fmt(sizes[1]!)} vs ${fmt(sizes[0]!)} rows: default ${(base[2]! / base[0]!).toFixed(2)}x, capped heap ${(base[3]! / base[1]!).toFixed(2)}x`,
    );
  }
}

// RSS first: Linux keeps ru_maxrss across fork+exec, so children of a process that already holds the
// in-memory baseline's rows would report the parent's peak.
if (!args["skip-rss"]) rss();
await throughput();
