/**
 * Triton binary tensor data extension: body = JSON header + raw chunks, little-endian, row-major.
 * BYTES elements are a 4-byte little-endian length followed by the bytes.
 *
 * Decoding returns a TypedArray view of the chunk when the chunk starts at a multiple of the element size
 * (the server's body reader places binary data 8-byte aligned, see src/server/body.ts) and copies it into a
 * fresh array otherwise. A view shares memory with the body: callers must not reuse the body's bytes.
 * Assumes a little-endian host (x86-64 and arm64 are).
 */
import { DATATYPES, wireCtor } from "./datatypes.ts";
import type { Datatype, WireArray } from "./types.ts";

export type BinaryResult = { ok: true; data: WireArray } | { ok: false; message: string };

/** Decodes one tensor's chunk of exactly `count` elements: a view of `chunk` when aligned, else a copy. */
export function decodeBinaryChunk(
  chunk: Uint8Array,
  datatype: Datatype,
  count: number,
  shape: readonly number[],
): BinaryResult {
  if (datatype === "BYTES") return decodeBytesChunk(chunk, count);
  const size = DATATYPES[datatype].byteSize;
  if (chunk.byteLength !== count * size) {
    return {
      ok: false,
      message: `binary_data_size is ${chunk.byteLength} bytes but shape [${shape.join(",")}] of ${datatype} needs ${count * size}`,
    };
  }
  const Ctor = wireCtor(datatype);
  let out: InstanceType<typeof Ctor>;
  if (chunk.byteOffset % size === 0) out = new Ctor(chunk.buffer as ArrayBuffer, chunk.byteOffset, count);
  else {
    out = new Ctor(count);
    new Uint8Array(out.buffer).set(chunk);
  }
  if (datatype === "BOOL") {
    const b = out as Uint8Array;
    for (let i = 0; i < count; i++) {
      if (b[i]! > 1) return { ok: false, message: `BOOL byte ${i} is ${b[i]}, expected 0 or 1` };
    }
  }
  return { ok: true, data: out };
}

function decodeBytesChunk(chunk: Uint8Array, count: number): BinaryResult {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < chunk.byteLength) {
    if (off + 4 > chunk.byteLength) {
      return {
        ok: false,
        message: `BYTES element ${out.length}: length prefix cut off at byte ${off} of ${chunk.byteLength}`,
      };
    }
    const len = view.getUint32(off, true);
    off += 4;
    if (off + len > chunk.byteLength) {
      return {
        ok: false,
        message: `BYTES element ${out.length}: length prefix says ${len} bytes but only ${chunk.byteLength - off} remain`,
      };
    }
    if (out.length === count) {
      return { ok: false, message: `BYTES chunk holds more than the ${count} elements the shape allows` };
    }
    out.push(chunk.slice(off, off + len));
    off += len;
  }
  if (out.length !== count) {
    return { ok: false, message: `BYTES chunk holds ${out.length} elements but the shape needs ${count}` };
  }
  return { ok: true, data: out };
}

/** Encodes one tensor's elements as a binary chunk (a view of the data when it is numeric). */
export function encodeBinaryChunk(datatype: Datatype, data: WireArray): Uint8Array {
  if (datatype !== "BYTES") {
    const a = data as Exclude<WireArray, Uint8Array[]>;
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  const items = data as Uint8Array[];
  let total = 0;
  for (const b of items) total += 4 + b.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const b of items) {
    view.setUint32(off, b.byteLength, true);
    out.set(b, off + 4);
    off += 4 + b.byteLength;
  }
  return out;
}

/** Joins a JSON header and binary chunks into one body (one allocation); returns it with the header's byte length. */
export function joinBody(
  header: string,
  chunks: readonly Uint8Array[],
): { body: Buffer; headerLength: number } {
  const headerLength = Buffer.byteLength(header, "utf8");
  let total = headerLength;
  for (const c of chunks) total += c.byteLength;
  const body = Buffer.allocUnsafe(total);
  body.write(header, 0, "utf8");
  let off = headerLength;
  for (const c of chunks) {
    body.set(c, off);
    off += c.byteLength;
  }
  return { body, headerLength };
}
