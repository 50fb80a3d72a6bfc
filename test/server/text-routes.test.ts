import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { crossEncoder, GraphBuilder } from "../../src/onnx/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { TextEmbedder } from "../../src/text/index.ts";
import { makeModelFolder, sampleTexts, type TempFolder } from "../text/helpers.ts";
import { loadedApp, writeTextRepo } from "./helpers.ts";

const TEXTS = sampleTexts(12);

/** POST `body` as JSON to `url` on `app`, in process. */
const inject = (app: FastifyInstance, url: string, body: unknown) =>
  app.inject({
    method: "POST",
    url,
    payload: body as object,
    headers: { "content-type": "application/json" },
  });

/** The app's /metrics now, as a reader of the value on the first line that starts with a prefix. */
async function metricsOf(app: FastifyInstance): Promise<(prefix: string) => number> {
  const lines = (await app.inject({ method: "GET", url: "/metrics" })).body.split("\n");
  return (prefix) =>
    Number(
      lines
        .find((l) => l.startsWith(prefix))
        ?.split(" ")
        .at(-1),
    );
}

/**
 * A describe's app over text models on one temp model folder: `setup` makes the folder and names the models
 * (configs for writeTextRepo) and the server config; before() loads them, after() closes the app and removes both.
 */
function textApp(
  setup: () => {
    folder: TempFolder;
    models: Record<string, Record<string, unknown>>;
    config?: Parameters<typeof loadedApp>[1];
  },
): { readonly app: FastifyInstance; post(url: string, body: unknown): ReturnType<typeof inject> } {
  let folder: TempFolder | undefined;
  let root = "";
  const fx = {
    app: undefined as unknown as FastifyInstance,
    post: (url: string, body: unknown) => inject(fx.app, url, body),
  };
  before(async () => {
    const s = setup();
    folder = s.folder;
    root = writeTextRepo(s.models);
    fx.app = await loadedApp(root, s.config);
  });
  after(async () => {
    await fx.app.close();
    folder?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });
  return fx;
}

describe("text routes (OpenAI + TEI)", () => {
  let emb: TempFolder;
  let rr: TempFolder;
  let root: string;
  let app: FastifyInstance;
  let base: string;
  let lib: TextEmbedder;

  before(async () => {
    emb = makeModelFolder({ normalize: true, maxSeqLength: 256, prompts: { query: "query: " } });
    rr = makeModelFolder({ kind: "reranker" });
    root = writeTextRepo({
      mini: { source: emb.dir, maxInputs: 16 },
      strict: { source: emb.dir, autoTruncate: false },
      "small-queue": { source: emb.dir, batching: { maxQueueSize: 2, maxBatchSize: 1 } },
      rr: { source: rr.dir },
    });
    app = await loadedApp(root);
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    lib = await TextEmbedder.load(emb.dir, { session: { replicas: 1, intraOpThreads: 1 } });
  });
  after(async () => {
    await lib.close();
    await app.close();
    emb.cleanup();
    rr.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  async function post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const r = await app.inject({
      method: "POST",
      url: path,
      payload: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    return { status: r.statusCode, json: r.body ? JSON.parse(r.body) : null };
  }

  function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void {
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
  }

  it("the official openai client gets the library's embeddings (base64 default and float)", async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
    const want = await lib.embedDetailed(TEXTS);
    const dflt = await client.embeddings.create({ model: "mini", input: TEXTS });
    const flt = await client.embeddings.create({ model: "mini", input: TEXTS, encoding_format: "float" });
    for (const res of [dflt, flt]) {
      assert.equal(res.data.length, TEXTS.length);
      assert.equal(res.usage.prompt_tokens, want.totalTokens);
      assert.equal(res.usage.total_tokens, want.totalTokens);
      res.data.forEach((d, i) => {
        assert.equal(d.index, i);
        close(d.embedding, want.embeddings.select(0, i).contiguous().data);
      });
    }
    const short = await client.embeddings.create({ model: "mini", input: "the key type", dimensions: 8 });
    const wantShort = await lib.embed(["the key type"], { dimensions: 8 });
    close(short.data[0]?.embedding ?? [], wantShort.data);
  });

  it("base64 is little-endian float32 of the vector", async () => {
    const r = await post("/v1/embeddings", {
      input: "hello world",
      model: "mini",
      encoding_format: "base64",
    });
    assert.equal(r.status, 200);
    const b64 = (r.json as { data: { embedding: string }[] }).data[0]?.embedding as string;
    const buf = Buffer.from(b64, "base64");
    const got = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    close(got, (await lib.embed(["hello world"])).data, 0);
  });

  it("token-array inputs (number[] is one input, number[][] many)", async () => {
    const ids = lib.tokenizer.encode("the key type").ids; // the whole model input, [CLS] … [SEP], as in TEI
    const one = await post("/v1/embeddings", { input: ids, model: "mini", encoding_format: "float" });
    const many = await post("/v1/embeddings", { input: [ids, ids], model: "mini", encoding_format: "float" });
    assert.equal((one.json as { data: unknown[] }).data.length, 1);
    assert.equal((many.json as { data: unknown[] }).data.length, 2);
    close(
      (one.json as { data: { embedding: number[] }[] }).data[0]?.embedding ?? [],
      (await lib.embed(["the key type"])).data,
    );
  });

  it("TEI /embed takes a batch mixing texts and token ids (TEI's InputType); OpenAI does not", async () => {
    const ids = lib.tokenizer.encode("the key type").ids;
    const r = await inject(app, "/embed", {
      inputs: ["the list", ids, "the key"],
      model: "mini",
      dimensions: 16,
    });
    assert.equal(r.statusCode, 200, r.body);
    const want = await lib.embed(["the list", "the key type", "the key"], { dimensions: 16 });
    const got = r.json() as number[][];
    assert.equal(got.length, 3);
    got.forEach((row, i) => {
      close(row, want.select(0, i).contiguous().data);
    });
    assert.equal(
      Number(r.headers["x-compute-tokens"]),
      lib.tokenizer.encode("the list").ids.length + ids.length + lib.tokenizer.encode("the key").ids.length,
    );
    const oai = await post("/v1/embeddings", { input: ["the list", ids], model: "mini" });
    assert.equal(oai.status, 422);
    const bad = await post("/embed", { inputs: ["the list", [1, "x"]], model: "mini" });
    assert.equal(bad.status, 422);
    const empty = await post("/embed", { inputs: ["the list", []], model: "mini" });
    assert.equal(empty.status, 400);
  });

  it("a text with an unpaired surrogate (JSON \\ud800) is refused with 422 naming the input, not embedded as if absent", async () => {
    // The raw JSON escape: JSON.stringify would write the same escape, this keeps the test's intent visible.
    const tei = await post("/embed", '{"inputs": ["fine", "bad \\ud800 text"]}');
    assert.equal(tei.status, 422, JSON.stringify(tei.json));
    assert.equal((tei.json as { error_type: string }).error_type, "Validation");
    assert.match(
      (tei.json as { error: string }).error,
      /input 1: text holds an unpaired UTF-16 surrogate \\ud800/,
    );
    const openai = await post("/v1/embeddings", '{"model": "mini", "input": "\\udc00 alone"}');
    assert.equal(openai.status, 422, JSON.stringify(openai.json));
    // A proper pair (an emoji) is fine.
    assert.equal((await post("/embed", { inputs: "fine 😀" })).status, 200);
  });

  it("GET /v1/models lists the text models", async () => {
    const r = await app.inject({ method: "GET", url: "/v1/models" });
    const j = r.json() as { object: string; data: { id: string; object: string }[] };
    assert.equal(j.object, "list");
    assert.deepEqual(j.data.map((d) => d.id).sort(), ["mini", "rr", "small-queue", "strict"]);
  });

  it("GET /v1/models/{model}: the openai client's models.retrieve (404 for others, OpenAI's error body)", async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
    const m = await client.models.retrieve("mini");
    assert.deepEqual([m.id, m.object, m.owned_by, typeof m.created], ["mini", "model", "tessera", "number"]);
    await assert.rejects(client.models.retrieve("text-embedding-3-small"), (e: unknown) => {
      const err = e as { status: number; code: string; type: string };
      return err.status === 404 && err.code === "E_MODEL_NOT_FOUND" && err.type === "invalid_request_error";
    });
  });

  it("OpenAI errors: nested body and status codes", async () => {
    const cases: [unknown, number, string][] = [
      [{ input: "", model: "mini" }, 400, "E_TEXT_EMPTY"],
      [{ input: [], model: "mini" }, 400, "E_TEXT_EMPTY"],
      [{ input: ["a", 3], model: "mini" }, 422, "E_TEXT_INPUT"],
      [{ input: "a", model: "mini", encoding_format: "int8" }, 422, "E_TEXT_REQUEST"],
      [{ input: "a", model: "mini", dimensions: 33 }, 422, "E_TEXT_DIMENSIONS"],
      [{ input: Array.from({ length: 17 }, () => "a"), model: "mini" }, 422, "E_TEXT_TOO_MANY_INPUTS"],
      [
        { input: Array.from({ length: 300 }, () => "the").join(" "), model: "strict" },
        422,
        "E_TEXT_TOO_LONG",
      ],
      [{ model: "mini" }, 422, "E_TEXT_REQUEST"],
      ["{not json", 400, "E_REQUEST_INVALID"],
      [
        Buffer.from([0x7b, 0x22, 0x69, 0x6e, 0x70, 0x75, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
        400,
        "E_REQUEST_INVALID",
      ],
    ];
    for (const [body, status, code] of cases) {
      const r = await post("/v1/embeddings", body);
      assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
      const e = (r.json as { error: { message: string; type: string; code: string; param: unknown } }).error;
      assert.equal(e.code, code);
      assert.equal(typeof e.message, "string");
      assert.ok(e.type.length > 0);
    }
    const longText = Array.from({ length: 300 }, () => "the").join(" ");
    const long = await post("/v1/embeddings", { input: ["ok", longText], model: "strict" });
    assert.match(
      (long.json as { error: { message: string } }).error.message,
      /input 1 has 302 tokens; the limit is 256/,
    );
    // With the default autoTruncate (true), as TEI's /v1/embeddings: cut to the limit, same as the library.
    const cut = await post("/v1/embeddings", { input: [longText], model: "mini", encoding_format: "float" });
    assert.equal(cut.status, 200);
    close(
      (cut.json as { data: { embedding: number[] }[] }).data[0]?.embedding ?? [],
      (await lib.embed([longText], { truncate: true })).data,
    );
  });

  it("TEI /embed: list of vectors, normalize, dimensions, truncate, prompt_name", async () => {
    const r = await post("/embed", { inputs: "the key type" });
    assert.equal(r.status, 200);
    close((r.json as number[][])[0] ?? [], (await lib.embed(["the key type"])).data);
    const raw = await post("/embed", { inputs: ["the key type"], normalize: false, dimensions: 4 });
    close(
      (raw.json as number[][])[0] ?? [],
      (await lib.embed(["the key type"], { normalize: false, dimensions: 4 })).data,
    );
    const long = Array.from({ length: 300 }, () => "the").join(" ");
    // TEI's --auto-truncate default (true since 2026): an over-long input is cut on the right unless the
    // request says truncate: false (or the model config sets autoTruncate: false).
    const auto = await post("/embed", { inputs: long });
    assert.equal(auto.status, 200);
    close((auto.json as number[][])[0] ?? [], (await lib.embed([long], { truncate: true })).data);
    assert.equal((await post("/embed", { inputs: long, truncate: false })).status, 422);
    const t = await post("/embed", { inputs: long, truncate: true, truncation_direction: "Left" });
    close(
      (t.json as number[][])[0] ?? [],
      (await lib.embed([long], { truncate: true, truncationDirection: "left" })).data,
    );
    const p = await post("/embed", { inputs: "x", prompt_name: "query" });
    close((p.json as number[][])[0] ?? [], (await lib.embed(["query: x"])).data);
    const bad = await post("/embed", { inputs: "x", prompt_name: "nope" });
    assert.equal(bad.status, 422);
    assert.equal((bad.json as { error_type: string }).error_type, "Validation");
    const empty = await post("/embed", { inputs: [] });
    assert.equal(empty.status, 400);
    assert.equal((empty.json as { error_type: string }).error_type, "Empty");
    // a malformed body is a 400 too, but not an empty input: TEI's "Empty" kind is for empty inputs only
    for (const body of ['{"inputs": "x"', Buffer.from('{"inputs": "\xff"}', "latin1")]) {
      const broken = await post("/embed", body);
      assert.equal(broken.status, 400);
      assert.deepEqual(
        [(broken.json as { code: string }).code, (broken.json as { error_type: string }).error_type],
        ["E_REQUEST_INVALID", "Validation"],
      );
    }
  });

  it("TEI /rerank: sorted, indices, return_text; 424 for an embedding model", async () => {
    const r = await post("/rerank", { query: "the key", texts: TEXTS.slice(0, 4), return_text: true });
    assert.equal(r.status, 200);
    const hits = r.json as { index: number; score: number; text: string }[];
    assert.equal(hits.length, 4);
    for (let i = 1; i < hits.length; i++)
      assert.ok((hits[i - 1]?.score as number) >= (hits[i]?.score as number));
    for (const h of hits) {
      assert.equal(h.text, TEXTS[h.index]);
      assert.ok(h.score > 0 && h.score < 1);
    }
    assert.equal((await post("/rerank", { query: "q", texts: [] })).status, 400);
    const wrong = await post("/rerank", { query: "q", texts: ["a"], model: "mini" });
    assert.equal(wrong.status, 424);
  });

  it("TEI /tokenize and /info", async () => {
    const r = await post("/tokenize", { inputs: ["the key"] });
    const toks = (r.json as { id: number; text: string; special: boolean }[][])[0] ?? [];
    assert.deepEqual(
      toks.map((t) => t.id),
      lib.tokenizer.encode("the key").ids,
    );
    assert.equal(toks[0]?.special, true);
    assert.equal(toks[1]?.text, "the");
    const off = (await post("/tokenize", { inputs: "Héllo wörld" })).json as {
      text: string;
      start: number | null;
      stop: number | null;
    }[][];
    assert.deepEqual(
      off[0]?.map((t) => [t.text, t.start, t.stop]),
      [
        ["[CLS]", null, null],
        ["Héllo", 0, 6],
        ["wörld", 7, 13],
        ["[SEP]", null, null],
      ],
    );
    // As TEI: a content token's `text` is its slice of the input (not the vocabulary entry: no
    // lowercasing, no "##"), and only tokens the template added are `special` ([UNK] is not).
    const cjk = (await post("/tokenize", { inputs: "Keys typed 日本" })).json as {
      text: string;
      special: boolean;
      start: number | null;
      stop: number | null;
    }[][];
    assert.deepEqual(
      cjk[0]?.map((t) => [t.text, t.special, t.start, t.stop]),
      [
        ["[CLS]", true, null, null],
        ["Keys", false, 0, 4],
        ["type", false, 5, 9],
        ["d", false, 9, 10],
        ["日", false, 11, 14],
        ["本", false, 14, 17],
        ["[SEP]", true, null, null],
      ],
    );
    const info = (await app.inject({ method: "GET", url: "/info" })).json() as Record<string, unknown>;
    assert.equal(info.model_id, "mini");
    assert.deepEqual(info.model_type, { embedding: { pooling: "mean" } });
    assert.equal(info.max_input_length, 256);
    assert.equal(info.max_client_batch_size, 16);
    assert.equal(info.auto_truncate, true);
  });

  it("TEI /health, /ping and GET / (its Inference API health route): 200 with an empty body while a text model serves", async () => {
    for (const url of ["/health", "/ping", "/"]) {
      const r = await app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.body, "");
    }
  });

  it("TEI /similarity: cosine of each sentence with the source, as the library computes it", async () => {
    const sentences = TEXTS.slice(1, 4);
    const r = await post("/similarity", {
      inputs: { source_sentence: TEXTS[0], sentences },
      parameters: { truncate: true },
      model: "mini",
    });
    assert.equal(r.status, 200);
    const e = await lib.embed([TEXTS[0] as string, ...sentences], { normalize: true });
    const d = e.shape[1] as number;
    const want = sentences.map((_, i) => {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += (e.data[k] as number) * (e.data[(i + 1) * d + k] as number);
      return dot;
    });
    close(r.json as number[], want, 1e-6);
    const empty = await post("/similarity", { inputs: { source_sentence: "a", sentences: [] } });
    assert.equal(empty.status, 400);
    assert.equal((empty.json as { error_type: string }).error_type, "Empty");
    assert.equal((await post("/similarity", { inputs: "a" })).status, 422);
    // source + 16 sentences > maxInputs 16
    const many = await post("/similarity", {
      inputs: { source_sentence: "a", sentences: Array.from({ length: 16 }, () => "b") },
      model: "mini",
    });
    assert.equal(many.status, 422);
  });

  it("TEI /embed_all: one vector per token (specials included), unpooled", async () => {
    const r = await post("/embed_all", { inputs: ["the key", "the key type"], model: "mini" });
    assert.equal(r.status, 200);
    const out = r.json as number[][][];
    assert.equal(out.length, 2);
    assert.equal(out[0]?.length, lib.tokenizer.encode("the key").ids.length);
    assert.equal(out[1]?.length, lib.tokenizer.encode("the key type").ids.length);
    // mean of the token vectors = the library's unnormalized mean pooling
    const rows0 = out[0] as number[][];
    const mean = (rows0[0] as number[]).map(
      (_, k) => rows0.reduce((a, row) => a + (row[k] as number), 0) / rows0.length,
    );
    close(mean, (await lib.embed(["the key"], { normalize: false })).data, 1e-5);
    assert.equal((await post("/embed_all", { inputs: [] })).status, 400);
    // token ids too (TEI's input type), alone or mixed with texts: the same vectors as the text
    const ids = lib.tokenizer.encode("the key").ids;
    for (const inputs of [ids, [ids], ["the key type", ids]]) {
      const r2 = await post("/embed_all", { inputs, model: "mini" });
      assert.equal(r2.status, 200, JSON.stringify(r2.json));
      const got = r2.json as number[][][];
      const fromIds = got.at(-1) as number[][];
      assert.equal(fromIds.length, ids.length);
      fromIds.forEach((row, t) => {
        close(row, rows0[t] as number[], 1e-6);
      });
    }
  });

  it("TEI /decode: ids to text, one string per sequence, specials skipped by default", async () => {
    const ids = lib.tokenizer.encode("the key type").ids;
    const r = await post("/decode", { ids, model: "mini" });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, ["the key type"]);
    const both = await post("/decode", {
      ids: [ids, ids.slice(0, 2)],
      skip_special_tokens: false,
      model: "mini",
    });
    assert.deepEqual(both.json, [
      lib.tokenizer.decode(ids, false),
      lib.tokenizer.decode(ids.slice(0, 2), false),
    ]);
    assert.match((both.json as string[])[0] ?? "", /\[CLS\]/);
    assert.equal((await post("/decode", { ids: [] })).status, 400);
    // an empty sequence inside a batch is refused like `ids: []` (TEI: "`input_ids` cannot be empty"), not a 500
    const withEmpty = await post("/decode", { ids: [ids, []], model: "mini" });
    assert.equal(withEmpty.status, 400);
    assert.deepEqual(withEmpty.json, {
      error: "`ids[1]` cannot be empty",
      error_type: "Empty",
      code: "E_TEXT_EMPTY",
    });
    assert.equal((await post("/decode", { ids: [1, "x"] })).status, 422);
    assert.equal((await post("/decode", { ids: [10 ** 9], model: "mini" })).status, 422);
  });

  it("OpenAI `model` picks the model: its name comes back and its own limits apply", async () => {
    const sq = await post("/v1/embeddings", {
      input: "the key",
      model: "small-queue",
      encoding_format: "float",
    });
    assert.equal(sq.status, 200);
    assert.equal((sq.json as { model: string }).model, "small-queue");
    const m = await post("/v1/embeddings", { input: "the key", model: "mini", encoding_format: "float" });
    assert.equal((m.json as { model: string }).model, "mini");
    const inputs = Array.from({ length: 17 }, () => "the key");
    const mini = await post("/v1/embeddings", { input: inputs, model: "mini", encoding_format: "float" });
    assert.equal(mini.status, 422, "mini has maxInputs 16");
    // dimensions below the width are allowed on a model without Matryoshka training
    const d = await post("/v1/embeddings", {
      input: "x",
      model: "mini",
      dimensions: 3,
      encoding_format: "float",
    });
    assert.equal((d.json as { data: { embedding: number[] }[] }).data[0]?.embedding.length, 3);
  });

  it("POST / and /invocations dispatch by body shape (huggingface_hub InferenceClient, SageMaker)", async () => {
    const e = await post("/", { inputs: ["the key"], model: "mini" });
    assert.equal(e.status, 200);
    close((e.json as number[][])[0] ?? [], (await lib.embed(["the key"])).data);
    const s = await post("/invocations", {
      inputs: { source_sentence: "the key", sentences: ["the key"] },
      model: "mini",
    });
    assert.equal(s.status, 200);
    assert.ok(Math.abs(((s.json as number[])[0] as number) - 1) < 1e-5);
    const r = await post("/", { query: "the key", texts: ["a", "the key"] });
    assert.equal(r.status, 200);
    assert.equal((r.json as unknown[]).length, 2);
    assert.equal((await post("/", "{bad json")).status, 400);
  });

  it("OpenAI route at /embeddings too; `user` is accepted and ignored", async () => {
    const r = await post("/embeddings", {
      input: "the key",
      model: "mini",
      user: "u-1",
      encoding_format: "float",
    });
    assert.equal(r.status, 200);
    const data = (r.json as { data: { embedding: number[] }[] }).data;
    close(data[0]?.embedding ?? [], (await lib.embed(["the key"])).data);
  });

  it("TEI /rerank: raw_scores gives logits (sigmoid of them = default scores)", async () => {
    const texts = TEXTS.slice(0, 3);
    const sig = (await post("/rerank", { query: "the key", texts })).json as {
      index: number;
      score: number;
    }[];
    const raw = (await post("/rerank", { query: "the key", texts, raw_scores: true })).json as {
      index: number;
      score: number;
    }[];
    assert.equal(sig.length, texts.length);
    assert.equal(raw.length, texts.length);
    for (const h of sig) {
      const logit = raw.find((x) => x.index === h.index)?.score as number;
      assert.ok(Math.abs(h.score - 1 / (1 + Math.exp(-logit))) < 1e-6);
    }
  });

  it("more inputs than the model's queue holds is a 422 (it can never fit), not a 429 to retry forever", async () => {
    // small-queue: maxQueueSize 2, maxInputs left at the default 2048; the server is idle here
    const three = ["the key", "the type", "the list"];
    const tei = await post("/embed", { inputs: three, model: "small-queue" });
    assert.equal(tei.status, 422, JSON.stringify(tei.json));
    assert.equal((tei.json as { code: string }).code, "E_TEXT_TOO_MANY_INPUTS");
    assert.match((tei.json as { error: string }).error, /batch size 3 > maximum allowed batch size 2/);
    const oai = await post("/v1/embeddings", { input: three, model: "small-queue" });
    assert.equal(oai.status, 422);
    assert.equal((await post("/embed", { inputs: three.slice(0, 2), model: "small-queue" })).status, 200);
  });

  it("a full queue answers 429 with Retry-After and OpenAI's error body", async () => {
    const long = TEXTS.slice(0, 6).join(" ");
    const rs = await Promise.all(
      Array.from({ length: 24 }, () =>
        post("/v1/embeddings", { input: long, model: "small-queue", encoding_format: "float" }),
      ),
    );
    const codes = rs.map((r) => r.status);
    assert.ok(codes.includes(429), `statuses ${codes.join(",")}`);
    assert.ok(codes.includes(200));
    assert.ok(codes.every((c) => c === 200 || c === 429));
    const e = rs.find((r) => r.status === 429)?.json as { error: { code: string; type: string } };
    assert.equal(e.error.code, "E_QUEUE_FULL");
    assert.equal(e.error.type, "rate_limit_error");
    // counted as the README says, as the v2 routes count theirs
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    const line = metrics
      .split("\n")
      .find((l) => l.startsWith('tessera_rejected_requests_total{model="small-queue",reason="overloaded"}'));
    assert.equal(Number(line?.split(" ").at(-1)), codes.filter((c) => c === 429).length, line);
  });

  it("a client that hangs up mid-request does not break the server", async () => {
    const { request } = await import("node:http");
    const u = new URL(`${base}/v1/embeddings`);
    const body = JSON.stringify({
      model: "mini",
      input: Array.from({ length: 16 }, (_, i) => TEXTS[i % TEXTS.length]),
    });
    await new Promise<void>((resolve) => {
      const req = request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        headers: { "content-type": "application/json" },
      });
      req.on("error", () => resolve());
      req.end(body, () => setTimeout(() => req.destroy(), 5));
      req.on("close", () => resolve());
    });
    const after = await post("/v1/embeddings", {
      model: "mini",
      input: "still here",
      encoding_format: "float",
    });
    assert.equal(after.status, 200);
  });
});

describe("text routes: a model with a default prompt (config_sentence_transformers default_prompt_name)", () => {
  const fx = textApp(() => {
    const emb = makeModelFolder({ normalize: true, prompts: { query: "query: ", document: "" } });
    writeFileSync(
      join(emb.dir, "config_sentence_transformers.json"),
      JSON.stringify({ prompts: { query: "query: ", document: "" }, default_prompt_name: "query" }),
    );
    return { folder: emb, models: { dp: { source: emb.dir } } };
  });

  it("/tokenize applies the default prompt as /embed does, so its tokens are the ones embedded", async () => {
    const embedded = Number((await fx.post("/embed", { inputs: "the key" })).headers["x-compute-tokens"]);
    const toks = (await fx.post("/tokenize", { inputs: "the key" })).json() as { text: string }[][];
    assert.equal(toks[0]?.length, embedded);
    const content = (t: { text: string }[] | undefined) =>
      (t ?? [])
        .slice(1, -1)
        .map((x) => x.text)
        .join("");
    assert.equal(content(toks[0]), "query:thekey");
    // an explicit prompt_name still wins ("document" is empty here)
    const doc = (await fx.post("/tokenize", { inputs: "the key", prompt_name: "document" })).json() as {
      text: string;
    }[][];
    assert.equal(content(doc[0]), "thekey");
  });
});

describe("text routes: a sequence classifier (several labels) is not a re-ranker", () => {
  const fx = textApp(() => {
    const cls = makeModelFolder({ kind: "reranker" });
    const tj = JSON.parse(readFileSync(join(cls.dir, "tokenizer.json"), "utf8")) as {
      model: { vocab: Record<string, number> };
    };
    const vocabSize = Object.keys(tj.model.vocab).length;
    const graph = crossEncoder({
      vocabSize,
      hidden: 32,
      layers: 2,
      heads: 4,
      maxPositions: 256,
      seed: 7,
      labels: 3,
    });
    writeFileSync(join(cls.dir, "onnx", "model.onnx"), graph.bytes);
    writeFileSync(
      join(cls.dir, "config.json"),
      JSON.stringify({
        model_type: "bert",
        architectures: ["BertForSequenceClassification"],
        id2label: { "0": "neg", "1": "neu", "2": "pos" },
        label2id: { neg: 0, neu: 1, pos: 2 },
      }),
    );
    return { folder: cls, models: { sentiment: { source: cls.dir } } };
  });

  it("/rerank answers 424 (TEI) instead of scoring with the first label; /info says classifier; /tokenize works", async () => {
    const rr = await fx.post("/rerank", { query: "the key", texts: ["the key type", "a list"] });
    assert.equal(rr.statusCode, 424, rr.body);
    assert.deepEqual(rr.json(), {
      error: "model is not a re-ranker model",
      error_type: "Backend",
      code: "E_TEXT_WRONG_MODEL",
    });
    const info = (await fx.app.inject({ method: "GET", url: "/info" })).json() as Record<string, unknown>;
    assert.deepEqual(info.model_type, {
      classifier: { id2label: { "0": "neg", "1": "neu", "2": "pos" }, label2id: { neg: 0, neu: 1, pos: 2 } },
    });
    const tok = await fx.post("/tokenize", { inputs: "the key" });
    assert.equal(tok.statusCode, 200, tok.body);
    assert.equal((tok.json() as unknown[][])[0]?.length, 4);
    assert.deepEqual((await fx.post("/decode", { ids: [2, 3] })).json(), [""]);
    assert.equal((await fx.post("/embed", { inputs: "the key" })).statusCode, 424);
  });
});

describe("text routes: the model failing at run time is the server's problem (424), not the client's (400)", () => {
  const fx = textApp(() => {
    const emb = makeModelFolder({ normalize: true, maxSeqLength: 1000 });
    // No max_position_embeddings to cap with: inputs past the graph's 256 positions reach ORT and fail there.
    writeFileSync(
      join(emb.dir, "config.json"),
      JSON.stringify({ model_type: "custom", architectures: ["BertModel"] }),
    );
    return { folder: emb, models: { long: { source: emb.dir } } };
  });

  it("an onnxruntime failure answers 424 Backend (TEI) on /embed and a server error on /v1/embeddings", async () => {
    const long = "the key ".repeat(200);
    const tei = await fx.post("/embed", { inputs: long });
    assert.equal(tei.statusCode, 424, tei.body);
    assert.equal((tei.json() as { error_type: string }).error_type, "Backend");
    assert.equal((tei.json() as { code: string }).code, "E_ORT_RUN");
    const oai = await fx.post("/v1/embeddings", { input: long });
    assert.equal(oai.statusCode, 424, oai.body);
    assert.equal((oai.json() as { error: { type: string } }).error.type, "server_error");
    assert.equal((await fx.post("/embed", { inputs: "the key" })).statusCode, 200);
  });
});

describe("text routes: the server's batching defaults (--max-batch-size, --max-queue-delay-ms) apply to text models", () => {
  const fx = textApp(() => {
    const emb = makeModelFolder({ normalize: true });
    return {
      folder: emb,
      models: {
        mini: { source: emb.dir },
        // a per-provider override for the provider the session runs on (cpu here), as v2 models honour
        tuned: {
          source: emb.dir,
          batching: { maxBatchSize: 64, maxQueueDelayMs: 20, providers: { cpu: { maxBatchSize: 3 } } },
        },
      },
      config: { batching: { maxBatchSize: 2, maxQueueDelayMs: 20, maxQueueSize: 100 } },
    };
  });

  it("batches hold at most --max-batch-size sequences, and /info says so", async () => {
    // one length: one batch unless capped
    const r = await fx.post("/embed", { inputs: Array.from({ length: 8 }, () => "the key type") });
    assert.equal(r.statusCode, 200, r.body);
    const info = (await fx.app.inject({ method: "GET", url: "/info" })).json() as {
      max_batch_requests: number;
    };
    assert.equal(info.max_batch_requests, 2);
    const value = await metricsOf(fx.app);
    const batches = value('tessera_batch_size_count{model="mini"}');
    assert.ok(batches >= 4, `${batches} batches for 8 inputs`);
    assert.equal(value('tessera_batch_size_bucket{le="2",model="mini"}'), batches);
  });

  it("a model's batching.providers override for its active provider applies", async () => {
    // one length: one batch unless capped
    const r = await fx.post("/embed", {
      inputs: Array.from({ length: 9 }, () => "the key type"),
      model: "tuned",
    });
    assert.equal(r.statusCode, 200, r.body);
    const value = await metricsOf(fx.app);
    const batches = value('tessera_batch_size_count{model="tuned"}');
    assert.ok(batches >= 3, `${batches} batches for 9 inputs`);
    assert.equal(value('tessera_batch_size_bucket{le="4",model="tuned"}'), batches);
  });
});

describe("text routes: a re-ranker whose scores come out NaN", () => {
  const fx = textApp(() => {
    const rr = makeModelFolder({ kind: "reranker" });
    // logits = (number of tokens) × NaN: what an overflowing fp16 export produces
    const g = new GraphBuilder({ name: "nan_reranker", opset: 17 });
    g.input("input_ids", "int64", ["batch", "seq"]);
    g.input("attention_mask", "int64", ["batch", "seq"]);
    const mask = g.op("Cast", ["attention_mask"], { to: 1 });
    const count = g.op("ReduceSum", [mask, g.constant(Tensor.wrap(BigInt64Array.from([1n]), [1]))], {
      keepdims: 1,
    });
    g.node("Mul", [count, g.constant(Tensor.wrap(Float32Array.from([Number.NaN]), []))], ["logits"]);
    g.output("logits", "float32", ["batch", 1]);
    writeFileSync(join(rr.dir, "onnx", "model.onnx"), g.toBytes());
    return { folder: rr, models: { nan: { source: rr.dir } } };
  });

  it("/rerank answers 424 'score is NaN' (TEI) instead of null scores in an arbitrary order", async () => {
    const r = await fx.post("/rerank", { query: "the key", texts: ["the key type", "a list"] });
    assert.equal(r.statusCode, 424, r.body);
    const body = r.json() as { error: string; error_type: string };
    assert.match(body.error, /score is NaN/);
    assert.equal(body.error_type, "Backend");
  });
});
