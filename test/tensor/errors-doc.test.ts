import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

test("every error code thrown in src/tensor has a row in docs/errors.md", () => {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".ts") ? [join(d, e.name)] : [],
    );
  const codes = new Set<string>();
  for (const f of walk("src/tensor"))
    for (const m of readFileSync(f, "utf8").matchAll(/"(E_[A-Z0-9_]+)"/g)) codes.add(m[1]!);
  const doc = readFileSync("docs/errors.md", "utf8");
  const documented = new Set([...doc.matchAll(/^\| (E_[A-Z0-9_]+) \|/gm)].map((m) => m[1]!));
  assert.ok(codes.size > 20);
  assert.deepEqual([...codes].filter((c) => !documented.has(c)).sort(), []);
});
