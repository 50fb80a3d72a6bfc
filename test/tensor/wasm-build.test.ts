import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

test("gemm.as rebuilds to the committed gemm.wasm byte for byte", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-wasm-"));
  try {
    const out = join(dir, "gemm.wasm");
    const r = spawnSync(process.execPath, ["src/tensor/kernels/wasm/build.mjs", "--out", out], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(out), readFileSync("src/tensor/kernels/wasm/gemm.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
