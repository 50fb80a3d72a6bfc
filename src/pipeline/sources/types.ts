import type { FieldSpec, RecordBatch } from "../batch.ts";

/** File formats the pipeline reads and writes. `arrow` = Arrow IPC file (Feather v2), `arrows` = Arrow IPC stream. */
export type FileFormat = "parquet" | "arrow" | "arrows" | "csv" | "jsonl";

/** Where a source stopped: rows consumed, and for text formats the byte offset of the next row. */
export interface SourceCursor {
  readonly rows: number;
  readonly byte?: number;
  /** Text formats: the 1-based line where the next row starts, so line numbers stay exact after a resume. */
  readonly line?: number;
}

export interface SourceChunk {
  readonly batch: RecordBatch;
  /** 0-based index in the file of the batch's first row. */
  readonly firstRow: number;
  /** Cursor just after this chunk: resuming from it continues with the next row. */
  readonly end: SourceCursor;
  /** Cursor before row `index` of this chunk (`index === batch.numRows` gives `end`). */
  cursorAt(index: number): SourceCursor;
  /** Bytes of the file consumed so far (text formats), or an estimate from row groups / batches. */
  readonly bytesRead: number;
}

export interface SourceOptions {
  /** Read only these columns (projection); every one must exist. Default: all. */
  readonly columns?: readonly string[];
  /** Parquet: rows per chunk (row groups are read in windows of this many rows). Default 65536. */
  readonly chunkRows?: number;
  /** Bytes read per chunk for CSV/JSONL. Default 4 MiB. */
  readonly chunkBytes?: number;
  /** Column kinds for CSV/JSONL instead of inferring them from the first chunk. */
  readonly schema?: readonly FieldSpec[];
  /** CSV field delimiter. Default "," (a tab for .tsv files). */
  readonly delimiter?: string;
  /**
   * CSV/JSONL inference: the columns whose values with a leading zero ("007", "02139") are codes, kept as text.
   * Default: every column. Scoring passes its key columns, so that features such as hours "00".."23" stay numbers.
   */
  readonly leadingZeroText?: readonly string[];
  /**
   * CSV/JSONL inference: columns that are model features, so numbers (float64, int64 past 2^53, bool, or numeric
   * lists) whatever share of the first chunk's values look like numbers, also when they are all null there;
   * values that do not fit become row problems. Scoring passes its `--columns`.
   */
  readonly numericColumns?: readonly string[];
  /** CSV/JSONL inference: columns that are text whatever their values look like ("5", "007"; a text model's input). */
  readonly textColumns?: readonly string[];
}

/** A file read as a stream of record batches; never loaded whole. */
export interface Source {
  readonly path: string;
  readonly format: FileFormat;
  /** How the file's bytes are compressed (gzip text inputs); null or absent when they are not. */
  readonly compression?: "gzip" | null;
  /** Size of the file on disk (compressed bytes for a compressed file). */
  readonly sizeBytes: number;
  /** Row count from metadata (Parquet, Arrow file); null when only bytes are known. */
  readonly totalRows: number | null;
  /** Chunks from `from` (default: the start) to the end of the file. */
  chunks(from?: SourceCursor): AsyncIterable<SourceChunk>;
}
