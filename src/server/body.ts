/**
 * Request body collection for every POST route: one Buffer per body, written once.
 *
 * Fastify's `parseAs: "buffer"` keeps every socket chunk and concatenates them at the end. This reader
 * sizes the Buffer from `Content-Length` up front and copies each chunk into place as it arrives (one copy of
 * the bytes, no chunk array). It also places the body so that the binary part of a Triton binary request (the
 * bytes after `Inference-Header-Content-Length` bytes of JSON) starts on an 8-byte boundary of its
 * ArrayBuffer: numeric binary tensors can then be typed-array views of the body instead of copies.
 *
 * Same limits and answers as Fastify's reader: a declared or received length over the limit → 413
 * (`E_BODY_TOO_LARGE`), fewer or more bytes than `Content-Length` → 400, a stream error → 400.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { TesseraError } from "../tensor/index.ts";

/** Bodies up to this many bytes come from Node's Buffer pool (its slices start 8-byte aligned). */
const POOLED_MAX = 4096 - 8;

function tooLarge(limit: number, got: number): TesseraError {
  return new TesseraError(
    "E_BODY_TOO_LARGE",
    `request body is larger than the limit: ${got} bytes, limit ${limit}`,
    {
      limit,
    },
  );
}

function lengthMismatch(declared: number, got: number): TesseraError {
  return new TesseraError(
    "E_REQUEST_INVALID",
    `request body size did not match Content-Length: header says ${declared}, received ${got}`,
    { declared, received: got },
  );
}

/**
 * Padding in front of the body so that byte `headerLength` of the body lands 8-byte aligned
 * (0 when the header is absent or not a plain integer within the body).
 */
export function alignmentPad(headerLength: string | string[] | undefined, bodyLength: number): number {
  const h = Array.isArray(headerLength) ? headerLength[0] : headerLength;
  if (h === undefined) return 0;
  const n = Number(h);
  if (!Number.isSafeInteger(n) || n <= 0 || n > bodyLength) return 0;
  return (8 - (n % 8)) % 8;
}

/**
 * Reads `stream` to its end into one Buffer (see the module doc). `done` is called exactly once, with the
 * body or an error (TesseraError for limit and length problems; stream errors get `statusCode` 400).
 */
export function readBody(
  stream: Readable,
  headers: IncomingHttpHeaders,
  limit: number,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  const cl = headers["content-length"];
  const declared = cl === undefined ? Number.NaN : Number(cl);
  if (declared > limit) {
    done(tooLarge(limit, declared));
    return;
  }
  let body: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  if (Number.isSafeInteger(declared) && declared >= 0) {
    const pad = alignmentPad(headers["inference-header-content-length"], declared);
    // allocUnsafe: pooled (8-aligned slices) for small sizes, its own ArrayBuffer otherwise; every byte is
    // written below before the body is used (a short body is an error).
    const whole =
      declared + pad <= POOLED_MAX
        ? Buffer.allocUnsafe(declared + pad)
        : Buffer.allocUnsafeSlow(declared + pad);
    body = pad === 0 ? whole : whole.subarray(pad);
  } else chunks = [];
  let received = 0;
  let finished = false;

  const cleanup = () => {
    finished = true;
    stream.removeListener("data", onData);
    stream.removeListener("end", onEnd);
    stream.removeListener("error", onError);
  };
  const onData = (chunk: Buffer | string) => {
    if (finished) return;
    const c = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const at = received;
    received += c.byteLength;
    if (received > limit) {
      cleanup();
      done(tooLarge(limit, received));
      return;
    }
    if (body !== undefined) {
      if (received > body.byteLength) {
        cleanup();
        done(lengthMismatch(body.byteLength, received));
        return;
      }
      c.copy(body, at);
    } else chunks!.push(c);
  };
  const onEnd = () => {
    if (finished) return;
    cleanup();
    if (body !== undefined) {
      if (received !== body.byteLength) done(lengthMismatch(body.byteLength, received));
      else done(null, body);
      return;
    }
    done(null, Buffer.concat(chunks!, received));
  };
  const onError = (err: Error & { statusCode?: number }) => {
    if (finished) return;
    cleanup();
    if (!(typeof err.statusCode === "number" && err.statusCode >= 400)) err.statusCode = 400;
    done(err);
  };
  stream.on("data", onData);
  stream.on("end", onEnd);
  stream.on("error", onError);
  stream.resume();
}
