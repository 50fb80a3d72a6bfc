/**
 * Errors raised by the batching layer. Codes are listed in docs/errors.md.
 *
 *  - E_QUEUE_FULL            the bounded queue refused a request (HTTP 429); carries `retryAfterMs`.
 *  - E_ABORTED               the caller's AbortSignal fired (before batching, or while its batch ran).
 *  - E_DEADLINE_EXCEEDED     the request's deadline passed before its result was ready.
 *  - E_BATCHER_CLOSED        submit after close(), or queued work rejected by close({ drain: false }).
 *  - E_BATCH_COST_EXCEEDED   one item alone costs more than maxBatchCost (it could never be batched).
 *  - E_BATCH_RESULT_COUNT    the run function returned a different number of results than items.
 *  - E_BATCHER_CONFIG        invalid batcher options (a programming error).
 */
import { type ErrorFacts, TesseraError } from "../tensor/index.ts";

/** The queue is full; retry after roughly `retryAfterMs` (an estimate from recent batch times). */
export class QueueFullError extends TesseraError {
  readonly retryAfterMs: number;

  constructor(message: string, facts: ErrorFacts & { retryAfterMs: number }) {
    super("E_QUEUE_FULL", message, facts);
    this.name = "QueueFullError";
    this.retryAfterMs = facts.retryAfterMs;
  }
}

/** Creates the `E_ABORTED` error for a request whose signal fired; `cause` is the signal's reason. */
export function abortedError(where: "queued" | "running" | "submit", reason: unknown): TesseraError {
  return new TesseraError(
    "E_ABORTED",
    `batcher: request aborted while ${where === "submit" ? "submitting" : where}`,
    { where },
    {
      cause: reason,
    },
  );
}

/** Creates the `E_DEADLINE_EXCEEDED` error; `deadline` is epoch ms. */
export function deadlineError(where: "queued" | "running" | "submit", deadline: number): TesseraError {
  return new TesseraError(
    "E_DEADLINE_EXCEEDED",
    `batcher: deadline ${new Date(deadline).toISOString()} passed while the request was ${where === "submit" ? "being submitted" : where}`,
    { where, deadline },
  );
}

/** Creates the `E_BATCHER_CLOSED` error. */
export function closedError(what: string): TesseraError {
  return new TesseraError("E_BATCHER_CLOSED", `batcher: ${what}`, {});
}
