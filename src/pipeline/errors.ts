/**
 * Errors raised by the streaming scorer. Every code has a row in docs/errors.md.
 */
import { type ErrorFacts, TesseraError } from "../tensor/index.ts";

export type PipelineErrorCode =
  /** A row could not be scored: malformed, null or wrongly typed value. Facts: file, row, column, reason. */
  | "E_PIPELINE_BAD_ROW"
  /** A requested column is not in the input. */
  | "E_PIPELINE_MISSING_COLUMN"
  /** Unsupported file format or column type. */
  | "E_PIPELINE_FORMAT"
  /** Input files (or batches) disagree on the schema. */
  | "E_PIPELINE_SCHEMA"
  /** Output exists and neither --overwrite nor --resume was given. */
  | "E_PIPELINE_OUTPUT_EXISTS"
  /** --resume found no checkpoint, or one written for other inputs, model or options. */
  | "E_PIPELINE_RESUME"
  /** The mapped feature width does not match the model input. */
  | "E_PIPELINE_FEATURES"
  /** The input path or glob matched no file. */
  | "E_PIPELINE_NO_INPUT"
  /** A text column was requested but no text embedder was given. */
  | "E_PIPELINE_TEXT"
  /** The model returned an output the pipeline cannot turn into a column. */
  | "E_PIPELINE_OUTPUT"
  /** A compressed input is corrupt, truncated or not what its name says, or the compression is not supported. */
  | "E_PIPELINE_COMPRESSION";

export class PipelineError extends TesseraError {
  override readonly code: PipelineErrorCode;
  constructor(
    code: PipelineErrorCode,
    message: string,
    facts: ErrorFacts = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, facts, options);
    this.name = "PipelineError";
    this.code = code;
  }
}
