// Runs examples/text-embeddings.ts (tiny generated model) and checks what it prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("examples/text-embeddings.ts embeds, compares, truncates", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/text-embeddings.ts"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /model: dim 32, pooling mean, max 128 tokens/);
  assert.match(r.stdout, /embeddings: shape \[3,32\] float32/);
  assert.match(r.stdout, /cosine\(query, doc 2\) = -?\d\.\d{4}/);
  assert.match(r.stdout, /matryoshka: shape \[3,8\]/);
  assert.match(r.stdout, /too long: E_TEXT_TOO_LONG: input 1 has \d+ tokens; the limit is 128/);
  assert.match(r.stdout, /truncated to 128 tokens/);
});
