// Runs examples/batching-mlp.ts as a child process and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/batching-mlp.ts batches words and MLP requests", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/batching-mlp.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /words: A\(batch 4\) B\(batch 4\) C\(batch 4\) D\(batch 4\) E\(batch 1\)/);
  assert.match(r.stdout, /queue full: E_QUEUE_FULL, retry in ~\d+ ms/);
  assert.match(r.stdout, /request 1: 2 row\(s\) → probabilities \[2,3\]/);
  assert.match(r.stdout, /requests: 8, largest batch: \d+ rows/);
  const largest = Number(/largest batch: (\d+)/.exec(r.stdout)![1]);
  assert.ok(largest > 2, `requests were not batched (largest ${largest})`);
  assert.match(r.stdout, /predictBatch: 10 results, first logits shape \[3\]/);
});
