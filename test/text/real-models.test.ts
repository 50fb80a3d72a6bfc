/**
 * Model-folder shapes of real Hugging Face exports (built locally, see graphs.ts): decoder-style
 * last-token embedders with position_ids and left padding, RoBERTa/nomic signatures without
 * token_type_ids, int32 inputs, fp16 and quantized variants, pooled-only outputs, Dense modules,
 * KV-cache exports, XLM-R cross-encoders, max-length rules.
 * Tolerances: 1e-6 for float32 paths, 2e-3 relative to the vector for float16 outputs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rng, type Tensor, TesseraError, writeSafetensors } from "../../src/tensor/index.ts";
import {
  type EmbedderOptions,
  loadHfFolder,
  poolingFromConfig,
  Reranker,
  TextEmbedder,
  TextTokenizer,
  usablePositions,
} from "../../src/text/index.ts";
import { fixtureTokenizer, stModules, toyEncoder, vocabSizeOf, folderWriter } from "./graphs.ts";

const folder = folderWriter();

function close(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}
function l2(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  return v.map((x) => x / n);
}
function rowOf(t: { data: ArrayLike<number>; shape: readonly number[] }, i: number): Float32Array {
  const d = t.shape[1] as number;
  return Float32Array.from(Array.prototype.slice.call(t.data, i * d, (i + 1) * d) as number[]);
}

/** Every row of two [TEXTS.length, dim] embedding tensors agrees within `tol`. */
function sameRows(
  a: { data: ArrayLike<number>; shape: readonly number[] },
  b: { data: ArrayLike<number>; shape: readonly number[] },
  tol: number,
): void {
  for (let i = 0; i < TEXTS.length; i++) close(rowOf(a, i), rowOf(b, i), tol, `row ${i}`);
}

/**
 * Loads each folder (a path, or [path, options]) in order, runs `body` with the embedders, and
 * closes every one that loaded, also when a later load or the body fails.
 */
async function withEmbedders(
  specs: readonly (string | readonly [string, EmbedderOptions])[],
  body: (...embs: TextEmbedder[]) => Promise<void>,
): Promise<void> {
  const embs: TextEmbedder[] = [];
  try {
    for (const s of specs)
      embs.push(await (typeof s === "string" ? TextEmbedder.load(s) : TextEmbedder.load(...s)));
    await body(...embs);
  } finally {
    for (const e of embs) await e.close();
  }
}

/** Two folders embed TEXTS to the same rows within `tol`. */
function sameEmbeddings(
  a: string | readonly [string, EmbedderOptions],
  b: string | readonly [string, EmbedderOptions],
  tol: number,
): Promise<void> {
  return withEmbedders([a, b], async (x, y) => sameRows(await x.embed(TEXTS), await y.embed(TEXTS), tol));
}

const TEXTS = ["hello world", "a much longer sentence with quite a few more tokens in it", "short", "x y"];

// Qwen3-Embedding-style: byte-level BPE, eos appended by the template, left padding, no pad
// token (eos used), position_ids input, last-token pooling.
function decoderFolder(opts: { positionIds?: boolean; paddingSide?: "left" | "right" } = {}): string {
  const tj = fixtureTokenizer("bpe");
  tj.post_processor = {
    type: "TemplateProcessing",
    single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
    pair: [
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: "</s>", type_id: 0 } },
      { Sequence: { id: "B", type_id: 1 } },
      { SpecialToken: { id: "</s>", type_id: 1 } },
    ],
    special_tokens: { "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } },
  };
  const enc = toyEncoder({ vocabSize: vocabSizeOf(tj), positionIds: opts.positionIds ?? true });
  return folder({
    "tokenizer.json": tj,
    "tokenizer_config.json": {
      model_max_length: 1e30,
      eos_token: "</s>",
      padding_side: opts.paddingSide ?? "left",
      add_bos_token: false,
    },
    "config.json": {
      model_type: "qwen3",
      architectures: ["Qwen3Model"],
      max_position_embeddings: 32768,
      hidden_size: 8,
    },
    ...stModules("lasttoken", 8),
    "onnx/model.onnx": enc.bytes,
  });
}

describe("decoder-style embedders (last-token pooling, position_ids, left padding)", () => {
  it("reads padding_side, falls back to eos for padding, and max length from config.json", () => {
    const f = loadHfFolder(decoderFolder());
    assert.equal(f.tokenizer.paddingSide, "left");
    assert.equal(f.tokenizer.padId, f.tokenizer.tokenToId("</s>"));
    assert.equal(f.pooling, "last");
    // model_max_length 1e30 is the "unset" sentinel: config.json max_position_embeddings wins.
    assert.equal(f.maxLength, 32768);
    const b = f.tokenizer.pad([f.tokenizer.encode("hello world"), f.tokenizer.encode("x")]);
    const n = b.seqLen;
    assert.equal(b.attentionMask[n], 0n, "row 1 starts with padding");
    assert.equal(b.attentionMask[2 * n - 1], 1n, "row 1 ends with its last token");
    assert.equal(b.inputIds[2 * n - 1], BigInt(f.tokenizer.tokenToId("</s>") as number));
  });

  it("batched = one at a time = reference E[eos] + P[len-1], left padding with position_ids", async () => {
    const dir = decoderFolder();
    const tj = fixtureTokenizer("bpe");
    const enc = toyEncoder({ vocabSize: vocabSizeOf(tj), positionIds: true });
    await withEmbedders(
      [[dir, { maxPaddingRatio: Number.POSITIVE_INFINITY, maxQueueDelayMs: 20 }]],
      async (emb) => {
        const batched = await emb.embed(TEXTS);
        for (const [i, t] of TEXTS.entries()) {
          const one = await emb.embed([t]);
          close(rowOf(batched, i), rowOf(one, 0), 1e-6, `row ${i}`);
          const len = emb.tokenizer.encode(t).ids.length;
          const eos = emb.tokenizer.tokenToId("</s>") as number;
          const ref = l2(enc.word(eos).map((x, d) => x + (enc.position(len - 1)[d] as number)));
          close(rowOf(batched, i), ref, 1e-5, `reference row ${i}`);
        }
      },
    );
  });

  it("right padding gives the same vectors (position ids follow the real tokens)", async () => {
    const anyPadding = { maxPaddingRatio: Number.POSITIVE_INFINITY };
    await sameEmbeddings(
      [decoderFolder(), anyPadding],
      [decoderFolder({ paddingSide: "right" }), anyPadding],
      1e-6,
    );
  });
});

describe("graph signatures", () => {
  const wp = fixtureTokenizer("wordpiece");
  const base = (files: Record<string, unknown>) =>
    folder({
      "tokenizer.json": wp,
      "tokenizer_config.json": { model_max_length: 512, pad_token: "[PAD]" },
      "config.json": { model_type: "bert", max_position_embeddings: 512 },
      ...stModules("mean", 8),
      ...files,
    });

  it("int32 inputs and no token_type_ids (nomic / RoBERTa style) give the int64 result", async () => {
    const v = vocabSizeOf(wp);
    await sameEmbeddings(
      base({ "onnx/model.onnx": toyEncoder({ vocabSize: v }).bytes }),
      base({ "onnx/model.onnx": toyEncoder({ vocabSize: v, idsDtype: "int32" }).bytes }),
      1e-6,
    );
  });

  it("token_type_ids are fed (zeros) only when declared", async () => {
    const v = vocabSizeOf(wp);
    const enc = toyEncoder({ vocabSize: v, tokenTypeIds: true });
    await withEmbedders([[base({ "onnx/model.onnx": enc.bytes }), { normalize: false }]], async (emb) => {
      const got = rowOf(await emb.embed(["hello"]), 0);
      const ids = emb.tokenizer.encode("hello").ids;
      const ref = new Float32Array(8);
      for (const [p, id] of ids.entries())
        for (let d = 0; d < 8; d++)
          ref[d] =
            (ref[d] as number) +
            ((enc.word(id)[d] as number) + (enc.position(p)[d] as number) + (enc.type(0)[d] as number)) /
              ids.length;
      close(got, ref, 1e-5, "mean with type 0");
    });
  });

  it("float16 outputs (onnx/model_fp16.onnx picked by variant) are converted to float32", async () => {
    const v = vocabSizeOf(wp);
    const dir = base({
      "onnx/model.onnx": toyEncoder({ vocabSize: v }).bytes,
      "onnx/model_fp16.onnx": toyEncoder({ vocabSize: v, outputDtype: "float16" }).bytes,
      "onnx/model_quantized.onnx": toyEncoder({ vocabSize: v, seed: 99 }).bytes,
    });
    await withEmbedders(
      [dir, [dir, { variant: "fp16" }], [dir, { variant: "quantized" }]],
      async (f32, f16, q) => {
        assert.match(f16.folder.modelPath, /model_fp16\.onnx$/);
        const a = await f32.embed(TEXTS);
        const b = await f16.embed(TEXTS);
        assert.equal(b.dtype, "float32");
        sameRows(a, b, 2e-3);
        const c = await q.embed(TEXTS);
        assert.notDeepEqual(rowOf(a, 0), rowOf(c, 0), "the quantized file (other weights) was used");
      },
    );
    assert.throws(
      () => loadHfFolder(dir, { variant: "int8" }),
      (e: unknown) =>
        e instanceof TesseraError && /model_fp16\.onnx/.test(e.message) && /model_quantized/.test(e.message),
    );
  });

  it("weights in onnx/model.onnx_data (external data, as large exports ship) load and match", async () => {
    const v = vocabSizeOf(wp);
    const ext = toyEncoder({ vocabSize: v, externalData: "model.onnx_data" });
    assert.ok(ext.externalBytes && ext.externalBytes.length > 1000);
    await sameEmbeddings(
      base({ "onnx/model.onnx": ext.bytes, "onnx/model.onnx_data": ext.externalBytes as Uint8Array }),
      base({ "onnx/model.onnx": toyEncoder({ vocabSize: v }).bytes }),
      1e-6,
    );
  });

  it("a graph with only sentence_embedding is used directly; pooling overrides are refused", async () => {
    const v = vocabSizeOf(wp);
    const tok = toyEncoder({ vocabSize: v });
    const pooledDir = base({
      "onnx/model.onnx": toyEncoder({ vocabSize: v, outputs: ["sentence_embedding"] }).bytes,
    });
    await withEmbedders([pooledDir, base({ "onnx/model.onnx": tok.bytes })], async (pooled, plain) => {
      assert.equal(pooled.pooledByModel, true);
      assert.equal(plain.pooledByModel, false);
      const a = await pooled.embed(TEXTS);
      const b = await plain.embed(TEXTS);
      sameRows(a, b, 1e-6);
      await assert.rejects(
        pooled.embed("x", { pooling: "cls" }),
        (e: unknown) => e instanceof TesseraError && e.code === "E_TEXT_OPTIONS",
      );
    });
  });

  it("Dense modules after pooling run here from 2_Dense/model.safetensors when the graph has token states only (transformers.js exports of LaBSE / distiluse)", async () => {
    const v = vocabSizeOf(wp);
    const enc = toyEncoder({ vocabSize: v });
    const gen = rng(21);
    const w1 = gen.normal([6, 8], { std: 0.5, dtype: "float32" }) as Tensor<"float32">;
    const b1 = gen.normal([6], { std: 0.5, dtype: "float32" }) as Tensor<"float32">;
    const w2 = gen.normal([4, 6], { std: 0.5, dtype: "float32" }) as Tensor<"float32">;
    const st = stModules("mean", 8, [
      "sentence_transformers.models.Dense",
      "sentence_transformers.models.Dense",
      "sentence_transformers.models.Normalize",
    ]);
    const files = (act1: string) => ({
      "onnx/model.onnx": enc.bytes,
      ...st,
      "2_X/config.json": { in_features: 8, out_features: 6, bias: true, activation_function: act1 },
      "2_X/model.safetensors": writeSafetensors({ "linear.weight": w1, "linear.bias": b1 }),
      "3_X/config.json": {
        in_features: 6,
        out_features: 4,
        bias: false,
        activation_function: "torch.nn.modules.linear.Identity",
      },
      "3_X/model.safetensors": writeSafetensors({ "linear.weight": w2 }),
    });
    const dir = base(files("torch.nn.modules.activation.Tanh"));
    await withEmbedders([dir], async (emb) => {
      assert.equal(emb.dim, 4);
      assert.equal(emb.pooledByModel, false);
      const texts = ["hello world", "a much longer sentence with quite a few more tokens in it"];
      const got = await emb.embed(texts);
      for (const [i, t] of texts.entries()) {
        const ids = emb.tokenizer.encode(t).ids;
        const pooled = new Float32Array(8);
        for (const [p, id] of ids.entries())
          for (let d = 0; d < 8; d++)
            pooled[d] =
              (pooled[d] as number) +
              ((enc.word(id)[d] as number) + (enc.position(p)[d] as number)) / ids.length;
        const lin = (w: Tensor<"float32">, x: Float32Array, out: number, bias?: Tensor<"float32">) =>
          new Float32Array(out).map((_, o) => {
            let s = bias ? ((bias.data as Float32Array)[o] as number) : 0;
            for (let k = 0; k < x.length; k++)
              s += ((w.data as Float32Array)[o * x.length + k] as number) * (x[k] as number);
            return s;
          });
        const h = lin(w1, pooled, 6, b1).map(Math.tanh);
        close(rowOf(got, i), l2(lin(w2, h, 4)), 1e-5, `row ${i}`);
      }
      // Matryoshka cut applies after the Dense modules; per-token vectors keep the graph's width
      assert.deepEqual((await emb.embed(["x"], { dimensions: 2 })).shape, [1, 2]);
      const tok = await emb.embedTokens(["hello world"]);
      assert.equal(tok.vectors[0]?.shape[1], 8);
    });
    await assert.rejects(
      TextEmbedder.load(base(files("torch.nn.modules.activation.Softplus"))),
      (e: unknown) =>
        e instanceof TesseraError && e.code === "E_TEXT_MODEL" && /Softplus is not supported/.test(e.message),
    );
  });

  it("token_embeddings + sentence_embedding: pooling here unless modules.json has a Dense layer", async () => {
    const v = vocabSizeOf(wp);
    const both = toyEncoder({ vocabSize: v, outputs: ["token_embeddings", "sentence_embedding"] }).bytes;
    const denseDir = base({
      "onnx/model.onnx": both,
      ...stModules("cls", 8, [
        "sentence_transformers.models.Dense",
        "sentence_transformers.models.Normalize",
      ]),
    });
    await withEmbedders(
      [base({ "onnx/model.onnx": both, ...stModules("cls", 8) }), denseDir],
      async (cls, dense) => {
        assert.equal(cls.pooledByModel, false);
        assert.equal(dense.pooledByModel, true);
        const a = await cls.embed(["hello world"]);
        const b = await dense.embed(["hello world"]);
        assert.notDeepEqual(rowOf(a, 0), rowOf(b, 0));
      },
    );
    await assert.rejects(
      TextEmbedder.load(
        base({
          "onnx/model.onnx": toyEncoder({ vocabSize: v }).bytes,
          ...stModules("mean", 8, ["sentence_transformers.models.Dense"]),
        }),
      ),
      (e: unknown) => e instanceof TesseraError && e.code === "E_TEXT_MODEL" && /Dense/.test(e.message),
    );
  });

  it("per-token vectors (embedTokens) from token_embeddings; refused for a pooled-only graph", async () => {
    const v = vocabSizeOf(wp);
    const enc = toyEncoder({ vocabSize: v, outputs: ["token_embeddings", "sentence_embedding"] });
    const pooledDir = base({
      "onnx/model.onnx": toyEncoder({ vocabSize: v, outputs: ["sentence_embedding"] }).bytes,
    });
    await withEmbedders([base({ "onnx/model.onnx": enc.bytes }), pooledDir], async (emb, pooled) => {
      const r = await emb.embedTokens(["hello world", "x"]);
      const ids = emb.tokenizer.encode("hello world").ids;
      assert.deepEqual(r.vectors[0]?.shape, [ids.length, 8]);
      for (const [p, id] of ids.entries()) {
        const ref = enc.word(id).map((x, d) => x + (enc.position(p)[d] as number));
        close(rowOf(r.vectors[0] as never, p), ref, 1e-5, `token ${p}`);
      }
      await assert.rejects(
        pooled.embedTokens(["x"]),
        (e: unknown) => e instanceof TesseraError && e.code === "E_TEXT_MODEL",
      );
    });
  });

  it("pooler_output is a last resort; sentence_embedding wins when the folder has no pooling config", async () => {
    const v = vocabSizeOf(wp);
    const noPooling = (bytes: Uint8Array) =>
      folder({
        "tokenizer.json": wp,
        "tokenizer_config.json": { model_max_length: 512, pad_token: "[PAD]" },
        "config.json": { model_type: "bert", max_position_embeddings: 512 },
        "onnx/model.onnx": bytes,
      });
    const dirs = [
      noPooling(toyEncoder({ vocabSize: v, outputs: ["last_hidden_state", "pooler_output"] }).bytes),
      noPooling(toyEncoder({ vocabSize: v, outputs: ["token_embeddings", "sentence_embedding"] }).bytes),
      noPooling(toyEncoder({ vocabSize: v, outputs: ["pooler_output"] }).bytes),
    ];
    await withEmbedders(dirs, async (bertExport, stExport, poolerOnly) => {
      assert.equal(bertExport.pooledByModel, false, "last_hidden_state, mean-pooled here");
      assert.equal(stExport.pooledByModel, true, "the export's own sentence_embedding");
      assert.equal(poolerOnly.pooledByModel, true);
      const a = await bertExport.embed(["hello world"]);
      const b = await stExport.embed(["hello world"]);
      close(rowOf(a, 0), rowOf(b, 0), 1e-6, "masked mean both ways");
    });
  });

  it("a graph without attention_mask only gets equal-length batches (padding would change it)", async () => {
    const v = vocabSizeOf(wp);
    // sentence_embedding here averages over every position, padding included
    const dir = base({
      "onnx/model.onnx": toyEncoder({ vocabSize: v, attentionMask: false, outputs: ["sentence_embedding"] })
        .bytes,
    });
    await withEmbedders(
      [[dir, { maxPaddingRatio: Number.POSITIVE_INFINITY, maxQueueDelayMs: 20 }]],
      async (emb) => {
        const texts = [...TEXTS, "hello world", "x y"];
        const batched = await emb.embed(texts);
        for (const [i, t] of texts.entries())
          close(rowOf(batched, i), rowOf(await emb.embed([t]), 0), 1e-6, `row ${i}`);
      },
    );
  });

  it("a KV-cache decoder export gets an empty past (and use_cache_branch false): same vectors", async () => {
    const tj = fixtureTokenizer("bpe");
    const v = vocabSizeOf(tj);
    const past = (i: number, kv: string) => ({
      name: `past_key_values.${i}.${kv}`,
      dtype: "float32" as const,
      dims: ["batch_size", 2, "past_sequence_length", 4],
    });
    const withPast = toyEncoder({
      vocabSize: v,
      positionIds: true,
      extraInputs: [
        past(0, "key"),
        past(0, "value"),
        past(1, "key"),
        past(1, "value"),
        { name: "use_cache_branch", dtype: "bool", dims: [1] },
      ],
    });
    const folderOf = (bytes: Uint8Array) =>
      folder({
        "tokenizer.json": tj,
        "tokenizer_config.json": { model_max_length: 512, eos_token: "</s>", padding_side: "left" },
        "config.json": { model_type: "qwen3", max_position_embeddings: 512 },
        ...stModules("lasttoken", 8),
        "onnx/model.onnx": bytes,
      });
    await sameEmbeddings(
      [folderOf(withPast.bytes), { maxPaddingRatio: Number.POSITIVE_INFINITY }],
      folderOf(toyEncoder({ vocabSize: v, positionIds: true }).bytes),
      1e-6,
    );
  });

  it("a causal-LM export (logits only) is refused for embeddings, not pooled over the vocabulary", async () => {
    const v = vocabSizeOf(wp);
    await assert.rejects(
      TextEmbedder.load(base({ "onnx/model.onnx": toyEncoder({ vocabSize: v, outputs: ["logits"] }).bytes })),
      (e: unknown) =>
        e instanceof TesseraError && e.code === "E_TEXT_MODEL" && /feature extraction/.test(e.message),
    );
  });

  it("inputs Tessera cannot fill are named (a KV cache with symbolic heads, an unknown input)", async () => {
    const v = vocabSizeOf(wp);
    await assert.rejects(
      TextEmbedder.load(
        base({
          "onnx/model.onnx": toyEncoder({
            vocabSize: v,
            positionIds: true,
            extraInputs: ["past_key_values.0.key"],
          }).bytes,
        }),
      ),
      (e: unknown) =>
        e instanceof TesseraError &&
        e.code === "E_TEXT_MODEL" &&
        /past_key_values\.0\.key/.test(e.message) &&
        /without past/.test(e.message),
    );
    await assert.rejects(
      TextEmbedder.load(
        base({
          "onnx/model.onnx": toyEncoder({
            vocabSize: v,
            extraInputs: [{ name: "pixel_values", dtype: "float32", dims: ["batch", 3] }],
          }).bytes,
        }),
      ),
      (e: unknown) =>
        e instanceof TesseraError && e.code === "E_TEXT_MODEL" && /pixel_values/.test(e.message),
    );
  });
});

describe("XLM-R cross-encoder (bge-reranker style)", () => {
  const tj = fixtureTokenizer("precompiled");
  const dir = () =>
    folder({
      "tokenizer.json": tj,
      "tokenizer_config.json": { model_max_length: 512, pad_token: "<pad>" },
      "config.json": {
        model_type: "xlm-roberta",
        architectures: ["XLMRobertaForSequenceClassification"],
        max_position_embeddings: 514,
        pad_token_id: 1,
        id2label: { "0": "LABEL_0" },
      },
      "onnx/model.onnx": toyEncoder({ vocabSize: vocabSizeOf(tj), outputs: ["logits"] }).bytes,
    });

  it("pair template <s> A </s></s> B </s>, max length 512 from 514 positions", () => {
    const f = loadHfFolder(dir());
    assert.equal(f.task, "reranker");
    assert.equal(f.maxLength, 512);
    const t = f.tokenizer;
    const e = t.encodePair("query", "document");
    const a = t.encode("query", { addSpecialTokens: false }).ids;
    const b = t.encode("document", { addSpecialTokens: false }).ids;
    assert.deepEqual(e.ids, [1, ...a, 2, 2, ...b, 2]);
    assert.ok(e.typeIds.every((x) => x === 0));
  });

  it("truncation cuts the document first and keeps the query and every special", async () => {
    const t = loadHfFolder(dir()).tokenizer;
    const query = "what is deep learning and why does it matter so much today";
    const doc = "deep learning is a field of machine learning";
    const qa = t.encode(query, { addSpecialTokens: false }).ids;
    const db = t.encode(doc, { addSpecialTokens: false }).ids;
    const max = qa.length + 4 + 3; // room for 3 document tokens
    const e = t.encodePair(query, doc, { truncate: true, maxLength: max, pairStrategy: "second_first" });
    assert.deepEqual(e.ids, [1, ...qa, 2, 2, ...db.slice(0, 3), 2]);
    // longest_first (transformers' default) would have cut the longer query instead
    const lf = t.encodePair(query, doc, { truncate: true, maxLength: max });
    assert.notDeepEqual(lf.ids, e.ids);
    // a document cut to nothing: the query loses tokens next, specials stay
    const tiny = t.encodePair(query, doc, { truncate: true, maxLength: 8, pairStrategy: "second_first" });
    assert.equal(tiny.ids.length, 8);
    assert.deepEqual(tiny.ids.slice(-3), [2, 2, 2]);
  });

  it("Reranker truncates long pairs longest-first by default (as TEI and CrossEncoder), document-first on request", async () => {
    const rr = await Reranker.load(dir(), { maxLength: 24 });
    try {
      const long = Array.from({ length: 60 }, () => "learning").join(" ");
      const r = await rr.rerankDetailed("deep learning", [long, "bananas"], { returnScores: "raw" });
      assert.equal(r.hits.length, 2);
      const t = rr.tokenizer;
      const expectIds = t.encodePair("deep learning", long, {
        truncate: true,
        maxLength: 24,
        pairStrategy: "longest_first",
      });
      assert.equal(expectIds.ids.length, 24);
      assert.ok(r.totalTokens <= 24 + t.encodePair("deep learning", "bananas").ids.length);
      // With this query, document-first keeps only the documents' shared first tokens, so both score the same;
      // longest_first cuts the long query too and keeps tokens where the documents differ.
      const query = "what is deep learning and why";
      const docs = [`a b c d e f ${"deep ".repeat(30)}`, `a b c d e f ${"bananas ".repeat(30)}`];
      const cut = (d: string, pairStrategy: "second_first" | "longest_first") =>
        t.encodePair(query, d, { truncate: true, maxLength: 24, pairStrategy }).ids;
      assert.deepEqual(cut(docs[0] as string, "second_first"), cut(docs[1] as string, "second_first"));
      assert.notDeepEqual(cut(docs[0] as string, "longest_first"), cut(docs[1] as string, "longest_first"));
      const scores = async (pairStrategy?: "second_first") =>
        (await rr.rerank(query, docs, { returnScores: "raw", ...(pairStrategy ? { pairStrategy } : {}) }))
          .sort((p, q) => p.index - q.index)
          .map((h) => h.score);
      const [x, y] = await scores("second_first");
      assert.ok(Math.abs((x as number) - (y as number)) < 1e-6, `document-first: ${x} vs ${y}`);
      const [u, v] = await scores();
      assert.ok(Math.abs((u as number) - (v as number)) > 1e-6, `longest-first (default): ${u} vs ${v}`);
    } finally {
      await rr.close();
    }
  });

  it("scores every pair (no token_type_ids input), batched = single, raw vs sigmoid", async () => {
    const rr = await Reranker.load(dir());
    try {
      const docs = ["deep learning is a field", "bananas", "learning deep things quickly and well"];
      const hits = await rr.rerank("what is deep learning", docs, { returnScores: "raw" });
      assert.equal(hits.length, 3);
      for (const h of hits) {
        const [one] = await rr.rerank("what is deep learning", [docs[h.index] as string], {
          returnScores: "raw",
        });
        assert.ok(Math.abs((one?.score as number) - h.score) < 1e-5);
      }
      const sig = await rr.rerank("what is deep learning", docs);
      for (const h of sig) {
        const raw = hits.find((x) => x.index === h.index)?.score as number;
        assert.ok(Math.abs(h.score - 1 / (1 + Math.exp(-raw))) < 1e-6);
      }
    } finally {
      await rr.close();
    }
  });
});

describe("max length rules", () => {
  it("RoBERTa-style position offsets and plain models", () => {
    assert.equal(
      usablePositions({ model_type: "xlm-roberta", max_position_embeddings: 8194, pad_token_id: 1 }),
      8192,
    );
    assert.equal(usablePositions({ model_type: "roberta", max_position_embeddings: 514 }), 512);
    assert.equal(usablePositions({ model_type: "mpnet", max_position_embeddings: 514 }), 512);
    assert.equal(usablePositions({ model_type: "bert", max_position_embeddings: 512 }), 512);
    assert.equal(usablePositions({ model_type: "nomic_bert" }), undefined);
  });

  it("sentence_bert_config max_seq_length wins over tokenizer_config and config.json", () => {
    const tj = fixtureTokenizer("wordpiece");
    const dir = folder({
      "tokenizer.json": tj,
      "tokenizer_config.json": { model_max_length: 1e30 },
      "config.json": { model_type: "bert", max_position_embeddings: 512 },
      "sentence_bert_config.json": { max_seq_length: 256 },
      "onnx/model.onnx": toyEncoder({ vocabSize: vocabSizeOf(tj) }).bytes,
    });
    assert.equal(loadHfFolder(dir).maxLength, 256);
  });

  it("sentence_bert_config do_lower_case lowercases texts (prompt included) before a cased tokenizer, as sentence-transformers", async () => {
    const tj = fixtureTokenizer("bpe");
    const enc = toyEncoder({ vocabSize: vocabSizeOf(tj) });
    const make = (lower: boolean) =>
      folder({
        "tokenizer.json": tj,
        "config.json": { model_type: "roberta", max_position_embeddings: 514 },
        "sentence_bert_config.json": { max_seq_length: 128, do_lower_case: lower },
        "config_sentence_transformers.json": { prompts: { query: "Query: " } },
        ...stModules("mean", 8),
        "onnx/model.onnx": enc.bytes,
      });
    const lower = loadHfFolder(make(true)).tokenizer;
    const cased = loadHfFolder(make(false)).tokenizer;
    assert.notDeepEqual(cased.encode("Hello World").ids, cased.encode("hello world").ids);
    assert.deepEqual(lower.encode("Hello World").ids, cased.encode("hello world").ids);
    await withEmbedders([make(true), make(false)], async (l, c) => {
      const got = await l.embed(["Hello World"], { promptName: "query" });
      const want = await c.embed(["hello world"], { prompt: "query: " });
      close(rowOf(got, 0), rowOf(want, 0), 1e-6, "lowercased");
    });
  });
});

describe("sentence-transformers pooling configs", () => {
  it('a folder saved by sentence-transformers 5 (pooling_mode: "cls", embedding_dimension) loads with its pooling', async () => {
    const tj = fixtureTokenizer("wordpiece");
    const enc = toyEncoder({ vocabSize: vocabSizeOf(tj) });
    const st = stModules("cls", 8);
    const dir = folder({
      "tokenizer.json": tj,
      ...st,
      "1_Pooling/config.json": { embedding_dimension: 8, pooling_mode: "cls", include_prompt: true },
      "onnx/model.onnx": enc.bytes,
    });
    const f = loadHfFolder(dir);
    assert.equal(f.pooling, "cls");
    assert.equal(f.poolingSource, "config");
    await withEmbedders([[dir, { normalize: false }]], async (emb) => {
      const ids = emb.tokenizer.encode("hello world").ids;
      const want = new Float32Array(8).map(
        (_, d) => (enc.word(ids[0] as number)[d] as number) + (enc.position(0)[d] as number),
      );
      close(rowOf(await emb.embed(["hello world"]), 0), want, 1e-5, "cls");
    });
  });

  it("exactly one mode; several (concatenated) are refused; mean_sqrt_len / weightedmean are read", () => {
    assert.equal(poolingFromConfig({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }), "cls");
    assert.equal(poolingFromConfig({ pooling_mode_lasttoken: true }), "last");
    assert.equal(
      poolingFromConfig({ pooling_mode_mean_tokens: true, pooling_mode_mean_sqrt_len_tokens: true }),
      undefined,
    );
    // refused before sentence-transformers' weightedmean (SGPT) and mean_sqrt_len_tokens were implemented
    assert.equal(poolingFromConfig({ pooling_mode_mean_sqrt_len_tokens: true }), "mean_sqrt_len_tokens");
    assert.equal(poolingFromConfig({ pooling_mode_weightedmean_tokens: true }), "weightedmean");
    // sentence-transformers 5 writes {"pooling_mode": "mean"} (a name or a list); legacy booleans all
    // unset mean "mean", as sentence-transformers reads them
    assert.equal(
      poolingFromConfig({ embedding_dimension: 8, pooling_mode: "mean", include_prompt: true }),
      "mean",
    );
    assert.equal(poolingFromConfig({ pooling_mode: "cls" }), "cls");
    assert.equal(poolingFromConfig({ pooling_mode: ["lasttoken"] }), "last");
    assert.equal(poolingFromConfig({ pooling_mode: "max" }), "max");
    assert.equal(poolingFromConfig({ pooling_mode: ["cls", "mean"] }), undefined);
    assert.equal(poolingFromConfig({ pooling_mode: "weightedmean" }), "weightedmean");
    assert.equal(poolingFromConfig({ pooling_mode: ["mean_sqrt_len_tokens"] }), "mean_sqrt_len_tokens");
    assert.equal(poolingFromConfig({ pooling_mode: "splade" }), undefined);
    assert.equal(poolingFromConfig({ word_embedding_dimension: 8 }), "mean");
    assert.equal(
      poolingFromConfig({ pooling_mode_cls_token: false, pooling_mode_mean_tokens: false }),
      "mean",
    );
    const tj = fixtureTokenizer("wordpiece");
    const dir = folder({
      "tokenizer.json": tj,
      ...stModules("mean", 8),
      "1_Pooling/config.json": { pooling_mode_mean_tokens: true, pooling_mode_max_tokens: true },
      "onnx/model.onnx": toyEncoder({ vocabSize: vocabSizeOf(tj) }).bytes,
    });
    assert.throws(
      () => loadHfFolder(dir),
      (e: unknown) =>
        e instanceof TesseraError && /1_Pooling\/config\.json: expected exactly one/.test(e.message),
    );
  });
});

describe("sentence-transformers include_prompt: false (INSTRUCTOR / GritLM style)", () => {
  const wp = fixtureTokenizer("wordpiece");
  const enc = toyEncoder({ vocabSize: vocabSizeOf(wp) });
  const mod = (mode: "mean" | "cls", includePrompt: boolean) => {
    const st = stModules(mode, 8, []);
    return folder({
      "tokenizer.json": wp,
      "tokenizer_config.json": { model_max_length: 512, pad_token: "[PAD]" },
      "config.json": { model_type: "bert", max_position_embeddings: 512 },
      ...st,
      "1_Pooling/config.json": { ...(st["1_Pooling/config.json"] as object), include_prompt: includePrompt },
      "config_sentence_transformers.json": { prompts: { query: "represent the query: ", none: "" } },
      "onnx/model.onnx": enc.bytes,
    });
  };
  /** Mean of E[id] + P[pos] over the tokens from `from` on (the toy graph's hidden states). */
  const meanFrom = (ids: readonly number[], from: number) => {
    const ref = new Float32Array(8);
    for (let p = from; p < ids.length; p++)
      for (let d = 0; d < 8; d++)
        ref[d] =
          (ref[d] as number) +
          ((enc.word(ids[p] as number)[d] as number) + (enc.position(p)[d] as number)) / (ids.length - from);
    return ref;
  };

  it("mean pooling leaves out [CLS] and the prompt's tokens, as SentenceTransformer.encode (prompt_length = tokens(prompt) - 1)", async () => {
    const dir = mod("mean", false);
    assert.equal(loadHfFolder(dir).includePrompt, false);
    await withEmbedders([[dir, { normalize: false }]], async (emb) => {
      const texts = ["hello world", "a much longer sentence with quite a few more tokens in it"];
      const got = await emb.embed(texts, { promptName: "query" });
      const skip = emb.tokenizer.countTokens("represent the query: ") - 1;
      assert.ok(skip > 2);
      for (const [i, t] of texts.entries()) {
        const ids = emb.tokenizer.encode(`represent the query: ${t}`).ids;
        close(rowOf(got, i), meanFrom(ids, skip), 1e-5, `prompted row ${i}`);
      }
      // batched = one at a time
      const one = await emb.embed([texts[1] as string], { promptName: "query" });
      close(rowOf(one, 0), rowOf(got, 1), 1e-6, "single");
      // without a prompt nothing is left out
      const plain = await emb.embed(["hello world"], { promptName: "none" });
      close(rowOf(plain, 0), meanFrom(emb.tokenizer.encode("hello world").ids, 0), 1e-5, "no prompt");
    });
  });

  it("include_prompt true (the default) pools the prompt too; CLS pooling is unaffected either way", async () => {
    await withEmbedders(
      [
        [mod("mean", true), { normalize: false }],
        [mod("cls", false), { normalize: false }],
        [mod("cls", true), { normalize: false }],
      ],
      async (withPrompt, clsOff, clsOn) => {
        const ids = withPrompt.tokenizer.encode("represent the query: hello").ids;
        close(
          rowOf(await withPrompt.embed(["hello"], { promptName: "query" }), 0),
          meanFrom(ids, 0),
          1e-5,
          "mean",
        );
        close(
          rowOf(await clsOff.embed(["hello"], { promptName: "query" }), 0),
          rowOf(await clsOn.embed(["hello"], { promptName: "query" }), 0),
          1e-6,
          "cls",
        );
      },
    );
  });
});

describe("tokenizers without a template post-processor", () => {
  it("normalizer Sequence[Strip, NFKC, Lowercase, Replace] as HF writes it", () => {
    const tj = fixtureTokenizer("wordpiece");
    const plain = TextTokenizer.fromJSON(tj);
    const seq = structuredClone(tj);
    seq.normalizer = {
      type: "Sequence",
      normalizers: [
        { type: "Strip", strip_left: true, strip_right: true },
        { type: "NFKC" },
        { type: "Lowercase" },
        { type: "Replace", pattern: { String: "``" }, content: '"' },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
      ],
    };
    const t = TextTokenizer.fromJSON(seq);
    assert.deepEqual(t.encode("  ＨＥＬＬＯ   ``World``  ").ids, plain.encode('hello "world"').ids);
  });

  it("a Llama/Gemma tokenizer_class rebuilds the template from add_bos_token / add_eos_token, as transformers does (e5-mistral, EmbeddingGemma)", () => {
    const tj = fixtureTokenizer("bpe");
    // tokenizer.json's template adds BOS only, as Llama/Mistral exports ship it
    tj.post_processor = {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] } },
    };
    const content = TextTokenizer.fromJSON(tj).encode("hello world", { addSpecialTokens: false }).ids;
    const cfg = { bos_token: "<s>", eos_token: "</s>" };
    const llama = (extra: Record<string, unknown>) =>
      TextTokenizer.fromJSON(tj, {
        tokenizerConfig: { ...cfg, tokenizer_class: "LlamaTokenizer", ...extra },
      });
    assert.deepEqual(llama({ add_eos_token: true }).encode("hello world").ids, [0, ...content, 2]);
    assert.deepEqual(llama({ add_bos_token: false, add_eos_token: true }).encode("hello world").ids, [
      ...content,
      2,
    ]);
    assert.deepEqual(llama({}).encode("hello world").ids, [0, ...content]);
    assert.deepEqual(
      llama({ add_eos_token: true })
        .encodePair("a", "b")
        .ids.filter((x) => x === 0 || x === 2),
      [0, 2, 0, 2],
    );
    // other classes keep tokenizer.json's template
    const other = TextTokenizer.fromJSON(tj, {
      tokenizerConfig: { ...cfg, tokenizer_class: "PreTrainedTokenizerFast", add_eos_token: true },
    });
    assert.deepEqual(other.encode("hello world").ids, [0, ...content]);
  });

  it("add_bos_token / add_eos_token from tokenizer_config add the specials", () => {
    const tj = fixtureTokenizer("bpe");
    tj.post_processor = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
    const plain = TextTokenizer.fromJSON(tj, { tokenizerConfig: {} });
    const withSpecials = TextTokenizer.fromJSON(tj, {
      tokenizerConfig: {
        add_bos_token: true,
        bos_token: "<s>",
        add_eos_token: true,
        eos_token: { content: "</s>" },
      },
    });
    const content = plain.encode("hello world").ids;
    assert.equal(plain.specialTokenCount(), 0);
    assert.deepEqual(withSpecials.encode("hello world").ids, [0, ...content, 2]);
    assert.equal(withSpecials.specialTokenCount(), 2);
  });
});
