import * as fs from "node:fs";
import * as path from "node:path";
import { TesseraError } from "../../tensor/index.ts";
import { PipelineError } from "../errors.ts";
import { openArrow } from "./arrow.ts";
import { type Compression, leadingBytes, sniffCompression } from "./bytes.ts";
import { openParquet } from "./parquet.ts";
import { openCsv, openJsonl } from "./text.ts";
import type { FileFormat, Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

export type { Compression } from "./bytes.ts";
export type { FileFormat, Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

const EXTENSIONS: Readonly<Record<string, FileFormat>> = {
  ".parquet": "parquet",
  ".pq": "parquet",
  ".arrow": "arrow",
  ".feather": "arrow",
  ".ipc": "arrow",
  ".arrows": "arrows",
  ".csv": "csv",
  ".tsv": "csv",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  // Spark's write.json and pandas' to_json(lines=True) name JSON Lines .json; a real JSON document is refused
  // when read (a JSON array or pretty-printed object); outputs are named .jsonl
  ".json": "jsonl",
};

/** Compressions named by an extension that Tessera does not decompress in a stream (refused by name). */
const UNSUPPORTED_COMPRESSION: Readonly<Record<string, string>> = {
  ".zst": "zstd",
  ".zstd": "zstd",
  ".bz2": "bzip2",
  ".xz": "xz",
  ".lzma": "lzma",
  ".lz4": "lz4",
  ".br": "brotli",
  ".zip": "zip",
  ".7z": "7z",
};

/** What a file name says about a file: its format, whether it is gzip-compressed, a default CSV delimiter. */
export interface FileKind {
  readonly format: FileFormat;
  readonly compression: Compression;
  /** "\t" for .tsv (and .tsv.gz); otherwise absent (CSV's ","). */
  readonly delimiter?: string;
}

/**
 * The format (and gzip compression) implied by a file name: `.csv`, `.tsv`, `.jsonl`/`.ndjson`, each optionally
 * followed by `.gz`, `.parquet`/`.pq`, `.arrow`/`.feather`/`.ipc`, `.arrows`. Throws `E_PIPELINE_FORMAT` for
 * unknown extensions and `E_PIPELINE_COMPRESSION` for compressions Tessera does not read (zstd, bzip2, xz, ...,
 * or gzip around Parquet/Arrow, which compress inside).
 */
export function fileKindOf(file: string, role: "input" | "output" = "input"): FileKind {
  const ext = path.extname(file).toLowerCase();
  const unsupported = UNSUPPORTED_COMPRESSION[ext];
  if (unsupported !== undefined) {
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      role === "input"
        ? `${file}: ${unsupported}-compressed files are not read (only gzip, as .csv.gz, .tsv.gz, .jsonl.gz, .ndjson.gz); decompress it first, or recompress it with gzip`
        : `${file}: ${unsupported}-compressed output is not written (only gzip: .csv.gz, .tsv.gz, .jsonl.gz, .ndjson.gz)`,
      { file, compression: unsupported },
    );
  }
  const gzip = ext === ".gz" || ext === ".gzip";
  const inner = gzip ? path.extname(file.slice(0, -ext.length)).toLowerCase() : ext;
  const format = EXTENSIONS[inner];
  if (!format) {
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      gzip
        ? `${file}: a gzip file needs the format before ${ext} (name it .csv${ext}, .tsv${ext}, .jsonl${ext}, .ndjson${ext} or .json${ext}; got "${inner || "none"}")`
        : `${file}: unknown file extension "${ext}" (expected one of ${Object.keys(EXTENSIONS).join(", ")}, the text ones optionally with .gz)`,
      { file, extension: gzip ? `${inner}${ext}` : ext },
    );
  }
  if (role === "output" && inner === ".json") {
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      `${file}: predictions are written as JSON Lines (one object per line), not one JSON document; name the output .jsonl or .ndjson`,
      { file, extension: inner },
    );
  }
  if (gzip && format !== "csv" && format !== "jsonl") {
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      `${file}: gzip around ${format === "parquet" ? "Parquet" : "Arrow IPC"} is not ${role === "input" ? "read" : "written"} (the format compresses inside)${role === "input" ? "; gunzip it first" : `; name the output ${path.basename(file, ext)}`}`,
      { file, compression: "gzip", format },
    );
  }
  return { format, compression: gzip ? "gzip" : null, ...(inner === ".tsv" ? { delimiter: "\t" } : {}) };
}

/** The format implied by a file name's extension (`.csv.gz` → csv); throws as `fileKindOf` does. */
export function formatOf(file: string): FileFormat {
  return fileKindOf(file).format;
}

/**
 * The compression of a CSV/JSONL input from its first bytes, checked against its name: gzip data is read as gzip
 * whatever the name says (its magic bytes are never valid UTF-8 text); a `.gz` name without gzip data, and zstd
 * data, throw `E_PIPELINE_COMPRESSION`.
 */
async function textCompression(file: string, named: Compression): Promise<Compression> {
  const head = await leadingBytes(file, 10);
  const sniffed = sniffCompression(head);
  if (sniffed !== null && sniffed !== "gzip") {
    const how = { zstd: "zstd -d", zip: "unzip", xz: "xz -d", bzip2: "bzip2 -d" }[sniffed];
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      `${file}: holds ${sniffed === "zip" ? "a zip archive" : `${sniffed}-compressed data`}, which is not read as a stream; ${sniffed === "zip" ? "extract it" : "decompress it"} first (${how}), or recompress it with gzip`,
      { file, compression: sniffed },
    );
  }
  if (named === "gzip" && sniffed !== "gzip") {
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      head.length === 0
        ? `${file}: empty file, not gzip data (a gzip file of no rows still has a 20-byte header)`
        : `${file}: not gzip data (no gzip header at its start); if it is already decompressed, drop the .gz from its name`,
      { file, compression: "gzip" },
    );
  }
  return sniffed === "gzip" ? "gzip" : null;
}

/** A reader's own exception (hyparquet, apache-arrow, the file system) as `E_PIPELINE_FORMAT` naming the file. */
function readError(file: string, format: FileFormat, e: unknown): unknown {
  if (e instanceof TesseraError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new PipelineError(
    "E_PIPELINE_FORMAT",
    `${file}: cannot read it as ${format}: ${message}`,
    {
      file,
      format,
    },
    { cause: e },
  );
}

/**
 * Opens a file as a stream of record batches (format from the extension unless given). A path that is a
 * directory or missing throws `E_PIPELINE_NO_INPUT`; a file its reader cannot decode (empty, truncated, another
 * format, a corrupt page) throws `E_PIPELINE_FORMAT` naming the file, when opened or while its chunks are read.
 * CSV/TSV/JSONL may be gzip-compressed (by name, `.csv.gz`, or by content): they are decompressed as a stream, and
 * corrupt, truncated or non-gzip data throws `E_PIPELINE_COMPRESSION` naming the file.
 */
export async function openSource(
  file: string,
  options: SourceOptions & { format?: FileFormat } = {},
): Promise<Source> {
  const kind: FileKind = options.format ? { format: options.format, compression: null } : fileKindOf(file);
  const format = kind.format;
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (e) {
    throw new PipelineError("E_PIPELINE_NO_INPUT", `input ${file}: ${(e as Error).message}`, { input: file });
  }
  if (stat.isDirectory()) {
    throw new PipelineError(
      "E_PIPELINE_NO_INPUT",
      `input ${file} is a directory; give its files or a glob such as '${path.join(file, `*${path.extname(file) || ".parquet"}`)}'`,
      { input: file },
    );
  }
  let source: Source;
  try {
    source = await openFormat(file, kind, options);
  } catch (e) {
    throw readError(file, format, e);
  }
  return {
    path: source.path,
    format: source.format,
    compression: source.compression ?? null,
    sizeBytes: source.sizeBytes,
    totalRows: source.totalRows,
    async *chunks(from?: SourceCursor): AsyncIterable<SourceChunk> {
      try {
        for await (const c of source.chunks(from)) yield c;
      } catch (e) {
        throw readError(file, format, e);
      }
    },
  };
}

async function openFormat(file: string, kind: FileKind, options: SourceOptions): Promise<Source> {
  switch (kind.format) {
    case "parquet":
      return openParquet(file, options);
    case "arrow":
    case "arrows":
      return openArrow(file, options);
    case "csv": {
      const delimiter = options.delimiter ?? kind.delimiter;
      const o = delimiter === undefined ? options : { ...options, delimiter };
      return openCsv(file, o, await textCompression(file, kind.compression));
    }
    case "jsonl":
      return openJsonl(file, options, await textCompression(file, kind.compression));
  }
}
