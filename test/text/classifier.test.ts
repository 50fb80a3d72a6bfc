/**
 * TextClassifier on locally built sequence-classification folders (graphs.ts: logits = masked
 * mean of E[id] + P[pos] + T[type], @ W), checked against that one-line reference with the score
 * function transformers' TextClassificationPipeline picks: sigmoid per label for
 * `problem_type: "multi_label_classification"` (go_emotions) or one label, softmax otherwise.
 * Tolerance 1e-6.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { TesseraError } from "../../src/tensor/index.ts";
import {
  applyScoreFunction,
  labelsByIndex,
  loadHfFolder,
  scoreFunctionOf,
  TextClassifier,
  type TextTokenizer,
} from "../../src/text/index.ts";
import { classifierFolder, fixtureTokenizer, type ToyEncoder, toyLogits } from "./graphs.ts";

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups) c();
});

const TJ = fixtureTokenizer("wordpiece");
const EMOTIONS = ["admiration", "anger", "joy", "sadness", "neutral"];

/** A BERT-style classifier folder (go_emotions / SST-2 shape) and its toy graph. */
function folder(config: Record<string, unknown>, labels: number): { dir: string; enc: ToyEncoder } {
  const f = classifierFolder({ labels, seed: 11, config, tokenizer: TJ });
  cleanups.push(f.cleanup);
  return { dir: f.dir, enc: f.enc };
}

function byLabel(preds: readonly { label: string; score: number }[]): Map<string, number> {
  return new Map(preds.map((p) => [p.label, p.score]));
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
function softmax(v: Float32Array): number[] {
  const m = Math.max(...v);
  const e = Array.from(v, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function encode(tok: TextTokenizer, x: string | readonly [string, string]) {
  return typeof x === "string" ? tok.encode(x) : tok.encodePair(x[0], x[1]);
}

describe("score function by config.json (transformers' TextClassificationPipeline rule)", () => {
  it("regression → none, multi_label → sigmoid, one label → sigmoid, several labels / single_label → softmax, else function_to_apply", () => {
    assert.equal(scoreFunctionOf("multi_label_classification", 28), "sigmoid");
    assert.equal(scoreFunctionOf(undefined, 1), "sigmoid");
    assert.equal(scoreFunctionOf("regression", 1), "none");
    assert.equal(scoreFunctionOf(undefined, 2), "softmax");
    assert.equal(scoreFunctionOf("single_label_classification", 3), "softmax");
    assert.equal(scoreFunctionOf(undefined, 0, "sigmoid"), "sigmoid");
    assert.equal(scoreFunctionOf(undefined, 0), "none");
    const s = applyScoreFunction(Float32Array.from([1000, 0, -1000]), "softmax");
    assert.ok(Math.abs((s[0] as number) - 1) < 1e-12 && Number.isFinite(s[2] as number));
  });

  it("id2label keys are logit indices: order in the file does not matter, a skipped index is LABEL_i", () => {
    assert.deepEqual(labelsByIndex({ "1": "POSITIVE", "0": "NEGATIVE" }), ["NEGATIVE", "POSITIVE"]);
    assert.deepEqual(labelsByIndex({ "0": "a", "2": "c" }), ["a", "LABEL_1", "c"]);
    assert.deepEqual(labelsByIndex({ "10": "k", "2": "c", "0": "a" }).slice(9), ["LABEL_9", "k"]);
    const { dir } = folder({ id2label: { "0": "a", "2": "c" } }, 3);
    assert.deepEqual(loadHfFolder(dir).labels, ["a", "LABEL_1", "c"]);
  });
});

describe("TextClassifier", () => {
  const texts: readonly (string | readonly [string, string])[] = [
    "hello world",
    "a much longer sentence with quite a few more tokens in it",
    ["the premise", "the hypothesis here"],
    "x",
  ];

  it("multi-label (go_emotions style, problem_type multi_label_classification): an independent sigmoid per label", async () => {
    const id2label = Object.fromEntries(EMOTIONS.map((l, i) => [String(i), l]));
    const { dir, enc } = folder({ id2label, problem_type: "multi_label_classification" }, 5);
    const f = loadHfFolder(dir);
    assert.equal(f.task, "classifier");
    assert.equal(f.scoreFunction, "sigmoid");
    const clf = await TextClassifier.load(dir);
    try {
      assert.deepEqual(clf.labels, EMOTIONS);
      const preds = await clf.classify(texts);
      assert.equal(preds.length, texts.length);
      let sumsToOne = 0;
      for (const [i, x] of texts.entries()) {
        const e = encode(clf.tokenizer, x);
        const ref = toyLogits(enc, e.ids, e.typeIds);
        const got = byLabel(preds[i] as { label: string; score: number }[]);
        assert.equal(got.size, 5);
        EMOTIONS.forEach((l, k) => {
          const want = sigmoid(ref[k] as number);
          assert.ok(Math.abs((got.get(l) as number) - want) < 1e-6, `${i} ${l}: ${got.get(l)} vs ${want}`);
        });
        const scores = (preds[i] ?? []).map((p) => p.score);
        assert.deepEqual(
          scores,
          [...scores].sort((a, b) => b - a),
          "best first",
        );
        if (Math.abs(scores.reduce((a, b) => a + b, 0) - 1) < 1e-3) sumsToOne++;
      }
      // softmax would make every row a distribution; independent sigmoids do not
      assert.ok(sumsToOne < texts.length);
      // batched = one at a time; topK and raw logits on request
      const [one] = await clf.classify([texts[1] as string], { topK: 2 });
      assert.equal(one?.length, 2);
      (one as { label: string; score: number }[]).forEach((p, k) => {
        const b = (preds[1] as { label: string; score: number }[])[k];
        assert.equal(p.label, b?.label);
        assert.ok(Math.abs(p.score - (b?.score as number)) < 1e-6);
      });
      const [raw] = await clf.classify([texts[0] as string], { scoreFunction: "none" });
      const e0 = encode(clf.tokenizer, texts[0] as string);
      const ref0 = toyLogits(enc, e0.ids, e0.typeIds);
      const rawBy = byLabel(raw as { label: string; score: number }[]);
      for (const [k, l] of EMOTIONS.entries())
        assert.ok(Math.abs((rawBy.get(l) as number) - (ref0[k] as number)) < 1e-5);
    } finally {
      await clf.close();
    }
  });

  it("single-label (SST-2 style, two labels, no problem_type): softmax over the labels", async () => {
    const { dir, enc } = folder({ id2label: { "1": "POSITIVE", "0": "NEGATIVE" } }, 2);
    const clf = await TextClassifier.load(dir);
    try {
      const preds = await clf.classify(texts);
      for (const [i, x] of texts.entries()) {
        const e = encode(clf.tokenizer, x);
        const p = softmax(toyLogits(enc, e.ids, e.typeIds));
        const got = byLabel(preds[i] as { label: string; score: number }[]);
        assert.ok(Math.abs((got.get("NEGATIVE") as number) - (p[0] as number)) < 1e-6);
        assert.ok(Math.abs((got.get("POSITIVE") as number) - (p[1] as number)) < 1e-6);
      }
    } finally {
      await clf.close();
    }
  });

  it("inputs over the max length are refused by index unless truncate; bad inputs and a label count that differs from the graph are named", async () => {
    const { dir } = folder({ id2label: { "0": "NEGATIVE", "1": "POSITIVE" } }, 2);
    const clf = await TextClassifier.load(dir, { maxLength: 8 });
    try {
      const long = "hello world ".repeat(10);
      await assert.rejects(clf.classify(["ok", long]), (e: unknown) => {
        assert.ok(e instanceof TesseraError && e.code === "E_TEXT_TOO_LONG" && e.facts.index === 1);
        return true;
      });
      const r = await clf.classifyDetailed(["ok", long], { truncate: true });
      assert.equal(r.tokens[1], 8);
      await assert.rejects(
        clf.classify([["a", "b", "c"] as unknown as string]),
        /input 0 is not a string or a pair/,
      );
    } finally {
      await clf.close();
    }
    const bad = folder({ id2label: { "0": "a", "1": "b", "2": "c" } }, 2);
    await assert.rejects(TextClassifier.load(bad.dir), (e: unknown) => {
      assert.ok(e instanceof TesseraError && e.code === "E_TEXT_MODEL");
      assert.match(e.message, /3 labels but the graph's logits has 2 scores/);
      return true;
    });
  });
});
