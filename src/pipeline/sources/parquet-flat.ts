/**
 * Fast decoding of flat (top-level, non-nested) numeric Parquet columns straight into typed arrays plus a
 * validity mask, with hyparquet's page decoders (header, decompression, levels, PLAIN/dictionary/delta
 * values). It skips hyparquet's Dremel assembly, which for OPTIONAL columns (what pyarrow and most writers
 * produce) builds a JS array with a slot per row and was ~4x slower than the REQUIRED path (see
 * bench/RESULTS.md `## score`).
 *
 * `FlatColumnStream` reads one column chunk page by page from the file (page headers and bodies fetched as
 * needed), so a window of rows can be taken from a huge row group without holding the row group in memory.
 */
import type { FileHandle } from "node:fs/promises";
import type { ColumnChunk, PageHeader, SchemaTree } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { convert, convertWithDictionary, DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { decompressPage, readDataPage, readDataPageV2 } from "hyparquet/src/datapage.js";
import { readPlain } from "hyparquet/src/plain.js";
import { DTYPES } from "../../tensor/index.ts";
import type { Column, ColumnKind } from "../batch.ts";
import { PipelineError } from "../errors.ts";
import { COMPRESSORS } from "./codecs.ts";

type FlatKind = Extract<ColumnKind, "float32" | "float64" | "int32" | "int64" | "bool">;
type FlatArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** Kinds this decoder handles (the column must also be a top-level leaf). */
export function isFastFlat(kind: ColumnKind | null, node: SchemaTree): kind is FlatKind {
  return (
    node.children.length === 0 &&
    (kind === "float32" || kind === "float64" || kind === "int32" || kind === "int64" || kind === "bool")
  );
}

/**
 * One decoded data page: `n` level slots, `values` holding the non-null ones (or all, when `defs` is null);
 * `reps` are the repetition levels of a nested (list) column, null for a flat one. `row` is the next level slot.
 */
interface Page {
  readonly values: ArrayLike<unknown>;
  readonly defs: ArrayLike<number> | null;
  readonly reps: ArrayLike<number> | null;
  readonly n: number;
  row: number;
  vi: number;
}

const HEADER_PROBE = 64 * 1024;

/** Reads one flat column chunk of a row group page by page. */
export class FlatColumnStream {
  private pos: number;
  private readonly end: number;
  private dictionary: ArrayLike<unknown> | undefined;
  protected page: Page | null = null;
  protected readonly maxDef: number;
  private readonly decoder: Record<string, unknown>;
  private readonly meta: NonNullable<ColumnChunk["meta_data"]>;

  /** `path`: the schema nodes from the top-level column down to the leaf, for a nested column (default `[node]`). */
  constructor(
    private readonly fh: FileHandle,
    root: SchemaTree,
    private readonly node: SchemaTree,
    chunk: ColumnChunk,
    private readonly kind: FlatKind,
    path: readonly SchemaTree[] = [node],
  ) {
    const meta = chunk.meta_data;
    if (!meta) {
      throw new PipelineError("E_PIPELINE_FORMAT", `column "${node.element.name}": no column metadata`, {
        column: node.element.name,
      });
    }
    this.meta = meta;
    // Some writers store 0 for "no dictionary page": like hyparquet and Arrow, use the dictionary offset only
    // when it lies before the data pages.
    const dict = Number(meta.dictionary_page_offset ?? 0n);
    const data = Number(meta.data_page_offset);
    this.pos = dict > 0 && dict < data ? dict : data;
    this.end = this.pos + Number(meta.total_compressed_size);
    const leaf = path[path.length - 1]!;
    this.maxDef = path.filter((n) => n.element.repetition_type !== "REQUIRED").length;
    this.decoder = {
      pathInSchema: meta.path_in_schema,
      element: leaf.element,
      schemaPath: [root, ...path],
      type: meta.type,
      codec: meta.codec,
      parsers: DEFAULT_PARSERS,
      compressors: COMPRESSORS,
      utf8: true,
    };
  }

  private async read(pos: number, len: number): Promise<Uint8Array> {
    const buf = new Uint8Array(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, pos);
    if (bytesRead !== len) {
      throw new PipelineError("E_PIPELINE_FORMAT", `column "${this.node.element.name}": file truncated`, {
        column: this.node.element.name,
      });
    }
    return buf;
  }

  /** Reads the next page (dictionary pages are absorbed); false at the end of the chunk. */
  protected async nextPage(): Promise<boolean> {
    for (;;) {
      if (this.pos >= this.end) return false;
      let probe = Math.min(this.end - this.pos, HEADER_PROBE);
      let buf: Uint8Array;
      let header: PageHeader;
      let headerLen: number;
      for (;;) {
        buf = await this.read(this.pos, probe);
        const reader = { view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), offset: 0 };
        try {
          header = parquetHeader(reader);
          headerLen = reader.offset;
          break;
        } catch (e) {
          if (probe >= this.end - this.pos) throw e;
          probe = Math.min(this.end - this.pos, probe * 4);
        }
      }
      const size = header.compressed_page_size;
      const body =
        headerLen + size <= buf.length
          ? buf.subarray(headerLen, headerLen + size)
          : await this.read(this.pos + headerLen, size);
      this.pos += headerLen + size;
      if (this.decodePage(header, body)) return true;
    }
  }

  private leafTypeLength(): number | undefined {
    return (this.decoder.element as SchemaTree["element"]).type_length;
  }

  /** Decodes a page into `this.page` (true) or `this.dictionary` (false). */
  private decodePage(header: PageHeader, compressed: Uint8Array): boolean {
    const meta = this.meta;
    const d = this.decoder as never;
    if (header.type === "DICTIONARY_PAGE") {
      const page = decompressPage(compressed, Number(header.uncompressed_page_size), meta.codec, COMPRESSORS);
      const r = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      this.dictionary = convert(
        readPlain(r, meta.type, header.dictionary_page_header!.num_values, this.leafTypeLength()),
        d,
      );
      return false;
    }
    let defs: ArrayLike<number> | null = null;
    let reps: ArrayLike<number> | null = null;
    let values: ArrayLike<unknown>;
    let n: number;
    if (header.type === "DATA_PAGE") {
      const daph = header.data_page_header!;
      const page = decompressPage(compressed, Number(header.uncompressed_page_size), meta.codec, COMPRESSORS);
      const r = readDataPage(page, daph, d);
      defs = r.definitionLevels ?? null;
      reps = r.repetitionLevels?.length ? r.repetitionLevels : null;
      values = convertWithDictionary(r.dataPage, this.dictionary as never, daph.encoding, d);
      n = daph.num_values;
    } else if (header.type === "DATA_PAGE_V2") {
      const daph2 = header.data_page_header_v2!;
      n = daph2.num_values;
      if (daph2.num_nulls === 0 && daph2.encoding === "PLAIN" && daph2.repetition_levels_byte_length === 0) {
        // no nulls: skip decoding the definition levels (hyparquet makes a JS array slot per row)
        const levels = daph2.definition_levels_byte_length;
        let page: Uint8Array = compressed.subarray(levels);
        if (daph2.is_compressed !== false) {
          page = decompressPage(
            page,
            Number(header.uncompressed_page_size) - levels,
            meta.codec,
            COMPRESSORS,
          );
        }
        const r = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
        values = convert(readPlain(r, meta.type, n, this.leafTypeLength()), d);
      } else {
        const r = readDataPageV2(compressed, header, d);
        defs = r.definitionLevels ?? null;
        reps = r.repetitionLevels?.length ? r.repetitionLevels : null;
        values = convertWithDictionary(r.dataPage, this.dictionary as never, daph2.encoding, d);
      }
    } else return false; // index pages and others carry no rows
    // no nulls in the page: as many values as levels
    const dense = this.maxDef === 0 || defs === null || defs.length === 0 || values.length === n;
    this.page = { values, defs: dense ? null : defs, reps, n, row: 0, vi: 0 };
    return true;
  }

  /** The next `rows` rows as a column (typed array + validity mask when there are nulls). */
  async take(rows: number): Promise<Column> {
    const out: FlatArray = new DTYPES[this.kind].ctor(rows);
    let valid: Uint8Array | null = null;
    let filled = 0;
    while (filled < rows) {
      if (this.page === null || this.page.row >= this.page.n) {
        if (!(await this.nextPage())) {
          throw new PipelineError(
            "E_PIPELINE_FORMAT",
            `column "${this.node.element.name}": ${filled} of ${rows} rows in the chunk`,
            {
              column: this.node.element.name,
            },
          );
        }
        continue;
      }
      const p = this.page;
      const m = Math.min(rows - filled, p.n - p.row);
      const values = p.values;
      if (p.defs === null && ArrayBuffer.isView(values) && values.constructor === out.constructor) {
        (out as Float64Array).set((values as Float64Array).subarray(p.vi, p.vi + m), filled);
        p.vi += m;
      } else {
        for (let i = 0; i < m; i++) {
          const at = filled + i;
          if (p.defs === null || p.defs[p.row + i] === this.maxDef) {
            const v = values[p.vi++];
            if (this.kind === "int64")
              (out as BigInt64Array)[at] = typeof v === "bigint" ? v : BigInt(v as number);
            else (out as Float64Array)[at] = typeof v === "boolean" ? (v ? 1 : 0) : Number(v);
          } else {
            valid ??= new Uint8Array(rows).fill(1);
            valid[at] = 0;
          }
        }
      }
      p.row += m;
      filled += m;
    }
    return { kind: this.kind, length: rows, valid, values: out } as Column;
  }

  /** Skips `rows` rows (decodes and drops them in windows). */
  async skip(rows: number): Promise<void> {
    for (let left = rows; left > 0; ) {
      const m = Math.min(left, 65536);
      await this.take(m);
      left -= m;
    }
  }
}
