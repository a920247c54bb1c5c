#!/usr/bin/env python3
"""Makes tests/data/tokenizer/tokenizer-ref-edge-cases.jsonl(.xz) with Hugging Face `tokenizers`.

Independent answers for the cases LAMBADA and the book corpus barely touch: Unicode whitespace,
space runs (the added tokens 50254..50276), contractions, NFC, special tokens, long runs, random
mixes of awkward characters, and decode() of id sequences that split UTF-8 characters.

Usage: pip install tokenizers==0.22.1
       python3 tools/make_tokenizer_ref.py /work/shared/data/gpt-neox-20b-tokenizer.json \
           tests/data/tokenizer/tokenizer-ref-edge-cases.jsonl
       xz -9 tests/data/tokenizer/tokenizer-ref-edge-cases.jsonl
Each line: {"kind": "encode", "text": ..., "ids": [...]} or
           {"kind": "decode", "ids": [...], "text": ...}.
"""
import json
import random
import sys

import tokenizers
from tokenizers import Tokenizer

# Characters assigned before Unicode 13 (utf8proc 2.6's tables), so both sides classify alike.
AWKWARD = [
    " ", " ", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2009",
    "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\x1c", "\x1f", "\ufeff",
    "'", "'", "s", "t", "re", "ve", "m", "ll", "d", "S", "T", "a", "Z", "é", "e\u0301", "A\u030a",
    "\u1100\u1161\u11a8", "한", "ß", "ǅ", "ʰ", "中", "文", "ア", "١", "½", "²", "Ⅻ", "〇", "7", "0",
    ".", ",", "!", "?", "-", "—", "…", "“", "”", "’", "$", "€", "😀", "👍🏽", "\U0001f1fa\U0001f1f8",
    "\u0301", "\u200d", "\x00", "\x7f", "<|endoftext|>", "<|padding|>", "<|endoftext|", "|>",
    "\ue000",
]

FIXED_TEXTS = [
    "Hello world", "Hello  world", "Hello   world", " Hello", "  Hello", "\nHello", "Hello ",
    "Hello  ", "Hello \n", "a\u0085b", "a \u0085b", "a\u00a0b", "a \u00a0 b", "a\u2028b",
    "a\u200bb", "a\x1cb", "a\u3000\u3000b", "a\t\tb", "a \t b", "a\r\nb", "a\n\n\nb", "a \n b",
    "don't", "DON'T", "I'm", "we'll", "they're", "you've", "he'd", "it's", "'s", "'", "''s", "?'s",
    " 's", "x'lly", "1234567", " 12.5%", "½ ²", "Ⅻ", "e\u0301", "\u1100\u1161\u11a8",
    "<|endoftext|>", "<|endoftext|><|endoftext|>", "a<|endoftext|>b", " <|endoftext|> ",
    "<|padding|>x", "<|endoftext|", "e<|endoftext|>\u0301", "😀😀 👍🏽!", "中文字符 テスト",
    "", " ", "  ", "\n", "\x00", "\ufffd",
]


def main():
    tok = Tokenizer.from_file(sys.argv[1])
    rng = random.Random(20240601)
    texts = list(FIXED_TEXTS)
    texts += [" " * n + follower for n in range(1, 52) for follower in ("x", "\n", "", "1", ".")]
    texts += ["a" * 300, "-" * 257, "\n" * 40, "ab" * 200, " " * 1000 + "z", "é" * 100]
    texts += ["".join(rng.choice(AWKWARD) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        out.write(json.dumps({"kind": "meta", "tokenizers_version": tokenizers.__version__}) + "\n")
        for text in texts:
            ids = tok.encode(text, add_special_tokens=False).ids
            out.write(json.dumps({"kind": "encode", "text": text, "ids": ids}) + "\n")
        vocab_size = tok.get_vocab_size(with_added_tokens=True)
        for _ in range(1000):
            ids = [rng.randrange(vocab_size + 3) for _ in range(rng.randint(1, 12))]
            text = tok.decode(ids, skip_special_tokens=False)
            out.write(json.dumps({"kind": "decode", "ids": ids, "text": text}) + "\n")


if __name__ == "__main__":
    main()
