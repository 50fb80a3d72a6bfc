import * as fs from "node:fs";
import * as path from "node:path";
import { TesseraError } from "../../tensor/index.ts";
import { PipelineError } from "../errors.ts";
import { openArrow } from "./arrow.ts";
import { openParquet } from "./parquet.ts";
import { openCsv, openJsonl } from "./text.ts";
import type { FileFormat, Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

export type { FileFormat, Source, SourceChunk, SourceCursor, SourceOptions } from "./types.ts";

const EXTENSIONS: Readonly<Record<string, FileFormat>> = {
  ".parquet": "parquet",
  ".pq": "parquet",
  ".arrow": "arrow",
  ".feather": "arrow",
  ".ipc": "arrow",
  ".arrows": "arrows",
  ".csv": "csv",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
};

/** The format implied by a file name's extension; throws `E_PIPELINE_FORMAT` for unknown ones. */
export function formatOf(file: string): FileFormat {
  const ext = path.extname(file).toLowerCase();
  const f = EXTENSIONS[ext];
  if (!f) {
    throw new PipelineError(
      "E_PIPELINE_FORMAT",
      `${file}: unknown file extension "${ext}" (expected one of ${Object.keys(EXTENSIONS).join(", ")})`,
      { file, extension: ext },
    );
  }
  return f;
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
 */
export async function openSource(
  file: string,
  options: SourceOptions & { format?: FileFormat } = {},
): Promise<Source> {
  const format = options.format ?? formatOf(file);
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
    source = await openFormat(file, format, options);
  } catch (e) {
    throw readError(file, format, e);
  }
  return {
    path: source.path,
    format: source.format,
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

function openFormat(file: string, format: FileFormat, options: SourceOptions): Promise<Source> {
  switch (format) {
    case "parquet":
      return openParquet(file, options);
    case "arrow":
    case "arrows":
      return openArrow(file, options);
    case "csv":
      return openCsv(file, options);
    case "jsonl":
      return openJsonl(file, options);
  }
}
