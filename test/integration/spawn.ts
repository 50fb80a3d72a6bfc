/** Spawning `bin/tessera.js` (and `npm start`) as child processes for integration tests. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = `${ROOT}bin/tessera.js`;

export interface Child {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (signal → 128+n style is reported as null). */
  readonly exited: Promise<number | null>;
  /** Resolves with the base URL once the server printed "serving ... on URL". */
  readonly url: Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnChild(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Child {
  const proc = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let resolveUrl!: (u: string) => void;
  let rejectUrl!: (e: Error) => void;
  const url = new Promise<string>((res, rej) => {
    resolveUrl = res;
    rejectUrl = rej;
  });
  url.catch(() => {});
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
    const m = /serving .* on (http:\/\/\S+)/.exec(err);
    if (m) resolveUrl(m[1]!);
  });
  const exited = new Promise<number | null>((res) => {
    proc.on("exit", (code) => {
      rejectUrl(new Error(`exited with ${code} before serving:\n${err}\n${out.slice(-2000)}`));
      res(code);
    });
  });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    url,
    kill: (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.pid !== undefined) proc.kill(signal);
    },
  };
}

/** Runs `tessera ARGS` to completion. */
export async function tessera(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const c = spawnChild(process.execPath, [BIN, ...args], opts);
  const code = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** `tessera serve --models DIR` on a free port with warn-level logs, plus `args`. */
export function spawnServe(models: string, args: readonly string[] = []): Child {
  return spawnChild(process.execPath, [
    BIN,
    "serve",
    "--models",
    models,
    "--port",
    "0",
    "--log-level",
    "warn",
    ...args,
  ]);
}
