#!/usr/bin/env python3
"""Precompiled-normalizer (XLM-R / multilingual-e5 / bge-m3 style) tokenizer goldens.

Real XLM-R-family tokenizer.json files carry SentencePiece's `nmt_nfkc` rule as
`{"type": "Precompiled", "precompiled_charsmap": "<base64>"}` inside a normalizer Sequence.
No such file is reachable here (no model hub), so this script trains a small SentencePiece
Unigram model with the DEFAULT rule (`nmt_nfkc`, remove_extra_whitespaces) using Debian's
python3-sentencepiece 0.1.97, takes the precompiled charsmap out of the model proto (the
same bytes the Hugging Face converter base64-encodes), and writes an XLM-R-style
tokenizer.json:
  normalizer    Sequence[Precompiled(charsmap), Replace(Regex " {2,}" -> " ")]
  pre_tokenizer Sequence[WhitespaceSplit, Metaspace(prepend_scheme always, split true)]
  post_processor XLM-R's TemplateProcessing "<s> $A </s>" / "<s> $A </s></s> $B </s>"
(the layout transformers' XLMRobertaConverter writes).

Source of truth: Google's SentencePiece (C++) `SentencePieceProcessor.encode` (ids) and
`encode(out_type=str)` (pieces: their concatenation is the nmt_nfkc-normalized text).

Writes test/fixtures/text/precompiled/{tokenizer.json,goldens.json}.
Run: /usr/bin/python3 scripts/goldens/make_precompiled.py   (needs Debian's python3-sentencepiece)
"""
import base64
import io
import os

import sentencepiece as spm

from common import EDGE_CASES, OUT, XLMR_POST_PROCESSOR, corpus_texts, special_added_tokens, write_goldens, write_json

N_TRAIN = 3000
N_GOLDEN = 60

# Characters where nmt_nfkc and plain NFKC (or no normalization) disagree, plus NFKC-only cases.
NORMALIZATION_CASES = [
    "ＦＵＬＬ ｗｉｄｔｈ １２３",
    "ｶﾀｶﾅ halfwidth ﾊﾟﾝ",
    "① ② ¼ ™ … ㍿ ㌔",
    "ideographic\u3000space and\u2003em space",
    "soft\u00adhyphen zero\u200bwidth\ufeffbom",
    "combining e\u0301 vs \u00e9",
    "Hangul \u1100\u1161 한국어",
    "curly \u201cquotes\u201d and \u2018single\u2019",
    "ligatures ﬁ ﬂ ﬀ and Ⅻ roman",
    "control\u0001\u001fchars\u007f",
    "tilde\uff5efull",
    "math \U0001d400\U0001d401 bold",
    "arabic \ufef7 presentation",
    "   many     spaces   ",
    # zero-width joiner: kept by nmt_nfkc, turned into a space by the library's NFKC approximation
    "family \U0001f468\u200d\U0001f469\u200d\U0001f467 emoji and a\u200db",
    "newer Unicode \ua7f1 \U0001ccd6 (NFKC-mapped in Node's ICU, not in the charsmap)",
]


def varint(buf, i):
    v = 0
    shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    """Yields (field_number, wire_type, value) of a serialized protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def charsmap_of(model_bytes):
    # ModelProto.normalizer_spec = 3; NormalizerSpec.precompiled_charsmap = 2
    for num, wt, v in fields(model_bytes):
        if num == 3 and wt == 2:
            for n2, w2, v2 in fields(v):
                if n2 == 2 and w2 == 2:
                    return bytes(v2)
    raise ValueError("no precompiled_charsmap in the model")


def main():
    texts = corpus_texts(N_TRAIN)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts[:N_TRAIN] + NORMALIZATION_CASES), model_writer=model,
        model_type="unigram", vocab_size=800, normalization_rule_name="nmt_nfkc",
        character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        num_threads=1, seed_sentencepiece_size=100000, minloglevel=2,
    )
    proto = model.getvalue()
    charsmap = charsmap_of(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    n = sp.get_piece_size()
    vocab = [[sp.id_to_piece(i), 0.0 if sp.is_control(i) or sp.is_unknown(i) else sp.get_score(i)] for i in range(n)]
    golden_texts = texts[:N_GOLDEN] + EDGE_CASES + NORMALIZATION_CASES
    cases = []
    for t in golden_texts:
        pieces = sp.encode(t, out_type=str)
        cases.append({"text": t, "ids": [1] + sp.encode(t) + [2], "normalized": "".join(pieces)})
    special = [("<unk>", 0), ("<s>", 1), ("</s>", 2), ("<pad>", 3)]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special_added_tokens(special),
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        ]},
        "post_processor": XLMR_POST_PROCESSOR,
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False},
    }
    d = os.path.join(OUT, "precompiled")
    write_json(os.path.join(d, "tokenizer.json"), tj)
    src = ("SentencePiece 0.1.97 (Debian python3-sentencepiece), nmt_nfkc rule: "
           "SentencePieceProcessor.encode (ids) and encode(out_type=str) joined (normalized)")
    write_goldens(os.path.join(d, "goldens.json"), src, cases, charsmap_bytes=len(charsmap))
    print(f"precompiled: vocab {n}, charsmap {len(charsmap)} bytes, {len(cases)} cases")


if __name__ == "__main__":
    main()
