/**
 * `--text-column` with a sequence classifier (SST-2 / go_emotions shaped folders built with test/text/graphs.ts):
 * label, score and scores columns checked against the toy graph's math redone in float64 (masked mean of
 * E[id] + P[pos] + T[type], @ W, then softmax, or sigmoid per label for a multi-label model). Tolerance 1e-5
 * (the model computes in float32 and the columns are float32).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { run } from "../../src/cli/commands/score.ts";
import { scoreFiles, type TextClassifierLike } from "../../src/pipeline/index.ts";
import { loadHfFolder, TextClassifier, type TextTokenizer } from "../../src/text/index.ts";
import { fixtureTokenizer, type ToyEncoder, toyEncoder, vocabSizeOf } from "../text/graphs.ts";
import { readBatches, readJsonl, rowsOf, textScoreOptions, tmpDir } from "./helpers.ts";

const dir = tmpDir();
const models = path.join(dir, "models");
const TJ = fixtureTokenizer("wordpiece");
const SENTIMENT = ["NEGATIVE", "NEUTRAL", "POSITIVE"];
const EMOTIONS = ["admiration", "anger", "joy", "sadness", "neutral"];
const MAX_TOKENS = 32;

/** Writes a Hugging Face classifier folder as `models/<name>` (a repository model); returns its toy graph. */
function classifierModel(name: string, labels: number, config: Record<string, unknown>): ToyEncoder {
  const enc = toyEncoder({
    vocabSize: vocabSizeOf(TJ),
    tokenTypeIds: true,
    outputs: ["logits"],
    labels,
    seed: 7 + labels,
  });
  const root = path.join(models, name);
  fs.mkdirSync(path.join(root, "onnx"), { recursive: true });
  fs.writeFileSync(path.join(root, "tokenizer.json"), JSON.stringify(TJ));
  fs.writeFileSync(
    path.join(root, "tokenizer_config.json"),
    JSON.stringify({ model_max_length: MAX_TOKENS }),
  );
  fs.writeFileSync(
    path.join(root, "config.json"),
    JSON.stringify({
      model_type: "bert",
      architectures: ["BertForSequenceClassification"],
      max_position_embeddings: 512,
      ...config,
    }),
  );
  fs.writeFileSync(path.join(root, "onnx", "model.onnx"), enc.bytes);
  return enc;
}

let sentiment: ToyEncoder;
let emotions: ToyEncoder;
let tokenizer: TextTokenizer;
before(() => {
  sentiment = classifierModel("sentiment", 3, {
    id2label: Object.fromEntries(SENTIMENT.map((l, i) => [String(i), l])),
  });
  emotions = classifierModel("emotions", 5, {
    id2label: Object.fromEntries(EMOTIONS.map((l, i) => [String(i), l])),
    problem_type: "multi_label_classification",
  });
  classifierModel("ranker", 1, { id2label: { "0": "LABEL_0" } });
  tokenizer = loadHfFolder(path.join(models, "sentiment")).tokenizer;
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every label's score for `text`, in float64 from the graph's weights (W read row by row via unit vectors). */
function reference(enc: ToyEncoder, text: string, multiLabel: boolean, truncate = false): number[] {
  const e = tokenizer.encode(text, { truncate });
  const pooled = new Float64Array(enc.hidden);
  e.ids.forEach((id, p) => {
    const w = enc.word(id);
    const q = enc.position(p);
    const t = enc.type(e.typeIds[p] as number);
    for (let d = 0; d < enc.hidden; d++) pooled[d]! += w[d]! + q[d]! + t[d]!;
  });
  for (let d = 0; d < enc.hidden; d++) pooled[d]! /= e.ids.length;
  const rows = Array.from({ length: enc.hidden }, (_, d) => {
    const unit = new Float32Array(enc.hidden);
    unit[d] = 1;
    return enc.logits(unit);
  });
  const labels = rows[0]!.length;
  const logits = Array.from({ length: labels }, (_, l) =>
    rows.reduce((s, w, d) => s + pooled[d]! * w[l]!, 0),
  );
  if (multiLabel) return logits.map((x) => 1 / (1 + Math.exp(-x)));
  const m = Math.max(...logits);
  const ex = logits.map((x) => Math.exp(x - m));
  const sum = ex.reduce((a, b) => a + b, 0);
  return ex.map((x) => x / sum);
}

function checkRow(
  got: { label: unknown; score: unknown; scores: unknown },
  want: number[],
  labels: readonly string[],
  what: string,
): void {
  const scores = got.scores as number[];
  assert.equal(scores.length, labels.length, what);
  for (const [k, w] of want.entries())
    assert.ok(Math.abs(scores[k]! - w) < 1e-5, `${what} ${labels[k]}: ${scores[k]} vs ${w}`);
  const best = want.indexOf(Math.max(...want));
  assert.equal(got.label, labels[best], what);
  assert.ok(Math.abs((got.score as number) - want[best]!) < 1e-5, what);
}

function io() {
  const err: string[] = [];
  return { io: { out: () => undefined, err: (t: string) => err.push(t) }, err };
}

const REVIEWS = [
  "great movie, loved it",
  "the worst film i have seen",
  "it was fine",
  `a very long review ${"that goes on and on ".repeat(8)}`,
  "hello world",
  "x",
  "not bad at all, really",
  "meh",
];

test("tessera score --text-column with a classifier folder: label, score and scores (id2label order) from CSV into Parquet; a text over the limit is a bad row naming its tokens", async () => {
  const input = path.join(dir, "reviews.csv");
  fs.writeFileSync(
    input,
    `id,review\n${REVIEWS.map((t, i) => `${i},${t.includes(",") ? `"${t}"` : t}`).join("\n")}\n`,
  );
  const output = path.join(dir, "scored.parquet");
  const common = ["--model", "sentiment", "--models", models, "--input", input, "--text-column", "review"];
  const a = io();
  const code = await run(
    [
      ...common,
      "--output",
      output,
      "--key-columns",
      "id",
      "--batch-size",
      "3",
      "--on-error",
      "skip",
      "--progress",
      "none",
    ],
    a.io,
  );
  assert.equal(code, 0, a.err.join("\n"));
  const rows = rowsOf(await readBatches(output), ["id", "label", "score", "scores"]);
  const kept = REVIEWS.map((t, i) => [i, t] as const).filter(([i]) => i !== 3);
  assert.deepEqual(
    rows.map((r) => Number(r[0])),
    kept.map(([i]) => i),
  );
  for (const [r, [i, t]] of kept.entries()) {
    const row = rows[r]!;
    checkRow(
      { label: row[1], score: row[2], scores: row[3] },
      reference(sentiment, t, false),
      SENTIMENT,
      `row ${i}`,
    );
  }
  const rejects = readJsonl(`${output}.rejects.jsonl`) as { row: number; column: string; reason: string }[];
  assert.deepEqual(
    rejects.map((r) => [r.row, r.column]),
    [[4, "review"]],
  );
  assert.match(rejects[0]!.reason, /^\d+ tokens, over the model's limit of 32 \(use --truncate/);
  const manifest = JSON.parse(fs.readFileSync(`${output}.manifest.json`, "utf8")) as {
    model: { labels: string[]; task: string };
    output: { fields: { name: string; kind: string; size?: number }[] };
  };
  assert.deepEqual(manifest.model.labels, SENTIMENT);
  assert.equal(manifest.model.task, "classifier");
  assert.deepEqual(manifest.output.fields, [
    { name: "id", kind: "float64" }, // CSV numbers are read as float64
    { name: "label", kind: "utf8" },
    { name: "score", kind: "float32" },
    { name: "scores", kind: "vector", size: 3 },
  ]);

  // --truncate scores the long review too, from its first 32 tokens; --outputs keeps some of the columns
  const cut = path.join(dir, "cut.jsonl");
  const b = io();
  assert.equal(
    await run(
      [...common, "--output", cut, "--truncate", "--outputs", "label,score", "--progress", "none"],
      b.io,
    ),
    0,
    b.err.join("\n"),
  );
  const lines = readJsonl(cut) as Record<string, unknown>[];
  assert.equal(lines.length, REVIEWS.length);
  assert.deepEqual(Object.keys(lines[3]!), ["label", "score"]);
  const want = reference(sentiment, REVIEWS[3]!, false, true);
  const best = want.indexOf(Math.max(...want));
  assert.equal(lines[3]!.label, SENTIMENT[best]);
  assert.ok(Math.abs((lines[3]!.score as number) - want[best]!) < 1e-5);

  // a help line shows the use
  const h = { out: [] as string[] };
  await run(["--help"], { out: (t) => h.out.push(t), err: (t) => h.out.push(t) });
  assert.match(h.out.join("\n"), /--text-column review/);
});

test("a multi-label classifier (go_emotions style) scores JSONL into JSONL with a sigmoid per label; invalid Unicode is a bad row", async () => {
  const input = path.join(dir, "comments.jsonl");
  const texts = ["i love this so much", "this makes me angry", "bad \ud800 surrogate", "so sad today", "ok"];
  // JSON.stringify writes the lone surrogate as the escape "\ud800", as a JSON writer would
  fs.writeFileSync(input, `${texts.map((t, i) => JSON.stringify({ id: `c${i}`, text: t })).join("\n")}\n`);
  const clf = await TextClassifier.load(path.join(models, "emotions"), { session: { replicas: 1 } });
  try {
    const s = await scoreFiles({
      classifier: clf,
      ...textScoreOptions("emotions", input, path.join(dir, "emotions.jsonl")),
      batchSize: 2,
    });
    assert.deepEqual([s.rowsScored, s.rowsRejected], [4, 1]);
    const lines = readJsonl(s.output) as { id: string; label: string; score: number; scores: number[] }[];
    assert.deepEqual(
      lines.map((l) => l.id),
      ["c0", "c1", "c3", "c4"],
    );
    let notDistributions = 0;
    for (const l of lines) {
      const want = reference(emotions, texts[Number(l.id.slice(1))]!, true);
      checkRow(l, want, EMOTIONS, l.id);
      if (Math.abs(l.scores.reduce((a, b) => a + b, 0) - 1) > 1e-3) notDistributions++;
    }
    assert.ok(notDistributions > 0, "independent sigmoids, not a softmax");
    const rejects = readJsonl(s.rejects!) as { row: number; keys: { id: string }; reason: string }[];
    assert.deepEqual(
      rejects.map((r) => [r.row, r.keys.id]),
      [[3, "c2"]],
    );
  } finally {
    await clf.close();
  }
});

test("an interrupted classifier run resumed with --resume writes the same rows as a clean run (JSONL: the same bytes)", async () => {
  const input = path.join(dir, "many.csv");
  const short = REVIEWS.filter((_, i) => i !== 3);
  const texts = Array.from({ length: 40 }, (_, i) => `${short[i % short.length]} ${i}`);
  fs.writeFileSync(input, `id,review\n${texts.map((t, i) => `${i},"${t}"`).join("\n")}\n`);
  const clf = await TextClassifier.load(path.join(models, "sentiment"), { session: { replicas: 1 } });
  try {
    const base = {
      model: { name: "sentiment", version: "1", sha256: "x" },
      inputs: [input],
      textColumn: "review",
      keyColumns: ["id"],
      batchSize: 4,
      partRows: 8,
      progress: false as const,
    };
    for (const ext of ["jsonl", "parquet"]) {
      const clean = await scoreFiles({ ...base, classifier: clf, output: path.join(dir, `clean.${ext}`) });
      assert.equal(clean.rowsScored, 40);
      const out = path.join(dir, `resumed.${ext}`);
      // the same classifier, stopping the run (as Ctrl-C does) once it has classified three batches
      const controller = new AbortController();
      let calls = 0;
      const stopping: TextClassifierLike = {
        labels: clf.labels,
        classify: (t, o) => {
          if (++calls === 3) controller.abort();
          return clf.classify(t, o);
        },
      };
      await assert.rejects(
        scoreFiles({ ...base, classifier: stopping, output: out, signal: controller.signal }),
        (e: Error & { facts?: Record<string, unknown> }) => e.facts?.aborted === true,
      );
      const ckpt = JSON.parse(fs.readFileSync(`${out}.parts/checkpoint.json`, "utf8")) as {
        parts: unknown[];
      };
      assert.ok(ckpt.parts.length >= 1 && ckpt.parts.length < 5, `committed ${ckpt.parts.length} parts`);
      const resumed = await scoreFiles({ ...base, classifier: clf, output: out, resume: true });
      assert.deepEqual([resumed.rowsScored, calls], [40, 3]);
      if (ext === "jsonl")
        assert.ok(fs.readFileSync(out).equals(fs.readFileSync(clean.output)), "resumed output differs");
      // Parquet: the rows are the same (the interrupted run's last part is its own row group)
      const names = ["id", "label", "score", "scores"];
      assert.deepEqual(rowsOf(await readBatches(out), names), rowsOf(await readBatches(clean.output), names));
    }
    const out = path.join(dir, "resumed.parquet");
    const rows = rowsOf(await readBatches(out), ["id", "label", "scores"]);
    checkRow(
      { label: rows[17]![1], score: Math.max(...(rows[17]![2] as number[])), scores: rows[17]![2] },
      reference(sentiment, texts[17]!, false),
      SENTIMENT,
      "row 17",
    );
    // a misspelt output column is refused before anything is written
    await assert.rejects(
      scoreFiles({ ...base, classifier: clf, output: path.join(dir, "x.parquet"), outputs: ["lable"] }),
      /--outputs lable: a text classifier writes label, score, scores/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "x.parquet.parts")));
  } finally {
    await clf.close();
  }
});

test("a re-ranker folder (one score) is refused by --text-column, naming the model", async () => {
  const input = path.join(dir, "r.csv");
  fs.writeFileSync(input, "id,text\n1,hello\n");
  const a = io();
  const code = await run(
    [
      "--model",
      "ranker",
      "--models",
      models,
      "--input",
      input,
      "--output",
      path.join(dir, "r.parquet"),
      "--text-column",
      "text",
      "--progress",
      "none",
    ],
    a.io,
  );
  assert.notEqual(code, 0);
  assert.match(a.err.join("\n"), /E_PIPELINE_TEXT.*model ranker is a re-ranker/);
  assert.ok(!fs.existsSync(path.join(dir, "r.parquet")));
  assert.ok(!fs.existsSync(path.join(dir, "r.parquet.parts")));
});

test("--labels with a text classifier is refused (its labels come from id2label), not silently ignored", async () => {
  const input = path.join(dir, "l.csv");
  fs.writeFileSync(input, "id,text\n1,hello\n");
  const a = io();
  const out = path.join(dir, "l.parquet");
  const code = await run(
    [
      "--model",
      "sentiment",
      "--models",
      models,
      "--input",
      input,
      "--output",
      out,
      "--text-column",
      "text",
    ].concat(["--labels", "neg,pos", "--progress", "none"]),
    a.io,
  );
  assert.notEqual(code, 0);
  assert.match(
    a.err.join("\n"),
    /E_PIPELINE_TEXT.*--labels applies to numeric models; model sentiment is a text classifier/,
  );
  assert.ok(!fs.existsSync(out));
  assert.ok(!fs.existsSync(`${out}.parts`));
});

test("classifier columns as other readers see them: utf8 label, float32 score, float32 scores list (Parquet) / FixedSizeList (Arrow); a NaN score gives a null label and score", async () => {
  const { parquetMetadata, parquetReadObjects } = await import("hyparquet");
  const { tableFromIPC } = await import("apache-arrow");
  const input = path.join(dir, "readers.jsonl");
  const texts = ["good", "broken", "bad", "fine"];
  fs.writeFileSync(input, `${texts.map((t, i) => JSON.stringify({ id: i, text: t })).join("\n")}\n`);
  // best first, as TextClassifier returns them; "broken" stands for a model that returns NaN
  const fake: TextClassifierLike = {
    labels: ["NEG", "POS"],
    classify: async (ts) =>
      ts.map((t) =>
        t === "broken"
          ? [
              { label: "POS", score: Number.NaN },
              { label: "NEG", score: 0.5 },
            ]
          : t === "bad"
            ? [
                { label: "NEG", score: 0.875 },
                { label: "POS", score: 0.125 },
              ]
            : [
                { label: "POS", score: 0.75 },
                { label: "NEG", score: 0.25 },
              ],
      ),
  };
  const base = {
    classifier: fake,
    model: { name: "fake", version: "1", sha256: "x" },
    inputs: [input],
    textColumn: "text",
    keyColumns: ["id"],
    batchSize: 2,
    partRows: 2,
    progress: false as const,
  };
  const want = [
    { id: 0, label: "POS", score: 0.75, scores: [0.25, 0.75] },
    { id: 1, label: null, score: null, scores: [0.5, Number.NaN] },
    { id: 2, label: "NEG", score: 0.875, scores: [0.875, 0.125] },
    { id: 3, label: "POS", score: 0.75, scores: [0.25, 0.75] },
  ];

  const pq = await scoreFiles({ ...base, output: path.join(dir, "readers.parquet") });
  const buf = fs.readFileSync(pq.output);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const schema = parquetMetadata(file).schema.map((s) => [s.name, s.type, s.converted_type]);
  assert.deepEqual(schema.slice(2), [
    ["label", "BYTE_ARRAY", "UTF8"],
    ["score", "FLOAT", undefined],
    ["scores", undefined, "LIST"],
    ["list", undefined, undefined],
    ["element", "FLOAT", undefined],
  ]);
  assert.deepEqual(await parquetReadObjects({ file }), want);

  const arrow = await scoreFiles({ ...base, output: path.join(dir, "readers.arrow") });
  const table = tableFromIPC(fs.readFileSync(arrow.output));
  assert.deepEqual(
    table.schema.fields.map((f) => `${f.name}: ${f.type}`),
    ["id: Float64", "label: Utf8", "score: Float32", "scores: FixedSizeList[2]<Float32>"],
  );
  assert.deepEqual(
    table.toArray().map((r) => {
      const o = r.toJSON() as {
        id: number;
        label: string | null;
        score: number | null;
        scores: Iterable<number>;
      };
      return { ...o, scores: [...o.scores] };
    }),
    want,
  );

  // a label the classifier does not declare is a model bug, named, not a silent NaN column
  const stray: TextClassifierLike = {
    labels: ["NEG", "POS"],
    classify: async (ts) => ts.map(() => [{ label: "NEUTRAL", score: 1 }]),
  };
  await assert.rejects(
    scoreFiles({ ...base, classifier: stray, output: path.join(dir, "stray.parquet") }),
    /the classifier returned label "NEUTRAL", not one of its labels/,
  );
});
