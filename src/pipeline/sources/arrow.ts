/**
 * Arrow IPC source (file and stream format, detected by the "ARROW1" magic), read batch by batch with
 * apache-arrow's async reader over a file handle: numeric buffers are used in place (no copy).
 */
import * as fs from "node:fs";
import { CompressionType, compressionRegistry, RecordBatchReader } from "apache-arrow";
import { fromArrowBatch } from "../arrow-convert.ts";
import { sliceBatch } from "../batch.ts";
import { PipelineError } from "../errors.ts";
import { lz4FrameDecode } from "./codecs.ts";
import { zstdDecompress } from "./zstd.ts";
import type { Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

// Compressed record batches (pyarrow's Feather default is LZ4_FRAME; Polars writes `compression="lz4"` or "zstd"):
// apache-arrow reads them once a codec is registered.
if (!compressionRegistry.get(CompressionType.LZ4_FRAME)) {
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    decode(data: Uint8Array): Uint8Array {
      const out = lz4FrameDecode(data);
      if (out === null) {
        throw new PipelineError(
          "E_PIPELINE_FORMAT",
          "an LZ4_FRAME buffer does not start with the LZ4 frame magic",
          {},
        );
      }
      return out;
    },
  });
}
if (!compressionRegistry.get(CompressionType.ZSTD)) {
  compressionRegistry.set(CompressionType.ZSTD, { decode: (data: Uint8Array) => zstdDecompress(data) });
}

async function isFileFormat(path: string): Promise<boolean> {
  const fh = await fs.promises.open(path, "r");
  try {
    const head = Buffer.alloc(6);
    await fh.read(head, 0, 6, 0);
    return head.toString("latin1") === "ARROW1";
  } finally {
    await fh.close();
  }
}

/** An async reader: random access over a file handle for the file format, a byte stream for the stream format. */
async function openReader(path: string, fileFormat: boolean) {
  if (fileFormat) {
    const fh = await fs.promises.open(path, "r");
    const reader = await RecordBatchReader.from(fh);
    await reader.open();
    return { reader, bytes: () => 0, close: () => fh.close() };
  }
  const stream = fs.createReadStream(path, { highWaterMark: 1 << 20 });
  const reader = await RecordBatchReader.from(stream);
  await reader.open();
  return {
    reader,
    bytes: () => stream.bytesRead,
    close: async () => {
      stream.destroy();
    },
  };
}

export async function openArrow(path: string, options: SourceOptions = {}): Promise<Source> {
  const sizeBytes = (await fs.promises.stat(path)).size;
  const fileFormat = await isFileFormat(path);
  // Read the schema once to validate the projection up front.
  {
    const { reader, close } = await openReader(path, fileFormat);
    try {
      if (!reader.schema) {
        throw new PipelineError(
          "E_PIPELINE_FORMAT",
          `${path}: no Arrow IPC schema (${sizeBytes} bytes; empty, truncated or not an Arrow file)`,
          { file: path },
        );
      }
      const available = reader.schema.fields.map((f) => f.name);
      const missing = (options.columns ?? []).filter((c) => !available.includes(c));
      if (missing.length > 0) {
        throw new PipelineError(
          "E_PIPELINE_MISSING_COLUMN",
          `${path}: column(s) ${missing.map((m) => `"${m}"`).join(", ")} not in the file (has ${available.join(", ")})`,
          { file: path, missing, available },
        );
      }
    } finally {
      await close();
    }
  }
  return {
    path,
    format: fileFormat ? "arrow" : "arrows",
    sizeBytes,
    totalRows: null,
    async *chunks(from: SourceCursor = { rows: 0 }): AsyncIterable<SourceChunk> {
      const { reader, bytes, close } = await openReader(path, fileFormat);
      try {
        yield* batches();
      } finally {
        await close();
      }
      async function* batches(): AsyncGenerator<SourceChunk> {
        const total = reader.isFile() ? reader.numRecordBatches : 0;
        let rows = 0;
        let index = 0;
        const vectorSizes = new Map<string, number>();
        for await (const b of reader) {
          index++;
          const start = rows;
          rows += b.numRows;
          if (rows <= from.rows || b.numRows === 0) continue;
          let batch = fromArrowBatch(b, options.columns, vectorSizes);
          const skip = Math.max(0, from.rows - start);
          if (skip > 0) {
            batch = sliceBatch(batch, skip, b.numRows);
          }
          const bytesRead = total > 0 ? Math.round((sizeBytes * index) / total) : bytes();
          const first = start + skip;
          yield {
            batch,
            firstRow: first,
            end: { rows },
            cursorAt: (i: number) => ({ rows: first + i }),
            bytesRead,
          };
        }
      }
    },
  };
}
