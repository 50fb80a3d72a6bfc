/**
 * The one table from error codes to HTTP statuses. Every route throws (or lets through) a
 * `TesseraError`; the app's error handler calls `httpErrorOf` and answers `{"error": message, "code": code}`.
 *
 * Client mistakes map to 4xx; only unknown failures are 500 (and their message is not leaked).
 */
import { TesseraError } from "../tensor/index.ts";
import type { Issue } from "./protocol/index.ts";

/** Server-specific codes (rows in docs/errors.md). */
export type ServerErrorCode =
  | "E_REQUEST_INVALID"
  | "E_UNAUTHORIZED"
  | "E_BODY_TOO_LARGE"
  | "E_TOO_MANY_ITEMS"
  | "E_DRAINING"
  | "E_ROUTE_NOT_FOUND"
  | "E_METHOD_NOT_ALLOWED"
  | "E_UNSUPPORTED_MEDIA_TYPE"
  | "E_DATATYPE_MISMATCH"
  | "E_OUTPUT_UNKNOWN"
  | "E_OUTPUT_MISSING"
  | "E_INTERNAL";

/** Code → HTTP status. Codes not listed here are 500 unless the error says otherwise. */
export const HTTP_STATUS: Readonly<Record<string, number>> = Object.freeze({
  // request shape and content
  E_REQUEST_INVALID: 400,
  E_INPUT_INVALID: 400,
  E_DATATYPE_MISMATCH: 400,
  E_OUTPUT_UNKNOWN: 400,
  E_MODEL_NAME_INVALID: 400,
  E_SHAPE_INVALID: 400,
  E_SHAPE_SIZE: 400,
  E_DTYPE_MISMATCH: 400,
  E_DTYPE_UNSUPPORTED: 400,
  E_BATCH_COST_EXCEEDED: 400,
  // ORT refused the inputs at run time (e.g. an id beyond the vocabulary in a Gather): Triton's INVALID_ARG
  E_ORT_RUN: 400,
  E_UNSUPPORTED_MEDIA_TYPE: 415,
  // identity
  E_UNAUTHORIZED: 401,
  // lookup
  E_MODEL_NOT_FOUND: 404,
  E_MODEL_VERSION_NOT_FOUND: 404,
  E_ROUTE_NOT_FOUND: 404,
  E_METHOD_NOT_ALLOWED: 405,
  // size and load
  E_BODY_TOO_LARGE: 413,
  E_TOO_MANY_ITEMS: 413,
  E_QUEUE_FULL: 429,
  // the client went away: nobody reads this answer, but metrics and logs do (nginx's convention)
  E_ABORTED: 499,
  // availability (a model that failed to load is UNAVAILABLE to infer; the repository load route answers 400)
  E_MODEL_LOAD_FAILED: 503,
  E_MODEL_CONFIG_INVALID: 400,
  E_MODEL_LOAD_REJECTED: 400,
  E_MODEL_NOT_READY: 503,
  E_DRAINING: 503,
  E_BATCHER_CLOSED: 503,
  E_SESSION_CLOSED: 503,
  E_WORKER_DIED: 503,
  E_DEADLINE_EXCEEDED: 504,
});

export interface HttpError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Seconds for a `Retry-After` header (429 and 503). */
  readonly retryAfterS?: number;
}

/** A request that failed validation: every issue is in the message. */
export function requestInvalid(issues: readonly Issue[], code = "E_REQUEST_INVALID"): TesseraError {
  const text = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
  return new TesseraError(code, text, { issues });
}

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

/** Maps any thrown value to the HTTP answer. */
export function httpErrorOf(err: unknown): HttpError {
  if (err instanceof TesseraError) {
    const status = HTTP_STATUS[err.code] ?? 500;
    const retryMs = typeof err.facts.retryAfterMs === "number" ? err.facts.retryAfterMs : undefined;
    return {
      status,
      code: err.code,
      // A 500 is our fault: its details go to the log (the app logs every 5xx), not to the client.
      message: status === 500 ? `internal error (${err.code})` : err.message,
      ...(status === 429 || status === 503
        ? { retryAfterS: Math.max(1, Math.ceil((retryMs ?? 1000) / 1000)) }
        : {}),
    };
  }
  const e = (typeof err === "object" && err !== null ? err : {}) as FastifyLikeError;
  const fcode = typeof e.code === "string" ? e.code : "";
  const fstatus = typeof e.statusCode === "number" ? e.statusCode : 0;
  const message = typeof e.message === "string" ? e.message : String(err);
  if (fcode === "FST_ERR_CTP_BODY_TOO_LARGE" || fstatus === 413) {
    return {
      status: 413,
      code: "E_BODY_TOO_LARGE",
      message: `request body is larger than the limit: ${message}`,
    };
  }
  if (fcode === "FST_ERR_CTP_INVALID_MEDIA_TYPE" || fstatus === 415) {
    return { status: 415, code: "E_UNSUPPORTED_MEDIA_TYPE", message };
  }
  if (fstatus >= 400 && fstatus < 500) return { status: fstatus, code: "E_REQUEST_INVALID", message };
  return { status: 500, code: "E_INTERNAL", message: "internal error" };
}
