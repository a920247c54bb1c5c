#!/usr/bin/env python3
"""Token inputs of the first N LAMBADA documents for tools/golden_logits + compare_transformers.py:
[{"ids": (ctx + cont)[:-1], "positions": the last len(cont) positions}, ...], from the Hugging Face
tokenizer reference ids (../shared/data/reference/tokenizer-ref-lambada.jsonl.xz).

usage: make_lambada_tokens.py N OUT.json [--ref FILE]
"""
import argparse
import json
import lzma


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--ref", default="../shared/data/reference/tokenizer-ref-lambada.jsonl.xz")
    a = ap.parse_args()
    docs = []
    with lzma.open(a.ref, "rt") as f:
        for line in f:
            if len(docs) == a.n:
                break
            r = json.loads(line)
            ids = r["context_ids"] + r["continuation_ids"]
            inp = ids[-2049:][:-1]
            nc = len(r["continuation_ids"])
            docs.append({"ids": inp, "positions": list(range(len(inp) - nc, len(inp)))})
    json.dump(docs, open(a.out, "w"))
    print(f"{len(docs)} documents, {sum(len(d['positions']) for d in docs)} logit rows -> {a.out}")


if __name__ == "__main__":
    main()
