/**
 * Text classification with Tessera: a Hugging Face *ForSequenceClassification folder (SST-2 sentiment, go_emotions,
 * NLI), scored the way transformers' text-classification pipeline scores it.
 *
 * With a real model:   npx tessera pull distilbert/distilbert-base-uncased-finetuned-sst-2-english
 *                      node --import tsx examples/text-classify.ts <that folder>
 * Without arguments it builds two tiny random-weight BERT classifier folders (onnx zoo + a small WordPiece
 * tokenizer) in a temp dir, one single-label (softmax) and one multi-label (sigmoid per label), so the script
 * runs anywhere; its labels then mean nothing.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crossEncoder } from "../src/onnx/index.ts";
import { TextClassifier } from "../src/text/index.ts";

/** A folder as `optimum-cli export onnx` writes it for a sequence classifier: config.json, tokenizer.json, onnx/model.onnx. */
function tinyFolder(labels: readonly string[], multiLabel: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "tessera-example-"));
  mkdirSync(join(dir, "onnx"));
  copyFileSync(
    join(import.meta.dirname, "..", "test", "fixtures", "text", "wordpiece", "tokenizer.json"),
    join(dir, "tokenizer.json"),
  );
  const graph = crossEncoder({
    vocabSize: 1885,
    hidden: 32,
    layers: 2,
    heads: 4,
    maxPositions: 128,
    labels: labels.length,
  });
  writeFileSync(join(dir, "onnx", "model.onnx"), graph.bytes);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "bert",
      architectures: ["BertForSequenceClassification"],
      max_position_embeddings: 128,
      id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
      ...(multiLabel ? { problem_type: "multi_label_classification" } : {}),
    }),
  );
  return dir;
}

const given = process.argv[2];
const dirs = given
  ? [given]
  : [tinyFolder(["negative", "positive"], false), tinyFolder(["joy", "anger", "surprise"], true)];
const texts = ["I love this product.", "The delivery was late and the box was broken."];

for (const dir of dirs) {
  const classifier = await TextClassifier.load(dir);
  console.log(`labels: ${classifier.labels.join(", ")}; score rule: ${classifier.folder.scoreFunction}`);
  const predictions = await classifier.classify(texts); // per text: every label with its score, best first
  for (const [i, labels] of predictions.entries()) {
    const sum = labels.reduce((s, l) => s + l.score, 0);
    const best = labels[0]!;
    console.log(`text ${i}: ${best.label} ${best.score.toFixed(4)} (scores sum to ${sum.toFixed(4)})`);
  }
  const top1 = await classifier.classify(texts, { topK: 1, scoreFunction: "none" }); // raw logits, best only
  console.log(`raw logit of the best label: ${top1[0]![0]!.score.toFixed(4)}`);
  await classifier.close();
}
if (!given) for (const d of dirs) rmSync(d, { recursive: true, force: true });
