import * as path from "node:path";
import { PipelineError } from "../errors.ts";
import { openArrow } from "./arrow.ts";
import { openParquet } from "./parquet.ts";
import { openCsv, openJsonl } from "./text.ts";
import type { FileFormat, Source, SourceOptions } from "./types.ts";

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

/** Opens a file as a stream of record batches (format from the extension unless given). */
export async function openSource(
  file: string,
  options: SourceOptions & { format?: FileFormat } = {},
): Promise<Source> {
  const format = options.format ?? formatOf(file);
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
