#!/usr/bin/env python3
"""Byte-level BPE (GPT-2 / RoBERTa style) tokenizer goldens.

No real BPE tokenizer.json is reachable here (no model hub), so this script trains a small
byte-level BPE (600 merges) on the shipped corpus and writes it as a RoBERTa-style
tokenizer.json (ByteLevel pre-tokenizer, RobertaProcessing "<s> A </s>").

Source of truth for the ids: an independent encoder written below, a transcription of
OpenAI's original GPT-2 `encoder.py` algorithm (bytes_to_unicode, the GPT-2 split regex via
the `regex` module, and the lowest-rank-pair merge loop). It shares no code with
@huggingface/tokenizers.

Writes test/fixtures/text/bpe/{tokenizer.json,goldens.json}.
Run: /usr/bin/python3 scripts/goldens/make_bpe.py   (needs Debian's python3-regex)
"""
import collections
import os

import regex as re

from common import EDGE_CASES, OUT, corpus_texts, special_added_tokens, write_goldens, write_json

N_MERGES = 600
N_TRAIN = 2000
N_GOLDEN = 150
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


class GPT2Encoder:
    """The GPT-2 encoder.py merge loop."""

    def __init__(self, encoder, merges):
        self.encoder = encoder
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return [token]
        while True:
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        self.cache[token] = list(word)
        return list(word)

    def encode(self, text):
        ids = []
        for tok in re.findall(PAT, text):
            tok = "".join(B2U[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok))
        return ids


def train(texts):
    counts = collections.Counter()
    for t in texts:
        for tok in re.findall(PAT, t):
            counts[tuple(B2U[b] for b in tok.encode("utf-8"))] += 1
    words = dict(counts)
    merges = []
    for _ in range(N_MERGES):
        pc = collections.Counter()
        for w, c in words.items():
            for i in range(len(w) - 1):
                pc[(w[i], w[i + 1])] += c
        if not pc:
            break
        best = max(pc.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return merges


def main():
    texts = corpus_texts(N_TRAIN)
    merges = train(texts[:N_TRAIN])
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + [B2U[b] for b in range(256)] + [a + b for a, b in merges]
    encoder = {t: i for i, t in enumerate(vocab)}
    enc = GPT2Encoder(encoder, merges)
    golden_texts = texts[:N_GOLDEN] + EDGE_CASES
    rows = [(t, [0] + enc.encode(t) + [2]) for t in golden_texts]
    special = [("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3)]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special_added_tokens(special),
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": encoder, "merges": [[a, b] for a, b in merges]},
    }
    write_json(os.path.join(OUT, "bpe", "tokenizer.json"), tj)
    write_goldens(os.path.join(OUT, "bpe", "goldens.json"),
                  "scripts/goldens/make_bpe.py GPT2Encoder (transcription of OpenAI gpt-2 encoder.py)", rows)
    print(f"bpe: vocab {len(vocab)}, {len(rows)} cases")


if __name__ == "__main__":
    main()
