/**
 * Parquet page decompressors beyond hyparquet's built-in SNAPPY: GZIP and BROTLI through node:zlib; ZSTD (`zstd.ts`),
 * LZ4_RAW (LZ4 block) and the deprecated LZ4 codec (Hadoop framing, LZ4 frame format, or a bare block, as arrow-rs
 * reads it) in plain JS. LZO is not available: `checkCodecs` refuses such files before anything is read, naming the
 * column and the codec.
 */
import * as zlib from "node:zlib";
import type { Compressors, FileMetaData } from "hyparquet";
import { PipelineError } from "../errors.ts";
import { zstdDecompress } from "./zstd.ts";

function corrupt(codec: string, what: string): PipelineError {
  return new PipelineError("E_PIPELINE_FORMAT", `corrupt ${codec} page: ${what}`, { codec });
}

/**
 * Decodes one LZ4 block (`input[start, end)`) into `output` from `at`; returns the output position after it.
 * Format: sequences of token, literals, 2-byte little-endian offset and match (lz4 Block_format.md).
 */
export function lz4Block(
  input: Uint8Array,
  output: Uint8Array,
  start = 0,
  end = input.length,
  at = 0,
): number {
  let ip = start;
  let op = at;
  while (ip < end) {
    const token = input[ip++]!;
    let literals = token >> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (ip >= end) throw corrupt("LZ4", "literal length runs past the block");
        b = input[ip++]!;
        literals += b;
      } while (b === 255);
    }
    if (ip + literals > end || op + literals > output.length)
      throw corrupt("LZ4", "literals run past the block or the page size");
    output.set(input.subarray(ip, ip + literals), op);
    ip += literals;
    op += literals;
    if (ip >= end) break; // the last sequence has literals only
    if (ip + 2 > end) throw corrupt("LZ4", "truncated match offset");
    const offset = input[ip]! | (input[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw corrupt("LZ4", `match offset ${offset} outside the output`);
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (ip >= end) throw corrupt("LZ4", "match length runs past the block");
        b = input[ip++]!;
        length += b;
      } while (b === 255);
    }
    length += 4;
    if (op + length > output.length) throw corrupt("LZ4", "match runs past the page size");
    for (let i = 0; i < length; i++, op++) output[op] = output[op - offset]!;
  }
  return op;
}

/** LZ4_RAW: one bare LZ4 block. */
function lz4Raw(input: Uint8Array, outputLength: number): Uint8Array {
  const out = new Uint8Array(outputLength);
  const n = lz4Block(input, out);
  if (n !== outputLength)
    throw corrupt("LZ4_RAW", `decoded ${n} bytes, the page header says ${outputLength}`);
  return out;
}

/** Hadoop's framing: [uncompressed size BE32][compressed size BE32][block] repeated; null when it does not fit. */
function lz4Hadoop(input: Uint8Array, outputLength: number): Uint8Array | null {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const out = new Uint8Array(outputLength);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    if (ip + 8 > input.length) return null;
    const raw = view.getUint32(ip);
    const size = view.getUint32(ip + 4);
    ip += 8;
    if (ip + size > input.length || op + raw > outputLength) return null;
    try {
      if (lz4Block(input, out, ip, ip + size, op) !== op + raw) return null;
    } catch {
      return null;
    }
    ip += size;
    op += raw;
  }
  return op === outputLength ? out : null;
}

/**
 * Decodes an LZ4 frame (magic 0x184D2204, lz4 Frame_format.md): blocks, compressed or stored, linked or independent
 * (all decoded into one buffer, so a block's matches may reach into the ones before), checksums skipped. The output
 * has `outputLength` bytes when given (else it grows as needed). Null when the input is not a frame.
 */
export function lz4FrameDecode(input: Uint8Array, outputLength?: number): Uint8Array | null {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length < 7 || view.getUint32(0, true) !== 0x184d2204) return null;
  const flags = input[4]!;
  const blockMax = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(input[5]! >> 4) & 7] || 4 << 20;
  const headerEnd = 7 + (flags & 0x08 ? 8 : 0) + (flags & 0x01 ? 4 : 0); // + content size, dictionary id
  if (headerEnd > input.length) throw corrupt("LZ4", "truncated frame header");
  const contentSize = flags & 0x08 ? Number(view.getBigUint64(6, true)) : undefined;
  let ip = headerEnd;
  const blockChecksum = (flags & 0x10) !== 0;
  // The header's content size sizes the output only when the input could hold it (LZ4 expands at most 255x):
  // a corrupt size must not allocate gigabytes.
  const capacity =
    contentSize !== undefined && contentSize <= input.length * 255
      ? contentSize
      : Math.max(blockMax, input.length * 3);
  let out = new Uint8Array(outputLength ?? capacity);
  let op = 0;
  for (;;) {
    if (ip + 4 > input.length) throw corrupt("LZ4", "truncated frame");
    const word = view.getUint32(ip, true);
    ip += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (ip + size > input.length) throw corrupt("LZ4", "truncated frame block");
    if (outputLength === undefined && op + blockMax > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, op + blockMax));
      grown.set(out.subarray(0, op));
      out = grown;
    }
    if (word & 0x80000000) {
      if (op + size > out.length) throw corrupt("LZ4", "frame runs past the page size");
      out.set(input.subarray(ip, ip + size), op);
      op += size;
    } else op = lz4Block(input, out, ip, ip + size, op);
    ip += size + (blockChecksum ? 4 : 0);
  }
  if (outputLength !== undefined && op !== outputLength)
    throw corrupt("LZ4", `decoded ${op} bytes, the page header says ${outputLength}`);
  if (contentSize !== undefined && op !== contentSize)
    throw corrupt("LZ4", `decoded ${op} bytes, the frame header says ${contentSize}`);
  return op === out.length ? out : out.slice(0, op);
}

function fromBuffer(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Decompressors for hyparquet (`compressors` option) for every codec Tessera reads besides SNAPPY. */
export const COMPRESSORS: Compressors = {
  GZIP: (input) => fromBuffer(zlib.unzipSync(input)),
  BROTLI: (input) => fromBuffer(zlib.brotliDecompressSync(input)),
  LZ4_RAW: lz4Raw,
  ZSTD: zstdDecompress,
  LZ4: (input, outputLength) =>
    lz4Hadoop(input, outputLength) ?? lz4FrameDecode(input, outputLength) ?? lz4Raw(input, outputLength),
};

const READABLE = new Set(["UNCOMPRESSED", "SNAPPY", ...Object.keys(COMPRESSORS)]);

/** Throws `E_PIPELINE_FORMAT` when a column to read is compressed with a codec Tessera cannot decompress (LZO). */
export function checkCodecs(file: string, metadata: FileMetaData, columns: readonly string[]): void {
  for (const rg of metadata.row_groups) {
    for (const c of rg.columns) {
      const m = c.meta_data;
      if (!m || READABLE.has(m.codec) || !columns.includes(m.path_in_schema[0] ?? "")) continue;
      throw new PipelineError(
        "E_PIPELINE_FORMAT",
        `${file}: column "${m.path_in_schema.join(".")}" is compressed with ${m.codec}, which Tessera cannot decompress (it reads ${[...READABLE].join(", ")}); rewrite the file with one of those, e.g. polars write_parquet(compression="snappy") or pyarrow write_table(compression="snappy")`,
        { file, column: m.path_in_schema.join("."), codec: m.codec },
      );
    }
  }
}
