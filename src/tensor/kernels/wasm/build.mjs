#!/usr/bin/env node
// Builds the WASM kernels (gemm.as, ewise.as, softmax.as → .wasm) with the pinned AssemblyScript compiler
// (devDependency assemblyscript@0.28.20). Reproducible from a fresh `npm ci`:
//   node src/tensor/kernels/wasm/build.mjs [--out-dir dir]
// asc only reads .ts files, so each source is copied to a temp dir first (they are .as so tsc ignores them).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
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
  for (const name of ["gemm", "ewise", "softmax"]) {
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
