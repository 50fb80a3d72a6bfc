/**
 * What the server benchmarks share: child processes (a server, or any script, that prints `on http://...` on
 * stderr once it listens; the autocannon load generator as its own process), CPU time read from /proc, and the
 * zoo MLP fixture (its repository folder and its infer request bodies).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeInferRequest } from "../../src/server/index.ts";

/** Width of the zoo MLP's input rows (`mlpClassifier()`: 256 → 1024 → 1024 → 10). */
export const MLP_DIM = 256;

/** Writes `dir/mlp/1/model.onnx` (the given model bytes) and `dir/mlp/config.json` (`config` as JSON). */
export function writeMlpRepo(dir: string, modelBytes: Uint8Array, config: Record<string, unknown>): void {
  mkdirSync(join(dir, "mlp", "1"), { recursive: true });
  writeFileSync(join(dir, "mlp", "1", "model.onnx"), modelBytes);
  writeFileSync(join(dir, "mlp", "config.json"), JSON.stringify(config));
}

/**
 * An MLP infer request for `rows` rows of `data` asking for `probabilities`: binary input and binary output, or
 * JSON both ways.
 */
export function mlpInferBody(
  data: Float32Array,
  rows: number,
  binary: boolean,
): { body: Buffer; headers: Record<string, string> } {
  return encodeInferRequest({
    ...(binary ? { parameters: { binary_data_output: true } } : {}),
    inputs: [{ name: "input", datatype: "FP32", shape: [rows, MLP_DIM], data, binary }],
    outputs: [{ name: "probabilities" }],
  });
}

export interface Child {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node ...argv` and resolves once it printed its URL and, unless `readyPath` is null, once
 * `GET readyPath` answers 200 (polled every 100 ms for up to a minute).
 */
export async function startChild(argv: string[], readyPath: string | null): Promise<Child> {
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`child exited ${code}: ${err}`)));
  });
  const exited = new Promise((r) => child.on("exit", r));
  for (let i = 0; readyPath !== null && i < 600; i++) {
    if ((await fetch(`${url}${readyPath}`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** What `autocannon-child.mjs` prints: autocannon's result JSON (the fields the benches read). */
export interface AutocannonJson {
  requests: { total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

/** Runs autocannon as its own process at nice 10 (plain when `nice` is missing); returns its JSON result. */
export async function autocannonChild(options: Record<string, unknown>): Promise<AutocannonJson> {
  const args = [JSON.stringify(options)];
  const bin = join(import.meta.dirname, "autocannon-child.mjs");
  const run = (cmd: string, argv: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, out, err }));
    });
  let r: { code: number | null; out: string; err: string };
  try {
    r = await run("nice", ["-n", "10", process.execPath, bin, ...args]);
  } catch {
    r = await run(process.execPath, [bin, ...args]);
  }
  if (r.code !== 0) throw new Error(`autocannon exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as AutocannonJson;
}

/** utime+stime of a process in µs, from /proc (Linux); NaN elsewhere. */
export function procCpuUs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return Number.NaN;
  }
}
