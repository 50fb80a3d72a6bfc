"""Shared inputs and writers of the tokenizer golden generators (make_*.py)."""
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


def write_goldens(path, source, rows, **extra):
    """Writes {source, **extra, cases:[{text, ids, ...}]} with one case per line (diff-friendly).

    A row is (text, ids) or a whole case dict."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"source": ' + json.dumps(source))
        for key, value in extra.items():
            f.write(',\n "' + key + '": ' + json.dumps(value))
        f.write(',\n "cases": [\n')
        for i, row in enumerate(rows):
            case = row if isinstance(row, dict) else {"text": row[0], "ids": row[1]}
            sep = "," if i + 1 < len(rows) else ""
            f.write(json.dumps(case, ensure_ascii=False) + sep + "\n")
        f.write("]}\n")


def special_added_tokens(special):
    """tokenizer.json `added_tokens` for special tokens given as [(content, id)], in that order."""
    return [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for t, i in special
    ]


# XLM-R's post-processor as transformers' XLMRobertaConverter writes it (<s> = 1, </s> = 2):
# "<s> $A </s>" and "<s> $A </s></s> $B </s>", every type id 0.
XLMR_POST_PROCESSOR = {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "special_tokens": {
        "<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
        "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
    },
}
