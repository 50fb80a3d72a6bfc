/**
 * `npm start` on a fresh checkout (a temp folder with package.json and links to src/ and node_modules/,
 * no models/): it creates the demo repository and serves it; then the README's Quick start curl commands
 * run exactly as written (only the port is swapped for a free one).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { ROOT } from "./spawn.ts";
import { spawn } from "node:child_process";

const run = promisify(execFile);

/** The curl commands of README.md's "Quick start: the server" section (continuation lines joined). */
export function readmeCurlCommands(readme: string): string[] {
  const start = readme.indexOf("## Quick start: the server");
  assert.ok(start >= 0, 'README.md has no "## Quick start: the server" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const cmds: string[] = [];
  for (const block of blocks) {
    const joined = block.replace(/\\\n\s*/g, "");
    for (const line of joined.split("\n")) if (line.trim().startsWith("curl ")) cmds.push(line.trim());
  }
  return cmds;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "tessera-clone-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("npm start serves the demo repository and the README curl commands work as written", async () => {
  const cmds = readmeCurlCommands(readFileSync(join(ROOT, "README.md"), "utf8"));
  assert.ok(cmds.length >= 4, `found ${cmds.length} curl commands`);
  copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
  for (const d of ["src", "node_modules", "bin"]) symlinkSync(join(ROOT, d), join(dir, d));
  const port = await freePort();
  const child = spawn("npm", ["start", "--silent"], {
    cwd: dir,
    env: { ...process.env, PORT: String(port), TESSERA_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  try {
    const base = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 300 && !ready; i++) {
      ready = await fetch(`${base}/v2/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ready, `server ready on ${base}; stderr:\n${err}`);
    assert.ok(existsSync(join(dir, "models", "demo-mlp", "1", "model.onnx")), "demo repository created");
    assert.match(readFileSync(join(dir, "models", "demo-mlp", "config.json"), "utf8"), /SYNTHETIC/);
    const outputs: unknown[] = [];
    for (const cmd of cmds) {
      const exact = cmd.replaceAll("127.0.0.1:8000", `127.0.0.1:${port}`);
      const { stdout } = await run("sh", ["-c", exact]);
      outputs.push(JSON.parse(stdout));
    }
    const [health, meta, infer, cls] = outputs as Record<string, unknown>[];
    assert.deepEqual(health, { ready: true });
    assert.equal(meta!.name, "demo-mlp");
    assert.equal(infer!.id, "1");
    assert.deepEqual((infer!.outputs as { shape: number[] }[])[1]!.shape, [2, 3]);
    const labels = (cls!.outputs as { data: string[] }[])[0]!.data;
    assert.equal(labels.length, 2);
    assert.match(labels[0]!, /^[\d.e-]+:\d:(alpha|beta|gamma)$/);
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    await exited;
  }
});

test("the demo repository is deterministic (same bytes every time)", async () => {
  const { demoModels } = await import("../../src/server/index.ts");
  const a = demoModels();
  const b = demoModels();
  assert.deepEqual(
    a.map((m) => Buffer.from(m.bytes).toString("base64")),
    b.map((m) => Buffer.from(m.bytes).toString("base64")),
  );
});
