/**
 * The Precompiled normalizer (XLM-R / multilingual-e5 / bge-m3 tokenizer.json) against
 * SentencePiece 0.1.97 on a charsmap it compiled with its default nmt_nfkc rule
 * (test/fixtures/text/precompiled, written by scripts/goldens/make_precompiled.py).
 * Tolerance: none, ids and normalized text must be equal.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { TesseraError } from "../../src/tensor/index.ts";
import { PrecompiledCharsmap, TextTokenizer } from "../../src/text/index.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "text", "precompiled");
const tj = JSON.parse(readFileSync(join(DIR, "tokenizer.json"), "utf8")) as {
  normalizer: { normalizers: { precompiled_charsmap: string }[] };
};
const gold = JSON.parse(readFileSync(join(DIR, "goldens.json"), "utf8")) as {
  cases: { text: string; ids: number[]; normalized: string }[];
};
const b64 = tj.normalizer.normalizers[0]?.precompiled_charsmap as string;

describe("Precompiled charsmap (nmt_nfkc)", () => {
  it("normalizes every golden text as SentencePiece does", () => {
    const map = PrecompiledCharsmap.fromBase64(b64);
    for (const c of gold.cases) {
      // SentencePiece then collapses whitespace and marks word starts with ▁.
      const words = map.normalize(c.text).split(" ").filter(Boolean);
      assert.equal(words.map((w) => `▁${w}`).join(""), c.normalized, JSON.stringify(c.text));
    }
  });

  it("tokenizer ids equal SentencePiece's on the whole golden corpus", () => {
    const tok = TextTokenizer.fromJSON(tj, { maxLength: 100000 });
    assert.ok(gold.cases.length > 80);
    for (const c of gold.cases) assert.deepEqual(tok.encode(c.text).ids, c.ids, JSON.stringify(c.text));
  });

  it("the library alone (NFKC approximation) gets the zero-width-joiner case wrong", () => {
    // Guards the reason precompiled.ts exists: if the library starts reading the charsmap, this
    // fails and the override can go.
    const lib = new Tokenizer(tj as unknown as Record<string, unknown>, {});
    const zwj = gold.cases.find((c) => c.text.includes("\u200d"));
    assert.ok(zwj);
    const ids = [1, ...lib.encode(zwj.text, { add_special_tokens: false }).ids, 2];
    assert.notDeepEqual(ids, zwj.ids);
  });

  it("maps known nmt_nfkc rules: full width, ligatures, zero-width space, ZWJ kept", () => {
    const map = PrecompiledCharsmap.fromBase64(b64);
    assert.equal(map.normalize("ＡＢＣ１２３"), "ABC123");
    assert.equal(map.normalize("ﬁ"), "fi");
    assert.equal(map.normalize("a\u200bb"), "a b");
    assert.equal(map.normalize("a\u200db"), "a\u200db");
    assert.equal(map.normalize("ｶﾞ"), "ガ");
    assert.equal(map.normalize(""), "");
  });

  it("rejects a truncated charsmap with E_TOKENIZER_CONFIG", () => {
    const bytes = Buffer.from(b64, "base64").subarray(0, 100);
    assert.throws(
      () => PrecompiledCharsmap.fromBytes(new Uint8Array(bytes)),
      (e: unknown) => e instanceof TesseraError && e.code === "E_TOKENIZER_CONFIG",
    );
  });
});

describe("tokenizer.json layouts real XLM-R-family files use", () => {
  it("legacy Metaspace {add_prefix_space: true} (no prepend_scheme) gives the same ids", () => {
    const legacy = structuredClone(tj) as unknown as {
      pre_tokenizer: { pretokenizers: Record<string, unknown>[] };
      decoder: Record<string, unknown>;
    };
    legacy.pre_tokenizer.pretokenizers[1] = { type: "Metaspace", replacement: "▁", add_prefix_space: true };
    legacy.decoder = { type: "Metaspace", replacement: "▁", add_prefix_space: true };
    const tok = TextTokenizer.fromJSON(legacy, { maxLength: 100000 });
    for (const c of gold.cases) assert.deepEqual(tok.encode(c.text).ids, c.ids, JSON.stringify(c.text));
    assert.equal(tok.decode(tok.encode("hello world").ids), "hello world");
  });

  it("legacy Metaspace {add_prefix_space: false} adds no ▁ to the first word", () => {
    const legacy = structuredClone(tj) as unknown as { pre_tokenizer: unknown };
    legacy.pre_tokenizer = { type: "Metaspace", replacement: "▁", add_prefix_space: false };
    const tok = TextTokenizer.fromJSON(legacy, { maxLength: 100000 });
    const toks = tok.tokensOf(tok.encode("hello world", { addSpecialTokens: false }).ids).map((t) => t.text);
    assert.ok(!toks[0]?.startsWith("▁"), toks.join(" "));
    assert.ok(
      toks.some((t) => t.startsWith("▁")),
      toks.join(" "),
    );
  });
});
