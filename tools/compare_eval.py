#!/usr/bin/env python3
"""Compare two `qmsim eval` result files (e.g. golden and gpu): acc, perplexity and every
document's log-likelihood and greedy flag must be IDENTICAL (the same doubles, not close).

usage: compare_eval.py A.json[.xz] B.json[.xz]
Prints a summary; exit 0 when identical, 1 otherwise (the first differing documents are listed).
"""
import json
import lzma
import sys


def load(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt") as f:
        j = json.load(f)
    res = j["results"]["lambada_openai"]
    docs = {d["index"]: d for d in j["samples"]["lambada_openai"]}
    return j, res, docs


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    ja, ra, da = load(sys.argv[1])
    jb, rb, db = load(sys.argv[2])
    bad = 0
    for k in ("acc,none", "perplexity,none"):
        if ra[k] != rb[k]:
            print(f"DIFFER {k}: {ra[k]!r} vs {rb[k]!r}")
            bad += 1
    if set(da) != set(db):
        print(f"DIFFER document sets: {len(da)} vs {len(db)} documents")
        bad += 1
    shown = 0
    ndiff = 0
    for i in sorted(set(da) & set(db)):
        a, b = da[i], db[i]
        if a["loglikelihood"] != b["loglikelihood"] or a["is_greedy"] != b["is_greedy"]:
            ndiff += 1
            if shown < 10:
                print(f"DIFFER document {i}: ll {a['loglikelihood']!r} vs {b['loglikelihood']!r}, "
                      f"greedy {a['is_greedy']} vs {b['is_greedy']}")
                shown += 1
    bad += ndiff
    ca, cb = ja.get("config", {}), jb.get("config", {})
    print(f"{sys.argv[1]} ({ca.get('path')}, mode {ca.get('mode')}) vs {sys.argv[2]} ({cb.get('path')}, mode "
          f"{cb.get('mode')}): {len(set(da) & set(db))} documents, acc {ra['acc,none']!r} / {rb['acc,none']!r}, "
          f"ppl {ra['perplexity,none']!r} / {rb['perplexity,none']!r}, {ndiff} documents differ"
          + (" - IDENTICAL" if bad == 0 else ""))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
