import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { scoreFiles } from "../../src/pipeline/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";
import { TextEmbedder } from "../../src/text/index.ts";
import { makeModelFolder, sampleTexts, type TempFolder } from "../text/helpers.ts";
import { readBatches, readJsonl, rowsOf, textScoreOptions, tmpDir } from "./helpers.ts";

const dir = tmpDir();
let folder: TempFolder;
let emb: TextEmbedder;
before(async () => {
  folder = makeModelFolder({ normalize: true });
  emb = await TextEmbedder.load(folder.dir, { session: { replicas: 1, intraOpThreads: 1 } });
});
after(async () => {
  await emb.close();
  folder.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a text column is embedded with TextEmbedder into an embedding vector column; null texts are rejected", async () => {
  const texts = sampleTexts(12);
  const input = path.join(dir, "texts.jsonl");
  const lines = texts.map((t, i) => JSON.stringify({ id: i, text: i === 5 ? null : t }));
  fs.writeFileSync(input, `${lines.join("\n")}\n`);
  const output = path.join(dir, "emb.parquet");
  const s = await scoreFiles({
    embedder: emb,
    ...textScoreOptions("tiny-bert", input, output),
    batchSize: 4,
  });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [11, 1]);
  const got = await readBatches(output);
  const rows = rowsOf(got, ["id", "embedding"]);
  const kept = texts.filter((_, i) => i !== 5);
  const ref = await emb.embed(kept);
  assert.equal(rows.length, 11);
  for (const [r, row] of rows.entries()) {
    const v = row[1] as number[];
    assert.equal(v.length, ref.shape[1]);
    for (let k = 0; k < v.length; k++) assert.ok(Math.abs(v[k]! - (ref.get(r, k) as number)) < 1e-5);
  }
  assert.deepEqual(
    rows.map((r) => r[0]),
    [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11],
  );
  await assert.rejects(
    scoreFiles({
      embedder: emb,
      model: { name: "m", version: "1", sha256: "x" },
      inputs: [input],
      output: `${output}2.parquet`,
      progress: false,
    }),
    { code: "E_PIPELINE_TEXT" },
  );
});

test("a text over the model's token limit is a bad row (rejected with its token count, or stopping the job at its row); --truncate cuts it", async () => {
  const texts = sampleTexts(10).map((t, i) => (i === 2 || i === 6 ? `${t} ${"word ".repeat(600)}` : t));
  const input = path.join(dir, "long.jsonl");
  fs.writeFileSync(input, `${texts.map((t, i) => JSON.stringify({ id: i, text: t })).join("\n")}\n`);
  const base = {
    embedder: emb,
    model: { name: "tiny-bert", version: "1", sha256: "x" },
    inputs: [input],
    textColumn: "text",
    keyColumns: ["id"],
    batchSize: 4,
    progress: false as const,
  };
  const skipped = await scoreFiles({ ...base, output: path.join(dir, "long-skip.jsonl"), onError: "skip" });
  assert.deepEqual([skipped.rowsScored, skipped.rowsRejected], [8, 2]);
  const rejects = readJsonl(skipped.rejects!) as {
    row: number;
    column: string;
    reason: string;
    keys: { id: number };
  }[];
  assert.deepEqual(
    rejects.map((r) => [r.row, r.column, r.keys.id]),
    [
      [3, "text", 2],
      [7, "text", 6],
    ],
  );
  assert.match(rejects[0]!.reason, /^\d+ tokens, over the model's limit of \d+ \(use --truncate/);
  const got = await readBatches(skipped.output);
  const rows = rowsOf(got, ["id", "embedding"]);
  assert.deepEqual(
    rows.map((r) => r[0]),
    [0, 1, 3, 4, 5, 7, 8, 9],
  );
  const ref = await emb.embed(texts.filter((_, i) => i !== 2 && i !== 6));
  for (const [r, row] of rows.entries())
    assert.ok(Math.abs((row[1] as number[])[0]! - (ref.get(r, 0) as number)) < 1e-5, `row ${r}`);
  await assert.rejects(
    scoreFiles({ ...base, output: path.join(dir, "long-fail.jsonl") }),
    (e: Error & { code?: string; facts?: Record<string, unknown> }) =>
      e.code === "E_PIPELINE_BAD_ROW" && e.facts?.row === 3 && e.facts.column === "text",
  );
  // --resume with --on-error skip goes on from the committed rows: every row once, the long ones rejected
  const resumed = await scoreFiles({
    ...base,
    output: path.join(dir, "long-fail.jsonl"),
    onError: "skip",
    resume: true,
  });
  assert.deepEqual([resumed.rowsRead, resumed.rowsScored, resumed.rowsRejected], [10, 8, 2]);
  const again = await readBatches(resumed.output);
  assert.deepEqual(
    rowsOf(again, ["id"]).map((r) => r[0]),
    [0, 1, 3, 4, 5, 7, 8, 9],
  );
  // with batches of 2 the rows before the long one's batch are committed first, and kept by the resume
  const split = { ...base, batchSize: 2, output: path.join(dir, "long-fail-2.jsonl") };
  await assert.rejects(
    scoreFiles(split),
    (e: Error & { code?: string; facts?: Record<string, unknown> }) =>
      e.code === "E_PIPELINE_BAD_ROW" && e.facts?.row === 3 && e.facts.committedRows === 2,
  );
  const resumed2 = await scoreFiles({ ...split, onError: "skip", resume: true });
  assert.deepEqual([resumed2.rowsRead, resumed2.rowsScored, resumed2.rowsRejected], [10, 8, 2]);
  const again2 = await readBatches(resumed2.output);
  assert.deepEqual(
    rowsOf(again2, ["id"]).map((r) => r[0]),
    [0, 1, 3, 4, 5, 7, 8, 9],
  );
  const cut = await scoreFiles({ ...base, output: path.join(dir, "long-cut.jsonl"), truncate: true });
  assert.deepEqual([cut.rowsScored, cut.rowsRejected], [10, 0]);
  const manifest = JSON.parse(fs.readFileSync(cut.manifest, "utf8")) as { options: { truncate: boolean } };
  assert.equal(manifest.options.truncate, true, "the manifest records --truncate");
});

test("many long texts in one batch: each text is tokenized at most twice, and the embeddings stay with their rows", async () => {
  const limit = 20;
  const texts = Array.from({ length: 60 }, (_, i) => (i % 5 === 2 ? "x".repeat(limit + i) : `text ${i}`));
  let tokenized = 0;
  // embeds like TextEmbedder: texts are tokenized in order and the first one over the limit throws, naming it
  const embedder = {
    async embed(batch: readonly string[]): Promise<Tensor<"float32">> {
      const out = new Float32Array(batch.length * 2);
      for (const [i, t] of batch.entries()) {
        tokenized++;
        if (t.length > limit)
          throw new TesseraError("E_TEXT_TOO_LONG", "too long", {
            index: i,
            tokens: t.length,
            maxTokens: limit,
          });
        out[i * 2] = t.length;
      }
      return Tensor.wrap(out, [batch.length, 2]) as Tensor<"float32">;
    },
  };
  const input = path.join(dir, "many-long.jsonl");
  fs.writeFileSync(input, `${texts.map((t, i) => JSON.stringify({ id: i, text: t })).join("\n")}\n`);
  const s = await scoreFiles({
    embedder,
    ...textScoreOptions("fake", input, path.join(dir, "many-long.jsonl.out.jsonl")),
    batchSize: 60,
  });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [48, 12]);
  assert.ok(tokenized <= 2 * texts.length, `${tokenized} tokenizations for ${texts.length} texts`);
  const got = await readBatches(s.output);
  const rows = rowsOf(got, ["id", "embedding"]);
  assert.deepEqual(
    rows.map((r) => r[0]),
    texts.flatMap((_, i) => (i % 5 === 2 ? [] : [i])),
  );
  for (const row of rows) assert.equal((row[1] as number[])[0], texts[row[0] as number]!.length);
});

test("a JSONL text with an unpaired surrogate escape is a bad row naming it, not embedded without the character", async () => {
  const input = path.join(dir, "surrogate.jsonl");
  // Written by hand: the "\ud800" escape is valid JSON but not Unicode text.
  fs.writeFileSync(
    input,
    [
      '{"id": 0, "text": "fine text"}',
      '{"id": 1, "text": "broken \\ud800 here"}',
      '{"id": 2, "text": "also fine"}',
    ]
      .map((l) => `${l}\n`)
      .join(""),
  );
  const s = await scoreFiles({
    embedder: emb,
    ...textScoreOptions("tiny-bert", input, path.join(dir, "surrogate.parquet")),
  });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [2, 1]);
  const rejects = readJsonl(s.rejects!) as { keys: { id: number }; reason: string }[];
  assert.equal(rejects[0]!.keys.id, 1);
  assert.match(rejects[0]!.reason, /^text holds an unpaired UTF-16 surrogate \\ud800 at position 7/);
});

test("a text column whose values look like numbers (answers, codes: 5, 007, 1.50) is embedded as the texts", async () => {
  const input = path.join(dir, "answers.csv");
  const texts = ["007", "1.50", ...Array.from({ length: 27 }, (_, i) => String(i + 3)), "hello"];
  fs.writeFileSync(input, `id,text\n${texts.map((t, i) => `${i},${t}`).join("\n")}\n`);
  const output = path.join(dir, "answers.jsonl");
  const s = await scoreFiles({ embedder: emb, ...textScoreOptions("tiny-bert", input, output) });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [texts.length, 0]);
  const ref = await emb.embed(texts);
  const rows = readJsonl(output);
  for (const [r, row] of rows.entries()) {
    const v = row.embedding as number[];
    for (let k = 0; k < v.length; k++)
      assert.ok(Math.abs(v[k]! - (ref.get(r, k) as number)) < 1e-5, texts[r]);
  }
});
