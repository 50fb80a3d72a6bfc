#!/usr/bin/env node
// Runs node's test runner through tsx on explicit file globs.
// Node 20's `--test` neither expands globs nor finds .ts files by itself, so we expand them here.
// Usage: node scripts/test.mjs [glob ...]   (default: the whole suite)
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const DEFAULT_GLOBS = ["test/**/*.test.ts", "examples/**/*.test.ts"];

function walk(dir) {
  let out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(walk(p));
    else out.push(relative(".", p));
  }
  return out;
}

function globToRegExp(glob) {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      re += "(?:.*/)?";
      i += glob[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const globs = process.argv.slice(2).length ? process.argv.slice(2) : DEFAULT_GLOBS;
const expand = typeof fs.globSync === "function" ? (g) => fs.globSync(g) : (g) => walk(".").filter((f) => globToRegExp(g).test(f));
const files = [...new Set(globs.flatMap(expand))].sort();
if (files.length === 0) {
  console.error(`no test files match ${globs.join(" ")}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, TESSERA_TEST: "1" } },
);
process.exit(r.status ?? 1);
