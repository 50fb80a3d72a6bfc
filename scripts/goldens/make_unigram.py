#!/usr/bin/env python3
"""Unigram (SentencePiece / XLM-R style) tokenizer goldens.

No real Unigram tokenizer.json is reachable here (no model hub), so this script trains a
small SentencePiece Unigram model (vocabulary 800) on the shipped corpus with Debian's
python3-sentencepiece 0.1.97, and writes it as an XLM-R-style tokenizer.json
(Metaspace pre-tokenizer, Unigram model with the trained log-probabilities,
"<s> $A </s>" template).

Source of truth for the ids: Google's SentencePiece library (C++), `SentencePieceProcessor.encode`
on the trained model. Training uses the identity normalization rule and keeps extra
whitespace, so no precompiled character map is needed in tokenizer.json.

Writes test/fixtures/text/unigram/{tokenizer.json,goldens.json}.
Run: /usr/bin/python3 scripts/goldens/make_unigram.py   (needs Debian's python3-sentencepiece)
"""
import io
import os

import sentencepiece as spm

from common import EDGE_CASES, OUT, XLMR_POST_PROCESSOR, corpus_texts, special_added_tokens, write_goldens, write_json

N_TRAIN = 3000
N_GOLDEN = 150


def main():
    texts = corpus_texts(N_TRAIN)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts[:N_TRAIN]), model_writer=model, model_type="unigram",
        vocab_size=800, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_by_whitespace=True, byte_fallback=False,
        character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        num_threads=1, seed_sentencepiece_size=100000, minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    n = sp.get_piece_size()
    vocab = [[sp.id_to_piece(i), 0.0 if sp.is_control(i) or sp.is_unknown(i) else sp.get_score(i)] for i in range(n)]
    golden_texts = texts[:N_GOLDEN] + EDGE_CASES
    rows = [(t, [1] + sp.encode(t) + [2]) for t in golden_texts]
    special = [("<unk>", 0), ("<s>", 1), ("</s>", 2), ("<pad>", 3)]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special_added_tokens(special),
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": XLMR_POST_PROCESSOR,
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False},
    }
    write_json(os.path.join(OUT, "unigram", "tokenizer.json"), tj)
    write_goldens(os.path.join(OUT, "unigram", "goldens.json"),
                  "SentencePiece 0.1.97 (Debian python3-sentencepiece) SentencePieceProcessor.encode", rows)
    print(f"unigram: vocab {n}, {len(rows)} cases")


if __name__ == "__main__":
    main()
