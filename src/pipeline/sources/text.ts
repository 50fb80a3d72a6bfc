/**
 * CSV and JSONL sources. Files are read in chunks of `chunkBytes`, cut at the last complete record
 * (quote-aware for CSV), so every chunk ends on a record boundary whose byte offset is the resume cursor.
 * Column kinds come from `options.schema` or are inferred from the first chunk; later values that do not
 * fit become row problems (never silently dropped).
 */
import { isUtf8 } from "node:buffer";
import * as fs from "node:fs";
import type { Column, ColumnKind, FieldSpec, RowProblem } from "../batch.ts";
import { PipelineError } from "../errors.ts";
import { type Compression, rawChunks } from "./bytes.ts";
import type { Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

const DEFAULT_CHUNK = 4 << 20;
const NL = 0x0a;
const QUOTE = 0x22;

/** Longest record kept while looking for its end (or 2 chunks, if more): longer is an unclosed quote or not text. */
const MAX_RECORD = 64 << 20;

/**
 * Byte length of the complete records at the start of `buf`. JSONL: up to the last newline. CSV (`delimiter`
 * given, as UTF-8 bytes): a quote opens a quoted field only at the start of a field, as `parseCsv` reads it, so a
 * stray quote inside an unquoted field (`5" screen`) does not make the rest of the file one open quote.
 */
function recordBoundary(buf: Buffer, delimiter: Uint8Array | null): number {
  if (delimiter === null) return buf.lastIndexOf(NL) + 1;
  const d0 = delimiter[0]!;
  const isDelimiter = (i: number) => {
    if (buf[i] !== d0) return false;
    for (let k = 1; k < delimiter.length; k++) if (buf[i + k] !== delimiter[k]) return false;
    return true;
  };
  // 0: at a field start, 1: in an unquoted field, 2: in a quoted field, 3: just after a quote in a quoted field
  let state = 0;
  let last = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    switch (state) {
      case 2:
        if (b === QUOTE) state = 3;
        continue;
      case 3:
        if (b === QUOTE) {
          state = 2; // "" inside quotes
          continue;
        }
        break; // after the closing quote: like an unquoted field until a delimiter or newline
      case 0:
        if (b === QUOTE) {
          state = 2;
          continue;
        }
        break;
    }
    if (b === NL) {
      last = i + 1;
      state = 0;
    } else if (isDelimiter(i)) state = 0;
    else state = 1;
  }
  return last;
}

interface TextPiece {
  readonly text: string;
  /** Byte offset of the piece (of `text[0]`, after a byte order mark). */
  readonly startByte: number;
  readonly endByte: number;
  /** Bytes of the file read so far (compressed bytes for gzip), for progress. */
  readonly fileBytes: number;
}

/**
 * Complete-record pieces of the file from (decompressed) byte `startByte`. Memory: one chunk plus one partial
 * record.
 */
async function* textPieces(
  path: string,
  startByte: number,
  chunkBytes: number,
  csvDelimiter: string | null,
  compression: Compression,
): AsyncGenerator<TextPiece> {
  const delimiter = csvDelimiter === null ? null : new Uint8Array(Buffer.from(csvDelimiter, "utf8"));
  let carry: Buffer = Buffer.alloc(0);
  let carryStart = startByte;
  for await (const chunk of rawChunks(path, startByte, chunkBytes, compression)) {
    const eof = chunk.data.length === 0;
    const data = carry.length > 0 ? Buffer.concat([carry, chunk.data]) : chunk.data;
    if (data.length === 0) return;
    const cut = eof ? data.length : recordBoundary(data, delimiter);
    if (cut === 0) {
      if (data.length > Math.max(MAX_RECORD, 2 * chunkBytes)) {
        throw new PipelineError(
          "E_PIPELINE_FORMAT",
          `${path}: no end of record within ${Math.round(data.length / 2 ** 20)} MiB from byte ${carryStart}${compression ? " of the decompressed data" : ""}: a record over the ${Math.round(Math.max(MAX_RECORD, 2 * chunkBytes) / 2 ** 20)} MiB limit, or ${delimiter ? "an unclosed quote" : "no newline"}`,
          { file: path, byte: carryStart },
        );
      }
      carry = Buffer.from(data); // a record longer than a chunk: read more
      continue;
    }
    // progress: a plain file is read up to the piece's end; a compressed one up to what zlib has taken
    const fileBytes = compression === null ? carryStart + cut : chunk.fileBytes;
    if (
      carryStart === 0 &&
      ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff))
    ) {
      throw new PipelineError(
        "E_PIPELINE_FORMAT",
        `${path}: UTF-16 text (its byte order mark says so), as Excel's "Unicode Text" saves it; convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 < in > out)`,
        { file: path, encoding: "UTF-16" },
      );
    }
    // UTF-8 byte order mark
    const begin = carryStart === 0 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
    const text = data.toString("utf8", begin, cut);
    // invalid UTF-8 decodes to U+FFFD; refuse it (as pandas, Polars and DuckDB do) rather than change keys and texts
    const replaced = text.indexOf("\uFFFD");
    if (replaced >= 0 && !isUtf8(data.subarray(begin, cut))) {
      const at = carryStart + begin + Buffer.byteLength(text.slice(0, replaced));
      throw new PipelineError(
        "E_PIPELINE_FORMAT",
        `${path}: not UTF-8 text near byte ${at}${compression ? " of the decompressed data" : ""} (Latin-1 or Windows-1252, as older Excel saves CSV?); convert it to UTF-8 first (iconv -f cp1252 -t utf-8 < in > out)`,
        { file: path, byte: at, encoding: "not UTF-8" },
      );
    }
    yield { text, startByte: carryStart + begin, endByte: carryStart + cut, fileBytes };
    carryStart += cut;
    carry = Buffer.from(data.subarray(cut));
    if (eof) return;
  }
}

// ---------------------------------------------------------------- CSV record parsing

interface ParsedRecords {
  /** Per wanted column: raw field text, `undefined` for an empty unquoted field (null). */
  readonly fields: (string | undefined)[][];
  readonly rows: number;
  readonly problems: RowProblem[];
  /** 1-based line of each row's start. */
  readonly lines: number[];
  /** Char index in `text` where each row starts. */
  readonly starts: number[];
  readonly linesConsumed: number;
}

/**
 * Parses complete CSV records (RFC 4180: quoted fields, "" escapes, CRLF or LF) from `text`.
 * `want[i]` is the output slot of field i, or -1 to skip it. Rows with the wrong field count, an unclosed quote or
 * text after a closing quote become problems (their fields are null). A stray quote inside an unquoted field
 * (`tv 5" screen`) is kept as written, as Python's csv, pandas and Spark read it: a `lenient` problem that names
 * it without making the row bad (a number column still refuses such a value).
 */
export function parseCsv(
  text: string,
  delimiter: string,
  ncols: number,
  want: readonly number[],
  firstLine: number,
): ParsedRecords {
  const nWanted = want.reduce((m, w) => Math.max(m, w + 1), 0);
  const fields: (string | undefined)[][] = Array.from({ length: nWanted }, () => []);
  const problems: RowProblem[] = [];
  const lines: number[] = [];
  const starts: number[] = [];
  const d = delimiter.charCodeAt(0);
  const n = text.length;
  let i = 0;
  let line = firstLine;
  let rows = 0;
  while (i < n) {
    // skip blank lines (they hold no record); with several fields per record, also lines of only spaces and
    // tabs that are not delimiters (a hand-edited file's "  " line), as JSONL skips them
    let b = i;
    if (ncols > 1) {
      for (let c = text.charCodeAt(b); (c === 32 || c === 9) && c !== d; c = text.charCodeAt(++b));
    }
    const c0 = text.charCodeAt(b);
    if (c0 === 10 || (c0 === 13 && text.charCodeAt(b + 1) === 10) || (b > i && b === n)) {
      i = b + (c0 === 13 ? 2 : b === n ? 0 : 1);
      line++;
      continue;
    }
    const rowLine = line;
    starts.push(i);
    let col = 0;
    let problem: string | null = null;
    let stray: string | null = null;
    const values: (string | undefined)[] = new Array(nWanted);
    for (;;) {
      let value: string | undefined;
      if (text.charCodeAt(i) === 34) {
        // quoted field
        let j = i + 1;
        let parts = "";
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) {
            problem ??= "unclosed quote";
            parts += text.slice(j);
            j = n;
            break;
          }
          parts += text.slice(j, q);
          if (text.charCodeAt(q + 1) === 34) {
            parts += '"';
            j = q + 2;
            continue;
          }
          j = q + 1;
          break;
        }
        for (let k = 0; k < parts.length; k++) if (parts.charCodeAt(k) === 10) line++;
        value = parts;
        i = j;
        const c = text.charCodeAt(i);
        if (i < n && c !== d && c !== 10 && c !== 13) {
          problem ??= `unexpected character after closing quote in field ${col + 1}`;
          while (i < n && text.charCodeAt(i) !== d && text.charCodeAt(i) !== 10) i++;
        }
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === d || c === 10 || c === 13) break;
          if (c === 34) stray ??= `stray quote in field ${col + 1}`;
          j++;
        }
        value = j > i ? text.slice(i, j) : undefined;
        i = j;
      }
      const slot = col < want.length ? want[col]! : -1;
      if (slot >= 0) values[slot] = value;
      col++;
      const c = text.charCodeAt(i);
      if (i < n && c === d) {
        i++;
        continue;
      }
      if (c === 13) i++;
      if (text.charCodeAt(i) === 10) i++;
      line++;
      break;
    }
    if (problem === null && col !== ncols) problem = `expected ${ncols} fields, got ${col}`;
    if (problem !== null) {
      problems.push({ index: rows, column: null, reason: problem, line: rowLine });
      for (let k = 0; k < nWanted; k++) fields[k]!.push(undefined);
    } else {
      if (stray !== null)
        problems.push({ index: rows, column: null, reason: stray, line: rowLine, lenient: true });
      for (let k = 0; k < nWanted; k++) fields[k]!.push(values[k]);
    }
    lines.push(rowLine);
    rows++;
  }
  return { fields, rows, problems, lines, starts, linesConsumed: line - firstLine };
}

// ---------------------------------------------------------------- values → columns

/** "0x1F", "0b101", "0o17": Number() reads them, pandas and Spark read them as text; so does Tessera. */
const NON_DECIMAL = /^\s*[+-]?0[xXbBoO]/;

/** Special values as pandas/NumPy/Spark write them: nan, inf, -inf, Infinity (any case). */
const SPECIAL: ReadonlyMap<string, number> = new Map([
  ["nan", Number.NaN],
  ["+nan", Number.NaN],
  ["-nan", Number.NaN],
  ["inf", Number.POSITIVE_INFINITY],
  ["+inf", Number.POSITIVE_INFINITY],
  ["infinity", Number.POSITIVE_INFINITY],
  ["+infinity", Number.POSITIVE_INFINITY],
  ["-inf", Number.NEGATIVE_INFINITY],
  ["-infinity", Number.NEGATIVE_INFINITY],
]);

/**
 * How pandas, R and spreadsheets write a missing value in a CSV ("NA" from R's write.csv, "#N/A" from Excel,
 * "NULL" from database dumps; pandas' default na_values, less its NaN spellings, which stay NaN numbers): a null in
 * number and bool columns (a bad row when it is a feature, "null value"), text in text columns.
 */
const MISSING = new Set(["", "NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA", "<NA>", "NULL", "null", "None"]);

function isMissingToken(v: unknown): boolean {
  return typeof v === "string" && MISSING.has(v.trim());
}

function parseNumber(s: string): number | null {
  const x = Number(s);
  if (Number.isNaN(x)) return SPECIAL.get(s.trim().toLowerCase()) ?? null;
  return s.trim() === "" || NON_DECIMAL.test(s) ? null : x;
}

function describe(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const LEADING_ZERO = /^\s*[+-]?0\d/;
const INTEGER = /^\s*[+-]?\d+\s*$/;

/** Share of non-null samples that must fit a kind for it to be inferred; the misfits become row problems. */
const INFER_SHARE = 0.9;

/**
 * Infers a kind from sample values (strings from CSV, JSON values from JSONL): float64 when at least 90% of
 * the non-null samples are numbers (int64 when they are all integers and one is past 2^53; with `leadingZeroText`,
 * the default, text with a leading zero such as "007" is not a number), else bool, else a vector (numeric lists of one length, the most common),
 * else utf8. A few stray values therefore do not turn a numeric column into text; they are reported as bad rows.
 * A `numericFeature` column is never text: float64 (or a vector, when lists outnumber numbers) whatever the share,
 * and float64 when every sample is null.
 */
export function inferKind(
  samples: readonly unknown[],
  leadingZeroText = true,
  numericFeature = false,
): { kind: ColumnKind; size?: number } {
  let numeric = 0;
  let integers = 0;
  let unsafe = 0;
  let bool = 0;
  const vectorSizes = new Map<number, number>();
  let seen = 0;
  for (const v of samples) {
    if (v === undefined || v === null || isMissingToken(v)) continue;
    seen++;
    let arr: unknown = v;
    if (typeof v === "string") {
      // "007", "02139": codes whose leading zeros a number would drop are text
      if (!(leadingZeroText && LEADING_ZERO.test(v)) && parseNumber(v) !== null) {
        numeric++;
        if (INTEGER.test(v)) {
          integers++;
          if (!Number.isSafeInteger(Number(v))) unsafe++;
        }
      }
      const t = v.trim().toLowerCase();
      if (t === "true" || t === "false") bool++;
      arr = t.startsWith("[") ? safeJson(v) : null;
    } else {
      if (typeof v === "number") {
        numeric++;
        if (Number.isInteger(v)) integers++;
      }
      if (typeof v === "boolean") bool++;
    }
    if (Array.isArray(arr) && arr.length > 0 && arr.every((x) => typeof x === "number")) {
      vectorSizes.set(arr.length, (vectorSizes.get(arr.length) ?? 0) + 1);
    }
  }
  if (seen === 0) return { kind: numericFeature ? "float64" : "utf8" };
  const need = Math.max(1, Math.ceil(seen * INFER_SHARE));
  // integers past 2^53 (snowflake ids) would round as float64: int64 keeps them exact
  if (numeric >= need) return { kind: unsafe > 0 && integers === numeric ? "int64" : "float64" };
  if (bool >= need) return { kind: "bool" };
  const [size, count] = [...vectorSizes].sort((a, b) => b[1] - a[1])[0] ?? [0, 0];
  if (count >= need) return { kind: "vector", size };
  // a feature column with many bad values: numbers (or lists) still, its misfits are bad rows
  if (numericFeature) return count > numeric ? { kind: "vector", size } : { kind: "float64" };
  return { kind: "utf8" };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * Builds a column of `field.kind` from raw values (CSV strings or JSON values); `null`/`undefined` are nulls,
 * values that do not fit are nulls plus a problem naming the column and the value.
 */
export function buildColumn(
  field: FieldSpec,
  raw: readonly unknown[],
  problems: RowProblem[],
  lines: readonly number[],
): Column {
  const length = raw.length;
  const valid = new Uint8Array(length);
  let nulls = 0;
  const bad = (i: number, expected: string, v: unknown) => {
    problems.push({
      index: i,
      column: field.name,
      reason: `expected ${expected}, got ${describe(v)}`,
      line: lines[i],
    });
    nulls++;
  };
  switch (field.kind) {
    case "float32":
    case "float64":
    case "int32": {
      const values =
        field.kind === "float32"
          ? new Float32Array(length)
          : field.kind === "int32"
            ? new Int32Array(length)
            : new Float64Array(length);
      for (let i = 0; i < length; i++) {
        const v = raw[i];
        if (v === undefined || v === null) {
          nulls++;
          continue;
        }
        const x = typeof v === "number" ? v : typeof v === "string" ? parseNumber(v) : null;
        if (x === null) {
          // no missing token parses as a number: looked up only for the values that do not
          if (isMissingToken(v)) nulls++;
          else bad(i, "a number", v);
          continue;
        }
        if (field.kind === "int32" && (!Number.isInteger(x) || x < -2147483648 || x > 2147483647)) {
          bad(i, "a 32-bit integer", v);
          continue;
        }
        values[i] = x;
        valid[i] = 1;
      }
      return { kind: field.kind, length, valid: nulls ? valid : null, values } as Column;
    }
    case "int64": {
      const values = new BigInt64Array(length);
      for (let i = 0; i < length; i++) {
        const v = raw[i];
        if (v === undefined || v === null || isMissingToken(v)) {
          nulls++;
          continue;
        }
        try {
          if (typeof v === "number" && !Number.isInteger(v)) throw new Error("not an integer");
          values[i] = BigInt(typeof v === "string" ? v.trim() : (v as number));
          valid[i] = 1;
        } catch {
          bad(i, "an integer", v);
        }
      }
      return { kind: "int64", length, valid: nulls ? valid : null, values };
    }
    case "bool": {
      const values = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        const v = raw[i];
        if (v === undefined || v === null || isMissingToken(v)) {
          nulls++;
          continue;
        }
        const t = typeof v === "string" ? v.trim().toLowerCase() : v;
        if (t === true || t === "true") values[i] = 1;
        else if (!(t === false || t === "false")) {
          bad(i, "true or false", v);
          continue;
        }
        valid[i] = 1;
      }
      return { kind: "bool", length, valid: nulls ? valid : null, values };
    }
    case "vector": {
      const size = field.size ?? 0;
      const values = new Float32Array(length * size);
      for (let i = 0; i < length; i++) {
        let v = raw[i];
        if (v === undefined || v === null) {
          nulls++;
          continue;
        }
        if (typeof v === "string") v = safeJson(v);
        if (!Array.isArray(v) || v.length !== size || !v.every((x) => typeof x === "number")) {
          bad(i, `a list of ${size} numbers`, raw[i]);
          continue;
        }
        for (let k = 0; k < size; k++) values[i * size + k] = v[k] as number;
        valid[i] = 1;
      }
      return { kind: "vector", size, length, valid: nulls ? valid : null, values };
    }
    case "utf8": {
      const values: string[] = new Array<string>(length);
      for (let i = 0; i < length; i++) {
        const v = raw[i];
        if (v === undefined || v === null) {
          values[i] = "";
          nulls++;
          continue;
        }
        values[i] = typeof v === "string" ? v : JSON.stringify(v);
        valid[i] = 1;
      }
      return { kind: "utf8", length, valid: nulls ? valid : null, values };
    }
  }
}

function missingError(path: string, missing: readonly string[], available: readonly string[]): PipelineError {
  return new PipelineError(
    "E_PIPELINE_MISSING_COLUMN",
    `${path}: column(s) ${missing.map((m) => `"${m}"`).join(", ")} not in the file (has ${available.join(", ")})`,
    { file: path, missing, available },
  );
}

function resolveFields(
  names: readonly string[],
  samples: (i: number) => readonly unknown[],
  options: SourceOptions,
): FieldSpec[] {
  const given = new Map((options.schema ?? []).map((f) => [f.name, f]));
  return names.map((name, i) => {
    const g = given.get(name);
    if (g) return g;
    if (options.textColumns?.includes(name)) return { name, kind: "utf8" };
    const k = inferKind(
      samples(i),
      options.leadingZeroText?.includes(name) ?? true,
      options.numericColumns?.includes(name) ?? false,
    );
    return k.size !== undefined ? { name, kind: k.kind, size: k.size } : { name, kind: k.kind };
  });
}

/** cursorAt for a text piece: byte offset of row i from its char index (computed only when asked). */
function textCursor(
  piece: TextPiece,
  firstRow: number,
  starts: readonly number[],
  lines: readonly number[],
  endLine: number,
): (i: number) => SourceCursor {
  return (i) => {
    if (i >= starts.length) return { rows: firstRow + starts.length, byte: piece.endByte, line: endLine };
    return {
      rows: firstRow + i,
      byte: piece.startByte + Buffer.byteLength(piece.text.slice(0, starts[i]!), "utf8"),
      line: lines[i]!,
    };
  };
}

// ---------------------------------------------------------------- CSV source

async function readCsvHeader(
  path: string,
  delimiter: string,
  compression: Compression,
): Promise<{ names: string[]; endByte: number } | null> {
  for await (const piece of textPieces(path, 0, 1 << 16, delimiter, compression)) {
    if (piece.text.trim() === "") continue; // a piece of blank lines only (a blank file has no header, no rows)
    const nl = piece.text.indexOf("\n");
    const headerText = nl < 0 ? piece.text : piece.text.slice(0, nl + 1);
    const names: string[] = [];
    let field = "";
    let inQ = false;
    for (let i = 0; i < headerText.length; i++) {
      const ch = headerText[i]!;
      if (ch === '"') {
        if (inQ && headerText[i + 1] === '"') {
          field += '"';
          i++;
        } else inQ = !inQ;
      } else if (ch === delimiter && !inQ) {
        names.push(field);
        field = "";
      } else if ((ch === "\n" || ch === "\r") && !inQ) break;
      else field += ch;
    }
    names.push(field);
    const cr = headerText.indexOf("\r");
    if (cr >= 0 && cr < headerText.length - (headerText.endsWith("\r\n") ? 2 : 1)) {
      // Excel's "CSV (Macintosh)": read as one header line, the file would give no rows at all
      throw new PipelineError(
        "E_PIPELINE_FORMAT",
        `${path}: lines end in a bare carriage return (classic Mac line endings), not LF or CRLF; convert them first (tr '\\r' '\\n' < in > out)`,
        { file: path },
      );
    }
    return {
      names: names.map((s) => s.trim()),
      endByte: piece.startByte + Buffer.byteLength(headerText, "utf8"),
    };
  }
  return null; // an empty file
}

/**
 * A CSV (or TSV, with `delimiter` "\t") file as a source; `compression` "gzip" reads it through node:zlib, and
 * resume cursors then count decompressed bytes.
 */
export async function openCsv(
  path: string,
  options: SourceOptions = {},
  compression: Compression = null,
): Promise<Source> {
  const sizeBytes = (await fs.promises.stat(path)).size;
  const delimiter = options.delimiter ?? ",";
  const header = await readCsvHeader(path, delimiter, compression);
  if (header === null) {
    // an empty file (Spark writes one per empty partition): no header, no rows, whatever columns are asked for
    return { path, format: "csv", compression, sizeBytes, totalRows: null, async *chunks() {} };
  }
  const dup = header.names.findIndex((n, i) => header.names.indexOf(n) !== i);
  if (dup >= 0) {
    const name = header.names[dup]!;
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      `${path}: the header names column "${name}" twice (fields ${header.names.indexOf(name) + 1} and ${dup + 1}); rename one`,
      { file: path, column: name },
    );
  }
  const wanted = options.columns ?? header.names;
  const missing = wanted.filter((c) => !header.names.includes(c));
  if (missing.length > 0) throw missingError(path, missing, header.names);
  const want = header.names.map((n) => wanted.indexOf(n));
  let fields: FieldSpec[] | null = null;
  const source: Source = {
    path,
    format: "csv",
    compression,
    sizeBytes,
    totalRows: null,
    async *chunks(from: SourceCursor = { rows: 0 }): AsyncIterable<SourceChunk> {
      if (from.rows > 0 && from.byte === undefined) {
        throw new PipelineError("E_PIPELINE_RESUME", `${path}: resuming a CSV needs a byte offset`, {
          file: path,
        });
      }
      if (fields === null && from.rows > 0) {
        // resuming: infer the kinds from the file's first chunk, as the original run did
        for await (const _ of source.chunks()) break;
      }
      const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK;
      const start = from.byte ?? header.endByte;
      let rows = from.rows;
      // line numbers go on from the cursor's (a cursor without one, from an older checkpoint: a line per row)
      let line = from.line ?? (from.rows > 0 ? from.rows + 2 : 2);
      for await (const piece of textPieces(path, start, chunkBytes, delimiter, compression)) {
        const parsed = parseCsv(piece.text, delimiter, header.names.length, want, line);
        line += parsed.linesConsumed;
        if (parsed.rows === 0) continue;
        if (fields === null) {
          fields = resolveFields(wanted, (i) => parsed.fields[i]!, options);
        }
        const problems = [...parsed.problems];
        const columns = new Map<string, Column>();
        fields.forEach((f, i) => {
          columns.set(f.name, buildColumn(f, parsed.fields[i]!, problems, parsed.lines));
        });
        problems.sort((a, b) => a.index - b.index);
        yield {
          batch: { numRows: parsed.rows, columns, problems, lines: Int32Array.from(parsed.lines) },
          firstRow: rows,
          end: { rows: rows + parsed.rows, byte: piece.endByte, line },
          cursorAt: textCursor(piece, rows, parsed.starts, parsed.lines, line),
          bytesRead: piece.fileBytes,
        };
        rows += parsed.rows;
      }
    },
  };
  return source;
}

// ---------------------------------------------------------------- JSONL source

/**
 * A line that may hold an integer literal past 2^53: 16+ digits not inside a float's fraction or exponent (the
 * 17-digit fractions of float vectors from Python would otherwise send every line through the slow rescan).
 */
const LONG_INTEGER = /(?:^|[^\d.eE+-])-?\d{16,}(?![\d.eE])/;

/**
 * JSON text with some bare tokens outside strings turned into strings. `token(text, i)` looks at a character
 * outside every string: it returns where the token starting there ends and whether to quote it, or null to go on
 * with the next character. Returns `text` itself when nothing was quoted.
 */
function quoteBareTokens(
  text: string,
  token: (text: string, i: number, c: number) => { readonly end: number; readonly quote: boolean } | null,
): string {
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    const t = token(text, i, c);
    if (t === null) continue;
    if (t.quote) {
      out += `${text.slice(from, i)}"${text.slice(i, t.end)}"`;
      from = t.end;
    }
    i = t.end - 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * JSON text with integer literals past 2^53 turned into strings ("12345678901234567890"), so JSON.parse keeps
 * their digits (snowflake ids); `inferKind` then makes such a column int64 and `buildColumn` reads it exactly.
 */
export function quoteUnsafeIntegers(text: string): string {
  return quoteBareTokens(text, (t, i, c) => {
    if (c !== 45 && (c < 48 || c > 57)) return null;
    let j = i + 1;
    while (j < t.length && /[0-9.eE+-]/.test(t[j]!)) j++;
    const literal = t.slice(i, j);
    return { end: j, quote: /^-?\d{16,}$/.test(literal) && !Number.isSafeInteger(Number(literal)) };
  });
}

/**
 * The first line of a .jsonl file that says the file is one JSON document, not JSON Lines: a JSON array
 * (`[{...}, ...]`) or a pretty-printed object (`{` alone on its line). Every line would be a bad row; refuse it.
 */
function notJsonLines(path: string, first: string): void {
  const array = first.startsWith("[");
  if (!array && first !== "{") return;
  throw new PipelineError(
    "E_PIPELINE_FORMAT",
    `${path}: ${array ? "a JSON array" : "pretty-printed JSON"}, not JSON Lines (one object per line); convert it first (jq -c '${array ? ".[]" : "."}' in > out.jsonl)`,
    { file: path },
  );
}

/** Bare NaN, Infinity and -Infinity, as Python's json.dumps writes them (Spark and Python's json read them). */
const NON_FINITE = /(?<![\w.])-?(?:NaN|Infinity)(?![\w.])/;

/**
 * JSON text with bare NaN / Infinity / -Infinity outside strings turned into strings ("NaN"), which number
 * columns read as the values (as `parseNumber` reads "nan" and "inf" in CSV).
 */
export function quoteNonFinite(text: string): string {
  return quoteBareTokens(text, (t, i, c) => {
    const m = c === 78 || c === 73 || c === 45 ? /^-?(?:NaN|Infinity)/.exec(t.slice(i, i + 9)) : null;
    return m === null ? null : { end: i + m[0].length, quote: true };
  });
}

/** One JSONL line: big integers kept exact; NaN/Infinity tried only when the line does not parse as it is. */
function parseJsonLine(t: string): unknown {
  const text = LONG_INTEGER.test(t) ? quoteUnsafeIntegers(t) : t;
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!NON_FINITE.test(text)) throw e;
    return JSON.parse(quoteNonFinite(text));
  }
}

/** A JSONL/NDJSON file as a source; `compression` "gzip" reads it through node:zlib (cursors count decompressed bytes). */
export async function openJsonl(
  path: string,
  options: SourceOptions = {},
  compression: Compression = null,
): Promise<Source> {
  const sizeBytes = (await fs.promises.stat(path)).size;
  let fields: FieldSpec[] | null = null;
  const named = new Set([...(options.numericColumns ?? []), ...(options.textColumns ?? [])]);
  const source: Source = {
    path,
    format: "jsonl",
    compression,
    sizeBytes,
    totalRows: null,
    async *chunks(from: SourceCursor = { rows: 0 }): AsyncIterable<SourceChunk> {
      if (from.rows > 0 && from.byte === undefined) {
        throw new PipelineError("E_PIPELINE_RESUME", `${path}: resuming JSONL needs a byte offset`, {
          file: path,
        });
      }
      if (fields === null && from.rows > 0) {
        // resuming: infer the kinds from the file's first chunk, as the original run did
        for await (const _ of source.chunks()) break;
      }
      const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK;
      let rows = from.rows;
      let line = from.line ?? from.rows + 1;
      for await (const piece of textPieces(path, from.byte ?? 0, chunkBytes, null, compression)) {
        const records: (Record<string, unknown> | undefined)[] = [];
        const lines: number[] = [];
        const problems: RowProblem[] = [];
        const textLines = piece.text.split("\n");
        if (textLines[textLines.length - 1] === "") textLines.pop();
        const starts: number[] = [];
        let at = 0;
        for (const raw of textLines) {
          const l = line++;
          const lineStart = at;
          at += raw.length + 1;
          const t = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
          if (t.trim() === "") continue;
          if (rows === 0 && records.length === 0 && (from.byte ?? 0) === 0) notJsonLines(path, t.trim());
          let v: unknown;
          try {
            v = parseJsonLine(t);
          } catch (e) {
            problems.push({
              index: records.length,
              column: null,
              reason: `invalid JSON: ${(e as Error).message}`,
              line: l,
            });
            records.push(undefined);
            lines.push(l);
            starts.push(lineStart);
            continue;
          }
          if (v === null || typeof v !== "object" || Array.isArray(v)) {
            problems.push({
              index: records.length,
              column: null,
              reason: `expected a JSON object, got ${describe(v)}`,
              line: l,
            });
            records.push(undefined);
          } else records.push(v as Record<string, unknown>);
          lines.push(l);
          starts.push(lineStart);
        }
        if (records.length === 0) continue;
        if (fields === null) {
          const names: string[] = [];
          const seen = new Set<string>();
          for (const r of records) {
            for (const k of Object.keys(r ?? {})) {
              if (seen.has(k)) continue;
              seen.add(k);
              names.push(k);
            }
          }
          const wanted = options.columns ?? names;
          // writers that leave out null fields (Spark's write.json, Go's omitempty) can leave a sparse model
          // column out of a whole first chunk: a named feature or text column may be absent there
          const missing = wanted.filter(
            (c) => !seen.has(c) && !(options.schema ?? []).some((f) => f.name === c) && !named.has(c),
          );
          if (missing.length > 0) throw missingError(path, missing, names);
          fields = resolveFields(wanted, (i) => records.map((r) => r?.[wanted[i]!]), options);
        }
        const columns = new Map<string, Column>();
        for (const f of fields) {
          const raw = records.map((r) => r?.[f.name]);
          if (named.has(f.name)) {
            // a model column left out of an object: say so (a typo in --columns reads this way on every row)
            records.forEach((r, i) => {
              if (r !== undefined && raw[i] === undefined)
                problems.push({
                  index: i,
                  column: f.name,
                  reason: `no "${f.name}" key in the object`,
                  line: lines[i],
                  absent: true,
                });
            });
          }
          columns.set(f.name, buildColumn(f, raw, problems, lines));
        }
        problems.sort((a, b) => a.index - b.index);
        yield {
          batch: { numRows: records.length, columns, problems, lines: Int32Array.from(lines) },
          firstRow: rows,
          end: { rows: rows + records.length, byte: piece.endByte, line },
          cursorAt: textCursor(piece, rows, starts, lines, line),
          bytesRead: piece.fileBytes,
        };
        rows += records.length;
      }
    },
  };
  return source;
}
