/**
 * Pooling of served text embedders: a model's config.json `pooling`, the server's `pooling` setting
 * (`tessera serve --pooling`, TESSERA_POOLING, config file; for serving one Hugging Face folder whose own
 * config.json cannot hold Tessera settings), their precedence over the folder's 1_Pooling config, /info,
 * and the warning logged when a folder has no pooling config and nothing says how to pool.
 * Toy graphs (test/text/graphs.ts): h_t = E[id_t] + P[t]; float64 references, tolerance 1e-5.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApp, resolveServerConfig, type ServerConfig } from "../../src/server/index.ts";
import { loadHfFolder } from "../../src/text/index.ts";
import {
  classifierFolder,
  fixtureTokenizer,
  stModules,
  toyEncoder,
  vocabSizeOf,
  writeFolder,
} from "../text/graphs.ts";
import { writeTextRepo } from "./helpers.ts";

const TJ = fixtureTokenizer("wordpiece");
const ENC = toyEncoder({ vocabSize: vocabSizeOf(TJ) });
const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups) c();
});

/** A transformers.js / optimum-style folder: config.json, tokenizer.json, onnx/model.onnx; 1_Pooling only when given. */
function hfFolder(pooling?: "mean" | "cls", outputs?: "sentence_embedding"): string {
  const f = writeFolder({
    "tokenizer.json": TJ,
    "tokenizer_config.json": { model_max_length: 512, pad_token: "[PAD]" },
    "config.json": { model_type: "bert", architectures: ["BertModel"], max_position_embeddings: 512 },
    ...(pooling ? stModules(pooling, 8, []) : {}),
    "onnx/model.onnx": outputs
      ? toyEncoder({ vocabSize: vocabSizeOf(TJ), outputs: [outputs] }).bytes
      : ENC.bytes,
  });
  cleanups.push(f.cleanup);
  return f.dir;
}

/** float64 pooled vector of `text` over the toy graph, L2-normalized (TEI /embed's default). */
function reference(text: string, mode: "mean" | "cls" | "weightedmean"): number[] {
  const ids = loadHfFolder(hfFolder()).tokenizer.encode(text).ids;
  const acc = new Float64Array(ENC.hidden);
  let wsum = 0;
  const n = mode === "cls" ? 1 : ids.length;
  for (let t = 0; t < n; t++) {
    const w = mode === "weightedmean" ? t + 1 : 1;
    wsum += w;
    const e = ENC.word(ids[t] as number);
    const p = ENC.position(t);
    for (let d = 0; d < ENC.hidden; d++)
      acc[d] = (acc[d] as number) + w * ((e[d] as number) + (p[d] as number));
  }
  const v = Array.from(acc, (x) => x / wsum);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / norm);
}

/** An app over `root` whose logs (warn and above) are collected as parsed JSON lines. */
async function app(
  root: string,
  config: Partial<ServerConfig> = {},
): Promise<{ app: FastifyInstance; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n")) if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const a = await buildApp({
    config: { modelsDir: root, ...config },
    logger: pino({ level: "warn" }, sink),
    defaultMetrics: false,
  });
  await a.tessera.loading;
  return { app: a, logs };
}

/** An app serving model "broken": a mean-pooling folder whose tokenizer.json (at `tokenizer`) does not parse. */
async function brokenModel(): Promise<{ tokenizer: string; root: string; a: FastifyInstance }> {
  const dir = hfFolder("mean");
  const tokenizer = join(dir, "tokenizer.json");
  writeFileSync(tokenizer, "{ not json");
  const root = writeTextRepo({ broken: { source: dir } });
  const { app: a } = await app(root);
  return { tokenizer, root, a };
}

async function embed(a: FastifyInstance, text: string, model?: string): Promise<number[]> {
  const r = await a.inject({
    method: "POST",
    url: "/embed",
    payload: { inputs: text, ...(model ? { model } : {}) },
  });
  assert.equal(r.statusCode, 200, r.body);
  return (r.json() as number[][])[0] as number[];
}

async function infoPooling(a: FastifyInstance): Promise<unknown> {
  const r = await a.inject({ method: "GET", url: "/info" });
  assert.equal(r.statusCode, 200, r.body);
  return (r.json() as { model_type: { embedding?: { pooling: string } } }).model_type.embedding?.pooling;
}

function close(a: readonly number[], b: readonly number[], what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-5, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

const warnings = (logs: Record<string, unknown>[]) =>
  logs.filter((l) => l.level === 40 && /no pooling config/.test(String(l.msg)));

describe("text embedders: pooling settings", () => {
  const TEXT = "a much longer sentence with quite a few more tokens in it";

  it('a model\'s config.json "pooling" overrides the folder (before: refused as an unknown field)', async () => {
    const root = writeTextRepo({
      bge: { source: hfFolder(), pooling: "cls" },
      st: { source: hfFolder("mean"), pooling: "weightedmean" },
    });
    const { app: a, logs } = await app(root, { pooling: "mean" });
    try {
      // the model's setting wins over the server's
      close(await embed(a, TEXT, "bge"), reference(TEXT, "cls"), "cls");
      close(await embed(a, TEXT, "st"), reference(TEXT, "weightedmean"), "weightedmean over 1_Pooling mean");
      assert.equal(warnings(logs).length, 0, JSON.stringify(logs));
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("--models <HF folder> with the server's pooling (TEI --pooling): used by /embed and shown by /info", async () => {
    const dir = hfFolder();
    const { app: a, logs } = await app(dir, { pooling: "cls" });
    try {
      close(await embed(a, TEXT), reference(TEXT, "cls"), "server cls");
      assert.equal(await infoPooling(a), "cls");
      assert.equal(warnings(logs).length, 0);
    } finally {
      await a.close();
    }
    // it also overrides a folder's own 1_Pooling config, as TEI's --pooling does
    const st = hfFolder("mean");
    const b = await app(st, { pooling: "cls" });
    try {
      close(await embed(b.app, TEXT), reference(TEXT, "cls"), "server cls over 1_Pooling mean");
    } finally {
      await b.app.close();
    }
  });

  it("no pooling config and no setting: mean, with a warning naming the model and the assumed pooling; /info says mean", async () => {
    const dir = hfFolder();
    const { app: a, logs } = await app(dir);
    try {
      close(await embed(a, TEXT), reference(TEXT, "mean"), "default mean");
      assert.equal(await infoPooling(a), "mean");
      const w = warnings(logs);
      assert.equal(w.length, 1, JSON.stringify(logs));
      const name = String((w[0] as Record<string, unknown>).model);
      assert.ok(name.length > 0);
      assert.match(String(w[0]?.msg), new RegExp(`model ${name}: .*assuming mean pooling`));
      assert.equal(w[0]?.pooling, "mean");
    } finally {
      await a.close();
    }
    // a folder with 1_Pooling, or a graph that pools itself, needs no guess
    for (const d of [hfFolder("cls"), hfFolder(undefined, "sentence_embedding")]) {
      const b = await app(d);
      try {
        await embed(b.app, TEXT);
        assert.equal(warnings(b.logs).length, 0, JSON.stringify(b.logs));
      } finally {
        await b.app.close();
      }
    }
  });

  it('"pooling" on a re-ranker is ignored with a warning (as TEI ignores --pooling for classifiers)', async () => {
    const ce = classifierFolder({ labels: 1, tokenizer: TJ });
    cleanups.push(ce.cleanup);
    const root = writeTextRepo({ ce: { source: ce.dir, pooling: "cls" } });
    const { app: a, logs } = await app(root);
    try {
      const r = await a.inject({
        method: "POST",
        url: "/rerank",
        payload: { query: "q", texts: ["a b", "c"] },
      });
      assert.equal(r.statusCode, 200, r.body);
      const w = logs.filter(
        (l) => l.level === 40 && /"pooling" in its config\.json is ignored/.test(String(l.msg)),
      );
      assert.equal(w.length, 1, JSON.stringify(logs));
      assert.match(String(w[0]?.msg), /model ce: .*re-ranker/);
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("server pooling: flags > env > config file; bad values are reported with where they came from", () => {
    const file = { name: "server.json", value: { pooling: "max" } };
    const all = resolveServerConfig({
      file,
      env: { TESSERA_POOLING: "last-token" },
      flags: { pooling: "cls" },
    });
    assert.ok(all.ok);
    assert.equal(all.value.pooling, "cls");
    const envWins = resolveServerConfig({ file, env: { TESSERA_POOLING: "last-token" } });
    assert.ok(envWins.ok);
    assert.equal(envWins.value.pooling, "last");
    const fileOnly = resolveServerConfig({ file });
    assert.ok(fileOnly.ok);
    assert.equal(fileOnly.value.pooling, "max");
    const none = resolveServerConfig({});
    assert.ok(none.ok);
    assert.equal(none.value.pooling, undefined);
    const bad = resolveServerConfig({ env: { TESSERA_POOLING: "splade" }, flags: { pooling: "avg" } });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.ok ? [] : bad.issues.map((i) => i.path), ["env TESSERA_POOLING", "--pooling"]);
  });
  it("a graph that pools by itself: the server's pooling is skipped with a warning; a model's own setting is a 503 naming the reason (before: 500)", async () => {
    const pooled = hfFolder(undefined, "sentence_embedding");
    const root = writeTextRepo({ own: { source: pooled }, pinned: { source: pooled, pooling: "cls" } });
    const { app: a, logs } = await app(root, { pooling: "cls" });
    try {
      // the server-wide default does not apply: the graph's own pooled vector is served
      const v = await embed(a, TEXT, "own");
      assert.equal(v.length, ENC.hidden);
      const skipped = logs.filter(
        (l) => l.level === 40 && /the server's pooling "cls" is not applied/.test(String(l.msg)),
      );
      assert.equal(skipped.length, 1, JSON.stringify(logs));
      assert.equal(skipped[0]?.model, "own");
      // the model's own config.json asks for what its graph cannot do: a server-side model problem, said plainly
      const r = await a.inject({ method: "POST", url: "/embed", payload: { inputs: TEXT, model: "pinned" } });
      assert.equal(r.statusCode, 503, r.body);
      const body = r.json() as { error: string; error_type?: string };
      assert.match(
        body.error,
        /model pinned version 1 cannot serve text requests: pooling "cls" cannot be applied/,
      );
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
  it("a text model that failed to build is not rebuilt per request: the same load answers the same 503 until it is loaded again", async () => {
    const { tokenizer, root, a } = await brokenModel();
    try {
      const ask = () =>
        a.inject({ method: "POST", url: "/embed", payload: { inputs: TEXT, model: "broken" } });
      const first = await ask();
      assert.equal(first.statusCode, 503, first.body);
      assert.match(
        (first.json() as { error: string }).error,
        /model broken version 1 cannot serve text requests: .*load it again/,
      );
      // fixed on disk: the failed build is remembered for this load (before: rebuilt, folder re-read, per request)
      writeFileSync(tokenizer, JSON.stringify(TJ));
      const second = await ask();
      assert.equal(second.statusCode, 503, second.body);
      assert.equal(second.body, first.body);
      // a load (a new session) builds it again
      const load = await a.inject({ method: "POST", url: "/v2/repository/models/broken/load" });
      assert.equal(load.statusCode, 200, load.body);
      close(await embed(a, TEXT, "broken"), reference(TEXT, "mean"), "after load");
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("text models that could not be built", () => {
  const TEXT = "a much longer sentence with quite a few more tokens in it";

  it("a failed build is remembered for a while, not until a reload: after that, the first request builds it again (a read error may have passed)", async (t) => {
    const { tokenizer, root, a } = await brokenModel();
    try {
      const first = await a.inject({
        method: "POST",
        url: "/embed",
        payload: { inputs: TEXT, model: "broken" },
      });
      assert.equal(first.statusCode, 503, first.body);
      writeFileSync(tokenizer, JSON.stringify(TJ));
      // the clock a minute on (still running: nothing waiting on it stalls)
      const real = Date.now.bind(Date);
      t.mock.method(Date, "now", () => real() + 60_000);
      close(await embed(a, TEXT, "broken"), reference(TEXT, "mean"), "built again, without a load");
    } finally {
      t.mock.restoreAll();
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("a request that names no model is served by a model that can serve it when another one cannot be built; with none, the build's 503", async () => {
    const dir = hfFolder("mean");
    writeFileSync(join(dir, "tokenizer.json"), "{ not json");
    const root = writeTextRepo({ abroken: { source: dir }, good: { source: hfFolder("mean") } });
    const { app: a } = await app(root);
    try {
      close(await embed(a, TEXT), reference(TEXT, "mean"), "served by the good model");
      const r = await a.inject({
        method: "POST",
        url: "/embed",
        payload: { inputs: TEXT, model: "abroken" },
      });
      assert.equal(r.statusCode, 503, r.body);
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
    const alone = writeTextRepo({ abroken: { source: dir } });
    const { app: b } = await app(alone);
    try {
      const none = await b.inject({ method: "POST", url: "/embed", payload: { inputs: TEXT } });
      assert.equal(none.statusCode, 503, none.body);
      assert.match(
        (none.json() as { error: string }).error,
        /model abroken version 1 cannot serve text requests/,
      );
    } finally {
      await b.close();
      rmSync(alone, { recursive: true, force: true });
    }
  });
});

describe("text models after an unload", () => {
  const TEXT = "a much longer sentence with quite a few more tokens in it";

  it("a request that names no model, right after the model that served it is unloaded, is served by the one left (before: the second-old model list answered with the closed session)", async () => {
    const root = writeTextRepo({ first: { source: hfFolder("mean") }, second: { source: hfFolder("cls") } });
    const { app: a } = await app(root);
    try {
      close(await embed(a, TEXT), reference(TEXT, "mean"), "first");
      const unload = await a.inject({ method: "POST", url: "/v2/repository/models/first/unload" });
      assert.equal(unload.statusCode, 200, unload.body);
      close(await embed(a, TEXT), reference(TEXT, "cls"), "second");
    } finally {
      await a.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
