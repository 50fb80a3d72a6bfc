import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { rng } from "../../src/tensor/index.ts";
import {
  autocannonChild,
  type Child,
  MLP_DIM as DIM,
  mlpInferBody,
  procCpuUs,
  startChild,
  writeMlpRepo,
} from "./children.ts";

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
  writeMlpRepo(join(root, c), mlpClassifier().bytes, {
    replicas,
    intraOpThreads: threads,
    batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 4096 },
  });
}
const maxRows = Math.max(...cases.map((c) => c.rows));
const all = Float32Array.from(rng(42).normal([maxRows, DIM], { dtype: "float32" }).data as Float32Array);
const bodyFiles = new Map<string, { file: string; headers: Record<string, string> }>();
for (const c of cases) {
  for (const mode of modes) {
    const e = mlpInferBody(all.subarray(0, c.rows * DIM), c.rows, mode === "binary");
    const file = join(root, `${mode}-${c.rows}`);
    writeFileSync(file, e.body);
    bodyFiles.set(`${mode}-${c.rows}`, { file, headers: e.headers });
  }
}

async function startServer(checkout: string, config: string): Promise<Child> {
  const [dir, ...flags] = checkout.split("+");
  return startChild(
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
    "/v2/health/ready",
  );
}

const results = new Map<string, { cpu: number[]; rps: number[] }>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const checkout of checkouts.flatMap((c) => configs.map((k) => [c, k] as const))) {
    const [dir, config] = checkout;
    const s = await startServer(dir, config);
    try {
      const warm = bodyFiles.get(`${modes[0]}-${cases[0]!.rows}`)!;
      await autocannonChild({
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
          const r = await autocannonChild({
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
