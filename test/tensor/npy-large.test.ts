/**
 * A `.npy` over 2 GiB (an embedding matrix of 1M x 768 float32 is 3 GB) is past what one `readFileSync` reads.
 * The file here is sparse: a float32 vector of 2^29 + 16 elements, zeros except its last four.
 */
import assert from "node:assert/strict";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadNpy } from "../../src/tensor/index.ts";

test("loadNpy reads a file over 2 GiB", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-npy-large-"));
  const path = join(dir, "embeddings.npy");
  try {
    const n = 2 ** 29 + 16;
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n},), }`;
    header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1, " ") + "\n";
    const pre = Buffer.alloc(10);
    Buffer.from("\x93NUMPY", "latin1").copy(pre, 0);
    pre[6] = 1;
    pre[7] = 0;
    pre.writeUInt16LE(header.length, 8);
    const dataStart = 10 + header.length;
    const fd = openSync(path, "w");
    try {
      writeSync(fd, pre, 0, 10, 0);
      writeSync(fd, Buffer.from(header, "latin1"), 0, header.length, 10);
      ftruncateSync(fd, dataStart + n * 4);
      writeSync(fd, Buffer.from(new Float32Array([1.5, -2, 3, 4]).buffer), 0, 16, dataStart + (n - 4) * 4);
    } finally {
      closeSync(fd);
    }
    const t = loadNpy(path);
    assert.equal(t.dtype, "float32");
    assert.deepEqual(t.shape, [n]);
    assert.deepEqual([...(t.data as Float32Array).subarray(n - 5)], [0, 1.5, -2, 3, 4]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
