/**
 * The server under HTTP load vs the same model batched in-process, measured in the same run.
 *
 *   node --import tsx bench/server/server.ts [--duration 5] [--levels 1,16,64] [--replicas 2] [--threads 1] [--rows 1]
 *
 * Model: the zoo MLP 256→1024→1024→10 (the one bench/batching uses), one row per request (--rows N for more).
 * Rows:
 *   in-process   C callers in a closed loop calling ModelBatcher.infer (onnxruntime-node worker sessions), no HTTP
 *   server JSON  autocannon with C connections → `tessera serve` (child process) POST /v2/models/mlp/infer, JSON body
 *   server binary the same with a Triton binary body (Inference-Header-Content-Length) and binary outputs
 * Same session settings (replicas, intra-op threads) and batcher settings (max 64 rows, 2 ms delay) everywhere.
 * Reported: requests/s (= rows/s), p50/p99 latency in ms, server/in-process ratio. Target (issue 4): JSON server at
 * 64 clients ≥ 0.85× in-process. The load generator runs in this process and competes for the same cores.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { ModelBatcher } from "../../src/batching/index.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { encodeInferRequest } from "../../src/server/index.ts";
import { rng, Tensor } from "../../src/tensor/index.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    levels: { type: "string", default: "1,16,64" },
    replicas: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
    rows: { type: "string", default: "1" },
  },
});
const DURATION = Number(values.duration);
const LEVELS = values.levels!.split(",").map(Number);
const REPLICAS = Number(values.replicas);
const THREADS = Number(values.threads);
const BATCHING = { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 4096 };
const DIM = 256;
const ROWS = Number(values.rows);

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

/** utime+stime of a process in µs, from /proc (Linux); NaN elsewhere. */
function procCpuUs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return Number.NaN;
  }
}

async function batchStats(url: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name: string) =>
    Number(new RegExp(`^${name}\\{model="mlp"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { count: get("tessera_batch_size_count"), sum: get("tessera_batch_size_sum") };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const model = mlpClassifier();
const row = rng(42).normal([ROWS, DIM], { dtype: "float32" }) as Tensor;
const rowData = Float32Array.from(row.data as Float32Array);

async function inProcess(): Promise<Map<number, Result>> {
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
  const out = new Map<number, Result>();
  try {
    for (let i = 0; i < 50; i++) await batcher.infer({ input: row }); // warm-up
    for (const c of LEVELS) {
      const lat: number[] = [];
      batches = 0;
      batchRows = 0;
      const cpu0 = process.cpuUsage();
      const end = performance.now() + DURATION * 1000;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (performance.now() < end) {
            const s = performance.now();
            await batcher.infer({ input: Tensor.wrap(rowData, [ROWS, DIM]) });
            lat.push(performance.now() - s);
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      out.set(c, {
        reqPerS: (lat.length * ROWS) / secs,
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        errors: 0,
        cpuUsPerReq: (cpu.user + cpu.system) / (lat.length * ROWS),
        meanBatch: batchRows / Math.max(1, batches),
      });
    }
  } finally {
    await batcher.close({ drain: true });
    await session.close();
  }
  return out;
}

async function startServerChild(
  root: string,
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ["bin/tessera.js", "serve", "--models", root, "--port", "0", "--log-level", "warn"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/v2/health/ready`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((r) => child.on("exit", r));
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function load(
  server: { url: string; pid: number },
  connections: number,
  body: Buffer,
  headers: Record<string, string>,
): Promise<Result> {
  const b0 = await batchStats(server.url);
  const cpu0 = procCpuUs(server.pid);
  const r = await autocannon({
    url: `${server.url}/v2/models/mlp/infer`,
    method: "POST",
    body,
    headers,
    connections,
    duration: DURATION,
  });
  const cpu = procCpuUs(server.pid) - cpu0;
  const b1 = await batchStats(server.url);
  return {
    reqPerS: (r.requests.total * ROWS) / DURATION,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    cpuUsPerReq: cpu / Math.max(1, r.requests.total * ROWS),
    meanBatch: (b1.sum - b0.sum) / Math.max(1, b1.count - b0.count),
  };
}

const root = mkdtempSync(join(tmpdir(), "tessera-bench-"));
mkdirSync(join(root, "mlp", "1"), { recursive: true });
writeFileSync(join(root, "mlp", "1", "model.onnx"), model.bytes);
writeFileSync(
  join(root, "mlp", "config.json"),
  JSON.stringify({ replicas: REPLICAS, intraOpThreads: THREADS, batching: BATCHING }),
);

const json = encodeInferRequest({
  inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, DIM], data: rowData }],
  outputs: [{ name: "probabilities" }],
});
const binary = encodeInferRequest({
  parameters: { binary_data_output: true },
  inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, DIM], data: rowData, binary: true }],
  outputs: [{ name: "probabilities" }],
});

console.log(
  `server bench: MLP 256→1024→1024→10, ${ROWS} row(s)/request, ${DURATION}s per level, replicas ${REPLICAS} × ${THREADS} intra-op threads, ` +
    `batching ${JSON.stringify(BATCHING)}; ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)}, node ${process.version}`,
);
const base = await inProcess();
const server = await startServerChild(root);
const viaJson = new Map<number, Result>();
const viaBinary = new Map<number, Result>();
try {
  await load(server, 4, json.body, json.headers); // warm-up
  for (const c of LEVELS) {
    viaJson.set(c, await load(server, c, json.body, json.headers));
    viaBinary.set(c, await load(server, c, binary.body, binary.headers));
  }
} finally {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
const f = (r: Result) =>
  `${r.reqPerS.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} | ${r.meanBatch.toFixed(1)} | ${r.cpuUsPerReq.toFixed(0)}`;
console.log(
  "\nrows/s (= req/s × rows per request); latency p50 / p99 in ms per request; batch = mean rows per formed batch; cpu = µs of CPU (all threads of the serving process) per row\n",
);
console.log(
  "| clients | mode | rows/s | p50 / p99 ms | batch | cpu µs/row | rows/s vs in-process | cpu-bound estimate vs in-process |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const c of LEVELS) {
  const b = base.get(c)!;
  console.log(`| ${c} | in-process ModelBatcher | ${f(b)} | 1.00 | 1.00 |`);
  for (const [name, r] of [
    ["server JSON", viaJson.get(c)!],
    ["server binary", viaBinary.get(c)!],
  ] as const) {
    console.log(
      `| ${c} | ${name} | ${f(r)} | ${(r.reqPerS / b.reqPerS).toFixed(2)} | ${(b.cpuUsPerReq / r.cpuUsPerReq).toFixed(2)} |` +
        (r.errors > 0 ? ` (${r.errors} non-2xx/errors)` : ""),
    );
  }
}
console.log(
  "\ncpu-bound estimate = in-process cpu µs/row ÷ server cpu µs/row: the throughput ratio when the server's cores do nothing else " +
    "(here the load generator shares the same cores, which the req/s ratio includes).",
);
