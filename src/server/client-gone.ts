/**
 * Dropping queued work whose client went away. The app's per-request 'close' listener calls `clientGone` when a
 * response closes unfinished; routes that queue work pass `clientGoneSignal(req)` to it.
 */
import type { FastifyRequest } from "fastify";
import { TesseraError } from "../tensor/index.ts";

/** One AbortController per connection (see clientGoneSignal), made on first use. */
const connectionAborts = new WeakMap<object, AbortController>();

/**
 * A signal that aborts when the client of `req` goes away (its response closes unfinished; the app's 'close'
 * listener aborts it via `clientGone`). One per connection, not per request: an HTTP/1.1 connection carries one
 * request at a time, a response that closes unfinished means the connection is gone, and creating an
 * AbortSignal costs ~2 µs and ~1 KB. Routes that queue work pass it on and set `req.tesseraAbort = null` once
 * the work is done (listeners on it must be removed by whoever adds them: it outlives the request).
 */
export function clientGoneSignal(req: FastifyRequest): AbortSignal {
  const socket = req.raw.socket;
  let ac = connectionAborts.get(socket);
  if (ac === undefined || ac.signal.aborted) {
    ac = new AbortController();
    connectionAborts.set(socket, ac);
  }
  req.tesseraAbort = ac;
  return ac.signal;
}

/** Aborts the signal of `req`'s connection (its response closed unfinished: the client is gone). */
export function clientGone(req: FastifyRequest): void {
  const ac = req.tesseraAbort;
  if (ac === null) return;
  connectionAborts.delete(req.raw.socket);
  ac.abort(new TesseraError("E_ABORTED", "client disconnected", {}));
}
