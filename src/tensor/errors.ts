/**
 * Errors with a stable code and the facts that caused them.
 *
 * Every module throws `TesseraError` (or a subclass) with a code from docs/errors.md.
 * The server maps codes to HTTP statuses in one table; the CLI maps them to exit codes.
 */

/** Facts attached to an error: small JSON-serialisable values (shapes, names, limits). */
export type ErrorFacts = Readonly<Record<string, unknown>>;

export class TesseraError extends Error {
  /** Stable machine-readable code, e.g. `E_SHAPE_BROADCAST`. Listed in docs/errors.md. */
  readonly code: string;
  readonly facts: ErrorFacts;

  constructor(code: string, message: string, facts: ErrorFacts = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TesseraError";
    this.code = code;
    this.facts = facts;
  }

  toJSON(): { code: string; message: string; facts: ErrorFacts } {
    return { code: this.code, message: this.message, facts: this.facts };
  }
}

/** Shape problems: broadcasting, reshape sizes, ranks, inner dimensions. */
export class ShapeError extends TesseraError {
  constructor(code: string, message: string, facts: ErrorFacts = {}) {
    super(code, message, facts);
    this.name = "ShapeError";
  }
}

/** A dtype that an op or format does not support. */
export class DTypeError extends TesseraError {
  constructor(code: string, message: string, facts: ErrorFacts = {}) {
    super(code, message, facts);
    this.name = "DTypeError";
  }
}

/** Renders a shape the way every message shows it: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}
