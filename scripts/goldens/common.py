"""Shared inputs for the tokenizer goldens (see make_goldens.py)."""
import json
import os

SHARED = os.environ.get("TESSERA_SHARED_FIXTURES", "/work/shared/fixtures")
CORPUS = os.path.join(SHARED, "corpus.jsonl")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "text")

# Inputs that stress normalizers, pre-tokenizers and unknown handling.
EDGE_CASES = [
    "Héllo Wörld! naïve café",
    "中文字符 mixed 日本語",
    "emoji 😀 test 🤖!!",
    "a" * 150 + " end",
    "tab\there\nnewline  double  space",
    "\u0000ctrl\u0007chars\u200b zero width",
    "  leading and trailing  ",
    "ÅNGSTRÖM ﬁ ligature",
    "don't won't can't I'll you've",
    "$100.50 & 20% off #hashtag @user",
    "x",
    "The   quick brown fox\u00a0jumps",
    "UPPER lower MiXeD 12345 3.14159",
]


def corpus_texts(n):
    out = []
    with open(CORPUS, encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["text"])
    return out


def write_json(path, obj, indent=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def write_goldens(path, source, rows):
    """Writes {source, cases:[{text, ids}]} with one case per line (diff-friendly)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"source": ' + json.dumps(source) + ',\n "cases": [\n')
        for i, (text, ids) in enumerate(rows):
            sep = "," if i + 1 < len(rows) else ""
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + sep + "\n")
        f.write("]}\n")
