// The README's quick start is examples/quickstart.ts verbatim; this runs it and checks both stay in step.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("examples/quickstart.ts runs and prints the model's outputs", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/quickstart.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /probabilities \[ 6, 3 \] classes \[( \d,){5} \d \]/);
  assert.match(r.stdout, /predictBatch 6 items, first \[ 3 \]/);
});

test("README shows the quick start exactly as examples/quickstart.ts has it", () => {
  const readme = readFileSync("README.md", "utf8");
  const body = readFileSync("examples/quickstart.ts", "utf8").split("\n").slice(1).join("\n").trim();
  assert.ok(body.split("\n").length <= 15, "the quick start must stay at most 15 lines");
  assert.ok(readme.includes(body), "README.md's quick start differs from examples/quickstart.ts");
});
