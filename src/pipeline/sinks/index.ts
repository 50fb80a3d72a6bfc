/**
 * Sinks write record batches to one file: Parquet (hyparquet-writer, row groups of `rowGroupRows`),
 * Arrow IPC file/stream (apache-arrow), CSV and JSONL (built as text per batch). `close()` flushes and
 * fsyncs the file; atomic placement (tmp + rename) is the caller's job (see `atomic.ts`).
 */
import { once } from "node:events";
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { RecordBatchFileWriter, RecordBatchStreamWriter, type Schema } from "apache-arrow";
import { toArrowBatch, toArrowSchema } from "../arrow-convert.ts";
import type { Column, FieldSpec, RecordBatch } from "../batch.ts";
import { PipelineError } from "../errors.ts";
import type { FileFormat } from "../sources/index.ts";
import { openParquetSink } from "./parquet.ts";

export { mergeParquet } from "./parquet.ts";

export interface SinkOptions {
  /** Rows per Parquet row group (batches are buffered up to it). Default 65536. */
  readonly rowGroupRows?: number;
  /** Write the CSV header line. Default true (parts of a CSV output are written without it). */
  readonly header?: boolean;
  /** CSV field delimiter: "," (default) or "\t" (TSV). Fields holding it are quoted. */
  readonly delimiter?: string;
  /** CSV/JSONL: gzip the file (one gzip member, compressed as it is written). Default false. */
  readonly gzip?: boolean;
}

export interface Sink {
  readonly path: string;
  readonly format: FileFormat;
  write(batch: RecordBatch): Promise<void>;
  /** Flushes, fsyncs and closes; returns the file size. */
  close(): Promise<number>;
}

/** fsync a file by path (flushes its data and metadata to disk). */
export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function checkColumns(path: string, fields: readonly FieldSpec[], batch: RecordBatch): void {
  for (const f of fields) {
    const c = batch.columns.get(f.name);
    if (!c || c.kind !== f.kind) {
      throw new PipelineError(
        "E_PIPELINE_SCHEMA",
        `${path}: batch column "${f.name}" is ${c ? c.kind : "missing"}, sink expects ${f.kind}`,
        {
          file: path,
          column: f.name,
        },
      );
    }
  }
}

// ---------------------------------------------------------------- Arrow IPC

function openParquet(path: string, fields: readonly FieldSpec[], options: SinkOptions): Sink {
  const s = openParquetSink(path, fields, options.rowGroupRows);
  return { path, format: "parquet", write: (b) => s.write(b), close: () => s.close() };
}

async function openArrowSink(path: string, fields: readonly FieldSpec[], stream: boolean): Promise<Sink> {
  const schema: Schema = toArrowSchema(fields);
  const writer = stream ? new RecordBatchStreamWriter() : new RecordBatchFileWriter();
  const out = fs.createWriteStream(path);
  const done = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
  });
  writer.toNodeStream().pipe(out);
  writer.reset(undefined, schema);
  let wroteAny = false;
  return {
    path,
    format: stream ? "arrows" : "arrow",
    async write(batch) {
      checkColumns(path, fields, batch);
      writer.write(toArrowBatch(batch, schema));
      wroteAny = true;
      if (out.writableNeedDrain) await new Promise<void>((r) => out.once("drain", () => r()));
    },
    async close() {
      if (!wroteAny) writer.write(toArrowBatch(emptyBatch(fields), schema));
      writer.finish();
      await writer.close();
      await done;
      fsyncPath(path);
      return fs.statSync(path).size;
    },
  };
}

function emptyBatch(fields: readonly FieldSpec[]): RecordBatch {
  const columns = new Map<string, Column>();
  for (const f of fields) {
    const valid = null;
    switch (f.kind) {
      case "utf8":
        columns.set(f.name, { kind: "utf8", length: 0, valid, values: [] });
        break;
      case "vector":
        columns.set(f.name, {
          kind: "vector",
          size: f.size ?? 0,
          length: 0,
          valid,
          values: new Float32Array(0),
        });
        break;
      case "float32":
        columns.set(f.name, { kind: f.kind, length: 0, valid, values: new Float32Array(0) });
        break;
      case "float64":
        columns.set(f.name, { kind: f.kind, length: 0, valid, values: new Float64Array(0) });
        break;
      case "int32":
        columns.set(f.name, { kind: f.kind, length: 0, valid, values: new Int32Array(0) });
        break;
      case "int64":
        columns.set(f.name, { kind: f.kind, length: 0, valid, values: new BigInt64Array(0) });
        break;
      case "bool":
        columns.set(f.name, { kind: f.kind, length: 0, valid, values: new Uint8Array(0) });
        break;
    }
  }
  return { numRows: 0, columns };
}

// ---------------------------------------------------------------- CSV / JSONL

function csvField(s: string, delimiter = ","): string {
  if (s === "" || /[",\r\n]/.test(s) || s.includes(delimiter) || s.trim() !== s)
    return `"${s.replaceAll('"', '""')}"`;
  return s;
}

function vectorText(values: Float32Array, row: number, size: number): string {
  let s = "[";
  for (let k = 0; k < size; k++) s += (k ? "," : "") + jsonNumber(values[row * size + k]!);
  return s + "]";
}

function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : "null";
}

/** Text of one cell for CSV (`csv`, fields split by `delimiter`) or JSON; null → "" (CSV) / "null" (JSON). */
function cellText(col: Column, row: number, csv: boolean, delimiter: string): string {
  if (col.valid !== null && col.valid[row] === 0) return csv ? "" : "null";
  switch (col.kind) {
    case "utf8":
      return csv ? csvField(col.values[row]!, delimiter) : JSON.stringify(col.values[row]!);
    case "bool":
      return col.values[row] === 1 ? "true" : "false";
    case "vector": {
      const t = vectorText(col.values, row, col.size);
      return csv ? `"${t}"` : t;
    }
    case "int64":
      return String(col.values[row]!);
    default: {
      const x = col.values[row]!;
      return csv ? String(x) : jsonNumber(x);
    }
  }
}

function openTextSink(
  path: string,
  fields: readonly FieldSpec[],
  format: "csv" | "jsonl",
  options: SinkOptions,
): Sink {
  const fd = fs.openSync(path, "w");
  // gzip: compressed in libuv's thread pool while the next batches are scored; the file is one gzip member
  const gz = options.gzip ? zlib.createGzip() : null;
  // a failed write of compressed bytes (ENOSPC) happens in zlib's callback: kept here and thrown by the next
  // write or close, never an uncaught exception
  let failed: Error | null = null;
  const gzDone =
    gz === null
      ? null
      : new Promise<void>((resolve, reject) => {
          gz.on("data", (b: Buffer) => {
            try {
              fs.writeSync(fd, b);
            } catch (e) {
              failed = e as Error;
              gz.destroy(failed);
            }
          });
          gz.on("end", resolve);
          gz.on("error", reject);
        });
  gzDone?.catch(() => undefined); // surfaced by close()
  const put = async (text: string): Promise<void> => {
    if (gz === null) fs.writeSync(fd, text);
    else if (failed !== null) throw failed;
    else if (!gz.write(text)) await once(gz, "drain"); // rejects when the stream fails meanwhile
  };
  const csv = format === "csv";
  const d = options.delimiter ?? ",";
  const header = csv && options.header !== false ? fields.map((f) => csvField(f.name, d)).join(d) + "\n" : "";
  if (header) void put(header);
  const keys = fields.map((f, i) => (i ? "," : "{") + JSON.stringify(f.name) + ":");
  return {
    path,
    format,
    async write(batch) {
      checkColumns(path, fields, batch);
      const cols = fields.map((f) => batch.columns.get(f.name)!);
      let text = "";
      for (let r = 0; r < batch.numRows; r++) {
        let line = "";
        for (let c = 0; c < cols.length; c++) {
          if (csv) line += (c ? d : "") + cellText(cols[c]!, r, true, d);
          else line += keys[c] + cellText(cols[c]!, r, false, d);
        }
        text += csv ? line + "\n" : (cols.length ? line + "}" : "{}") + "\n";
        if (text.length > 1 << 20) {
          await put(text);
          text = "";
        }
      }
      if (text) await put(text);
    },
    async close() {
      try {
        if (gz !== null) {
          if (failed === null) gz.end();
          await gzDone;
        }
        fs.fsyncSync(fd);
        return fs.fstatSync(fd).size;
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/** Opens a sink writing `fields` to `path` in `format`. The file is created (truncated). */
export async function openSink(
  path: string,
  format: FileFormat,
  fields: readonly FieldSpec[],
  options: SinkOptions = {},
): Promise<Sink> {
  switch (format) {
    case "parquet":
      return openParquet(path, fields, options);
    case "arrow":
    case "arrows":
      return openArrowSink(path, fields, format === "arrows");
    case "csv":
    case "jsonl":
      return openTextSink(path, fields, format, options);
  }
}
