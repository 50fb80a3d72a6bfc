import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TextTokenizer } from "../../src/text/index.ts";

const FIX = join(import.meta.dirname, "..", "fixtures", "text");

interface Goldens {
  source: string;
  cases: { text: string; ids: number[] }[];
}

function load(kind: string): { tok: TextTokenizer; gold: Goldens } {
  const tok = TextTokenizer.fromJSON(JSON.parse(readFileSync(join(FIX, kind, "tokenizer.json"), "utf8")), {
    maxLength: 100000,
  });
  const gold = JSON.parse(readFileSync(join(FIX, kind, "goldens.json"), "utf8")) as Goldens;
  return { tok, gold };
}

// Inputs where the reference and Hugging Face `tokenizers` (Rust, which the JS library follows)
// are known to differ, with the reason. Anything else must match exactly.
const KNOWN_DIVERGENCES: Record<string, Record<string, string>> = {
  unigram: {
    "  leading and trailing  ":
      "SentencePiece always adds the dummy-prefix ▁; HF Metaspace(prepend_scheme=always) skips it when the text already starts with ▁",
  },
};

describe("tokenizer goldens (scripts/goldens/make_*.py)", () => {
  for (const kind of ["wordpiece", "bpe", "unigram"]) {
    it(`${kind}: ids equal the reference tokenization`, () => {
      const { tok, gold } = load(kind);
      assert.ok(gold.cases.length > 150, "golden corpus too small");
      const known = KNOWN_DIVERGENCES[kind] ?? {};
      let checked = 0;
      for (const c of gold.cases) {
        const got = tok.encode(c.text).ids;
        if (c.text in known) {
          assert.notDeepEqual(
            got,
            c.ids,
            `divergence for ${JSON.stringify(c.text)} is gone; drop it from KNOWN_DIVERGENCES`,
          );
          continue;
        }
        assert.deepEqual(got, c.ids, `${kind} ${JSON.stringify(c.text)} (source: ${gold.source})`);
        checked++;
      }
      assert.equal(checked, gold.cases.length - Object.keys(known).length);
    });
  }
});

describe("truncation keeps the special tokens", () => {
  const { tok, gold } = load("wordpiece");
  const text = gold.cases[0]?.text ?? "";
  const full = tok.encode(text).ids;
  const cls = full[0];
  const sep = full.at(-1);

  it("right truncation keeps [CLS] ... [SEP]", () => {
    const e = tok.encode(text, { maxLength: 8, truncate: true });
    assert.equal(e.ids.length, 8);
    assert.equal(e.ids[0], cls);
    assert.equal(e.ids[7], sep);
    assert.deepEqual(e.ids.slice(1, 7), full.slice(1, 7));
    assert.equal(e.truncated, true);
    assert.equal(e.fullLength, full.length);
  });

  it("left truncation keeps the end of the text", () => {
    const e = tok.encode(text, { maxLength: 8, truncate: true, truncationDirection: "left" });
    assert.deepEqual(e.ids, [cls, ...full.slice(full.length - 7, full.length - 1), sep]);
  });

  it("truncation off throws E_TEXT_TOO_LONG with the length", () => {
    assert.throws(
      () => tok.encode(text, { maxLength: 8 }),
      (e: unknown) =>
        (e as { code: string }).code === "E_TEXT_TOO_LONG" &&
        (e as { facts: { tokens: number } }).facts.tokens === full.length,
    );
  });

  it("BPE (RobertaProcessing) keeps </s> too", () => {
    const b = load("bpe").tok;
    const e = b.encode("The key type determines which symbol is chosen from the list.", {
      maxLength: 5,
      truncate: true,
    });
    assert.equal(e.ids.length, 5);
    assert.equal(e.ids[0], 0);
    assert.equal(e.ids[4], 2);
  });
});

describe("pairs, padding, counts", () => {
  const { tok } = load("wordpiece");
  it("pair encoding uses the template type ids", () => {
    const a = tok.encode("hello world").ids;
    const b = tok.encode("the list").ids;
    const p = tok.encodePair("hello world", "the list");
    assert.deepEqual(p.ids, [...a, ...b.slice(1)]);
    assert.deepEqual(p.typeIds, [...a.map(() => 0), ...b.slice(1).map(() => 1)]);
  });
  it("RoBERTa pairs: <s> A </s></s> B </s>, all type ids 0", () => {
    const b = load("bpe").tok;
    const a = b.contentIds("hello world");
    const c = b.contentIds("the list");
    const p = b.encodePair("hello world", "the list");
    assert.deepEqual(p.ids, [0, ...a, 2, 2, ...c, 2]);
    assert.ok(p.typeIds.every((t) => t === 0));
  });
  it("pair truncation removes from the longer side first and keeps both [SEP]", () => {
    const long = "the key type determines which symbol is chosen from the list of symbols in the table";
    const p = tok.encodePair("short query", long, { maxLength: 12, truncate: true });
    assert.equal(p.ids.length, 12);
    const sep = tok.tokenToId("[SEP]");
    assert.equal(p.ids.filter((i) => i === sep).length, 2);
    assert.equal(p.ids.at(-1), sep);
    assert.deepEqual(p.ids.slice(0, 5), tok.encode("short query").ids.slice(0, 5));
  });
  it("longest_first splits an odd budget as Rust tokenizers do: the longer input keeps the extra token", () => {
    // truncate_encodings (LongestFirst): n1 = budget / 2, n2 = n1 + budget % 2 for the longer one
    const the = tok.tokenToId("the");
    const key = tok.tokenToId("key");
    assert.ok(the !== undefined && key !== undefined);
    const count = (ids: readonly number[], id: number) => ids.filter((x) => x === id).length;
    for (const [a, b, lenA, lenB] of [
      ["the ".repeat(10), "key ".repeat(20), 8, 9], // the second is longer: it keeps 9
      ["the ".repeat(20), "key ".repeat(10), 9, 8], // the first is longer: it keeps 9
      ["the ".repeat(3), "key ".repeat(20), 3, 14], // only the longer one is cut
    ] as const) {
      const p = tok.encodePair(a, b, { maxLength: 17 + tok.specialTokenCount(true), truncate: true });
      assert.deepEqual([count(p.ids, the), count(p.ids, key)], [lenA, lenB], `${lenA}/${lenB}`);
    }
  });
  it("pads to the longest with the pad id and a 0 mask", () => {
    const es = tok.encodeBatch(["a", "the key type"]);
    const b = tok.pad(es);
    assert.equal(b.seqLen, es[1]?.ids.length);
    assert.equal(b.attentionMask[b.seqLen - 1], 0n);
    assert.equal(b.inputIds[b.seqLen - 1], BigInt(tok.padId));
    assert.deepEqual([...b.lengths], [3, es[1]?.ids.length]);
  });
  it("countTokens counts specials and ignores truncation", () => {
    assert.equal(tok.countTokens("hello world"), tok.encode("hello world").ids.length);
  });
  it("decodes an empty id list to an empty string (as Hugging Face tokenizers), not a throw", () => {
    assert.equal(tok.decode([]), "");
    assert.equal(tok.decode([], false), "");
  });
  it("rejects a tokenizer.json without a model", () => {
    assert.throws(() => TextTokenizer.fromJSON({}), /E_TOKENIZER_CONFIG|model/);
  });
});

describe("byte offsets (TEI /tokenize start/stop)", () => {
  const slices = (tok: TextTokenizer, text: string): string[] => {
    const e = tok.encodeWithOffsets(text);
    const buf = Buffer.from(text, "utf8");
    return e.offsets.map((o) => (o ? buf.subarray(o[0], o[1]).toString("utf8") : "∅"));
  };
  it("WordPiece: spans cover the original (accented, cased) text", () => {
    const { tok } = load("wordpiece");
    assert.deepEqual(slices(tok, "Héllo Wörld! don't 中文"), [
      "∅",
      "Héllo",
      "Wörld",
      "!",
      "don",
      "'",
      "t",
      "中",
      "文",
      "∅",
    ]);
  });
  it("BPE: byte spans with the leading space trimmed", () => {
    const { tok } = load("bpe");
    const text = "key type déjà";
    const e = tok.encodeWithOffsets(text);
    assert.equal(e.offsets[0], null);
    assert.equal(e.offsets.at(-1), null);
    const spans = e.offsets.slice(1, -1) as [number, number][];
    assert.equal(spans[0]?.[0], 0);
    assert.equal(spans.at(-1)?.[1], Buffer.byteLength(text));
    for (let i = 1; i < spans.length; i++)
      assert.ok((spans[i]?.[0] as number) >= (spans[i - 1]?.[0] as number));
  });
  it("BPE: tokens holding part of a multi-byte character span the whole character (as HF Rust)", () => {
    const { tok } = load("bpe");
    const text = "Héllo 😀 world";
    const e = tok.encodeWithOffsets(text);
    const buf = Buffer.from(text, "utf8");
    const pieces = e.offsets.map((o) => (o ? buf.subarray(o[0], o[1]).toString("utf8") : null));
    assert.ok(!pieces.some((p) => p?.includes("\ufffd")), JSON.stringify(pieces));
    assert.ok(pieces.filter((p) => p === "😀").length >= 2, JSON.stringify(pieces));
  });
  it("every golden text aligns (Unigram: only bare ▁ tokens have no span)", () => {
    for (const kind of ["wordpiece", "bpe", "unigram"]) {
      const { tok, gold } = load(kind);
      for (const c of gold.cases) {
        const e = tok.encodeWithOffsets(c.text, false);
        for (const [i, t] of tok.tokensOf(e.ids).entries()) {
          if (e.offsets[i] === null)
            assert.ok(
              kind === "unigram" && t.text === "\u2581",
              `${kind} ${JSON.stringify(c.text)} token ${i} ${t.text}`,
            );
        }
      }
    }
  });
});
