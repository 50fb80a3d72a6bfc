/**
 * sentence-transformers' `weightedmean` (SGPT) and `mean_sqrt_len_tokens` pooling, and pooling
 * overrides given at load. The toy graphs (test/text/graphs.ts) give h_t = E[id_t] + P[pos_t], so the
 * references are float64 loops over those rows, as sentence-transformers' Pooling.forward computes:
 *
 *   weightedmean          Σ_t t·h_t / Σ_t t   (t = 1-based position; masked prompt tokens keep their positions)
 *   mean_sqrt_len_tokens  Σ_t h_t / sqrt(n)
 *
 * Tolerance 1e-5 (float32 graph output vs float64 reference).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TesseraError } from "../../src/tensor/index.ts";
import { type EmbedderOptions, loadHfFolder, TextEmbedder } from "../../src/text/index.ts";
import {
  fixtureTokenizer,
  stModules,
  type ToyEncoder,
  toyEncoder,
  vocabSizeOf,
  folderWriter,
} from "./graphs.ts";

const folder = folderWriter();

const WP = fixtureTokenizer("wordpiece");
const ENC = toyEncoder({ vocabSize: vocabSizeOf(WP) });
const TEXTS = ["hello world", "a much longer sentence with quite a few more tokens in it", "short", "x y"];

/** A BERT-style folder with the given 1_Pooling/config.json (no Normalize module) and optional prompts. */
function bertFolder(pooling: Record<string, unknown> | undefined, prompts?: Record<string, string>): string {
  const st = stModules("mean", 8, []);
  return folder({
    "tokenizer.json": WP,
    "tokenizer_config.json": { model_max_length: 512, pad_token: "[PAD]" },
    "config.json": { model_type: "bert", max_position_embeddings: 512 },
    ...(pooling ? { ...st, "1_Pooling/config.json": pooling } : {}),
    ...(prompts ? { "config_sentence_transformers.json": { prompts } } : {}),
    "onnx/model.onnx": ENC.bytes,
  });
}

/** float64 reference of one text's pooled vector over the toy graph's hidden states. */
function reference(
  enc: ToyEncoder,
  ids: readonly number[],
  mode: "weightedmean" | "mean_sqrt_len_tokens" | "mean",
  skip = 0,
): Float64Array {
  const H = enc.hidden;
  const acc = new Float64Array(H);
  let wsum = 0;
  for (let t = skip; t < ids.length; t++) {
    const w = mode === "weightedmean" ? t + 1 : 1;
    wsum += w;
    const e = enc.word(ids[t] as number);
    const p = enc.position(t);
    for (let d = 0; d < H; d++) acc[d] = (acc[d] as number) + w * ((e[d] as number) + (p[d] as number));
  }
  const n = ids.length - skip;
  const div = mode === "weightedmean" ? wsum : mode === "mean" ? n : Math.sqrt(n);
  return acc.map((x) => x / div);
}

function rowOf(t: { data: ArrayLike<number>; shape: readonly number[] }, i: number): number[] {
  const d = t.shape[1] as number;
  return Array.prototype.slice.call(t.data, i * d, (i + 1) * d) as number[];
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

async function withEmbedder(
  dir: string,
  options: EmbedderOptions,
  body: (e: TextEmbedder) => Promise<void>,
): Promise<void> {
  const e = await TextEmbedder.load(dir, {
    normalize: false,
    maxPaddingRatio: Number.POSITIVE_INFINITY,
    ...options,
  });
  try {
    await body(e);
  } finally {
    await e.close();
  }
}

describe("sentence-transformers weightedmean / mean_sqrt_len_tokens pooling", () => {
  const configs: [string, Record<string, unknown>, "weightedmean" | "mean_sqrt_len_tokens"][] = [
    ["legacy pooling_mode_weightedmean_tokens", { pooling_mode_weightedmean_tokens: true }, "weightedmean"],
    ['pooling_mode "weightedmean"', { pooling_mode: "weightedmean" }, "weightedmean"],
    [
      "legacy pooling_mode_mean_sqrt_len_tokens",
      { pooling_mode_mean_sqrt_len_tokens: true, pooling_mode_mean_tokens: false },
      "mean_sqrt_len_tokens",
    ],
    [
      'pooling_mode ["mean_sqrt_len_tokens"]',
      { pooling_mode: ["mean_sqrt_len_tokens"] },
      "mean_sqrt_len_tokens",
    ],
  ];
  for (const [what, cfg, mode] of configs) {
    it(`${what}: loads (was refused), batched rows = float64 reference = one at a time`, async () => {
      const dir = bertFolder({ word_embedding_dimension: 8, ...cfg });
      const f = loadHfFolder(dir);
      assert.equal(f.pooling, mode);
      assert.equal(f.poolingSource, "config");
      await withEmbedder(dir, {}, async (emb) => {
        const batched = await emb.embed(TEXTS);
        for (const [i, t] of TEXTS.entries()) {
          const ids = emb.tokenizer.encode(t).ids;
          close(rowOf(batched, i), reference(ENC, ids, mode), 1e-5, `${mode} row ${i}`);
          close(rowOf(await emb.embed([t]), 0), rowOf(batched, i), 1e-6, `${mode} single ${i}`);
        }
      });
    });
  }

  it("the modes differ from mean (the weights and the divisor matter)", async () => {
    const dir = bertFolder({ pooling_mode: "mean" });
    await withEmbedder(dir, {}, async (emb) => {
      const t = TEXTS[1] as string;
      const ids = emb.tokenizer.encode(t).ids;
      const mean = rowOf(await emb.embed([t]), 0);
      close(mean, reference(ENC, ids, "mean"), 1e-5, "mean");
      const w = rowOf(await emb.embed([t], { pooling: "weightedmean" }), 0);
      const s = rowOf(await emb.embed([t], { pooling: "mean_sqrt_len_tokens" }), 0);
      close(w, reference(ENC, ids, "weightedmean"), 1e-5, "per-call weightedmean");
      close(s, reference(ENC, ids, "mean_sqrt_len_tokens"), 1e-5, "per-call mean_sqrt_len_tokens");
      assert.ok(Math.abs((w[0] as number) - (mean[0] as number)) > 1e-3);
      // sqrt-len = mean · sqrt(n)
      close(
        s,
        mean.map((x) => x * Math.sqrt(ids.length)),
        1e-4,
        "sqrt scaling",
      );
    });
  });

  it("include_prompt false: prompt tokens are masked but keep their positions (weights start at skip + 1)", async () => {
    const prompt = "represent the query: ";
    for (const mode of ["weightedmean", "mean_sqrt_len_tokens"] as const) {
      const dir = bertFolder({ pooling_mode: mode, include_prompt: false }, { query: prompt });
      await withEmbedder(dir, {}, async (emb) => {
        const skip = emb.tokenizer.countTokens(prompt) - 1;
        assert.ok(skip > 2);
        const got = await emb.embed(TEXTS.slice(0, 2), { promptName: "query" });
        for (const [i, t] of TEXTS.slice(0, 2).entries()) {
          const ids = emb.tokenizer.encode(prompt + t).ids;
          close(rowOf(got, i), reference(ENC, ids, mode, skip), 1e-5, `${mode} prompted row ${i}`);
        }
      });
    }
  });

  it("weightedmean with left padding (decoder exports) weighs a text as it weighs it alone", async () => {
    const bpe = fixtureTokenizer("bpe");
    const enc = toyEncoder({ vocabSize: vocabSizeOf(bpe), positionIds: true });
    const dir = folder({
      "tokenizer.json": bpe,
      "tokenizer_config.json": { model_max_length: 512, eos_token: "</s>", padding_side: "left" },
      "config.json": { model_type: "gpt_neo", max_position_embeddings: 2048 },
      ...stModules("mean", 8, []),
      "1_Pooling/config.json": { pooling_mode_weightedmean_tokens: true },
      "onnx/model.onnx": enc.bytes,
    });
    await withEmbedder(dir, { maxQueueDelayMs: 20 }, async (emb) => {
      assert.equal(emb.tokenizer.paddingSide, "left");
      const batched = await emb.embed(TEXTS);
      for (const [i, t] of TEXTS.entries()) {
        const ids = emb.tokenizer.encode(t).ids;
        close(rowOf(batched, i), reference(enc, ids, "weightedmean"), 1e-5, `left-padded row ${i}`);
      }
    });
  });

  it("a 1_Pooling config without modules.json (TEI reads it alone) that sets several modes is refused, not taken as no config", () => {
    const dir = folder({
      "tokenizer.json": WP,
      "config.json": { model_type: "bert", max_position_embeddings: 512 },
      "1_Pooling/config.json": { pooling_mode_cls_token: true, pooling_mode_mean_tokens: true },
      "onnx/model.onnx": ENC.bytes,
    });
    // before: poolingSource "default", mean pooling (and the server's "no pooling config" warning)
    assert.throws(
      () => loadHfFolder(dir),
      (e: unknown) =>
        e instanceof TesseraError &&
        /1_Pooling\/config\.json: expected exactly one pooling mode/.test(e.message),
    );
    const one = folder({
      "tokenizer.json": WP,
      "config.json": { model_type: "bert", max_position_embeddings: 512 },
      "1_Pooling/config.json": { pooling_mode: "weightedmean" },
      "onnx/model.onnx": ENC.bytes,
    });
    assert.equal(loadHfFolder(one).pooling, "weightedmean");
    assert.equal(loadHfFolder(one).poolingSource, "config");
  });

  it("TextEmbedder.load({pooling}) overrides the folder; a graph that pools itself refuses an override it would ignore", async () => {
    const dir = bertFolder(undefined);
    assert.equal(loadHfFolder(dir).poolingSource, "default");
    await withEmbedder(dir, { pooling: "weightedmean" }, async (emb) => {
      assert.equal(emb.pooling, "weightedmean");
      const ids = emb.tokenizer.encode("hello world").ids;
      close(
        rowOf(await emb.embed(["hello world"]), 0),
        reference(ENC, ids, "weightedmean"),
        1e-5,
        "override",
      );
    });
    const pooled = bertFolder(undefined);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      `${pooled}/onnx/model.onnx`,
      toyEncoder({ vocabSize: vocabSizeOf(WP), outputs: ["sentence_embedding"] }).bytes,
    );
    // Before: the override was kept as `pooling` (and shown by /info) while the graph's mean was served.
    await assert.rejects(
      TextEmbedder.load(pooled, { pooling: "cls" }),
      (e: unknown) =>
        e instanceof TesseraError && e.code === "E_TEXT_OPTIONS" && /pooled embeddings/.test(e.message),
    );
    // The folder's own configured pooling is fine to repeat.
    const same = bertFolder({ pooling_mode: "mean" });
    writeFileSync(
      `${same}/onnx/model.onnx`,
      toyEncoder({ vocabSize: vocabSizeOf(WP), outputs: ["sentence_embedding"] }).bytes,
    );
    await withEmbedder(same, { pooling: "mean" }, async (emb) => {
      assert.equal(emb.pooledByModel, true);
    });
  });
});
