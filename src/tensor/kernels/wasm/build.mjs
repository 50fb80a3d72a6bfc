#!/usr/bin/env node
// Builds gemm.wasm from gemm.as with the pinned AssemblyScript compiler (devDependency assemblyscript@0.28.20).
// Reproducible from a fresh `npm ci`:  node src/tensor/kernels/wasm/build.mjs [--out path]
// asc only reads .ts files, so the source is copied to a temp dir first (it is .as so tsc ignores it).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const outIdx = process.argv.indexOf("--out");
const out = outIdx > 0 ? process.argv[outIdx + 1] : join(here, "gemm.wasm");
const tmp = mkdtempSync(join(tmpdir(), "tessera-asc-"));
try {
  const src = join(tmp, "gemm.ts");
  copyFileSync(join(here, "gemm.as"), src);
  const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");
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
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
