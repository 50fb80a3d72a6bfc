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
 * Reusable ArrayBuffers for large request bodies. A fresh ArrayBuffer per large body is external memory that
 * V8 counts towards its next full GC: at a few thousand 64 KB requests per second that alone triggered a
 * mark-compact about every half second. Buffers come in power-of-two size classes; a route gives a body back
 * only when nothing can read it any more (the infer route: after its batch copied the inputs and the answer
 * is built). Buffers this pool did not make, buffers detached by a transfer, and buffers beyond the caps are
 * left to the GC.
 */
export class BodyPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly mine = new WeakSet<ArrayBuffer>();
  private readonly pooled = new WeakSet<ArrayBuffer>();
  private pooledBytes = 0;
  /** Bodies smaller than this come from Node's Buffer pool instead. */
  readonly minBytes: number;
  /** Bodies larger than this get their own ArrayBuffer and are never pooled. */
  readonly maxBytes: number;
  private readonly maxPooledBytes: number;
  private readonly maxPerClass: number;

  constructor(
    opts: { minBytes?: number; maxBytes?: number; maxPooledBytes?: number; maxPerClass?: number } = {},
  ) {
    this.minBytes = opts.minBytes ?? POOLED_MAX + 1;
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    this.maxPooledBytes = opts.maxPooledBytes ?? 64 * 1024 * 1024;
    this.maxPerClass = opts.maxPerClass ?? 128;
  }

  /** Bytes held for reuse now. */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  /** `take` as a function value (for parsers that accept an allocator). */
  readonly alloc = (n: number): ArrayBuffer => this.take(n);

  /** An ArrayBuffer of at least `n` bytes (its contents are stale: write before reading). */
  take(n: number): ArrayBuffer {
    if (n > this.maxBytes) return new ArrayBuffer(n);
    const size = n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
    const got = this.free.get(size)?.pop();
    if (got !== undefined) {
      this.pooled.delete(got);
      this.pooledBytes -= size;
      return got;
    }
    const ab = new ArrayBuffer(size);
    this.mine.add(ab);
    return ab;
  }

  /**
   * Hands a body (or any view of a buffer from `take`, such as an element array parsed into pool memory) back
   * for reuse. The caller promises that nothing reads
   * or writes that memory any more. Anything else is ignored.
   */
  give(body: ArrayBufferView): void {
    const ab = body.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.mine.has(ab) || this.pooled.has(ab)) return;
    const size = ab.byteLength; // 0 once transferred (detached)
    if (size === 0 || this.pooledBytes + size > this.maxPooledBytes) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    if (list.length >= this.maxPerClass) return;
    list.push(ab);
    this.pooled.add(ab);
    this.pooledBytes += size;
  }
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
 * Large bodies take their memory from `pool` when one is given (hand them back with `pool.give`).
 */
export function readBody(
  stream: Readable,
  headers: IncomingHttpHeaders,
  limit: number,
  done: (err: Error | null, body?: Buffer) => void,
  pool?: BodyPool,
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
    // Node's Buffer pool (8-aligned slices) for small sizes, `pool` or an ArrayBuffer of its own otherwise;
    // every byte is written below before the body is used (a short body is an error).
    const n = declared + pad;
    if (n <= POOLED_MAX) {
      const whole = Buffer.allocUnsafe(n);
      body = pad === 0 ? whole : whole.subarray(pad);
    } else if (pool !== undefined && n >= pool.minBytes) {
      body = Buffer.from(pool.take(n), pad, declared);
    } else body = Buffer.allocUnsafeSlow(n).subarray(pad);
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
