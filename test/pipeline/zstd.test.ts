/** zstdDecompress against vectors from the reference zstd CLI (fixtures/zstd/make.sh) and through Parquet/Arrow files. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { zstdDecompress } from "../../src/pipeline/sources/zstd.ts";

const fixtures = path.join(import.meta.dirname, "fixtures", "zstd");

/** The bytes make.sh compresses: text lines, 4000 scrambled bytes, a repeated pattern. */
function zstdTestData(): Uint8Array {
  let a = "";
  for (let i = 0; i < 3000; i++) a += `row ${i} value ${(i * i) % 9973}\n`;
  const b = new Uint8Array(4000);
  for (let i = 0; i < 4000; i++) b[i] = Number(((BigInt(i) * 2654435761n) & 0xffffffffn) >> 13n) & 0xff;
  return new Uint8Array(Buffer.concat([Buffer.from(a), b, Buffer.from("abc".repeat(5000))]));
}

test("zstdDecompress reproduces the zstd CLI's input at levels 1, 19 and --fast, one or several frames", () => {
  const want = zstdTestData();
  const frames: Uint8Array[] = [];
  for (const name of ["data.1.zst", "data.19.zst", "data.fast.zst"]) {
    const z = new Uint8Array(fs.readFileSync(path.join(fixtures, name)));
    frames.push(z);
    assert.deepEqual(zstdDecompress(z), want, name);
    assert.deepEqual(zstdDecompress(z, want.length), want, `${name} with its size`);
  }
  const skippable = new Uint8Array([0x53, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const joined = Buffer.concat([frames[0]!, skippable, frames[2]!]);
  assert.deepEqual(zstdDecompress(new Uint8Array(joined)), new Uint8Array(Buffer.concat([want, want])));
  // a wrong size or cut input is an E_PIPELINE_FORMAT error, never wrong bytes
  const isCorrupt = (e: Error & { code?: string }) =>
    e.code === "E_PIPELINE_FORMAT" && /ZSTD/.test(e.message);
  assert.throws(() => zstdDecompress(frames[1]!, want.length + 1), isCorrupt);
  assert.throws(() => zstdDecompress(frames[1]!.subarray(0, frames[1]!.length - 100)), isCorrupt);
  // a frame or skippable frame cut inside its header, its checksum or its skipped bytes
  assert.throws(() => zstdDecompress(frames[0]!.subarray(0, frames[0]!.length - 2)), isCorrupt);
  assert.throws(() => zstdDecompress(skippable.subarray(0, 6)), isCorrupt);
  assert.throws(() => zstdDecompress(skippable.subarray(0, 10)), isCorrupt);
});

test("corrupted zstd input throws E_PIPELINE_FORMAT or decodes to exactly the expected size; it never hangs or balloons", () => {
  const want = zstdTestData();
  const clean = new Uint8Array(fs.readFileSync(path.join(fixtures, "data.19.zst")));
  let seed = 11;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let i = 0; i < 300; i++) {
    const z = clean.slice();
    for (let k = 0; k < 1 + (i % 3); k++) z[Math.floor(rnd() * z.length)] = Math.floor(rnd() * 256);
    try {
      assert.equal(zstdDecompress(z, want.length).length, want.length);
    } catch (e) {
      assert.equal((e as { code?: string }).code, "E_PIPELINE_FORMAT", (e as Error).message);
    }
  }
});
