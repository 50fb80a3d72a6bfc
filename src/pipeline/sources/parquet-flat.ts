/**
 * Fast decoding of flat (top-level, non-nested) numeric Parquet columns straight into typed arrays plus a
 * validity mask, with hyparquet's page decoders (header, decompression, levels, PLAIN/dictionary/delta
 * values). It skips hyparquet's Dremel assembly, which for OPTIONAL columns (what pyarrow and most writers
 * produce) builds a JS array with a slot per row and was ~10x slower than the REQUIRED path (see
 * bench/RESULTS.md `## score`).
 */
import type { AsyncBuffer, ColumnChunk, SchemaTree } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { convert, convertWithDictionary, DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { decompressPage, readDataPage, readDataPageV2 } from "hyparquet/src/datapage.js";
import { readPlain } from "hyparquet/src/plain.js";
import type { Column, ColumnKind } from "../batch.ts";
import { PipelineError } from "../errors.ts";

type FlatKind = Extract<ColumnKind, "float32" | "float64" | "int32" | "int64" | "bool">;

/** Kinds this decoder handles (the column must also be a top-level leaf). */
export function isFastFlat(kind: ColumnKind | null, node: SchemaTree): kind is FlatKind {
  return (
    node.children.length === 0 &&
    (kind === "float32" || kind === "float64" || kind === "int32" || kind === "int64" || kind === "bool")
  );
}

function alloc(
  kind: FlatKind,
  n: number,
): Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array {
  switch (kind) {
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "int32":
      return new Int32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "bool":
      return new Uint8Array(n);
  }
}

/**
 * Decodes rows [from, groupRows) of one column chunk of a row group. `node` is the column's schema node
 * (parent: root), `chunk` its ColumnChunk from the file metadata.
 */
export async function readFlatColumn(
  file: AsyncBuffer,
  root: SchemaTree,
  node: SchemaTree,
  chunk: ColumnChunk,
  kind: FlatKind,
  groupRows: number,
  from: number,
): Promise<Column> {
  const meta = chunk.meta_data;
  if (!meta)
    throw new PipelineError("E_PIPELINE_FORMAT", `column "${node.element.name}": no column metadata`, {
      column: node.element.name,
    });
  const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
  const end = start + Number(meta.total_compressed_size);
  const bytes = await file.slice(start, end);
  const reader = { view: new DataView(bytes), offset: 0 };
  const schemaPath = [root, node];
  const maxDef = node.element.repetition_type === "REQUIRED" ? 0 : 1;
  const decoder = {
    pathInSchema: meta.path_in_schema,
    element: node.element,
    schemaPath,
    type: meta.type,
    codec: meta.codec,
    parsers: DEFAULT_PARSERS,
    compressors: undefined,
    utf8: true,
  };
  const out = alloc(kind, groupRows);
  let valid: Uint8Array | null = null;
  let dictionary: ArrayLike<unknown> | undefined;
  let pos = 0;
  while (pos < groupRows && reader.offset < bytes.byteLength - 1) {
    const header = parquetHeader(reader);
    const size = header.compressed_page_size;
    const compressed = new Uint8Array(bytes, reader.offset, size);
    reader.offset += size;
    let defs: ArrayLike<number> | undefined;
    let values: ArrayLike<unknown>;
    let n: number;
    if (header.type === "DICTIONARY_PAGE") {
      const page = decompressPage(compressed, Number(header.uncompressed_page_size), meta.codec, undefined);
      const r = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      dictionary = convert(
        readPlain(r, meta.type, header.dictionary_page_header!.num_values, node.element.type_length),
        decoder as never,
      );
      continue;
    } else if (header.type === "DATA_PAGE") {
      const daph = header.data_page_header!;
      const page = decompressPage(compressed, Number(header.uncompressed_page_size), meta.codec, undefined);
      const d = readDataPage(page, daph, decoder as never);
      defs = d.definitionLevels;
      values = convertWithDictionary(d.dataPage, dictionary as never, daph.encoding, decoder as never);
      n = daph.num_values;
    } else if (
      header.type === "DATA_PAGE_V2" &&
      header.data_page_header_v2!.num_nulls === 0 &&
      header.data_page_header_v2!.encoding === "PLAIN" &&
      header.data_page_header_v2!.repetition_levels_byte_length === 0
    ) {
      // no nulls: skip decoding the definition levels (one JS array slot per row in hyparquet) and read the values
      const daph2 = header.data_page_header_v2!;
      const levels = daph2.definition_levels_byte_length;
      let page: Uint8Array = compressed.subarray(levels);
      if (daph2.is_compressed !== false) {
        page = decompressPage(page, Number(header.uncompressed_page_size) - levels, meta.codec, undefined);
      }
      const r = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      defs = undefined;
      values = convert(readPlain(r, meta.type, daph2.num_values, node.element.type_length), decoder as never);
      n = daph2.num_values;
    } else if (header.type === "DATA_PAGE_V2") {
      const daph2 = header.data_page_header_v2!;
      const d = readDataPageV2(compressed, header, decoder as never);
      defs = d.definitionLevels;
      values = convertWithDictionary(d.dataPage, dictionary as never, daph2.encoding, decoder as never);
      n = daph2.num_values;
    } else continue;
    n = Math.min(n, groupRows - pos);
    // no nulls in the page: as many values as levels
    const dense = maxDef === 0 || !defs || defs.length === 0 || values.length === n;
    if (dense && ArrayBuffer.isView(values) && values.constructor === out.constructor) {
      (out as Float64Array).set((values as Float64Array).subarray(0, n), pos);
      pos += n;
      continue;
    }
    let vi = 0;
    for (let i = 0; i < n; i++, pos++) {
      if (dense || defs![i] === maxDef) {
        const v = values[vi++];
        if (kind === "int64") (out as BigInt64Array)[pos] = typeof v === "bigint" ? v : BigInt(v as number);
        else (out as Float64Array)[pos] = typeof v === "boolean" ? (v ? 1 : 0) : Number(v);
      } else {
        valid ??= new Uint8Array(groupRows).fill(1);
        valid[pos] = 0;
      }
    }
  }
  if (pos !== groupRows) {
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      `column "${node.element.name}": decoded ${pos} of ${groupRows} rows`,
      {
        column: node.element.name,
      },
    );
  }
  const length = groupRows - from;
  const values = from === 0 ? out : out.subarray(from);
  const v = valid === null ? null : from === 0 ? valid : valid.subarray(from);
  return { kind, length, valid: v, values } as Column;
}
