// Runs examples/text-classify.ts (tiny generated classifiers) and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/text-classify.ts scores with softmax for one label per text and a sigmoid per label for multi-label", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/text-classify.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /labels: negative, positive; score rule: softmax/);
  assert.match(r.stdout, /labels: joy, anger, surprise; score rule: sigmoid/);
  const sums = [...r.stdout.matchAll(/text \d: (\w+) (\d\.\d{4}) \(scores sum to (\d+\.\d{4})\)/g)];
  assert.equal(sums.length, 4, r.stdout);
  // softmax: each text's scores sum to 1; sigmoid per label: independent scores (three labels, each in (0, 1))
  for (const m of sums.slice(0, 2)) assert.equal(m[3], "1.0000");
  for (const m of sums.slice(2)) assert.notEqual(m[3], "1.0000");
  assert.match(r.stdout, /raw logit of the best label: -?\d\.\d{4}/);
});
