/**
 * Dropping queued work whose client went away. The app's per-request 'close' listener calls `clientGone` when a
 * response closes unfinished; routes that queue work pass `clientGoneSignal(req)` (or `requestGoneSignal(req)`)
 * to it.
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

/**
 * A signal of `req`'s own, aborted like `clientGoneSignal`'s (by the app's 'close' listener) when the client goes
 * away. For work that ties `AbortSignal.any` or listeners to the signal for longer than the request (src/text):
 * on a per-connection signal those would pile up over the connection's requests. Costs one AbortController.
 */
export function requestGoneSignal(req: FastifyRequest): AbortSignal {
  const ac = new AbortController();
  req.tesseraAbort = ac;
  return ac.signal;
}

/** Aborts `req`'s signal, its connection's or its own (its response closed unfinished: the client is gone). */
export function clientGone(req: FastifyRequest): void {
  const ac = req.tesseraAbort;
  if (ac === null) return;
  const socket = req.raw.socket;
  if (connectionAborts.get(socket) === ac) connectionAborts.delete(socket);
  ac.abort(new TesseraError("E_ABORTED", "client disconnected", {}));
}
