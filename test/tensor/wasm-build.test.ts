import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

test("the .as kernel sources rebuild to the committed .wasm files byte for byte", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-wasm-"));
  try {
    const r = spawnSync(process.execPath, ["src/tensor/kernels/wasm/build.mjs", "--out-dir", dir], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const names = readdirSync("src/tensor/kernels/wasm")
      .filter((f) => f.endsWith(".as"))
      .map((f) => f.slice(0, -3));
    assert.deepEqual(names.sort(), ["ewise", "gemm", "softmax"]);
    for (const name of names) {
      assert.deepEqual(
        readFileSync(join(dir, `${name}.wasm`)),
        readFileSync(`src/tensor/kernels/wasm/${name}.wasm`),
        name,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
