/**
 * Parquet source: chunks of at most `chunkRows` rows (default 65536) that never span row groups. Flat numeric
 * columns are streamed page by page into typed arrays (`parquet-flat.ts`), and so are lists of numbers (vectors,
 * `parquet-list.ts`); the others (strings, other nested types) are decoded by hyparquet's reader for the rest of
 * the row group at once, so their memory follows the row group size. Pure JS, chosen by measurement (see
 * bench/RESULTS.md `## score`). Only the projected columns are read.
 */
import * as fs from "node:fs";
import {
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
  type SchemaTree,
} from "hyparquet";
import { DTYPES } from "../../tensor/index.ts";
import { type Column, type ColumnKind, type RowProblem, sliceColumn } from "../batch.ts";
import { type SlowColumnOptions, slowColumn } from "../arrow-convert.ts";
import { PipelineError } from "../errors.ts";
import { checkCodecs, COMPRESSORS } from "./codecs.ts";
import { FlatColumnStream, isFastFlat } from "./parquet-flat.ts";
import { ListColumnStream, numericListPath } from "./parquet-list.ts";
import type { Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

type Decoded = ArrayLike<unknown> & { length: number };

/**
 * The column kind of a top-level schema node; null = no typed kind (read as text through `slowColumn`).
 * Unsigned integers: UINT_8/UINT_16 → int32, UINT_32 → float64 (exact); UINT_64 stays text (exact decimal digits)
 * because neither int64 nor float64 holds every value.
 */
function kindOf(node: SchemaTree): ColumnKind | null {
  const e = node.element;
  const conv = e.converted_type;
  const lt = e.logical_type;
  const logical = lt?.type;
  if (node.children.length > 0) {
    if (conv === "LIST" || logical === "LIST") return "vector";
    return null;
  }
  const unsignedBits =
    lt?.type === "INTEGER" && !lt.isSigned
      ? lt.bitWidth
      : conv === "UINT_8"
        ? 8
        : conv === "UINT_16"
          ? 16
          : conv === "UINT_32"
            ? 32
            : conv === "UINT_64"
              ? 64
              : null;
  if (unsignedBits !== null) return unsignedBits <= 16 ? "int32" : unsignedBits === 32 ? "float64" : null;
  if (
    conv &&
    conv !== "INT_8" &&
    conv !== "INT_16" &&
    conv !== "INT_32" &&
    conv !== "INT_64" &&
    conv !== "UTF8"
  ) {
    return conv === "DECIMAL" ? "float64" : null;
  }
  if (logical && logical !== "STRING" && logical !== "INTEGER") return null;
  switch (e.type) {
    case "FLOAT":
      return "float32";
    case "DOUBLE":
      return "float64";
    case "INT32":
      return "int32";
    case "INT64":
      return "int64";
    case "BOOLEAN":
      return "bool";
    case "BYTE_ARRAY":
      return conv === "UTF8" || logical === "STRING" ? "utf8" : null;
    default:
      return null;
  }
}

/**
 * Converts one hyparquet column array (typed array when the column has no nulls, else an Array) to a Column.
 * Lists become vectors (see `slowColumn`: `options.size`, and `options.problems` for rows that do not fit).
 */
export function toColumn(
  name: string,
  kind: ColumnKind | null,
  data: Decoded,
  options: SlowColumnOptions = {},
): Column {
  const length = data.length;
  if (kind === "float32" && data instanceof Float32Array) return { kind, length, valid: null, values: data };
  if (kind === "float64" && data instanceof Float64Array) return { kind, length, valid: null, values: data };
  if (kind === "int32" && data instanceof Int32Array) return { kind, length, valid: null, values: data };
  if (kind === "int64" && data instanceof BigInt64Array) return { kind, length, valid: null, values: data };
  if (kind === "float32" || kind === "float64" || kind === "int32" || kind === "int64" || kind === "bool") {
    const valid = new Uint8Array(length);
    let nulls = 0;
    const values = new DTYPES[kind].ctor(length);
    if (values instanceof BigInt64Array) {
      for (let i = 0; i < length; i++) {
        const v = data[i];
        if (v === null || v === undefined) nulls++;
        else {
          values[i] = BigInt(v as bigint);
          valid[i] = 1;
        }
      }
    } else {
      for (let i = 0; i < length; i++) {
        const v = data[i];
        if (v === null || v === undefined) nulls++;
        else {
          values[i] = Number(v);
          valid[i] = 1;
        }
      }
    }
    return { kind, length, valid: nulls ? valid : null, values } as Column;
  }
  return slowColumn(name, length, (r) => data[r], options);
}

function sliceDecoded(d: Decoded, a: number, b: number): Decoded {
  if (ArrayBuffer.isView(d)) return (d as unknown as Float64Array).subarray(a, b);
  return Array.prototype.slice.call(d, a, b);
}

function concatDecoded(parts: Decoded[]): Decoded {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((s, p) => s + p.length, 0);
  const first = parts[0];
  if (first && ArrayBuffer.isView(first) && parts.every((p) => p.constructor === first.constructor)) {
    const Ctor = first.constructor as new (n: number) => Float64Array;
    const out = new Ctor(total);
    let at = 0;
    for (const p of parts) {
      out.set(p as Float64Array, at);
      at += p.length;
    }
    return out;
  }
  const out: unknown[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]);
  return out;
}

export async function openParquet(path: string, options: SourceOptions = {}): Promise<Source> {
  const sizeBytes = (await fs.promises.stat(path)).size;
  if (sizeBytes < 12) {
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      `${path}: not a Parquet file (${sizeBytes} bytes; empty or truncated)`,
      { file: path },
    );
  }
  const file = await asyncBufferFromFile(path);
  const metadata: FileMetaData = await parquetMetadataAsync(file);
  const tree = parquetSchema(metadata);
  const available = tree.children.map((c) => c.element.name);
  const columns = options.columns ?? available;
  const missing = columns.filter((c) => !available.includes(c));
  if (missing.length > 0) {
    throw new PipelineError(
      "E_PIPELINE_MISSING_COLUMN",
      `${path}: column(s) ${missing.map((m) => `"${m}"`).join(", ")} not in the file (has ${available.join(", ")})`,
      { file: path, missing, available },
    );
  }
  checkCodecs(path, metadata, columns);
  const kinds = new Map(tree.children.map((c) => [c.element.name, kindOf(c)]));
  const nodes = new Map(tree.children.map((c) => [c.element.name, c]));
  const totalRows = Number(metadata.num_rows);

  /** Vector length of each list column, decided by the first row group read (see `slowColumn`). */
  const vectorSizes = new Map<string, number>();

  /**
   * Columns without a fast path, rows [start, end) of one row group, through hyparquet's reader; `problems` gets
   * the rows (indexed from `start`) whose lists do not fit their vector.
   */
  async function readSlow(
    names: string[],
    start: number,
    end: number,
    problems: RowProblem[],
  ): Promise<Map<string, Column>> {
    const parts = new Map<string, Decoded[]>();
    await parquetRead({
      file,
      metadata,
      compressors: COMPRESSORS,
      columns: names,
      rowStart: start,
      rowEnd: end,
      onChunk: (c) => {
        // chunks may cover more than the requested range (whole pages): trim to [start, end)
        let data = c.columnData as Decoded;
        const lo = Math.max(start, c.rowStart);
        const hi = Math.min(end, c.rowEnd);
        if (hi <= lo) return;
        if (lo !== c.rowStart || hi !== c.rowEnd) data = sliceDecoded(data, lo - c.rowStart, hi - c.rowStart);
        const list = parts.get(c.columnName) ?? [];
        list.push(data);
        parts.set(c.columnName, list);
      },
    });
    const out = new Map<string, Column>();
    for (const name of names) {
      const data = concatDecoded(parts.get(name) ?? []);
      if (data.length !== end - start) {
        throw new PipelineError(
          "E_PIPELINE_FORMAT",
          `${path}: column "${name}" decoded ${data.length} rows, expected ${end - start}`,
          {
            file: path,
            column: name,
          },
        );
      }
      const col = toColumn(name, kinds.get(name) ?? null, data, { problems, size: vectorSizes.get(name) });
      if (col.kind === "vector") vectorSizes.set(name, col.size);
      out.set(name, col);
    }
    return out;
  }

  return {
    path,
    format: "parquet",
    sizeBytes,
    totalRows,
    async *chunks(from: SourceCursor = { rows: 0 }): AsyncIterable<SourceChunk> {
      const windowRows = options.chunkRows ?? 65536;
      const fh = await fs.promises.open(path, "r");
      try {
        let groupStart = 0;
        let bytesBefore = 0;
        for (const rg of metadata.row_groups) {
          const n = Number(rg.num_rows);
          const groupEnd = groupStart + n;
          const groupBytes = Number(rg.total_compressed_size ?? 0n);
          if (groupEnd <= from.rows || n === 0) {
            groupStart = groupEnd;
            bytesBefore += groupBytes;
            continue;
          }
          const start = Math.max(from.rows, groupStart);
          // flat numeric columns: streamed page by page into typed arrays, one window of rows at a time;
          // the others (strings, lists, nested) through hyparquet's reader, the rest of the row group at once
          const streams = new Map<string, FlatColumnStream>();
          const slow: string[] = [];
          for (const name of columns) {
            const node = nodes.get(name)!;
            const kind = kinds.get(name) ?? null;
            const chunk = rg.columns.find(
              (c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === name,
            );
            const listPath = numericListPath(kind, node);
            const leafChunk =
              listPath &&
              rg.columns.find(
                (c) =>
                  c.meta_data?.path_in_schema.length === 3 &&
                  c.meta_data.path_in_schema[0] === name &&
                  rg.columns.filter((d) => d.meta_data?.path_in_schema[0] === name).length === 1,
              );
            if (chunk && isFastFlat(kind, node)) {
              const stream = new FlatColumnStream(fh, tree, node, chunk, kind);
              if (start > groupStart) await stream.skip(start - groupStart);
              streams.set(name, stream);
            } else if (listPath && leafChunk) {
              // list of numbers: streamed page by page into a vector column (see parquet-list.ts)
              const stream = new ListColumnStream(fh, tree, listPath, leafChunk, vectorSizes.get(name));
              if (start > groupStart) await stream.skip(start - groupStart);
              streams.set(name, stream);
            } else slow.push(name);
          }
          const slowProblems: RowProblem[] = [];
          const slowCols =
            slow.length > 0 ? await readSlow(slow, start, groupEnd, slowProblems) : new Map<string, Column>();
          slowProblems.sort((a, b) => a.index - b.index);
          for (let w = start; w < groupEnd; w += windowRows) {
            const m = Math.min(windowRows, groupEnd - w);
            const ordered = new Map<string, Column>();
            const problems = slowProblems
              .filter((p) => p.index >= w - start && p.index < w - start + m)
              .map((p) => ({ ...p, index: p.index - (w - start) }));
            for (const name of columns) {
              const stream = streams.get(name);
              ordered.set(
                name,
                stream ? await stream.take(m) : sliceColumn(slowCols.get(name)!, w - start, w - start + m),
              );
              if (stream instanceof ListColumnStream) {
                problems.push(...stream.problems);
                if (stream.vectorSize !== undefined) vectorSizes.set(name, stream.vectorSize);
              }
            }
            problems.sort((a, b) => a.index - b.index);
            const first = w;
            yield {
              batch:
                problems.length > 0
                  ? { numRows: m, columns: ordered, problems }
                  : { numRows: m, columns: ordered },
              firstRow: first,
              end: { rows: first + m },
              cursorAt: (i: number) => ({ rows: first + i }),
              bytesRead: Math.min(
                sizeBytes,
                Math.round(bytesBefore + (groupBytes * (first + m - groupStart)) / n),
              ),
            };
          }
          groupStart = groupEnd;
          bytesBefore += groupBytes;
        }
      } finally {
        await fh.close();
      }
    },
  };
}
