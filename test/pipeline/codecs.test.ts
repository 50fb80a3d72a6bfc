/** LZ4 frame decoding (lz4 Frame_format.md) on hand-built frames, and its refusals of corrupt headers. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { lz4FrameDecode } from "../../src/pipeline/sources/codecs.ts";

/** A frame with a content size field holding `size` and one stored (uncompressed) block of `data`. */
function storedFrame(data: Uint8Array, size: bigint): Uint8Array {
  const b = Buffer.alloc(4 + 2 + 8 + 1 + 4 + data.length + 4);
  b.writeUInt32LE(0x184d2204, 0);
  b[4] = 0x68; // version 01, independent blocks, content size present
  b[5] = 0x40; // 64 KiB blocks
  b.writeBigUInt64LE(size, 6);
  b.writeUInt32LE((data.length | 0x80000000) >>> 0, 15);
  b.set(data, 19);
  return new Uint8Array(b); // the end mark (0) is already there
}

const isCorrupt = (e: Error & { code?: string }) => e.code === "E_PIPELINE_FORMAT" && /LZ4/.test(e.message);

test("lz4FrameDecode reads a stored block; a wrong content size or a cut header is E_PIPELINE_FORMAT", () => {
  const data = new TextEncoder().encode("hello, lz4 frame");
  const frame = storedFrame(data, BigInt(data.length));
  assert.deepEqual(lz4FrameDecode(frame), data);
  assert.deepEqual(lz4FrameDecode(frame, data.length), data);
  assert.equal(lz4FrameDecode(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), null);
  // a corrupt content size must not size the output (2^40 bytes was a RangeError, 1 GiB an allocation)
  assert.throws(() => lz4FrameDecode(storedFrame(data, 1n << 40n)), isCorrupt);
  assert.throws(() => lz4FrameDecode(storedFrame(data, 1n << 30n)), isCorrupt);
  assert.throws(() => lz4FrameDecode(storedFrame(data, 3n)), isCorrupt);
  assert.throws(() => lz4FrameDecode(frame.subarray(0, 10)), isCorrupt);
});
