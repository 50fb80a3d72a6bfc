// Runs examples/server-client.ts as a child process and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/server-client.ts serves the demo repository and calls it in JSON and binary", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/server-client.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /serving on http:\/\/127\.0\.0\.1:\d+, ready: true/);
  assert.match(r.stdout, /json: id ex-1, probabilities \[2,3\], row sums 1\.000 1\.000/);
  assert.match(r.stdout, /binary: application\/octet-stream, logits Float32Array\(3\)/);
  assert.match(r.stdout, /top-2: [\d.e-]+:\d:(alpha|beta|gamma), [\d.e-]+:\d:(alpha|beta|gamma)/);
  assert.match(
    r.stdout,
    /bad request: 400 inputs\[0\]\.data: input "input": data has 3 elements but shape \[1,4\] holds 4/,
  );
  assert.match(r.stdout, /metrics: \d+ request series/);
  assert.match(r.stdout, /shutdown exit code: 0/);
});
