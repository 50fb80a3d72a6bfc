#!/usr/bin/env python3
"""WordPiece (BERT uncased) tokenizer goldens.

Source of truth: the pure-Python BERT tokenizer in ../shared/fixtures/wordpiece.py
(BertNormalizer + BertPreTokenizer + WordPiece + "[CLS] $A [SEP]", following Hugging Face
`tokenizers`), which also produced the token counts of the shipped corpus.

Writes test/fixtures/text/wordpiece/{tokenizer.json,goldens.json}. The vocabulary is the
fixture's 30522-token vocabulary cut down to the tokens the golden texts use plus every
single-character piece (so unknown-word and fallback paths stay exercised), renumbered;
the goldens are then produced with that cut vocabulary.

Run: /usr/bin/python3 scripts/goldens/make_wordpiece.py
"""
import os
import sys

from common import EDGE_CASES, OUT, SHARED, corpus_texts, special_added_tokens, write_goldens, write_json

sys.path.insert(0, SHARED)
from wordpiece import BertTokenizer  # noqa: E402

N_CORPUS = 150
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def main():
    full = open(os.path.join(SHARED, "vocab.txt"), encoding="utf-8").read().split("\n")[:-1]
    texts = corpus_texts(N_CORPUS)[:N_CORPUS] + EDGE_CASES
    big = BertTokenizer(full)
    used = set()
    for t in texts:
        used.update(big.tokens(t))
    keep = [t for t in full[999:] if t in used or len(t) == 1 or (t.startswith("##") and len(t) == 3)]
    vocab = SPECIAL + keep
    tok = BertTokenizer(vocab)
    rows = [(t, tok.encode(t, 10**9)) for t in texts]
    ids = {t: i for i, t in enumerate(vocab)}
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special_added_tokens([(t, ids[t]) for t in SPECIAL]),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [ids["[CLS]"]], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [ids["[SEP]"]], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    write_json(os.path.join(OUT, "wordpiece", "tokenizer.json"), tj)
    write_goldens(os.path.join(OUT, "wordpiece", "goldens.json"),
                  "shared/fixtures/wordpiece.py (pure-Python BertNormalizer+BertPreTokenizer+WordPiece)", rows)
    print(f"wordpiece: vocab {len(vocab)}, {len(rows)} cases")


if __name__ == "__main__":
    main()
