/**
 * What every route plugin receives. Route plugins (the v2 protocol, the repository extension, the
 * text routes from src/server/routes/text.ts, ...) are `(app, ctx) => void | Promise<void>`.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { BodyPool } from "./body.ts";
import type { ServerConfig } from "./config.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { ModelHost, RegistryPort } from "./models.ts";

/**
 * Server-wide state the routes read. On SIGTERM `stopping` flips at once (readiness answers 503, so load
 * balancers stop sending); `draining` flips after the drain delay (new requests are refused). Neither flips back.
 */
export interface Lifecycle {
  /** Shutdown has begun: not ready, but requests are still served until `draining`. */
  stopping: boolean;
  /** New requests are refused with 503 (E_DRAINING). */
  draining: boolean;
  readonly startedAt: number;
}

export interface RouteContext {
  readonly registry: RegistryPort;
  /** Batchers, readiness and load/unload bookkeeping; infer through `models.infer` so batching and metrics apply. */
  readonly models: ModelHost;
  readonly metrics: ServerMetrics;
  readonly config: ServerConfig;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  /** Memory of large request bodies; a route may `give` a body back once nothing reads it (see body.ts). */
  readonly bodies: BodyPool;
}

export type RoutePlugin = (app: FastifyInstance, ctx: RouteContext) => void | Promise<void>;

declare module "fastify" {
  interface FastifyRequest {
    /** Model label for metrics ("" for routes without a model). Routes set it once they know the model. */
    tesseraModel: string;
    tesseraStart: number;
    /** Aborted when the client disconnects before the response finished (set by routes that queue work). */
    tesseraAbort: AbortController | null;
  }
}
