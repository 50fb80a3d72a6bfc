/**
 * buildApp: the Fastify application without a listener (tests use it in-process and over a socket).
 * It validates and routes; models, batching and ML live in the registry and batchers it is given.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Duplex } from "node:stream";
import { gunzip, inflate } from "node:zlib";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import pino, { type Logger } from "pino";
import { TesseraError } from "../tensor/index.ts";
import { ApiKeys } from "./auth.ts";
import { BodyPool, readBody } from "./body.ts";
import { clientGone } from "./client-gone.ts";
import { DEFAULT_CONFIG, type ServerConfig } from "./config.ts";
import type { Lifecycle, RouteContext, RoutePlugin } from "./context.ts";
import { httpErrorOf } from "./errors.ts";
import { ServerMetrics } from "./metrics.ts";
import { ModelHost, type RegistryPort } from "./models.ts";
import { registerRepositoryRoutes } from "./routes/repository.ts";
import { registerTextRoutes } from "./routes/text.ts";
import { registerTritonRoutes } from "./routes/triton.ts";
import { registerV2Routes } from "./routes/v2.ts";
import { createRegistry } from "./registry.ts";

export interface BuildAppOptions {
  /** Settings; missing ones take DEFAULT_CONFIG values. */
  readonly config?: Partial<ServerConfig>;
  /** The model registry; default: a ModelRegistry over `config.modelsDir`. Closed when the app closes. */
  readonly registry?: RegistryPort;
  /** A pino logger; default JSON logs to stdout at `config.logLevel`. */
  readonly logger?: Logger;
  /** Extra route plugins, called after the built-in routes. */
  readonly plugins?: readonly RoutePlugin[];
  /** Mount the text routes of src/server/routes/text.ts: /v1/embeddings, /embed, /rerank, ... (default true). */
  readonly textRoutes?: boolean;
  /** Kick off `registry.loadAll()` (default `config.loadAll`); ready turns true when it finishes. */
  readonly loadModels?: boolean;
  /** Prometheus default process metrics (RSS, heap, event loop); default true. */
  readonly defaultMetrics?: boolean;
}

export interface TesseraDecorations {
  readonly ctx: RouteContext;
  /** Settles when start-up model loading finished (resolved immediately when loading is off). */
  readonly loading: Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    tessera: TesseraDecorations;
  }
}

/** Longest path parameter the router takes (Fastify's default of 100 is shorter than a valid model name). */
const MAX_PARAM_LENGTH = 1024;

/**
 * Requests Node's HTTP parser refuses (a malformed header, chunk or request line) or that time out before a route
 * runs: the same {"error", "code"} body as every other error, then the connection closes (as Node and Fastify do).
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, text, error] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout", "the request was not received in time"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "Request Header Fields Too Large", "the request headers are too large"]
        : [400, "Bad Request", `malformed HTTP request (${err.code ?? "parse error"})`];
  const body = JSON.stringify({ error, code: status === 408 ? "E_REQUEST_TIMEOUT" : "E_REQUEST_INVALID" });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

const REQUEST_ID_RE = /^[\w.:@/+=-]{1,128}$/;
/** Routes that stay open without an API key and while draining (and `GET /`, TEI's health; `POST /` is not open). */
// Probes stay open when API keys are set: orchestrators call them without credentials.
const OPEN_ROUTES = new Set(["/v2/health/live", "/v2/health/ready", "/metrics", "/health", "/ping"]);

export async function buildApp(options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...options.config };
  const logger = options.logger ?? pino({ level: config.logLevel, base: { service: "tessera" } });
  const metrics = new ServerMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const registry = options.registry ?? (await createRegistry(config, logger));
  const models = new ModelHost({
    registry,
    metrics,
    batching: config.batching,
    logger,
    explicitLoad: options.loadModels ?? config.loadAll,
  });
  const lifecycle: Lifecycle = { stopping: false, draining: false, startedAt: Date.now() };
  // Bodies (and arrays parsed from them) up to 4 MiB are pooled, at most 64 MiB held idle (64 connections of
  // 64-row JSON requests hold ~36 MiB); larger ones are rare enough for the GC.
  const bodies = new BodyPool({ maxBytes: 4 * 1024 * 1024, maxPooledBytes: 64 * 1024 * 1024 });
  const ctx: RouteContext = { registry, models, metrics, config, lifecycle, logger, bodies };
  const keys = new ApiKeys(config.apiKeys);

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    genReqId: (req) => {
      const h = req.headers["x-request-id"];
      const v = Array.isArray(h) ? h[0] : h;
      return v && REQUEST_ID_RE.test(v) ? v : randomUUID();
    },
    return503OnClosing: true,
    // `/v2/models/m/` is `/v2/models/m` (clients that join a base URL ending in "/" send such paths). Path
    // parameters may be longer than model names may be (checkModelName answers those with its own 400).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Errors raised before any route runs get the same {"error", "code"} body as every other error.
    frameworkErrors: (err, _req, reply) => {
      const tooLong = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      (reply as FastifyReply)
        .code(tooLong ? 414 : 400)
        .type("application/json")
        .send({
          error: tooLong
            ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters`
            : `${err.message}: check its percent-encoding`,
          code: "E_REQUEST_INVALID",
        });
    },
    clientErrorHandler: clientError,
    // Fastify's "incoming request" / "request completed" info lines cost a log write each; the close
    // listener below logs each request at debug instead (errors and warnings are still logged).
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: "idle",
  });

  // Bodies arrive as Buffers; each route parses its own (the infer body may be JSON + binary). readBody
  // writes each body once into a Buffer sized from Content-Length, placed so binary tensors can be views.
  app.removeAllContentTypeParsers();
  const limit = config.bodyLimitBytes;
  app.addContentTypeParser("*", (req, payload, done) => {
    readBody(
      payload,
      req.headers,
      limit,
      (err, body) => {
        if (err) return done(err, undefined);
        const enc = req.headers["content-encoding"];
        if (enc === undefined) return done(null, body);
        decodeContentEncoding(enc, body!, limit, (e, decoded) => done(e, decoded));
      },
      bodies,
    );
  });

  app.decorateRequest("tesseraModel", "");
  app.decorateRequest("tesseraStart", 0);
  app.decorateRequest("tesseraAbort", null);

  const debug = logger.isLevelEnabled("debug");
  // Callback-style hooks (no promise per request). One 'close' listener per request does the accounting
  // and aborts queued work whose client went away.
  app.addHook("onRequest", (req, reply, done) => {
    req.tesseraStart = performance.now();
    // routeOptions is a getter that builds a fresh object on every read: read it once per request.
    const route = req.routeOptions.url ?? "unmatched";
    metrics.requestStarted();
    // 'close' fires for answered and abandoned responses alike, so every request is counted once.
    reply.raw.once("close", () => {
      const finished = reply.raw.writableFinished;
      if (!finished && req.tesseraAbort !== null) clientGone(req);
      const status = finished ? reply.statusCode : 499;
      const ms = performance.now() - req.tesseraStart;
      metrics.requestEnded(route, req.tesseraModel, status, ms / 1000);
      if (debug) req.log.debug({ method: req.method, url: req.url, status, ms }, "request done");
    });
    reply.header("x-request-id", req.id);
    if (config.corsOrigins.length > 0) applyCors(req.headers, config.corsOrigins, reply);
    if (OPEN_ROUTES.has(route) || (route === "/" && (req.method === "GET" || req.method === "HEAD")))
      return done();
    if (req.method === "OPTIONS" && config.corsOrigins.length > 0) return done();
    try {
      keys.check(req.headers.authorization);
    } catch (err) {
      // RFC 9110: a 401 names its scheme. Set here, so the 401s of every error handler (v2, OpenAI, TEI) carry it.
      reply.header("www-authenticate", 'Bearer realm="tessera"');
      return done(err as Error);
    }
    if (lifecycle.draining) {
      metrics.reject("", "draining");
      return done(
        new TesseraError("E_DRAINING", "the server is shutting down; retry on another instance", {
          retryAfterMs: 1000,
        }),
      );
    }
    done();
  });

  // Once shutdown began, every response closes its connection: keep-alive sockets would hold the close up, and a
  // client that reconnects is sent elsewhere by its load balancer (this instance is no longer ready).
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (lifecycle.stopping) reply.header("connection", "close");
    done(null, payload);
  });

  app.setErrorHandler((err, req, reply) => {
    const h = httpErrorOf(err);
    if (h.status >= 500 && h.status !== 503 && h.status !== 504) req.log.error({ err }, "request failed");
    else req.log.info({ code: h.code, status: h.status }, h.message);
    metrics.rejectStatus(req.tesseraModel, h.status);
    if (h.retryAfterS !== undefined) reply.header("retry-after", String(h.retryAfterS));
    reply.code(h.status).type("application/json").send({ error: h.message, code: h.code });
  });

  // Every route's path pattern and methods, so a known path with a wrong method answers 405 + Allow (as Triton does).
  const routes = new RouteMethods();
  app.addHook("onRoute", (r) => {
    routes.add(r.url, r.method);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0] ?? "";
    const allowed = routes.allowed(path);
    if (allowed.length > 0) {
      reply
        .code(405)
        .header("allow", allowed.join(", "))
        .send({
          error: `${req.method} is not allowed on ${path}; allowed: ${allowed.join(", ")}`,
          code: "E_METHOD_NOT_ALLOWED",
        });
      return;
    }
    reply.code(404).send({ error: `no route ${req.method} ${path}`, code: "E_ROUTE_NOT_FOUND" });
  });

  app.get("/metrics", async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.text();
  });
  registerV2Routes(app, ctx);
  registerTritonRoutes(app, ctx);
  registerRepositoryRoutes(app, ctx);
  if (config.corsOrigins.length > 0) {
    app.options("/*", async (_req, reply) => reply.code(204).send());
  }
  const plugins: RoutePlugin[] = [];
  if (options.textRoutes !== false) plugins.push(registerTextRoutes);
  plugins.push(...(options.plugins ?? []));
  for (const p of plugins) await p(app, ctx);

  app.addHook("onClose", async () => {
    await models.close();
  });

  const loading = (options.loadModels ?? config.loadAll) ? models.loadAll() : models.indexOnly();
  app.decorate("tessera", { ctx, loading });
  return app;
}

/**
 * Request `Content-Encoding: gzip | deflate` is decoded (as Triton does), bounded by the body limit so a small
 * compressed body cannot expand without limit; `identity` passes; anything else is refused (415). Decoding
 * runs on libuv's thread pool (zlib's async API), not on the event loop: a body near the limit takes tens of ms.
 * `done` is called once, with the body or a TesseraError.
 */
export function decodeContentEncoding(
  header: string | undefined,
  body: Buffer,
  limit: number,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  const enc = (header ?? "identity").trim().toLowerCase();
  if (enc === "identity" || enc === "") {
    done(null, body);
    return;
  }
  if (enc !== "gzip" && enc !== "deflate") {
    done(
      new TesseraError(
        "E_UNSUPPORTED_MEDIA_TYPE",
        `Content-Encoding ${JSON.stringify(enc)} is not supported; use gzip, deflate or identity`,
        {},
      ),
    );
    return;
  }
  const decode = enc === "gzip" ? gunzip : inflate;
  decode(body, { maxOutputLength: limit }, (err, out) => {
    if (err === null) done(null, out);
    else if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      done(
        new TesseraError("E_BODY_TOO_LARGE", `the ${enc} body expands beyond the ${limit}-byte limit`, {
          limit,
        }),
      );
    } else
      done(new TesseraError("E_REQUEST_INVALID", `the body is not valid ${enc} data: ${err.message}`, {}));
  });
}

function applyCors(
  headers: IncomingHttpHeaders,
  allowed: readonly string[],
  reply: { header(k: string, v: string): unknown },
): void {
  const any = allowed.includes("*");
  // The answer depends on Origin (and on what a preflight asks): caches must not reuse it for another origin.
  if (!any) reply.header("vary", "Origin, Access-Control-Request-Headers");
  const origin = headers.origin;
  if (!origin) return;
  if (!any && !allowed.includes(origin)) return;
  reply.header("access-control-allow-origin", any ? "*" : origin);
  // A preflight gets the headers it asks for (clients such as the openai SDK add their own x-* headers).
  const asked = headers["access-control-request-headers"];
  reply.header(
    "access-control-allow-headers",
    typeof asked === "string" && CORS_HEADER_LIST_RE.test(asked)
      ? asked
      : "authorization, content-type, content-encoding, inference-header-content-length, x-request-id",
  );
  reply.header("access-control-allow-methods", "GET, POST, OPTIONS");
  reply.header("access-control-expose-headers", "inference-header-content-length, x-request-id, retry-after");
}

/** A comma-separated list of HTTP header names (tokens), as Access-Control-Request-Headers carries. */
const CORS_HEADER_LIST_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;

/** Route path patterns (`/v2/models/:model/infer`, `/files/*`) and their methods. */
class RouteMethods {
  private readonly patterns = new Map<string, { re: RegExp; methods: Set<string> }>();

  add(url: string, method: string | readonly string[]): void {
    if (url === "/*" || url === "*") return; // catch-alls (the CORS preflight route) say nothing about a path
    let p = this.patterns.get(url);
    if (!p) {
      const re = url
        .split("/")
        .map((seg) =>
          seg === "*" ? ".*" : seg.startsWith(":") ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
        )
        .join("/");
      p = { re: new RegExp(`^${re}/?$`), methods: new Set() };
      this.patterns.set(url, p);
    }
    for (const m of typeof method === "string" ? [method] : method) p.methods.add(m.toUpperCase());
  }

  /** The methods some route accepts for this concrete path, sorted; empty when no route has the path. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const { re, methods } of this.patterns.values()) {
      if (re.test(path)) for (const m of methods) out.add(m);
    }
    return [...out].sort();
  }
}
