import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { loadHfFolder, parseHfFolder, Reranker, TextEmbedder } from "../../src/text/index.ts";
import { makeModelFolder, sampleTexts, type TempFolder } from "./helpers.ts";

const TEXTS = sampleTexts(40);

/** Plain reference: run the raw graph on one unpadded input, pool with a textbook loop. */
async function rawHidden(dir: string, ids: readonly number[]): Promise<{ h: Float32Array; dim: number }> {
  const s = await openSession(`${dir}/onnx/model.onnx`, { replicas: 1, intraOpThreads: 1 });
  try {
    const n = ids.length;
    const r = await s.run({
      input_ids: Tensor.wrap(BigInt64Array.from(ids.map(BigInt)), [1, n]),
      attention_mask: Tensor.wrap(new BigInt64Array(n).fill(1n), [1, n]),
      token_type_ids: Tensor.wrap(new BigInt64Array(n), [1, n]),
    });
    const out = r.outputs.last_hidden_state ?? r.outputs.logits;
    assert.ok(out);
    return { h: out.contiguous().data as Float32Array, dim: out.shape.at(-1) as number };
  } finally {
    await s.close();
  }
}

function refPool(h: Float32Array, n: number, dim: number, mode: "mean" | "cls" | "last"): number[] {
  const v: number[] = [];
  for (let d = 0; d < dim; d++) {
    if (mode === "cls") v.push(h[d] as number);
    else if (mode === "last") v.push(h[(n - 1) * dim + d] as number);
    else {
      let s = 0;
      for (let t = 0; t < n; t++) s += h[t * dim + d] as number;
      v.push(s / n);
    }
  }
  return v;
}

function l2(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs((a[i] as number) - (b[i] as number)) <= tol,
      `${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`,
    );
  }
}

describe("TextEmbedder", () => {
  let folder: TempFolder;
  let emb: TextEmbedder;
  before(async () => {
    folder = makeModelFolder({
      normalize: true,
      maxSeqLength: 256,
      prompts: { query: "query: ", document: "passage: " },
    });
    emb = await TextEmbedder.load(folder.dir, {
      session: { replicas: 2, intraOpThreads: 1 },
      maxBatchTokens: 512,
    });
  });
  after(async () => {
    await emb.close();
    folder.cleanup();
  });

  it("reads the folder: pooling, normalize, max length, width", () => {
    assert.equal(emb.pooling, "mean");
    assert.equal(emb.normalize, true);
    assert.equal(emb.maxLength, 256);
    assert.equal(emb.dim, 32);
  });

  it("returns one [n, dim] float32 tensor whose rows are views", async () => {
    const t = await emb.embed(TEXTS.slice(0, 3));
    assert.deepEqual(t.shape, [3, 32]);
    assert.equal(t.dtype, "float32");
    const row = t.select(0, 1);
    assert.equal(row.storage, t.storage);
  });

  it("batched embeddings equal one-at-a-time embeddings within 1e-6", async () => {
    const all = await emb.embed(TEXTS);
    const lens = new Set(TEXTS.map((t) => emb.tokenizer.countTokens(t)));
    assert.ok(lens.size > 10, "the texts must have many different lengths (padding inside batches)");
    for (let i = 0; i < TEXTS.length; i++) {
      const one = await emb.embed([TEXTS[i] as string]);
      assertClose(all.select(0, i).contiguous().data, one.data, 1e-6, `text ${i}`);
    }
  });

  it("a sequence longer than the batch token budget runs alone; results equal a large budget's", async () => {
    const small = await TextEmbedder.load(folder.dir, {
      session: { replicas: 1, intraOpThreads: 1 },
      maxBatchTokens: 16,
    });
    try {
      const long = TEXTS.reduce((a, b) => (a.length > b.length ? a : b));
      assert.ok(small.tokenizer.countTokens(long) > 16, "the text must be longer than the budget");
      const inputs = [long, "the key type", long];
      const got = await small.embed(inputs);
      const want = await emb.embed(inputs);
      for (let i = 0; i < inputs.length; i++)
        assertClose(
          got.select(0, i).contiguous().data,
          want.select(0, i).contiguous().data,
          1e-6,
          `input ${i}`,
        );
    } finally {
      await small.close();
    }
  });

  it("concurrent calls are merged into one forward pass", async () => {
    const sizes: number[] = [];
    const e2 = await TextEmbedder.load(folder.dir, {
      session: { replicas: 1, intraOpThreads: 1 },
      onBatch: (b) => sizes.push(b.size),
    });
    try {
      sizes.length = 0;
      const same = Array.from({ length: 5 }, () => "the key type");
      const [a, b] = await Promise.all([e2.embed(same), e2.embed(same, { normalize: false })]);
      assert.ok(Math.max(...sizes) === 10, `batch sizes ${sizes.join(",")}`);
      assert.deepEqual(a?.shape, [5, 32]);
      assert.deepEqual(b?.shape, [5, 32]);
    } finally {
      await e2.close();
    }
  });

  it("concurrent calls share batches and get their own rows", async () => {
    const parts = [TEXTS.slice(0, 10), TEXTS.slice(10, 25), TEXTS.slice(25)];
    const [a, b, c] = await Promise.all(parts.map((p) => emb.embed(p)));
    const all = await emb.embed(TEXTS);
    const joined = new Float32Array([...(a?.data ?? []), ...(b?.data ?? []), ...(c?.data ?? [])]);
    assertClose(joined, all.data, 1e-6, "concurrent");
  });

  for (const mode of ["mean", "cls", "last"] as const) {
    it(`${mode} pooling (normalized and not) matches a plain reference on the raw output`, async () => {
      const text = TEXTS[3] as string;
      const ids = emb.tokenizer.encode(text).ids;
      const { h, dim } = await rawHidden(folder.dir, ids);
      const ref = refPool(h, ids.length, dim, mode);
      const raw = await emb.embed([text], { pooling: mode, normalize: false });
      assertClose(raw.data, ref, 1e-6, `${mode} raw`);
      const norm = await emb.embed([text], { pooling: mode });
      assertClose(norm.data, l2(ref), 1e-6, `${mode} normalized`);
      const cut = await emb.embed([text], { pooling: mode, dimensions: 8 });
      assert.deepEqual(cut.shape, [1, 8]);
      assertClose(cut.data, l2(ref.slice(0, 8)), 1e-6, `${mode} matryoshka`);
    });
  }

  it("prompts: promptName prepends the configured text, unknown names fail", async () => {
    const q = await emb.embed(["the key type"], { promptName: "query" });
    const lit = await emb.embed(["query: the key type"]);
    assertClose(q.data, lit.data, 1e-7, "prompt");
    await assert.rejects(
      emb.embed(["x"], { promptName: "nope" }),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_PROMPT",
    );
  });

  it("too long without truncation names the input and its length; truncate cuts and keeps [SEP]", async () => {
    const long = Array.from({ length: 300 }, () => "the").join(" ");
    await assert.rejects(emb.embed(["short", long]), (e: unknown) => {
      const err = e as { code: string; message: string; facts: { index: number; tokens: number } };
      return (
        err.code === "E_TEXT_TOO_LONG" &&
        err.facts.index === 1 &&
        err.facts.tokens === 302 &&
        /input 1 has 302 tokens/.test(err.message)
      );
    });
    const r = await emb.embedDetailed([long], { truncate: true });
    assert.deepEqual(r.tokens, [256]);
    const ids = emb.tokenizer.encode(long, { truncate: true }).ids;
    const { h, dim } = await rawHidden(folder.dir, ids);
    assertClose(r.embeddings.data, l2(refPool(h, ids.length, dim, "mean")), 1e-6, "truncated");
  });

  it("rejects bad dimensions and non-string inputs", async () => {
    await assert.rejects(
      emb.embed(["a"], { dimensions: 33 }),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_DIMENSIONS",
    );
    await assert.rejects(
      emb.embed(["a"], { dimensions: 0 }),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_DIMENSIONS",
    );
    await assert.rejects(
      emb.embed(["a", 3 as unknown as string]),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_INPUT",
    );
  });

  it("an aborted call rejects with E_ABORTED and the embedder keeps working", async () => {
    const ac = new AbortController();
    const p = emb.embed(TEXTS, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e: unknown) => (e as { code: string }).code === "E_ABORTED");
    assert.deepEqual((await emb.embed(["ok"])).shape, [1, 32]);
  });

  it("embedIds (full ids, as TEI) equals embedding the text", async () => {
    const text = TEXTS[5] as string;
    const a = await emb.embedIds([emb.tokenizer.encode(text).ids]);
    const withSpecials = await emb.embedIds([emb.tokenizer.contentIds(text)], { addSpecialTokens: true });
    assertClose(withSpecials.embeddings.data, a.embeddings.data, 1e-7, "addSpecialTokens");
    const b = await emb.embed([text]);
    assertClose(a.embeddings.data, b.data, 1e-7, "ids");
    // timings are reported as for texts (the server's x-queue-time / x-inference-time), not zeros
    assert.ok(a.inferMs > 0, `inferMs ${a.inferMs}`);
    assert.ok(a.queueMs >= 0);
    await assert.rejects(
      emb.embedIds([[1e9]]),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_INPUT",
    );
    // no ids at all is refused (it was embedded as an all-zero vector), naming the input
    await assert.rejects(
      emb.embedIds([emb.tokenizer.encode(text).ids, []]),
      (e: unknown) => (e as { code: string }).code === "E_TEXT_EMPTY" && /input 1/.test((e as Error).message),
    );
    // with addSpecialTokens the template's tokens make it a real input ([CLS] [SEP])
    const bare = await emb.embedIds([[]], { addSpecialTokens: true });
    assertClose(bare.embeddings.data, (await emb.embed([""])).data, 1e-7, "empty + specials");
  });

  it("every embed method honours a deadline that has passed (E_DEADLINE_EXCEEDED)", async () => {
    const past = { deadline: Date.now() - 1 };
    const isDeadline = (e: unknown) => (e as { code: string }).code === "E_DEADLINE_EXCEEDED";
    await assert.rejects(emb.embed(["hello"], past), isDeadline);
    await assert.rejects(emb.embedIds([emb.tokenizer.encode("hello").ids], past), isDeadline);
    await assert.rejects(emb.embedTokens(["hello"], past), isDeadline);
  });
});

describe("HF folder parsing", () => {
  it("max length never passes a BERT-like model's absolute position table (those inputs failed inside onnxruntime)", () => {
    const f = makeModelFolder({ maxSeqLength: 1000 }); // config.json: model_type bert, max_position_embeddings 256
    try {
      assert.equal(loadHfFolder(f.dir).maxLength, 256);
      assert.equal(loadHfFolder(f.dir, { maxLength: 600 }).maxLength, 256);
      assert.equal(loadHfFolder(f.dir, { maxLength: 100 }).maxLength, 100);
      // positions that are not an absolute table (rotary, ALiBi) are no hard limit
      writeFileSync(
        join(f.dir, "config.json"),
        JSON.stringify({
          model_type: "bert",
          position_embedding_type: "alibi",
          max_position_embeddings: 256,
        }),
      );
      assert.equal(loadHfFolder(f.dir).maxLength, 1000);
    } finally {
      f.cleanup();
    }
  });
  it("maxLength option overrides the folder (server maxTokens)", async () => {
    const f = makeModelFolder();
    try {
      const e = await TextEmbedder.load(f.dir, {
        maxLength: 16,
        session: { replicas: 1, intraOpThreads: 1 },
      });
      try {
        assert.equal(e.maxLength, 16);
        await assert.rejects(e.embed([Array.from({ length: 20 }, () => "the").join(" ")]), /the limit is 16/);
      } finally {
        await e.close();
      }
      assert.equal(parseHfFolder(f.dir, { maxLength: 0 }).ok, false);
    } finally {
      f.cleanup();
    }
  });
  it("cls pooling without Normalize, quantized variant by option", () => {
    const f = makeModelFolder({ pooling: "cls", variants: true });
    try {
      const h = loadHfFolder(f.dir, { variant: "quantized" });
      assert.equal(h.pooling, "cls");
      assert.equal(h.normalize, false);
      assert.match(h.modelPath, /model_quantized\.onnx$/);
    } finally {
      f.cleanup();
    }
  });
  it("reports every issue of a broken folder", () => {
    const f = makeModelFolder();
    try {
      const r = parseHfFolder(f.dir, { variant: "int4" });
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.issues.some((i) => /no ONNX graph/.test(i.message)));
      const r2 = parseHfFolder(`${f.dir}/nonexistent`);
      assert.equal(r2.ok, false);
      if (!r2.ok) assert.ok(r2.issues.length >= 2);
    } finally {
      f.cleanup();
    }
  });
});

describe("Reranker", () => {
  let folder: TempFolder;
  let rr: Reranker;
  before(async () => {
    folder = makeModelFolder({ kind: "reranker" });
    rr = await Reranker.load(folder.dir, { session: { replicas: 1, intraOpThreads: 1 } });
  });
  after(async () => {
    await rr.close();
    folder.cleanup();
  });

  it("scores equal the raw logits of each pair; sorted with original indices; topN", async () => {
    const query = "the key type";
    const docs = TEXTS.slice(0, 6);
    const raw = await rr.rerank(query, docs, { returnScores: "raw" });
    assert.equal(raw.length, 6);
    for (let i = 1; i < raw.length; i++)
      assert.ok((raw[i - 1]?.score as number) >= (raw[i]?.score as number));
    for (const hit of raw) {
      const ids = rr.tokenizer.encodePair(query, docs[hit.index] as string, { truncate: true });
      const s = await openSession(`${folder.dir}/onnx/model.onnx`, { replicas: 1, intraOpThreads: 1 });
      const n = ids.ids.length;
      const r = await s.run({
        input_ids: Tensor.wrap(BigInt64Array.from(ids.ids.map(BigInt)), [1, n]),
        attention_mask: Tensor.wrap(new BigInt64Array(n).fill(1n), [1, n]),
        token_type_ids: Tensor.wrap(BigInt64Array.from(ids.typeIds.map(BigInt)), [1, n]),
      });
      await s.close();
      assert.ok(Math.abs((r.outputs.logits?.data[0] as number) - hit.score) < 1e-5);
    }
    const sig = await rr.rerank(query, docs, { topN: 2 });
    assert.equal(sig.length, 2);
    assert.equal(sig[0]?.index, raw[0]?.index);
    assert.ok(Math.abs((sig[0]?.score as number) - 1 / (1 + Math.exp(-(raw[0]?.score as number)))) < 1e-7);
  });

  it("refuses a classifier with several labels (its first logit is not a relevance score)", async () => {
    const f = makeModelFolder({ kind: "reranker" });
    try {
      writeFileSync(
        join(f.dir, "config.json"),
        JSON.stringify({
          model_type: "bert",
          architectures: ["BertForSequenceClassification"],
          id2label: { "0": "neg", "1": "neu", "2": "pos" },
        }),
      );
      await assert.rejects(
        Reranker.load(f.dir, { session: { replicas: 1, intraOpThreads: 1 } }),
        (e: unknown) =>
          (e as { code: string }).code === "E_TEXT_MODEL" && /neg, neu, pos/.test((e as Error).message),
      );
    } finally {
      f.cleanup();
    }
  });
});
