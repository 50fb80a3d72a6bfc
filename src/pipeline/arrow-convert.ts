/**
 * Conversion between the pipeline's RecordBatch and apache-arrow RecordBatches.
 * Numeric columns share buffers in both directions (no copy) when the Arrow data has offset 0;
 * utf8, bool and null bitmaps are re-encoded (bit-packed ↔ byte per row).
 */
import {
  RecordBatch as ArrowRecordBatch,
  Bool,
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  Schema,
  Struct,
  Type,
  Utf8,
} from "apache-arrow";
import type { Column, FieldSpec, RecordBatch, RowProblem } from "./batch.ts";
import { PipelineError } from "./errors.ts";

function arrowType(f: FieldSpec): DataType {
  switch (f.kind) {
    case "float32":
      return new Float32();
    case "float64":
      return new Float64();
    case "int32":
      return new Int32();
    case "int64":
      return new Int64();
    case "bool":
      return new Bool();
    case "utf8":
      return new Utf8();
    case "vector":
      return new FixedSizeList(f.size ?? 0, new Field("item", new Float32(), false));
  }
}

/** The Arrow schema for pipeline fields (all nullable). */
export function toArrowSchema(fields: readonly FieldSpec[]): Schema {
  return new Schema(fields.map((f) => new Field(f.name, arrowType(f), true)));
}

function packBits(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array((bytes.length + 7) >> 3);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

function unpackBits(bits: Uint8Array, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const b = offset + i;
    out[i] = (bits[b >> 3]! >> (b & 7)) & 1;
  }
  return out;
}

function countNulls(valid: Uint8Array | null): number {
  if (valid === null) return 0;
  let n = 0;
  for (let i = 0; i < valid.length; i++) if (valid[i] === 0) n++;
  return n;
}

function columnData(col: Column, type: DataType): Data {
  const length = col.length;
  const nullCount = countNulls(col.valid);
  const nullBitmap = nullCount > 0 && col.valid ? packBits(col.valid) : undefined;
  switch (col.kind) {
    case "utf8": {
      const offsets = new Int32Array(length + 1);
      let bytes = 0;
      for (let i = 0; i < length; i++) {
        bytes += Buffer.byteLength(col.values[i]!, "utf8");
        offsets[i + 1] = bytes;
      }
      const buf = Buffer.allocUnsafe(bytes);
      for (let i = 0; i < length; i++) buf.write(col.values[i]!, offsets[i]!, "utf8");
      const data = new Uint8Array(buf.buffer, buf.byteOffset, bytes);
      return makeData({ type: type as Utf8, length, nullCount, nullBitmap, valueOffsets: offsets, data });
    }
    case "bool":
      return makeData({ type: type as Bool, length, nullCount, nullBitmap, data: packBits(col.values) });
    case "vector": {
      const child = makeData({
        type: new Float32(),
        length: length * col.size,
        nullCount: 0,
        data: col.values,
      });
      return makeData({ type: type as FixedSizeList<Float32>, length, nullCount, nullBitmap, child });
    }
    case "float32":
      return makeData({ type: type as Float32, length, nullCount, nullBitmap, data: col.values });
    case "float64":
      return makeData({ type: type as Float64, length, nullCount, nullBitmap, data: col.values });
    case "int32":
      return makeData({ type: type as Int32, length, nullCount, nullBitmap, data: col.values });
    case "int64":
      return makeData({ type: type as Int64, length, nullCount, nullBitmap, data: col.values });
  }
}

/** Our batch as an Arrow RecordBatch with `schema` (from `toArrowSchema`). */
export function toArrowBatch(batch: RecordBatch, schema: Schema): ArrowRecordBatch {
  const children = schema.fields.map((f) => {
    const col = batch.columns.get(f.name);
    if (!col)
      throw new PipelineError("E_PIPELINE_SCHEMA", `arrow sink: batch has no column "${f.name}"`, {
        column: f.name,
      });
    return columnData(col, f.type);
  });
  const data = makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children });
  return new ArrowRecordBatch(schema, data);
}

function validOf(data: Data): Uint8Array | null {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return null;
  return unpackBits(data.nullBitmap, data.offset, data.length);
}

/** Converts one Arrow column (a single Data chunk) without per-row work; null when the type has no fast path. */
export function fromArrowData(data: Data): Column | null {
  const length = data.length;
  const valid = validOf(data);
  const off = data.offset;
  switch (data.typeId) {
    case Type.Float:
    case Type.Float32:
    case Type.Float64:
    case Type.Float16: {
      const v = data.values as Float32Array | Float64Array | Uint16Array;
      if (v instanceof Float32Array)
        return { kind: "float32", length, valid, values: v.subarray(off, off + length) };
      if (v instanceof Float64Array)
        return { kind: "float64", length, valid, values: v.subarray(off, off + length) };
      break;
    }
    case Type.Int:
    case Type.Int8:
    case Type.Int16:
    case Type.Int32:
    case Type.Int64:
    case Type.Uint8:
    case Type.Uint16:
    case Type.Uint32:
    case Type.Uint64: {
      const v = data.values as ArrayLike<number | bigint>;
      if (v instanceof Int32Array)
        return { kind: "int32", length, valid, values: v.subarray(off, off + length) };
      if (v instanceof BigInt64Array)
        return { kind: "int64", length, valid, values: v.subarray(off, off + length) };
      if (v instanceof BigUint64Array) {
        return { kind: "int64", length, valid, values: BigInt64Array.from(v.subarray(off, off + length)) };
      }
      const out = new Float64Array(length);
      for (let i = 0; i < length; i++) out[i] = Number(v[off + i]);
      return { kind: "float64", length, valid, values: out };
    }
    case Type.Bool:
      return { kind: "bool", length, valid, values: unpackBits(data.values as Uint8Array, off, length) };
    case Type.FixedSizeList: {
      const size = (data.type as FixedSizeList).listSize;
      const child = data.children[0];
      if (child && child.values instanceof Float32Array && child.nullCount === 0) {
        const start = (child.offset + off * size) as number;
        return {
          kind: "vector",
          size,
          length,
          valid,
          values: child.values.subarray(start, start + length * size),
        };
      }
      break;
    }
    default:
      break;
  }
  return null;
}

/**
 * Converts an Arrow RecordBatch; columns of types without a fast path go through `get(i)` (utf8, lists, dictionaries).
 * List columns become vectors of the FixedSizeList's size, else of `vectorSizes`' entry for the column (the caller
 * keeps it across the batches of a file; it is filled from the first batch). Rows whose list does not fit are
 * returned as `problems`.
 */
export function fromArrowBatch(
  batch: ArrowRecordBatch,
  columns?: readonly string[],
  vectorSizes: Map<string, number> = new Map(),
): RecordBatch {
  const out = new Map<string, Column>();
  const problems: RowProblem[] = [];
  const fields = batch.schema.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (columns && !columns.includes(f.name)) continue;
    const vec = batch.getChildAt(i)!;
    const data = vec.data[0]!;
    const fast = fromArrowData(data);
    if (fast) {
      out.set(f.name, fast);
      continue;
    }
    const size =
      f.type.typeId === Type.FixedSizeList ? (f.type as FixedSizeList).listSize : vectorSizes.get(f.name);
    const col = slowColumn(f.name, vec.length, (r) => vec.get(r), { problems, size });
    if (col.kind === "vector") vectorSizes.set(f.name, col.size);
    out.set(f.name, col);
  }
  problems.sort((a, b) => a.index - b.index);
  return problems.length > 0
    ? { numRows: batch.numRows, columns: out, problems }
    : { numRows: batch.numRows, columns: out };
}

/** Options of `slowColumn`. */
export interface SlowColumnOptions {
  /** Receives one problem per row whose list does not fit the vector (wrong length, null or non-numeric element). */
  readonly problems?: RowProblem[];
  /** Vector length to expect (e.g. decided by an earlier chunk of the same file); default: the most common length. */
  readonly size?: number;
}

const SIZE_PROBE_ROWS = 1024;

function isNumberLike(x: unknown): boolean {
  return typeof x === "number" || typeof x === "bigint";
}

/**
 * Builds a column from per-row JS values: numbers → float64, bigints → int64, booleans, strings, and lists of
 * numbers → a vector of `options.size` (default: the most common length among the first 1024 lists). A list that
 * does not fit (another length, a null or non-numeric element) makes the row null and, with `options.problems`,
 * a row problem naming the column, so it is rejected like any bad row instead of being scored with made-up values.
 * Lists of non-numbers (e.g. tags) become JSON text.
 */
export function slowColumn(
  name: string,
  length: number,
  get: (row: number) => unknown,
  options: SlowColumnOptions = {},
): Column {
  let probe: unknown = null;
  for (let r = 0; r < length && (probe === null || probe === undefined); r++) probe = get(r);
  const valid = new Uint8Array(length);
  let nulls = 0;
  const isList = (v: unknown) => v !== null && typeof v === "object" && Symbol.iterator in v;
  const probeItems = isList(probe) ? Array.from(probe as Iterable<unknown>) : null;
  const numericList = probeItems !== null && (probeItems.length === 0 || probeItems.some(isNumberLike));
  if (numericList) {
    let size = options.size;
    if (size === undefined) {
      const counts = new Map<number, number>();
      for (let r = 0, seen = 0; r < length && seen < SIZE_PROBE_ROWS; r++) {
        const v = get(r);
        if (!isList(v)) continue;
        const n = Array.from(v as Iterable<unknown>).length;
        counts.set(n, (counts.get(n) ?? 0) + 1);
        seen++;
      }
      size = [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? 0;
    }
    const values = new Float32Array(length * size);
    for (let r = 0; r < length; r++) {
      const v = get(r);
      if (v === null || v === undefined) {
        nulls++;
        continue;
      }
      const arr = isList(v) ? Array.from(v as Iterable<unknown>) : null;
      let reason: string | null = null;
      if (arr === null) reason = `expected a list of ${size} numbers, got ${typeof v}`;
      else if (arr.length !== size)
        reason = `expected a list of ${size} numbers, got a list of ${arr.length}`;
      else {
        const k = arr.findIndex((x) => !isNumberLike(x));
        if (k >= 0)
          reason = `list element ${k} is ${arr[k] === null || arr[k] === undefined ? "null" : `not a number (${typeof arr[k]})`}`;
        else for (let j = 0; j < size; j++) values[r * size + j] = Number(arr[j]);
      }
      if (reason !== null) {
        values.fill(0, r * size, r * size + size);
        nulls++;
        options.problems?.push({ index: r, column: name, reason });
        continue;
      }
      valid[r] = 1;
    }
    return { kind: "vector", size, length, valid: nulls ? valid : null, values };
  }
  const values: string[] = new Array<string>(length);
  for (let r = 0; r < length; r++) {
    const v = get(r);
    if (v === null || v === undefined) {
      values[r] = "";
      nulls++;
      continue;
    }
    values[r] =
      v instanceof Date
        ? v.toISOString()
        : isList(v)
          ? JSON.stringify(Array.from(v as Iterable<unknown>), (_, x) =>
              typeof x === "bigint" ? x.toString() : x,
            )
          : typeof v === "object"
            ? JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x))
            : String(v);
    valid[r] = 1;
  }
  return { kind: "utf8", length, valid: nulls ? valid : null, values };
}
