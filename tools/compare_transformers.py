#!/usr/bin/env python3
"""Compare qmsim's FP32 golden logits with transformers' MambaForCausalLM (an independent
implementation of Mamba-1), on the device machine where torch + transformers exist.

usage: compare_transformers.py MODEL_DIR TOKENS.json GOLDEN.npy [--out REPORT.json]

transformers runs on the CPU in float64 (its slow path; no mamba_ssm kernels), so the reference is
more precise than either f32 implementation; the check is the relative error of golden's f32 logits.
"""
import argparse
import json
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("tokens")
    ap.add_argument("golden")
    ap.add_argument("--out")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="precision transformers runs in (float64: a more precise reference)")
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import MambaForCausalLM

    torch.set_grad_enabled(False)
    model = MambaForCausalLM.from_pretrained(a.model, torch_dtype=getattr(torch, a.dtype)).eval()
    seqs = json.load(open(a.tokens))
    golden = np.load(a.golden).astype(np.float64)
    # entries: [ids...] (all positions) or {"ids": [...], "positions": [...]}
    norm = [(s["ids"], s["positions"]) if isinstance(s, dict) else (s, list(range(len(s)))) for s in seqs]
    rows = []
    for ids, pos in norm:
        out = model(torch.tensor([ids], dtype=torch.long)).logits[0].double().numpy()
        rows.append(out[pos])
    ref = np.concatenate(rows, axis=0)
    if ref.shape != golden.shape:
        print(f"shape mismatch: transformers {ref.shape} vs golden {golden.shape}")
        return 1
    per_seq = []
    start = 0
    for ids, pos in norm:
        r = ref[start:start + len(pos)]
        g = golden[start:start + len(pos)]
        rel = float(np.linalg.norm(g - r) / np.linalg.norm(r))
        maxrel = float(np.max(np.abs(g - r) / np.maximum(1.0, np.abs(r))))
        argmax_agree = float(np.mean(np.argmax(g, axis=1) == np.argmax(r, axis=1)))
        per_seq.append({"len": len(ids), "rows": len(pos), "rel_l2": rel, "max_rel": maxrel, "argmax_agree": argmax_agree})
        start += len(pos)
    worst = max(p["rel_l2"] for p in per_seq)
    worst_max = max(p["max_rel"] for p in per_seq)
    report = {
        "model": a.model, "sequences": len(seqs), "positions": int(ref.shape[0]),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "worst_rel_l2": worst, "worst_max_rel": worst_max, "tolerance": a.tol,
        "pass": bool(worst < a.tol), "per_sequence": per_seq,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "per_sequence"}, indent=1))
    if a.out:
        json.dump(report, open(a.out, "w"), indent=1)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
