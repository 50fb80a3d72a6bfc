/**
 * Parquet sink and byte-level part merge.
 *
 * Column chunks are encoded with hyparquet-writer's `writeColumn`, but the Dremel levels are built here
 * straight from the typed-array columns: a vector (fixed-size list) column becomes one LIST<FLOAT> chunk
 * from its flat Float32Array without a JS array per row (hyparquet-writer's generic path costs ~10 µs a row).
 * Numeric and vector columns are written PLAIN and uncompressed (model outputs and ids do not compress;
 * dictionary probing and snappy cost more than they save); strings and booleans keep dictionary + snappy. No statistics or
 * page indexes are written, so row groups are position-independent byte ranges: `mergeParquet` copies them
 * from the part files into one file and rewrites only the footer (offsets shifted), without decoding.
 */
import * as fs from "node:fs";
import { type ColumnChunk, parquetMetadata, type SchemaElement } from "hyparquet";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import { writeColumn } from "hyparquet-writer/src/column.js";
import type { ColumnEncoder, PageData } from "hyparquet-writer/src/types.js";
import type { Column, FieldSpec, RecordBatch } from "../batch.ts";
import { concatBatches } from "../batch.ts";
import { PipelineError } from "../errors.ts";

/** Writes through to a file descriptor once 1 MiB is buffered. */
class FdWriter extends ByteWriter {
  constructor(private readonly fd: number) {
    super(1 << 20);
  }
  override ensure(size: number): void {
    if (this.index > 1 << 20) this.flushToFile();
    super.ensure(size);
  }
  flushToFile(): void {
    if (this.index > 0) fs.writeSync(this.fd, new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
  }
  override finish(): void {
    this.flushToFile();
  }
}

export function parquetSchemaOf(fields: readonly FieldSpec[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: "root", num_children: fields.length }];
  for (const f of fields) {
    switch (f.kind) {
      case "float32":
        out.push({ name: f.name, type: "FLOAT", repetition_type: "OPTIONAL" });
        break;
      case "float64":
        out.push({ name: f.name, type: "DOUBLE", repetition_type: "OPTIONAL" });
        break;
      case "int32":
        out.push({ name: f.name, type: "INT32", repetition_type: "OPTIONAL" });
        break;
      case "int64":
        out.push({ name: f.name, type: "INT64", repetition_type: "OPTIONAL" });
        break;
      case "bool":
        out.push({ name: f.name, type: "BOOLEAN", repetition_type: "OPTIONAL" });
        break;
      case "utf8":
        out.push({ name: f.name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" });
        break;
      case "vector":
        out.push({ name: f.name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 });
        out.push({ name: "list", repetition_type: "REPEATED", num_children: 1 });
        out.push({ name: "element", type: "FLOAT", repetition_type: "REQUIRED" });
        break;
    }
  }
  return out;
}

/** Dremel levels and values of one column (schema: OPTIONAL scalar, or OPTIONAL LIST<REQUIRED FLOAT>). */
function pageDataOf(col: Column): PageData {
  const n = col.length;
  if (col.kind === "vector") {
    const k = col.size;
    if (col.valid === null) {
      const definitionLevels = new Array<number>(n * k).fill(2);
      const repetitionLevels = new Array<number>(n * k).fill(1);
      for (let i = 0; i < n; i++) repetitionLevels[i * k] = 0;
      return { values: col.values, definitionLevels, repetitionLevels, maxDefinitionLevel: 2 };
    }
    // with nulls: one level (and an undefined value slot) per null row, as Dremel does
    const definitionLevels: number[] = [];
    const repetitionLevels: number[] = [];
    const values: (number | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      if (col.valid[i] === 0) {
        definitionLevels.push(0);
        repetitionLevels.push(0);
        values.push(undefined);
        continue;
      }
      for (let j = 0; j < k; j++) {
        definitionLevels.push(2);
        repetitionLevels.push(j === 0 ? 0 : 1);
        values.push(col.values[i * k + j]);
      }
    }
    return {
      values: values as PageData["values"],
      definitionLevels,
      repetitionLevels,
      maxDefinitionLevel: 2,
    };
  }
  const definitionLevels = new Array<number>(n).fill(1);
  if (col.kind === "bool" || col.kind === "utf8" || col.valid !== null) {
    const values: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      if (col.valid !== null && col.valid[i] === 0) {
        values[i] = null;
        definitionLevels[i] = 0;
      } else values[i] = col.kind === "bool" ? col.values[i] === 1 : col.values[i];
    }
    return {
      values: values as PageData["values"],
      definitionLevels,
      repetitionLevels: [],
      maxDefinitionLevel: 1,
    };
  }
  return { values: col.values, definitionLevels, repetitionLevels: [], maxDefinitionLevel: 1 };
}

function checkColumns(path: string, fields: readonly FieldSpec[], batch: RecordBatch): void {
  for (const f of fields) {
    const c = batch.columns.get(f.name);
    if (!c || c.kind !== f.kind || (f.kind === "vector" && c.kind === "vector" && c.size !== f.size)) {
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

export interface ParquetSink {
  write(batch: RecordBatch): Promise<void>;
  close(): Promise<number>;
}

export function openParquetSink(
  path: string,
  fields: readonly FieldSpec[],
  rowGroupRows = 65536,
): ParquetSink {
  const fd = fs.openSync(path, "w");
  const writer = new FdWriter(fd);
  const schema = parquetSchemaOf(fields);
  const pq = new ParquetWriter({
    writer,
    schema,
    statistics: false,
    kvMetadata: [{ key: "tessera.schema", value: JSON.stringify(fields) }],
    createdBy: "tessera",
  });
  // leaf schema path of each field
  const paths: SchemaElement[][] = [];
  let at = 1;
  for (const f of fields) {
    const top = schema[at]!;
    if (f.kind === "vector") {
      paths.push([schema[0]!, top, schema[at + 1]!, schema[at + 2]!]);
      at += 3;
    } else {
      paths.push([schema[0]!, top]);
      at += 1;
    }
  }
  let pending: RecordBatch[] = [];
  let pendingRows = 0;
  const flushGroup = () => {
    if (pendingRows === 0) return;
    const b = concatBatches(pending);
    pending = [];
    pendingRows = 0;
    const start = writer.offset;
    const columns: ColumnChunk[] = [];
    fields.forEach((f, i) => {
      const schemaPath = paths[i]!;
      // numbers: PLAIN, uncompressed (ids and model outputs rarely repeat; probing a dictionary costs more)
      const plain = f.kind !== "utf8" && f.kind !== "bool";
      const column: ColumnEncoder = {
        columnName: schemaPath
          .slice(1)
          .map((s) => s.name)
          .join("."),
        element: schemaPath[schemaPath.length - 1]!,
        schemaPath,
        codec: plain ? "UNCOMPRESSED" : "SNAPPY",
        compressors: pq.compressors,
        stats: false,
        pageSize: 1 << 20,
        columnIndex: false,
        offsetIndex: false,
        ...(plain ? { encoding: "PLAIN" as const } : {}),
      };
      columns.push(writeColumn({ writer, column, pageData: pageDataOf(b.columns.get(f.name)!) }).chunk);
    });
    let total = 0n;
    for (const c of columns) total += c.meta_data?.total_uncompressed_size ?? 0n;
    pq.num_rows += BigInt(b.numRows);
    pq.row_groups.push({
      columns,
      total_byte_size: total,
      num_rows: BigInt(b.numRows),
      total_compressed_size: BigInt(writer.offset - start),
    });
  };
  return {
    async write(batch) {
      checkColumns(path, fields, batch);
      if (batch.numRows === 0) return;
      pending.push(batch);
      pendingRows += batch.numRows;
      if (pendingRows >= rowGroupRows) flushGroup();
    },
    async close() {
      try {
        flushGroup();
        pq.finish();
        fs.fsyncSync(fd);
        return fs.fstatSync(fd).size;
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

function readFooter(file: string): { metadata: ReturnType<typeof parquetMetadata>; dataEnd: number } {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const tail = Buffer.alloc(8);
    fs.readSync(fd, tail, 0, 8, size - 8);
    if (tail.toString("latin1", 4) !== "PAR1")
      throw new PipelineError("E_PIPELINE_FORMAT", `${file}: not a Parquet file`, { file });
    const metaLen = tail.readUInt32LE(0);
    const footer = Buffer.alloc(metaLen + 8);
    fs.readSync(fd, footer, 0, metaLen + 8, size - 8 - metaLen);
    const ab = footer.buffer.slice(footer.byteOffset, footer.byteOffset + footer.byteLength);
    return { metadata: parquetMetadata(ab), dataEnd: size - 8 - metaLen };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Concatenates Parquet files written by `openParquetSink` with the same fields into `output`: row-group bytes
 * are copied as they are and the footer is rebuilt with shifted offsets. No decoding, constant memory.
 */
export function mergeParquet(parts: readonly string[], output: string, fields: readonly FieldSpec[]): void {
  const fd = fs.openSync(output, "w");
  try {
    const writer = new FdWriter(fd);
    const pq = new ParquetWriter({
      writer,
      schema: parquetSchemaOf(fields),
      statistics: false,
      kvMetadata: [{ key: "tessera.schema", value: JSON.stringify(fields) }],
      createdBy: "tessera",
    });
    const buf = Buffer.allocUnsafe(1 << 20);
    for (const part of parts) {
      const { metadata, dataEnd } = readFooter(part);
      writer.flushToFile();
      const shift = BigInt(writer.offset - 4);
      const src = fs.openSync(part, "r");
      try {
        for (let pos = 4; pos < dataEnd; ) {
          const n = fs.readSync(src, buf, 0, Math.min(buf.length, dataEnd - pos), pos);
          if (n === 0) throw new PipelineError("E_PIPELINE_FORMAT", `${part}: truncated`, { file: part });
          fs.writeSync(fd, buf, 0, n);
          pos += n;
          writer.offset += n;
        }
      } finally {
        fs.closeSync(src);
      }
      for (const rg of metadata.row_groups) {
        const columns = rg.columns.map((c) => {
          const m = c.meta_data;
          return {
            ...c,
            file_offset: c.file_offset + shift,
            meta_data: m && {
              ...m,
              data_page_offset: m.data_page_offset + shift,
              ...(m.dictionary_page_offset !== undefined
                ? { dictionary_page_offset: m.dictionary_page_offset + shift }
                : {}),
              ...(m.index_page_offset !== undefined
                ? { index_page_offset: m.index_page_offset + shift }
                : {}),
            },
          };
        });
        pq.row_groups.push({ ...rg, columns });
        pq.num_rows += rg.num_rows;
      }
    }
    pq.finish();
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
