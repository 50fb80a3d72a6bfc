/**
 * Errors of the ONNX module. Codes (docs/errors.md):
 *  - `E_ONNX_BUILD`: the graph being built is invalid (unknown input name, duplicate value, bad dims, …).
 *  - `E_ONNX_DECODE`: bytes are not an ONNX model (not protobuf, truncated, no graph).
 */
import { type ErrorFacts, TesseraError } from "../tensor/index.ts";

export type OnnxErrorCode = "E_ONNX_BUILD" | "E_ONNX_DECODE";

export class OnnxError extends TesseraError {
  override readonly code: OnnxErrorCode;

  constructor(code: OnnxErrorCode, message: string, facts: ErrorFacts = {}, options?: { cause?: unknown }) {
    super(code, message, facts, options);
    this.name = "OnnxError";
    this.code = code;
  }
}

/** Shorthand for a graph-building error. */
export function buildError(message: string, facts: ErrorFacts = {}): OnnxError {
  return new OnnxError("E_ONNX_BUILD", message, facts);
}
