/**
 * Server throughput (issue 4): autocannon drives `tessera serve` on the zoo MLP; the same run measures raw
 * onnxruntime-node in-process (1 and N intra-op threads), the in-process ModelBatcher, and a bare node:http ceiling.
 *
 *   node --import tsx bench/server/server.ts [--duration 8] [--levels 1,16,64] [--multi 64x16,64x64]
 *       [--replicas 2] [--threads 1] [--max-batch 64] [--checkout .]
 *
 * --max-batch sets the model's maxBatchSize (rows per run); the raw ORT baseline runs min(max-batch, clients × rows)
 * rows per run so both sides compute batches of the same size.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { ModelBatcher } from "../../src/batching/index.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { rng, Tensor } from "../../src/tensor/index.ts";
import {
  autocannonChild,
  MLP_DIM as DIM,
  mlpInferBody,
  procCpuUs,
  startChild,
  writeMlpRepo,
} from "./children.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    levels: { type: "string", default: "1,16,64" },
    multi: { type: "string", default: "64x16,64x64" },
    replicas: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
    rows: { type: "string", default: "1" },
    "max-batch": { type: "string", default: "64" },
    checkout: { type: "string", default: "." },
  },
});
const DURATION = Number(values.duration);
interface Case {
  readonly clients: number;
  readonly rows: number;
}
const CASES: Case[] = [
  ...values.levels!.split(",").map((c) => ({ clients: Number(c), rows: Number(values.rows) })),
  ...(values.multi ? values.multi.split(",") : []).map((m) => {
    const [c, r] = m.split("x").map(Number);
    return { clients: c!, rows: r! };
  }),
];
const caseName = (c: Case) => `${c.clients}×${c.rows}`;
const REPLICAS = Number(values.replicas);
const THREADS = Number(values.threads);
const BATCHING = { maxBatchSize: Number(values["max-batch"]), maxQueueDelayMs: 2, maxQueueSize: 4096 };
const MAX_ROWS = Math.max(...CASES.map((c) => c.rows));

interface Result {
  reqPerS: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time (all threads of the serving process, workers included) per request, µs. */
  cpuUsPerReq: number;
  /** Mean rows per formed batch. */
  meanBatch: number;
}

async function batchStats(url: string): Promise<{ count: number; sum: number }> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) return { count: 0, sum: 0 };
  const text = await res.text();
  const get = (name: string) =>
    Number(new RegExp(`^${name}\\{model="mlp"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { count: get("tessera_batch_size_count"), sum: get("tessera_batch_size_sum") };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** What a closed-loop run in this process measured: per-call latencies (ms), wall seconds, CPU µs (all threads). */
interface Loop {
  readonly lat: number[];
  readonly secs: number;
  readonly cpuUs: number;
}

/** `clients` loops calling `call` back to back (each waits for its last answer) until `ms` have passed. */
async function closedLoop(clients: number, ms: number, call: () => Promise<unknown>): Promise<Loop> {
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await call();
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { lat, secs, cpuUs: cpu.user + cpu.system };
}

/** A closed loop's Result: `rows` per call, `meanBatch` rows per formed batch. */
function loopResult(m: Loop, rows: number, meanBatch: number): Result {
  const total = m.lat.length * rows;
  return {
    reqPerS: total / m.secs,
    p50: pct(m.lat, 50),
    p99: pct(m.lat, 99),
    errors: 0,
    cpuUsPerReq: m.cpuUs / total,
    meanBatch,
  };
}

const model = mlpClassifier();
const allRows = Float32Array.from(rng(42).normal([MAX_ROWS, DIM], { dtype: "float32" }).data as Float32Array);
const rowData = (rows: number) => allRows.subarray(0, rows * DIM);

/**
 * The baseline: raw onnxruntime-node in-process (main thread, `threads` intra-op threads), running batches of
 * min(maxBatchSize, clients × rows) rows back to back for half the duration.
 */
async function rawOrt(threads: number): Promise<Map<Case, Result>> {
  const s = await ort.InferenceSession.create(model.bytes, {
    intraOpNumThreads: threads,
    graphOptimizationLevel: "all",
  });
  const out = new Map<Case, Result>();
  try {
    for (const k of CASES) {
      const rows = Math.min(BATCHING.maxBatchSize, k.clients * k.rows);
      const flat = new Float32Array(rows * DIM);
      for (let r = 0; r < rows; r++) flat.set(rowData(1), r * DIM);
      const feed = { input: new ort.Tensor("float32", flat, [rows, DIM]) };
      for (let i = 0; i < 20; i++) await s.run(feed);
      const m = await closedLoop(1, (DURATION * 1000) / 2, () => s.run(feed));
      out.set(k, loopResult(m, rows, rows));
    }
  } finally {
    await s.release();
  }
  return out;
}

async function inProcess(): Promise<Map<Case, Result>> {
  const session = await openSession(model.bytes, { replicas: REPLICAS, intraOpThreads: THREADS });
  let batches = 0;
  let batchRows = 0;
  const batcher = new ModelBatcher(session, {
    ...BATCHING,
    onBatch: (b) => {
      batches++;
      batchRows += b.cost;
    },
  });
  const out = new Map<Case, Result>();
  try {
    for (let i = 0; i < 50; i++) await batcher.infer({ input: Tensor.wrap(rowData(1), [1, DIM]) }); // warm-up
    for (const k of CASES) {
      const data = rowData(k.rows);
      batches = 0;
      batchRows = 0;
      const m = await closedLoop(k.clients, DURATION * 1000, () =>
        batcher.infer({ input: Tensor.wrap(data, [k.rows, DIM]) }),
      );
      out.set(k, loopResult(m, k.rows, batchRows / Math.max(1, batches)));
    }
  } finally {
    await batcher.close({ drain: true });
    await session.close();
  }
  return out;
}

async function load(
  server: { url: string; pid: number; bare?: boolean },
  connections: number,
  rows: number,
  body: { file: string; headers: Record<string, string> },
  duration = DURATION,
): Promise<Result> {
  const b0 = server.bare ? { count: 0, sum: 0 } : await batchStats(server.url);
  const cpu0 = procCpuUs(server.pid);
  const r = await autocannonChild({
    url: `${server.url}/v2/models/mlp/infer`,
    method: "POST",
    headers: body.headers,
    bodyFile: body.file,
    connections,
    duration,
  });
  const cpu = procCpuUs(server.pid) - cpu0;
  const b1 = server.bare ? { count: 0, sum: 0 } : await batchStats(server.url);
  const secs = r.duration > 0 ? r.duration : duration;
  return {
    reqPerS: (r.requests.total * rows) / secs,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    cpuUsPerReq: cpu / Math.max(1, r.requests.total * rows),
    meanBatch: (b1.sum - b0.sum) / Math.max(1, b1.count - b0.count),
  };
}

const root = mkdtempSync(join(tmpdir(), "tessera-bench-"));
writeMlpRepo(root, model.bytes, { replicas: REPLICAS, intraOpThreads: THREADS, batching: BATCHING });

/** Request bodies per rows-per-request, written to files for the autocannon process. */
function bodies(rows: number): { json: BodyFile; binary: BodyFile } {
  const data = rowData(rows);
  const json = mlpInferBody(data, rows, false);
  const binary = mlpInferBody(data, rows, true);
  const write = (name: string, b: { body: Buffer; headers: Record<string, string> }): BodyFile => {
    const file = join(root, `${name}-${rows}.body`);
    writeFileSync(file, b.body);
    return { file, headers: b.headers };
  };
  return { json: write("json", json), binary: write("binary", binary) };
}
interface BodyFile {
  file: string;
  headers: Record<string, string>;
}

const THREADS_N = availableParallelism();
console.log(
  `server bench: MLP 256→1024→1024→10, cases (clients×rows per request) ${CASES.map(caseName).join(", ")}, ${DURATION}s per case, replicas ${REPLICAS} × ${THREADS} intra-op threads, ` +
    `batching ${JSON.stringify(BATCHING)}; server from ${values.checkout}; load generator: autocannon in its own process at nice 10; ${THREADS_N} cores, load average ${loadavg()[0]!.toFixed(1)}, node ${process.version}`,
);
const raw1 = await rawOrt(1);
const rawN = THREADS_N > 1 ? await rawOrt(THREADS_N) : raw1;
await new Promise((r) => setTimeout(r, 250));
const base = await inProcess();
const viaBare = new Map<Case, Result>();
const viaJson = new Map<Case, Result>();
const viaBinary = new Map<Case, Result>();
const bare = await startChild([join(import.meta.dirname, "bare-http.mjs")], null);
try {
  for (const k of CASES) {
    if (k.rows !== 1) continue;
    await load({ ...bare, bare: true }, k.clients, k.rows, bodies(1).binary, 1); // warm-up
    viaBare.set(k, await load({ ...bare, bare: true }, k.clients, k.rows, bodies(1).binary));
  }
} finally {
  await bare.stop();
}
const server = await startChild(
  [join(values.checkout!, "bin/tessera.js"), "serve", "--models", root, "--port", "0", "--log-level", "warn"],
  "/v2/health/ready",
);
try {
  const warm = bodies(1);
  await load(server, 4, 1, warm.json, 2); // warm-up
  for (const k of CASES) {
    const b = bodies(k.rows);
    viaJson.set(k, await load(server, k.clients, k.rows, b.json));
    viaBinary.set(k, await load(server, k.clients, k.rows, b.binary));
  }
} finally {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
const f = (r: Result) =>
  `${r.reqPerS.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} | ${r.meanBatch.toFixed(1)} | ${r.cpuUsPerReq.toFixed(1)}`;
console.log(
  "\nrows/s (= req/s × rows per request); latency p50 / p99 in ms per request; batch = mean rows per formed batch; cpu = µs of CPU (all threads of the serving process) per row; " +
    "best raw ORT = the faster of raw ORT ×1 and ×N in that case\n",
);
console.log(
  "| clients × rows | mode | rows/s | p50 / p99 ms | batch | cpu µs/row | rows/s ÷ best raw ORT | rows/s ÷ in-process batcher | cpu-bound estimate ÷ raw ORT ×1 |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
const summary: string[] = [];
for (const k of CASES) {
  const o1 = raw1.get(k)!;
  const oN = rawN.get(k)!;
  const best = oN.reqPerS > o1.reqPerS ? oN : o1;
  const b = base.get(k)!;
  const rows: (readonly [string, Result])[] = [
    ["raw ORT ×1 (1 intra-op thread)", o1],
    ...(THREADS_N > 1 ? [[`raw ORT ×${THREADS_N} (${THREADS_N} intra-op threads)`, oN] as const] : []),
    [`in-process ModelBatcher (${REPLICAS}×${THREADS})`, b],
    ...(viaBare.has(k) ? [["bare node:http ceiling", viaBare.get(k)!] as const] : []),
    ["server JSON", viaJson.get(k)!],
    ["server binary", viaBinary.get(k)!],
  ];
  for (const [name, r] of rows) {
    console.log(
      `| ${caseName(k)} | ${name} | ${f(r)} | ${(r.reqPerS / best.reqPerS).toFixed(2)} | ${(r.reqPerS / b.reqPerS).toFixed(2)} | ${(o1.cpuUsPerReq / r.cpuUsPerReq).toFixed(2)} |` +
        (r.errors > 0 ? ` (${r.errors} non-2xx/errors)` : ""),
    );
  }
  const bin = viaBinary.get(k)!;
  const js = viaJson.get(k)!;
  summary.push(
    `${caseName(k)}: server binary ${(bin.reqPerS / best.reqPerS).toFixed(2)}×, JSON ${(js.reqPerS / best.reqPerS).toFixed(2)}× the best raw ORT (${best === o1 ? "×1" : `×${THREADS_N}`}, ${best.reqPerS.toFixed(0)} rows/s)` +
      (viaBare.has(k)
        ? `; bare node:http ceiling ${(viaBare.get(k)!.reqPerS / best.reqPerS).toFixed(2)}× (${viaBare.get(k)!.reqPerS.toFixed(0)} req/s)`
        : ""),
  );
}
console.log(
  "\ncpu-bound estimate = raw ORT ×1 cpu µs/row ÷ the mode's cpu µs/row: the throughput ratio when the server's cores do nothing else " +
    "(here the load generator shares the same cores, which the rows/s ratio includes).",
);
console.log(`\ntarget (issue 4): server at 64 clients ≥ 0.85× the best raw ORT\n${summary.join("\n")}`);
