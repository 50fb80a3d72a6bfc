/**
 * TEI `POST /predict` over sequence classifiers built locally (test/text/graphs.ts: logits = masked
 * mean of E[id] + P[pos] + T[type], @ W): TEI's input shapes (a text, a pair, a batch of [text] /
 * [text, pair]) and answer (every label, best first), scores by the model's config.json as
 * transformers' pipeline computes them (sigmoid per label for multi-label models, softmax over
 * labels otherwise), `raw_scores`, a reranker on /predict, POST / dispatch. Tolerance 1e-6.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { loadHfFolder } from "../../src/text/index.ts";
import { classifierFolder, type ToyEncoder, toyLogits } from "../text/graphs.ts";
import { makeModelFolder } from "../text/helpers.ts";
import { loadedApp, writeTextRepo } from "./helpers.ts";

const EMOTIONS = ["admiration", "anger", "joy", "sadness", "neutral"];

/** The toy graph's logits for a text or a pair, tokenized as the folder does. */
function refLogits(dir: string, enc: ToyEncoder, x: string | readonly [string, string]): Float32Array {
  const tok = loadHfFolder(dir).tokenizer;
  const e = typeof x === "string" ? tok.encode(x) : tok.encodePair(x[0], x[1]);
  return toyLogits(enc, e.ids, e.typeIds);
}

type Prediction = { score: number; label: string };
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function checkScores(got: Prediction[], want: readonly number[], labels: readonly string[]): void {
  assert.equal(got.length, labels.length);
  const scores = got.map((p) => p.score);
  assert.deepEqual(
    scores,
    [...scores].sort((a, b) => b - a),
    "best first",
  );
  for (const [k, l] of labels.entries()) {
    const p = got.find((x) => x.label === l);
    assert.ok(p, `label ${l}`);
    assert.ok(Math.abs(p.score - (want[k] as number)) < 1e-6, `${l}: ${p.score} vs ${want[k]}`);
  }
}

describe("TEI /predict", () => {
  const emotions = classifierFolder({
    labels: 5,
    seed: 5,
    config: {
      id2label: Object.fromEntries(EMOTIONS.map((l, i) => [String(i), l])),
      problem_type: "multi_label_classification",
    },
  });
  const sentiment = classifierFolder({
    labels: 2,
    seed: 5,
    config: { id2label: { "0": "NEGATIVE", "1": "POSITIVE" } },
  });
  const rerank = makeModelFolder({ kind: "reranker" });
  const embed = makeModelFolder({ normalize: true });
  let app: FastifyInstance;
  let root = "";
  const post = (url: string, body: unknown) =>
    app.inject({
      method: "POST",
      url,
      payload: body as object,
      headers: { "content-type": "application/json" },
    });
  before(async () => {
    root = writeTextRepo({
      emotions: { source: emotions.dir },
      sentiment: { source: sentiment.dir },
      rr: { source: rerank.dir },
      emb: { source: embed.dir },
    });
    app = await loadedApp(root);
  });
  after(async () => {
    await app.close();
    for (const f of [emotions, sentiment, rerank, embed]) f.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it("a multi-label model (problem_type multi_label_classification) answers an independent sigmoid per label, best first", async () => {
    const r = await post("/predict", { inputs: "I love this so much", model: "emotions" });
    assert.equal(r.statusCode, 200, r.body);
    const ref = refLogits(emotions.dir, emotions.enc, "I love this so much");
    checkScores(r.json() as Prediction[], Array.from(ref, sigmoid), EMOTIONS);
    assert.equal(Number(r.headers["x-compute-tokens"]) > 0, true);
    // raw_scores: the logits
    const raw = await post("/predict", {
      inputs: "I love this so much",
      model: "emotions",
      raw_scores: true,
    });
    checkScores(raw.json() as Prediction[], Array.from(ref), EMOTIONS);
  });

  it("TEI's input shapes: [a, b] is one pair, [[a], [a, b]] a batch answered as a list of lists", async () => {
    const pair = ["the premise", "the hypothesis"] as const;
    const one = await post("/predict", { inputs: pair, model: "emotions" });
    assert.equal(one.statusCode, 200, one.body);
    checkScores(
      one.json() as Prediction[],
      Array.from(refLogits(emotions.dir, emotions.enc, pair), sigmoid),
      EMOTIONS,
    );
    const batch = await post("/predict", { inputs: [["hello world"], [...pair]], model: "emotions" });
    assert.equal(batch.statusCode, 200, batch.body);
    const b = batch.json() as Prediction[][];
    assert.equal(b.length, 2);
    checkScores(
      b[0] as Prediction[],
      Array.from(refLogits(emotions.dir, emotions.enc, "hello world"), sigmoid),
      EMOTIONS,
    );
    checkScores(
      b[1] as Prediction[],
      Array.from(refLogits(emotions.dir, emotions.enc, pair), sigmoid),
      EMOTIONS,
    );
  });

  it("a single-label model (two labels) answers softmax over its labels", async () => {
    const r = await post("/predict", { inputs: ["a fine day"], model: "sentiment" });
    assert.equal(r.statusCode, 200, r.body);
    const z = refLogits(sentiment.dir, sentiment.enc, "a fine day");
    const m = Math.max(...z);
    const e = Array.from(z, (x) => Math.exp(x - m));
    const s = e[0]! + e[1]!;
    checkScores(
      r.json() as Prediction[],
      e.map((x) => x / s),
      ["NEGATIVE", "POSITIVE"],
    );
  });

  it("a re-ranker answers /predict with its sigmoid score (as /rerank) under LABEL_0; an embedding model is refused 424", async () => {
    const p = await post("/predict", { inputs: ["the key", "the key type"], model: "rr" });
    assert.equal(p.statusCode, 200, p.body);
    const [hit] = (
      await post("/rerank", { query: "the key", texts: ["the key type"], model: "rr" })
    ).json() as {
      score: number;
    }[];
    const [pred] = p.json() as Prediction[];
    assert.equal(pred?.label, "LABEL_0");
    assert.ok(Math.abs((pred?.score as number) - (hit?.score as number)) < 1e-6);
    const wrong = await post("/predict", { inputs: "x", model: "emb" });
    assert.equal(wrong.statusCode, 424, wrong.body);
    assert.equal((wrong.json() as { code: string }).code, "E_TEXT_WRONG_MODEL");
  });

  it("bad inputs: empty 400, three strings or a non-string 422, too long without truncate 422", async () => {
    assert.equal((await post("/predict", { inputs: [], model: "emotions" })).statusCode, 400);
    assert.equal((await post("/predict", { inputs: "", model: "emotions" })).statusCode, 400);
    const three = await post("/predict", { inputs: ["a", "b", "c"], model: "emotions" });
    assert.equal(three.statusCode, 422, three.body);
    assert.equal((await post("/predict", { inputs: [[1, 2]], model: "emotions" })).statusCode, 422);
    assert.equal((await post("/predict", { inputs: 3, model: "emotions" })).statusCode, 422);
    const long = "hello world ".repeat(400);
    const tooLong = await post("/predict", { inputs: long, model: "emotions", truncate: false });
    assert.equal(tooLong.statusCode, 422, tooLong.body);
    assert.equal(
      (await post("/predict", { inputs: long, model: "emotions", truncate: true })).statusCode,
      200,
    );
  });

  it("POST / dispatches `inputs` to /predict for a classifier model", async () => {
    const r = await post("/", { inputs: "I love this so much", model: "emotions" });
    assert.equal(r.statusCode, 200, r.body);
    const direct = (await post("/predict", { inputs: "I love this so much", model: "emotions" })).json();
    assert.deepEqual(r.json(), direct);
    const emb = await post("/", { inputs: "I love this so much", model: "emb" });
    assert.equal(emb.statusCode, 200, emb.body);
    assert.equal(typeof (emb.json() as number[][])[0]?.[0], "number");
  });
});
