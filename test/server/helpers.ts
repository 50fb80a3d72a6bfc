/** Test helpers: a temp model repository from the onnx zoo, and an app listening on 127.0.0.1. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { mlpClassifier, multiIO, slowModel } from "../../src/onnx/index.ts";
import type { OrtSession } from "../../src/runtime/index.ts";
import { type BuildAppOptions, buildApp, type ServerConfig } from "../../src/server/index.ts";

export interface RepoModel {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly config?: Record<string, unknown>;
  readonly version?: string;
}

export function writeRepo(
  models: readonly RepoModel[],
  root = mkdtempSync(join(tmpdir(), "tessera-repo-")),
): string {
  for (const m of models) {
    const dir = join(root, m.name, m.version ?? "1");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "model.onnx"), m.bytes);
    if (m.config) writeFileSync(join(root, m.name, "config.json"), JSON.stringify(m.config));
  }
  return root;
}

/** config.json of twoVersionRepo's model "m": one replica, every version served. */
export const ALL_VERSIONS_CONFIG = { replicas: 1, intraOpThreads: 1, versionPolicy: "all" };

/** A repository with model "m" (a 4 → 2 MLP) at versions 1 and 2, config ALL_VERSIONS_CONFIG. */
export function twoVersionRepo(): string {
  const bytes = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes;
  return writeRepo([
    { name: "m", bytes, config: ALL_VERSIONS_CONFIG, version: "1" },
    { name: "m", bytes, config: ALL_VERSIONS_CONFIG, version: "2" },
  ]);
}

export const LABELS = ["zero", "one", "two", "three"];

/** mlp (float32 [batch,8] → logits/probabilities [batch,4]), multi (all dtypes), slow (~ms per run). */
export function standardRepo(opts: { slowMs?: number; batching?: Record<string, unknown> } = {}): string {
  return writeRepo([
    {
      name: "mlp",
      bytes: mlpClassifier({ inputDim: 8, hidden: [16], classes: 4, seed: 1 }).bytes,
      config: {
        labels: LABELS,
        replicas: 1,
        intraOpThreads: 1,
        batching: opts.batching ?? { maxBatchSize: 64, maxQueueDelayMs: 5, maxQueueSize: 256 },
      },
    },
    { name: "multi", bytes: multiIO().bytes, config: { replicas: 1, intraOpThreads: 1 } },
    {
      name: "slow",
      bytes: slowModel({ ms: opts.slowMs ?? 300, size: 128 }).bytes,
      config: {
        replicas: 1,
        intraOpThreads: 1,
        batching: { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueSize: 2 },
      },
    },
  ]);
}

/**
 * One model "slow" (float32 x [batch, 128]; every run takes `ms`) on one 1-thread replica with these batching
 * settings: the shutdown and reload tests keep requests queued behind its runs.
 */
export function slowRepo(ms: number, batching: Record<string, unknown>): string {
  return writeRepo([
    {
      name: "slow",
      bytes: slowModel({ ms, size: 128 }).bytes,
      config: { replicas: 1, intraOpThreads: 1, batching },
    },
  ]);
}

/** An OIP v2 JSON infer body of one [1, 128] row for `slowRepo`'s model. */
export const SLOW_BODY = JSON.stringify({
  inputs: [{ name: "x", datatype: "FP32", shape: [1, 128], data: new Array(128).fill(0.01) }],
});

export interface Running {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly root: string;
  close(): Promise<void>;
}

/** Builds the app over `root`, listens on 127.0.0.1:0 and waits for model loading. */
export async function startApp(
  root: string,
  config: Partial<ServerConfig> = {},
  extra: BuildAppOptions = {},
): Promise<Running> {
  const app = await buildApp({
    config: { modelsDir: root, logLevel: "silent", ...config },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
    ...extra,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  await app.tessera.loading;
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    root,
    async close() {
      await app.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A repository of text models: `<root>/<name>/config.json` = `{ kind: "hf", replicas: 1, intraOpThreads: 1,
 * ...config }` for each entry (its `source` names the Hugging Face folder). Returns the root.
 */
export function writeTextRepo(
  models: Readonly<Record<string, Record<string, unknown>>>,
  root = mkdtempSync(join(tmpdir(), "tessera-text-repo-")),
): string {
  for (const [name, config] of Object.entries(models)) {
    mkdirSync(join(root, name));
    writeFileSync(
      join(root, name, "config.json"),
      JSON.stringify({ kind: "hf", replicas: 1, intraOpThreads: 1, ...config }),
    );
  }
  return root;
}

/** An in-process app over `root` (silent logs, no process metrics) whose models have loaded. */
export async function loadedApp(root: string, config: Partial<ServerConfig> = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    config: { modelsDir: root, ...config },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  await app.tessera.loading;
  return app;
}

/** Polls `check` every 5 ms until it holds; fails after `ms`. For waiting on server state instead of sleeping. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until `n` runs in all were handed to the session workers of `model`'s loaded version. */
export async function dispatched(srv: Running, model: string, n: number): Promise<void> {
  const session = srv.app.tessera.ctx.registry.tryGet(model).session as OrtSession;
  await until(`${n} runs of ${model}`, () => session.dispatchCounts.reduce((a, b) => a + b, 0) >= n);
}

/**
 * Sends `post` twice to `model`, the second once the first's run was handed to a worker (after one warm-up run, so
 * 2 runs in all), so that it waits behind it; both answer 200. Returns the second's x-tessera-queue-ms.
 */
export async function queueMsBehindOne(
  srv: Running,
  model: string,
  post: () => Promise<Response>,
): Promise<number> {
  const first = post();
  await dispatched(srv, model, 2); // the warm-up's run and the first request's: the second waits behind it
  const second = await post();
  assert.equal(second.status, 200);
  await second.arrayBuffer();
  await (await first).arrayBuffer();
  return Number(second.headers.get("x-tessera-queue-ms"));
}
