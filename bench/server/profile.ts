import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { rng } from "../../src/tensor/index.ts";
import {
  type AutocannonJson,
  autocannonChild,
  MLP_DIM as DIM,
  mlpInferBody,
  procCpuUs,
  startChild,
  writeMlpRepo,
} from "./children.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1" },
    connections: { type: "string", default: "64" },
    duration: { type: "string", default: "5" },
    mode: { type: "string", default: "binary" },
    top: { type: "string", default: "30" },
    replicas: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
  },
});
const ROWS = Number(values.rows);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** utime+stime per thread name (comm) of a process, µs. */
function threadCpuUs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const comm = f.slice(f.indexOf("(") + 1, f.lastIndexOf(")"));
      const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
      const us = ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
      const key = tid === String(pid) ? "main" : `${comm}#${tid}`;
      out.set(key, (out.get(key) ?? 0) + us);
      if (tid === String(pid)) out.set("main (system)", (Number(fields[12]) * 1e6) / 100);
    } catch {
      // thread exited
    }
  }
  return out;
}

const root = mkdtempSync(join(tmpdir(), "tessera-prof-"));
const profDir = join(root, "prof");
writeMlpRepo(join(root, "models"), mlpClassifier().bytes, {
  replicas: Number(values.replicas),
  intraOpThreads: Number(values.threads),
  batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 4096 },
});
const data = Float32Array.from(rng(42).normal([ROWS, DIM], { dtype: "float32" }).data as Float32Array);
const req = mlpInferBody(data, ROWS, values.mode === "binary");
const bodyFile = join(root, "body");
writeFileSync(bodyFile, req.body);

const server = await startChild(
  [
    "--cpu-prof",
    "--cpu-prof-dir",
    profDir,
    "bin/tessera.js",
    "serve",
    "--models",
    join(root, "models"),
    "--port",
    "0",
    "--log-level",
    "warn",
  ],
  "/v2/health/ready",
);
const url = server.url;

function autocannon(duration: number): Promise<AutocannonJson> {
  const opts = {
    url: `${url}/v2/models/mlp/infer`,
    method: "POST",
    headers: req.headers,
    bodyFile,
    connections: Number(values.connections),
    duration,
  };
  return autocannonChild(opts);
}

await autocannon(1); // warm-up
const cpu0 = procCpuUs(server.pid);
const threads0 = threadCpuUs(server.pid);
// V8's profile timestamps and process.hrtime are both CLOCK_MONOTONIC (µs vs ns): keep the load window only.
const w0 = Number(process.hrtime.bigint() / 1000n);
const r = await autocannon(Number(values.duration));
const w1 = Number(process.hrtime.bigint() / 1000n);
const cpu = procCpuUs(server.pid) - cpu0;
const threads1 = threadCpuUs(server.pid);
await server.stop();

const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no profile written in ${profDir}`);
const prof = JSON.parse(readFileSync(join(profDir, file), "utf8")) as CpuProfile;
rmSync(root, { recursive: true, force: true });

const self = new Map<number, number>();
let ts = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]!;
  const dt = prof.timeDeltas[i] ?? 0;
  ts += dt;
  if (ts < w0 || ts > w1) continue;
  self.set(id, (self.get(id) ?? 0) + dt);
}
const byNode = new Map(prof.nodes.map((n) => [n.id, n]));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const frames = new Map<string, number>();
const groups = new Map<string, number>();
const cwd = process.cwd();
const groupOf = (url: string, fn: string): string => {
  if (fn === "(idle)" || fn === "(program)" || fn === "(garbage collector)") return fn;
  if (url === "") return "(native/builtin)";
  const p = url.replace(/^file:\/\//, "");
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p);
  if (m) return `npm:${m[1]}`;
  if (p.startsWith("node:")) return p;
  return relative(cwd, p);
};
for (const [id, us] of self) {
  const n = byNode.get(id)!;
  const { functionName, url: u, lineNumber } = n.callFrame;
  const key = `${functionName || "(anonymous)"} ${groupOf(u, functionName)}:${lineNumber + 1}`;
  frames.set(key, (frames.get(key) ?? 0) + us);
  const g = groupOf(u, functionName);
  groups.set(g, (groups.get(g) ?? 0) + us);
}
const reqs = r.requests.total;
const busy = total - (self.get(prof.nodes.find((n) => n.callFrame.functionName === "(idle)")?.id ?? -1) ?? 0);
console.log(
  `${values.mode} ${values.connections}×${ROWS}: ${reqs} requests in ${values.duration}s (${(reqs / Number(values.duration)).toFixed(0)} req/s, non-2xx ${r.non2xx}); ` +
    `server CPU (all threads) ${(cpu / reqs).toFixed(1)} µs/req = ${(cpu / (reqs * ROWS)).toFixed(2)} µs/row`,
);
console.log(
  `CPU by thread (µs/req, name#tid): ${[...threads1]
    .map(([k, v]) => [k, v - (threads0.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${(v / reqs).toFixed(1)}`)
    .join(", ")}`,
);
console.log(
  `main thread profile: ${(total / 1e3).toFixed(0)} ms sampled, busy ${(busy / 1e3).toFixed(0)} ms (${(busy / reqs).toFixed(1)} µs per request; load window only)\n`,
);
const top = Number(values.top);
const show = (m: Map<string, number>, n: number) => {
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(
      `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / reqs).toFixed(2).padStart(7)} µs/req  ${k}`,
    );
  }
};
// Inclusive time per frame (a frame counted once per sample even when it recurses).
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byNode.get(cur)!;
    const { functionName, url: u, lineNumber } = n.callFrame;
    if (functionName === "(root)") continue;
    const key = `${functionName || "(anonymous)"} ${groupOf(u, functionName)}:${lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
console.log("self time by group:");
show(groups, 20);
console.log("\ntop self-time frames:");
show(frames, top);
console.log("\ntop inclusive frames:");
show(inclusive, top);
