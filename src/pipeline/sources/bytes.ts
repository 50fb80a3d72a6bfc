/**
 * The bytes of a text input, plain or gzip-compressed, read in chunks from an offset of the *decompressed* bytes.
 *
 * Plain files are read with positioned reads (a resume seeks straight to its byte). A gzip file cannot be seeked
 * into, so it is decompressed as a stream from its start (node:zlib, every member of a multi-member file, as
 * `cat a.gz b.gz` makes) and the bytes before the offset are dropped: a resume costs one decompression pass over
 * the part already scored, never memory. Corrupt or truncated gzip data throws `E_PIPELINE_COMPRESSION` naming the
 * file and where it broke.
 */
import * as fs from "node:fs";
import { pipeline } from "node:stream";
import * as zlib from "node:zlib";
import { PipelineError } from "../errors.ts";

/** How an input file's bytes are compressed. */
export type Compression = "gzip" | null;

export interface RawChunk {
  /** Decompressed bytes; empty exactly once, at the end of the data. */
  readonly data: Buffer;
  /** Bytes of the file itself read so far (compressed bytes for gzip): for progress against the file size. */
  readonly fileBytes: number;
}

/** Chunks of about `chunkBytes` decompressed bytes from decompressed offset `startByte`, then one empty chunk. */
export async function* rawChunks(
  path: string,
  startByte: number,
  chunkBytes: number,
  compression: Compression,
): AsyncGenerator<RawChunk> {
  if (compression === "gzip") {
    yield* gzipChunks(path, startByte, chunkBytes);
    return;
  }
  const fh = await fs.promises.open(path, "r");
  try {
    let pos = startByte;
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, pos);
      pos += bytesRead;
      yield { data: buf.subarray(0, bytesRead), fileBytes: pos };
      if (bytesRead === 0) return;
    }
  } finally {
    await fh.close();
  }
}

async function* gzipChunks(path: string, startByte: number, chunkBytes: number): AsyncGenerator<RawChunk> {
  const file = fs.createReadStream(path, { highWaterMark: 1 << 16 });
  const gunzip = zlib.createGunzip({ chunkSize: Math.min(chunkBytes, 1 << 18) });
  // pipeline forwards a read error of the file into the decompressor and destroys both on an early return
  const out = pipeline(file, gunzip, () => undefined);
  let skip = startByte;
  let decoded = 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  try {
    for await (const piece of out as AsyncIterable<Buffer>) {
      decoded += piece.length;
      let b = piece;
      if (skip > 0) {
        if (b.length <= skip) {
          skip -= b.length;
          continue;
        }
        b = b.subarray(skip);
        skip = 0;
      }
      held.push(b);
      heldBytes += b.length;
      if (heldBytes >= chunkBytes) {
        yield {
          data: held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes),
          fileBytes: file.bytesRead,
        };
        held = [];
        heldBytes = 0;
      }
    }
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw gzipError(path, e, decoded, file.bytesRead);
  } finally {
    out.destroy();
  }
  if (skip > 0) {
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      `${path}: the checkpoint's position (byte ${startByte} of the decompressed data) is past its end (${decoded} bytes); the file changed since the run started`,
      { file: path, compression: "gzip", byte: startByte, decompressedBytes: decoded },
    );
  }
  if (heldBytes > 0) yield { data: Buffer.concat(held, heldBytes), fileBytes: file.bytesRead };
  yield { data: Buffer.alloc(0), fileBytes: file.bytesRead };
}

/** A zlib (or file) failure as `E_PIPELINE_COMPRESSION`: truncated, not gzip, or corrupt, and where. */
function gzipError(path: string, e: unknown, decoded: number, fileBytes: number): unknown {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== "string" || !err.code.startsWith("Z_")) return e; // a file system error
  const truncated = err.code === "Z_BUF_ERROR";
  // the file starts with the gzip magic (checked when it was opened): a bad header is a later member's
  const why = truncated
    ? "the gzip data ends before its end marker (a truncated or partly copied file)"
    : err.message === "incorrect header check"
      ? "bytes after the last complete gzip member are not gzip data (trailing garbage or a damaged member header)"
      : `corrupt gzip data (${err.message})`;
  return new PipelineError(
    "E_PIPELINE_COMPRESSION",
    `${path}: ${why}; ${decoded} bytes decompressed before it, within the first ${fileBytes} bytes of the file (${err.code})`,
    { file: path, compression: "gzip", reason: err.message, decompressedBytes: decoded, truncated },
    { cause: e },
  );
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
/** "BZh", a block size digit, then the first block's magic (pi): never the start of a text header. */
const BZIP2_BLOCK = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];

/** The first bytes of a file (fewer when it is shorter). */
export async function leadingBytes(path: string, n: number): Promise<Buffer> {
  const fh = await fs.promises.open(path, "r");
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** What the leading bytes (10 are enough) say: gzip, another compression or archive, or neither (text). */
export function sniffCompression(head: Uint8Array): "gzip" | "zstd" | "zip" | "xz" | "bzip2" | null {
  const at = (m: readonly number[], from = 0) =>
    head.length >= from + m.length && m.every((x, i) => head[from + i] === x);
  if (at(GZIP_MAGIC)) return "gzip";
  if (at(ZSTD_MAGIC)) return "zstd";
  if (at(ZIP_MAGIC)) return "zip";
  if (at(XZ_MAGIC)) return "xz";
  if (at([0x42, 0x5a, 0x68]) && head[3]! >= 0x31 && head[3]! <= 0x39 && at(BZIP2_BLOCK, 4)) return "bzip2";
  return null;
}
