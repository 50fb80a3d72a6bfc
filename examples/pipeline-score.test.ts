// Runs examples/pipeline-score.ts as a child process and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/pipeline-score.ts scores a CSV into Parquet with a rejects file", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/pipeline-score.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /scored 999 of 1000 rows, rejected 1/);
  assert.match(r.stdout, /reject: row 501, column income: expected a number, got "not-a-number"/);
  assert.match(r.stdout, /columns: id:float64 probabilities:vector label_index:int32 label:utf8/);
  assert.match(r.stdout, /first row: id 0 → \[\d\.\d{3}, \d\.\d{3}, \d\.\d{3}\] (stay|maybe|leave)/);
  assert.match(r.stdout, /manifest: model churn@1, input sha256 [0-9a-f]{12}…/);
});
