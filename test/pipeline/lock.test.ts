/**
 * One run at a time per output: `<output>.parts/lock.json` names the process writing it; a second run (a cron job's
 * next --resume while the last one still runs) is refused instead of writing the same parts, and a crashed run's
 * lock is taken over.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { scoreFiles } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { mlpScoreOptions, tmpDir } from "./helpers.ts";

const dir = tmpDir();
const ROWS = 3000;
let session: InferenceSession;

before(async () => {
  session = await openSession(mlpClassifier({ inputDim: 2, hidden: [8], classes: 2, seed: 2 }).bytes, {
    replicas: 1,
    intraOpThreads: 1,
  });
  const lines = Array.from({ length: ROWS }, (_, i) => `${i},${i % 7},${i % 5}`);
  fs.writeFileSync(path.join(dir, "in.csv"), `id,a,b\n${lines.join("\n")}\n`);
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (inputs: string[], output: string) => mlpScoreOptions(session, inputs, output);

test("a second run on an output that a live run is writing is refused (--resume or --overwrite); a crashed run's lock is taken over", async () => {
  const input = path.join(dir, "in.csv");
  const out = path.join(dir, "locked.jsonl");
  const first = scoreFiles(options([input], out));
  await assert.rejects(scoreFiles({ ...options([input], out), resume: true }), {
    code: "E_PIPELINE_OUTPUT_EXISTS",
    message:
      /is being written by another tessera score \(pid \d+.*remove \S*locked\.jsonl\.parts\/lock\.json\)$/,
  });
  await assert.rejects(scoreFiles({ ...options([input], out), overwrite: true }), {
    code: "E_PIPELINE_OUTPUT_EXISTS",
    message: /is being written by another tessera score/,
  });
  const s = await first;
  assert.equal(s.rowsScored, ROWS);
  const clean = path.join(dir, "unlocked.jsonl");
  await scoreFiles({ ...options([input], clean), keepParts: true });
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(clean)));
  // a finished run releases its lock also when its parts folder is kept
  assert.ok(fs.existsSync(`${clean}.parts/checkpoint.json`));
  assert.ok(!fs.existsSync(`${clean}.parts/lock.json`));
  // a run killed with its lock in place: the next --resume takes it over
  const controller = new AbortController();
  controller.abort();
  const killed = path.join(dir, "killed-lock.jsonl");
  await assert.rejects(scoreFiles({ ...options([input], killed), signal: controller.signal }));
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  const lockFile = `${killed}.parts/lock.json`;
  fs.writeFileSync(
    lockFile,
    JSON.stringify({ token: "x", pid: dead, host: os.hostname(), startedAt: "then" }),
  );
  const r = await scoreFiles({ ...options([input], killed), resume: true });
  assert.equal(r.rowsScored, ROWS);
  assert.ok(!fs.existsSync(lockFile));
});

test("a crashed run's lock with this process's pid (PID 1 again in a restarted container) or another host's stale lock is taken over; a fresh one is not", async () => {
  const input = path.join(dir, "in.csv");
  const out = path.join(dir, "reused-pid.jsonl");
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(scoreFiles({ ...options([input], out), signal: controller.signal }));
  const lockFile = `${out}.parts/lock.json`;
  const write = (holder: object, ageMs = 0) => {
    fs.writeFileSync(lockFile, JSON.stringify({ token: "old", startedAt: "then", ...holder }));
    const t = new Date(Date.now() - ageMs);
    fs.utimesSync(lockFile, t, t);
  };
  write({ pid: 12345, host: "other-host" });
  await assert.rejects(scoreFiles({ ...options([input], out), resume: true }), {
    code: "E_PIPELINE_OUTPUT_EXISTS",
    message: /pid 12345 on other-host, seen \d+ s ago/,
  });
  write({ pid: 12345, host: "other-host" }, 10 * 60_000);
  await assert.rejects(scoreFiles({ ...options([input], out), resume: true, signal: controller.signal }), {
    message: /interrupted/,
  });
  write({ pid: process.pid, host: os.hostname() });
  const r = await scoreFiles({ ...options([input], out), resume: true });
  assert.equal(r.rowsScored, ROWS);
});

test("a second run that fails before reaching the lock (a missing input, with --overwrite) leaves the live run's folder alone", async () => {
  const input = path.join(dir, "in.csv");
  const out = path.join(dir, "early-error.jsonl");
  // no part is committed before the second run: its checkpoint lists none
  const first = scoreFiles({ ...options([input], out), partRows: ROWS });
  await assert.rejects(
    scoreFiles({ ...options([input, path.join(dir, "absent.csv")], out), overwrite: true }),
    { code: "E_PIPELINE_NO_INPUT" },
  );
  assert.ok(fs.existsSync(`${out}.parts/lock.json`));
  const s = await first;
  assert.equal(s.rowsScored, ROWS);
  assert.equal(fs.readFileSync(out, "utf8").trimEnd().split("\n").length, ROWS);
});
