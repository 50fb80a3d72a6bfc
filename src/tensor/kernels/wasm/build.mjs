#!/usr/bin/env node
// Builds the WASM kernels (every <name>.as in this folder → <name>.wasm: gemm, ewise, softmax) with the pinned AssemblyScript compiler
// (devDependency assemblyscript@0.28.20). Reproducible from a fresh `npm ci`:
//   node src/tensor/kernels/wasm/build.mjs [--out-dir dir]
// asc only reads .ts files, so each source is copied to a temp dir first (they are .as so tsc ignores them).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const outIdx = process.argv.indexOf("--out-dir");
const outDir = outIdx > 0 ? process.argv[outIdx + 1] : here;
const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");
const tmp = mkdtempSync(join(tmpdir(), "tessera-asc-"));
try {
  const names = readdirSync(here)
    .filter((f) => f.endsWith(".as"))
    .map((f) => f.slice(0, -3))
    .sort();
  for (const name of names) {
    const src = join(tmp, `${name}.ts`);
    copyFileSync(join(here, `${name}.as`), src);
    const out = join(outDir, `${name}.wasm`);
    const args = [
      asc,
      src,
      "-o",
      out,
      "-O3",
      "--runtime",
      "stub",
      "--noAssert",
      "--enable",
      "simd",
      "--importMemory",
      "--initialMemory",
      "1",
      "--noExportMemory",
    ];
    const r = spawnSync(process.execPath, args, { stdio: "inherit" });
    if (r.status !== 0) process.exit(r.status ?? 1);
    console.log("built", out);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
