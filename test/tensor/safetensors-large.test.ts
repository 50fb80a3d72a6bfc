/**
 * Hugging Face checkpoints are sharded at up to 5 GB per file, past the 2 GiB that one `readFileSync` can read.
 * A sparse file stands in for such a shard here: its tensor sits beyond 2 GiB, the bytes before it are a hole.
 */
import assert from "node:assert/strict";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadSafetensors } from "../../src/tensor/index.ts";

test("loadSafetensors reads a file over 2 GiB (tensors past the 2 GiB mark), with metadata and bf16 widening", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-st-large-"));
  const path = join(dir, "model-00001-of-00002.safetensors");
  try {
    const at = 2 ** 31 + 40; // data offset of the tensors: beyond what one read can return
    const header = JSON.stringify({
      __metadata__: { format: "pt" },
      w: { dtype: "F32", shape: [2, 2], data_offsets: [at, at + 16] },
      b: { dtype: "BF16", shape: [2], data_offsets: [at + 16, at + 20] },
      empty: { dtype: "I64", shape: [0, 3], data_offsets: [at + 20, at + 20] },
    });
    const json = Buffer.from(header.padEnd(Math.ceil(header.length / 8) * 8, " "));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const fd = openSync(path, "w");
    try {
      writeSync(fd, len, 0, 8, 0);
      writeSync(fd, json, 0, json.length, 8);
      const start = 8 + json.length;
      ftruncateSync(fd, start + at + 20);
      writeSync(fd, Buffer.from(new Float32Array([1, -2, 3.5, 4]).buffer), 0, 16, start + at);
      writeSync(fd, Buffer.from([0x80, 0x3f, 0x00, 0xc0]), 0, 4, start + at + 16); // bf16 1.0, -2.0
    } finally {
      closeSync(fd);
    }
    const st = loadSafetensors(path, { bf16: "float32" });
    assert.deepEqual(st.metadata, { format: "pt" });
    assert.deepEqual(st.tensors.get("w")!.toArray(), [
      [1, -2],
      [3.5, 4],
    ]);
    assert.deepEqual(st.tensors.get("b")!.toArray(), [1, -2]);
    assert.deepEqual(st.tensors.get("empty")!.shape, [0, 3]);
    assert.equal(st.tensors.get("empty")!.dtype, "int64");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
