/**
 * Text embeddings and reranking with Tessera.
 *
 * With a real model:   npx tessera pull sentence-transformers/all-MiniLM-L6-v2
 *                      node --import tsx examples/text-embeddings.ts ~/.cache/tessera/models/sentence-transformers--all-MiniLM-L6-v2/main
 * Without arguments it builds a tiny random-weight BERT folder (onnx zoo + a small WordPiece tokenizer)
 * in a temp dir, so the script runs anywhere; its similarities then mean nothing.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bertEncoder } from "../src/onnx/index.ts";
import { TextEmbedder } from "../src/text/index.ts";

function tinyFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "tessera-example-"));
  mkdirSync(join(dir, "onnx"));
  copyFileSync(
    join(import.meta.dirname, "..", "test", "fixtures", "text", "wordpiece", "tokenizer.json"),
    join(dir, "tokenizer.json"),
  );
  writeFileSync(
    join(dir, "onnx", "model.onnx"),
    bertEncoder({ vocabSize: 1885, hidden: 32, layers: 2, heads: 4, maxPositions: 128 }).bytes,
  );
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ model_type: "bert", max_position_embeddings: 128 }),
  );
  return dir;
}

const given = process.argv[2];
const dir = given ?? tinyFolder();
const embedder = await TextEmbedder.load(dir, { normalize: true });
console.log(`model: dim ${embedder.dim}, pooling ${embedder.pooling}, max ${embedder.maxLength} tokens`);

const docs = [
  "The key type determines which symbol is chosen.",
  "Licenses grant permissions.",
  "Symbols are chosen from the list.",
];
const vectors = await embedder.embed(docs); // Tensor float32 [3, dim]; rows are views
console.log(`embeddings: shape [${vectors.shape.join(",")}] ${vectors.dtype}`);

const query = (await embedder.embed(["which symbol is chosen?"])).select(0, 0);
const scores = docs.map((_, i) => {
  const row = vectors.select(0, i); // a view, no copy
  let dot = 0;
  for (let d = 0; d < embedder.dim; d++) dot += (row.get(d) as number) * (query.get(d) as number);
  return dot;
});
for (const [i, s] of scores.entries()) console.log(`cosine(query, doc ${i}) = ${s.toFixed(4)}`);

const short = await embedder.embed(docs, { dimensions: 8 }); // Matryoshka: first 8 dims, renormalized
console.log(`matryoshka: shape [${short.shape.join(",")}]`);

try {
  await embedder.embed(["ok", "word ".repeat(600)]);
} catch (e) {
  console.log(`too long: ${(e as { code: string }).code}: ${(e as Error).message}`);
}
const cut = await embedder.embedDetailed(["word ".repeat(600)], { truncate: true });
console.log(`truncated to ${cut.tokens[0]} tokens`);

await embedder.close();
if (!given) rmSync(dir, { recursive: true, force: true });
