/**
 * The pipeline's internal record batch: a row count plus named, typed-array columns.
 *
 * Invariants:
 *  1. Every column of a batch has `length === batch.numRows`.
 *  2. `values` holds `length` elements (`length * size` for a vector column), row-major.
 *  3. `valid` is either `null` (no nulls) or a byte per row: 1 = present, 0 = null. The value slot of a
 *     null row holds 0 / "" and must not be read as data.
 *  4. Columns are never mutated after a source hands them out; `sliceBatch` returns views over them.
 */
import { TesseraError } from "../tensor/index.ts";

/** Column kinds a source can produce and a sink can write. */
export type ColumnKind = "float32" | "float64" | "int32" | "int64" | "bool" | "utf8" | "vector";

interface ColumnBase {
  readonly length: number;
  /** Byte per row, 1 = present; `null` when the column has no nulls. */
  readonly valid: Uint8Array | null;
}
export interface Float32Column extends ColumnBase {
  readonly kind: "float32";
  readonly values: Float32Array;
}
export interface Float64Column extends ColumnBase {
  readonly kind: "float64";
  readonly values: Float64Array;
}
export interface Int32Column extends ColumnBase {
  readonly kind: "int32";
  readonly values: Int32Array;
}
export interface Int64Column extends ColumnBase {
  readonly kind: "int64";
  readonly values: BigInt64Array;
}
export interface BoolColumn extends ColumnBase {
  readonly kind: "bool";
  /** 0 or 1 per row. */
  readonly values: Uint8Array;
}
export interface Utf8Column extends ColumnBase {
  readonly kind: "utf8";
  readonly values: readonly string[];
}
/** A fixed-size list of float32 per row (embeddings, probability vectors); `values` is `[length, size]` row-major. */
export interface VectorColumn extends ColumnBase {
  readonly kind: "vector";
  readonly size: number;
  readonly values: Float32Array;
}

export type Column =
  | Float32Column
  | Float64Column
  | Int32Column
  | Int64Column
  | BoolColumn
  | Utf8Column
  | VectorColumn;

/** A problem with one row found while decoding (malformed CSV/JSON, wrong type). The row is present with nulls. */
export interface RowProblem {
  /** Index of the row inside the batch. */
  readonly index: number;
  /** Column involved, or null when the whole row is malformed. */
  readonly column: string | null;
  readonly reason: string;
  /** 1-based line in the file, for text formats. */
  readonly line?: number;
  /** A note about a value kept as written (a stray quote in an unquoted CSV field): the row is not bad for it. */
  readonly lenient?: boolean;
  /** The row (a JSONL object) has no `column` key at all: a key absent from every row is likely a misspelt name. */
  readonly absent?: boolean;
}

export interface RecordBatch {
  readonly numRows: number;
  /** Columns in schema order. */
  readonly columns: ReadonlyMap<string, Column>;
  /** Rows the source could not decode; absent or empty when all rows decoded. */
  readonly problems?: readonly RowProblem[];
  /** 1-based line in the file where each row starts (CSV/JSONL sources), for rejects that name a line. */
  readonly lines?: Int32Array;
}

/** Column name → kind (and vector size), in order: the schema of a source or sink. */
export interface FieldSpec {
  readonly name: string;
  readonly kind: ColumnKind;
  /** Vector length for kind "vector". */
  readonly size?: number;
}

export function schemaOf(batch: RecordBatch): FieldSpec[] {
  return [...batch.columns].map(([name, c]) =>
    c.kind === "vector" ? { name, kind: c.kind, size: c.size } : { name, kind: c.kind },
  );
}

/** True when the value at `row` is null. */
export function isNull(col: Column, row: number): boolean {
  return col.valid !== null && col.valid[row] === 0;
}

/** Rows `[start, end)` of a column. Returns a view: typed arrays are `subarray`s, strings are a sliced array. */
export function sliceColumn(col: Column, start: number, end: number): Column {
  const length = end - start;
  const valid = col.valid === null ? null : col.valid.subarray(start, end);
  switch (col.kind) {
    case "utf8":
      return { kind: "utf8", length, valid, values: col.values.slice(start, end) };
    case "vector":
      return {
        kind: "vector",
        size: col.size,
        length,
        valid,
        values: col.values.subarray(start * col.size, end * col.size),
      };
    case "float32":
      return { kind: col.kind, length, valid, values: col.values.subarray(start, end) };
    case "float64":
      return { kind: col.kind, length, valid, values: col.values.subarray(start, end) };
    case "int32":
      return { kind: col.kind, length, valid, values: col.values.subarray(start, end) };
    case "int64":
      return { kind: col.kind, length, valid, values: col.values.subarray(start, end) };
    case "bool":
      return { kind: col.kind, length, valid, values: col.values.subarray(start, end) };
  }
}

/** Rows `[start, end)` of a batch (views, see `sliceColumn`); problems are re-indexed. */
export function sliceBatch(batch: RecordBatch, start: number, end: number): RecordBatch {
  if (start === 0 && end === batch.numRows) return batch;
  const columns = new Map<string, Column>();
  for (const [name, c] of batch.columns) columns.set(name, sliceColumn(c, start, end));
  const problems = (batch.problems ?? [])
    .filter((p) => p.index >= start && p.index < end)
    .map((p) => ({ ...p, index: p.index - start }));
  const lines = batch.lines?.subarray(start, end);
  return lines
    ? { numRows: end - start, columns, problems, lines }
    : { numRows: end - start, columns, problems };
}

/** Keeps the rows whose `keep[row]` is 1. Copies. */
export function filterColumn(col: Column, keep: Uint8Array, count: number): Column {
  const valid = col.valid === null ? null : new Uint8Array(count);
  let j = 0;
  const n = col.length;
  switch (col.kind) {
    case "utf8": {
      const out: string[] = new Array<string>(count);
      for (let i = 0; i < n; i++) {
        if (keep[i] === 0) continue;
        out[j] = col.values[i]!;
        if (valid) valid[j] = col.valid![i]!;
        j++;
      }
      return { kind: "utf8", length: count, valid, values: out };
    }
    case "vector": {
      const s = col.size;
      const out = new Float32Array(count * s);
      for (let i = 0; i < n; i++) {
        if (keep[i] === 0) continue;
        out.set(col.values.subarray(i * s, i * s + s), j * s);
        if (valid) valid[j] = col.valid![i]!;
        j++;
      }
      return { kind: "vector", size: s, length: count, valid, values: out };
    }
    default: {
      const Ctor = col.values.constructor as new (n: number) => typeof col.values;
      const out = new Ctor(count);
      const src = col.values;
      for (let i = 0; i < n; i++) {
        if (keep[i] === 0) continue;
        (out as Float64Array)[j] = (src as Float64Array)[i]!;
        if (valid) valid[j] = col.valid![i]!;
        j++;
      }
      return { kind: col.kind, length: count, valid, values: out } as Column;
    }
  }
}

/** The rows of a batch whose `keep[row]` is 1 (copies; problems are dropped). */
export function filterBatch(batch: RecordBatch, keep: Uint8Array, count: number): RecordBatch {
  if (count === batch.numRows) return { numRows: batch.numRows, columns: batch.columns };
  const columns = new Map<string, Column>();
  for (const [name, c] of batch.columns) columns.set(name, filterColumn(c, keep, count));
  return { numRows: count, columns };
}

/** Concatenates batches with the same schema. Copies. */
export function concatBatches(batches: readonly RecordBatch[]): RecordBatch {
  if (batches.length === 1) return batches[0]!;
  const first = batches[0];
  if (!first) return { numRows: 0, columns: new Map() };
  const numRows = batches.reduce((s, b) => s + b.numRows, 0);
  const columns = new Map<string, Column>();
  for (const [name, c0] of first.columns) {
    const parts = batches.map((b) => {
      const c = b.columns.get(name);
      if (!c || c.kind !== c0.kind) {
        throw new TesseraError("E_PIPELINE_SCHEMA", `concat: column "${name}" differs between batches`, {
          column: name,
        });
      }
      return c;
    });
    const anyNull = parts.some((p) => p.valid !== null);
    let valid: Uint8Array | null = null;
    if (anyNull) {
      valid = new Uint8Array(numRows);
      let at = 0;
      for (const p of parts) {
        if (p.valid) valid.set(p.valid, at);
        else valid.fill(1, at, at + p.length);
        at += p.length;
      }
    }
    if (c0.kind === "utf8") {
      const values: string[] = [];
      for (const p of parts) for (const v of p.values as readonly string[]) values.push(v);
      columns.set(name, { kind: "utf8", length: numRows, valid, values });
      continue;
    }
    const width = c0.kind === "vector" ? c0.size : 1;
    const Ctor = c0.values.constructor as new (n: number) => Float32Array;
    const out = new Ctor(numRows * width);
    let at = 0;
    for (const p of parts) {
      out.set(p.values as Float32Array, at);
      at += p.length * width;
    }
    columns.set(name, { ...c0, length: numRows, valid, values: out } as Column);
  }
  return { numRows, columns };
}

/** Reads one cell as a JS value (null, number, bigint, boolean, string, or number[] for vectors). For sinks and tests. */
export function cellValue(col: Column, row: number): null | number | bigint | boolean | string | number[] {
  if (col.valid !== null && col.valid[row] === 0) return null;
  switch (col.kind) {
    case "bool":
      return col.values[row] === 1;
    case "utf8":
      return col.values[row]!;
    case "vector":
      return Array.from(col.values.subarray(row * col.size, (row + 1) * col.size));
    default:
      return col.values[row]!;
  }
}
