/**
 * startServer: buildApp + listen + signals. Shutdown sequence on SIGTERM/SIGINT:
 *   1. readiness turns false at once (GET /v2/health/ready → 503) while requests are still served, so clients
 *      that a load balancer still routes here (it notices within its probe period) get answers, not errors;
 *   2. after `drainDelayMs`, new requests get 503 and the listener closes;
 *   3. in-flight requests finish and the batchers drain, within `drainTimeoutMs`;
 *   4. sessions close; `done` resolves 0. When the deadline passes first, `done` resolves 1, queued requests are
 *      refused (ModelHost.endDrain, which reaches the text routes' batchers too) and the process ends when the
 *      runs in progress end. A second signal kills the process (SIGKILL).
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { type BuildAppOptions, buildApp } from "./app.ts";
import { DEFAULT_CONFIG, type ServerConfig } from "./config.ts";
import { ensureDemoRepository } from "./demo.ts";

export interface StartServerOptions extends BuildAppOptions {
  readonly config?: Partial<ServerConfig>;
  /** Install SIGTERM/SIGINT handlers (default true). */
  readonly handleSignals?: boolean;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** `http://host:port` actually bound. */
  readonly url: string;
  /** Starts the drain (what SIGTERM does); resolves with the exit code. */
  shutdown(reason?: string): Promise<number>;
  /** Resolves with the exit code once the server stopped. */
  readonly done: Promise<number>;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...options.config };
  if (config.demo) await ensureDemoRepository(config.modelsDir);
  const app = await buildApp({ ...options, config });
  const log = app.log as unknown as Logger;
  const { lifecycle } = app.tessera.ctx;
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close(); // stops model loading and worker sessions, so the process can exit
    throw err;
  }
  if (config.apiKeys.length === 0 && !["127.0.0.1", "localhost", "::1"].includes(config.host)) {
    log.warn(
      { host: config.host },
      "listening beyond loopback without API keys: anyone who can reach this port can run and unload models",
    );
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, models: config.modelsDir }, "listening; loading models");
  app.tessera.loading.then(
    () => log.info({ ready: app.tessera.ctx.models.isReady() }, "model loading finished"),
    () => {},
  );

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  let shutting: Promise<number> | undefined;

  const shutdown = (reason = "shutdown requested"): Promise<number> => {
    if (shutting) return shutting;
    lifecycle.stopping = true;
    log.info(
      { reason, drainDelayMs: config.drainDelayMs, drainTimeoutMs: config.drainTimeoutMs },
      "draining",
    );
    shutting = (async () => {
      if (config.drainDelayMs > 0) await new Promise((r) => setTimeout(r, config.drainDelayMs));
      lifecycle.draining = true;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"deadline">((r) => {
        timer = setTimeout(() => r("deadline"), config.drainTimeoutMs);
      });
      // Connections that were busy when the listener closed go idle later: close them as they do.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      const closed = app.close().then(
        () => "closed" as const,
        (err: unknown) => {
          log.error({ err }, "error while closing");
          return "error" as const;
        },
      );
      const how = await Promise.race([closed, deadline]);
      clearTimeout(timer);
      clearInterval(sweep);
      const code = how === "closed" ? 0 : 1;
      // Past the deadline, queued requests are refused; the process ends once the runs in progress do.
      if (how === "deadline") app.tessera.ctx.models.endDrain();
      log.info({ how, code }, "stopped");
      resolveDone(code);
      return code;
    })();
    return shutting;
  };

  if (options.handleSignals !== false) {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        // Exit at once, without waiting for running model computations. process.exit() cannot do that: it joins
        // the session workers, which first finish their onnxruntime run, and then onnxruntime-node aborts the
        // process (uncaught Napi::Error while the worker's environment is torn down). SIGKILL is immediate.
        log.warn({ signal: sig }, "second signal: killing the process now (exit status 137)");
        // pino may still buffer that line; stderr writes to a pipe or file are synchronous.
        process.stderr.write(`tessera: second signal (${sig}): killing the process now\n`);
        resolveDone(1);
        process.kill(process.pid, "SIGKILL");
        return;
      }
      void shutdown(sig);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    void done.then(() => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    });
  }
  return { app, url, shutdown, done };
}
