/**
 * Cuts a stream of source chunks into model batches of exactly `batchSize` rows (the last batch of a file
 * may be shorter). Batch k of a file always holds rows [k·batchSize, (k+1)·batchSize) counted from where
 * reading started, whatever the chunk sizes, so a resumed run forms the same batches as a clean one.
 */
import { concatBatches, type RecordBatch, type RowProblem, sliceBatch } from "./batch.ts";
import type { SourceChunk, SourceCursor } from "./sources/index.ts";

export interface Slice {
  readonly batch: RecordBatch;
  /** 0-based file row of the slice's first row. */
  readonly firstRow: number;
  /** Cursor before row `i` of the slice (`i === numRows`: after it). */
  cursorAt(i: number): SourceCursor;
  readonly bytesRead: number;
}

interface Piece {
  readonly chunk: SourceChunk;
  readonly start: number;
  readonly end: number;
}

function build(pieces: readonly Piece[]): Slice {
  const batches = pieces.map((p) => sliceBatch(p.chunk.batch, p.start, p.end));
  let batch: RecordBatch;
  if (batches.length === 1) batch = batches[0]!;
  else {
    const problems: RowProblem[] = [];
    let at = 0;
    for (const b of batches) {
      for (const pr of b.problems ?? []) problems.push({ ...pr, index: pr.index + at });
      at += b.numRows;
    }
    batch = { ...concatBatches(batches), problems };
    if (batches.every((b) => b.lines !== undefined)) {
      const lines = new Int32Array(batch.numRows);
      let row = 0;
      for (const b of batches) {
        lines.set(b.lines!, row);
        row += b.numRows;
      }
      batch = { ...batch, lines };
    }
  }
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  return {
    batch,
    firstRow: first.chunk.firstRow + first.start,
    bytesRead: last.chunk.bytesRead,
    cursorAt(i: number): SourceCursor {
      let at = 0;
      for (const p of pieces) {
        const n = p.end - p.start;
        if (i < at + n || p === last) return p.chunk.cursorAt(p.start + Math.min(i - at, n));
        at += n;
      }
      return last.chunk.cursorAt(last.end);
    },
  };
}

export async function* rebatch(chunks: AsyncIterable<SourceChunk>, batchSize: number): AsyncGenerator<Slice> {
  let pending: Piece[] = [];
  let pendingRows = 0;
  for await (const chunk of chunks) {
    let at = 0;
    const n = chunk.batch.numRows;
    while (at < n) {
      const take = Math.min(batchSize - pendingRows, n - at);
      pending.push({ chunk, start: at, end: at + take });
      pendingRows += take;
      at += take;
      if (pendingRows === batchSize) {
        yield build(pending);
        pending = [];
        pendingRows = 0;
      }
    }
  }
  if (pendingRows > 0) yield build(pending);
}
