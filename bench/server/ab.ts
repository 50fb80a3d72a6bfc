/**
 * Interleaved A/B of server CPU per row between checkouts (e.g. a `git worktree` of an older commit and this
 * tree), under the same load, for when the machine is shared and whole-run rows/s swings between runs.
 *
 *   node --import tsx bench/server/ab.ts --checkouts /tmp/base,. [--rounds 3] [--duration 5]
 *        [--cases 64x1,64x64] [--modes binary,json] [--configs 2x1,1x2]
 *
 * A checkout may carry node flags for its server: `.+--max-semi-space-size=32` (several joined by `+`).
 * Each round starts every checkout's `bin/tessera.js serve` in turn, once per `--configs` entry REPLICASxTHREADS
 * (session replicas × intra-op threads of the zoo MLP 256→1024→1024→10; default 2x1),
 * warms it, drives each case with autocannon (own process, nice 10) and records the server's CPU time (all
 * threads, /proc) per row and rows/s. Prints min / median per checkout and case.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { encodeInferRequest } from "../../src/server/index.ts";
import { rng } from "../../src/tensor/index.ts";

const { values } = parseArgs({
  options: {
    checkouts: { type: "string", default: "." },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    cases: { type: "string", default: "64x1,64x64" },
    modes: { type: "string", default: "binary,json" },
    configs: { type: "string", default: "2x1" },
  },
});
const DIM = 256;
const DURATION = Number(values.duration);
const checkouts = values.checkouts!.split(",");
const cases = values.cases!.split(",").map((c) => {
  const [clients, rows] = c.split("x").map(Number);
  return { clients: clients!, rows: rows! };
});
const modes = values.modes!.split(",");

const root = mkdtempSync(join(tmpdir(), "tessera-ab-"));
const configs = values.configs!.split(",");
for (const c of configs) {
  const [replicas, threads] = c.split("x").map(Number);
  mkdirSync(join(root, c, "mlp", "1"), { recursive: true });
  writeFileSync(join(root, c, "mlp", "1", "model.onnx"), mlpClassifier().bytes);
  writeFileSync(
    join(root, c, "mlp", "config.json"),
    JSON.stringify({
      replicas,
      intraOpThreads: threads,
      batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 4096 },
    }),
  );
}
const maxRows = Math.max(...cases.map((c) => c.rows));
const all = Float32Array.from(rng(42).normal([maxRows, DIM], { dtype: "float32" }).data as Float32Array);
const bodyFiles = new Map<string, { file: string; headers: Record<string, string> }>();
for (const c of cases) {
  for (const mode of modes) {
    const binary = mode === "binary";
    const e = encodeInferRequest({
      ...(binary ? { parameters: { binary_data_output: true } } : {}),
      inputs: [
        {
          name: "input",
          datatype: "FP32",
          shape: [c.rows, DIM],
          data: all.subarray(0, c.rows * DIM),
          binary,
        },
      ],
      outputs: [{ name: "probabilities" }],
    });
    const file = join(root, `${mode}-${c.rows}`);
    writeFileSync(file, e.body);
    bodyFiles.set(`${mode}-${c.rows}`, { file, headers: e.headers });
  }
}

function procCpuUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return ((Number(x[11]) + Number(x[12])) * 1e6) / 100;
}

async function startServer(
  checkout: string,
  config: string,
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const [dir, ...flags] = checkout.split("+");
  const child = spawn(
    process.execPath,
    [
      ...flags,
      join(resolve(dir!), "bin/tessera.js"),
      "serve",
      "--models",
      join(root, config),
      "--port",
      "0",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const url = await new Promise<string>((res, rej) => {
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /on (http:\/\/\S+)/.exec(err);
      if (m) res(m[1]!);
    });
    child.on("exit", (code) => rej(new Error(`server exited ${code}: ${err}`)));
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

function autocannon(opts: Record<string, unknown>): Promise<{ requests: { total: number }; non2xx: number }> {
  return new Promise((res, rej) => {
    const c = spawn(
      "nice",
      ["-n", "10", process.execPath, join(import.meta.dirname, "autocannon-child.mjs"), JSON.stringify(opts)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    c.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    c.on("error", rej);
    c.on("exit", () => res(JSON.parse(out)));
  });
}

const results = new Map<string, { cpu: number[]; rps: number[] }>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const checkout of checkouts.flatMap((c) => configs.map((k) => [c, k] as const))) {
    const [dir, config] = checkout;
    const s = await startServer(dir, config);
    try {
      const warm = bodyFiles.get(`${modes[0]}-${cases[0]!.rows}`)!;
      await autocannon({
        url: `${s.url}/v2/models/mlp/infer`,
        method: "POST",
        headers: warm.headers,
        bodyFile: warm.file,
        connections: 8,
        duration: 1,
      });
      for (const c of cases) {
        for (const mode of modes) {
          const b = bodyFiles.get(`${mode}-${c.rows}`)!;
          const cpu0 = procCpuUs(s.pid);
          const r = await autocannon({
            url: `${s.url}/v2/models/mlp/infer`,
            method: "POST",
            headers: b.headers,
            bodyFile: b.file,
            connections: c.clients,
            duration: DURATION,
          });
          const cpu = procCpuUs(s.pid) - cpu0;
          const rows = r.requests.total * c.rows;
          const key = `${dir} ${config}\t${c.clients}×${c.rows} ${mode}`;
          const e = results.get(key) ?? { cpu: [], rps: [] };
          e.cpu.push(cpu / rows);
          e.rps.push(rows / DURATION);
          results.set(key, e);
          console.error(
            `round ${round + 1} ${dir} ${config} ${c.clients}×${c.rows} ${mode}: ${(cpu / rows).toFixed(1)} µs/row, ${(rows / DURATION).toFixed(0)} rows/s${r.non2xx ? ` (${r.non2xx} non-2xx)` : ""}`,
          );
        }
      }
    } finally {
      await s.stop();
    }
  }
}
rmSync(root, { recursive: true, force: true });

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("| checkout replicas×threads | case | cpu µs/row min / median | rows/s max / median |");
console.log("|---|---|---|---|");
for (const [key, e] of [...results].sort((a, b) => (a[0].split("\t")[1]! < b[0].split("\t")[1]! ? -1 : 1))) {
  const [checkout, name] = key.split("\t");
  console.log(
    `| ${checkout} | ${name} | ${Math.min(...e.cpu).toFixed(1)} / ${med(e.cpu).toFixed(1)} | ${Math.max(...e.rps).toFixed(0)} / ${med(e.rps).toFixed(0)} |`,
  );
}
