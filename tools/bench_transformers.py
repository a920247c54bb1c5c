#!/usr/bin/env python3
"""Transformers FP32 baseline for the gpu_ref figure in docs/BENCHMARKS.md.

Hugging Face transformers' MambaForCausalLM, in float32 on one GPU, scores LAMBADA (lm-eval's
lambada_openai split, the same requests as qmsim's eval driver, eval/src/lambada.cc) and reports
throughput: real tokens (padding not counted) per second of forward passes. It also computes the
lm-eval metrics from its logits (greedy accuracy, perplexity) so that the baseline's answers can be
checked against `qmsim eval`.

Without the mamba_ssm / causal_conv1d packages transformers runs its pure-PyTorch "slow" Mamba path
(a Python loop over positions in every layer); the summary says which path ran.

usage:
  python3 tools/bench_transformers.py --model /tmp/m130 --docs 5153 --batch 64 --json $OUT/hf.json

Requests (as eval/src/lambada.cc make_request and lm-eval's _encode_pair):
  context = text.rsplit(' ', 1)[0], continuation = ' ' + last word; trailing whitespace of the
  context moves to the continuation; ctx = enc(context), cont = enc(context + continuation)[len(ctx):];
  input = (ctx + cont)[-(max_length + 1):][:-1]; logits at the last len(cont) input positions.
Documents are sorted by input length (descending) and batched --batch at a time, right-padded with
token 0; with a causal model the logits of real positions do not depend on the padding after them.
Timed: the forward passes only (plus gathering each batch's continuation rows of the logits), from
after model load, tokenization and warmup, with torch.cuda.synchronize() on both sides. Scoring
(log_softmax in float64) runs after the timed region.

Exit status: 0 ok, 2 out of GPU memory (the batch size that failed is printed and written to --json),
1 other errors.
"""
import argparse
import json
import math
import os
import platform
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASCII_SPACE = " \t\n\v\f\r"  # std::isspace in the "C" locale, as eval/src/lambada.cc strips


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- requests (no torch)

def load_lambada(path, limit=None):
    """[(index, context, continuation)] of the first `limit` documents (lambada_openai split)."""
    docs = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(docs) >= limit:
                break
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            if " " not in text:
                raise ValueError(f"{path}:{lineno}: field \"text\" has no space (no context/target split)")
            context, last = text.rsplit(" ", 1)
            docs.append((len(docs), context, " " + last))
    if not docs:
        raise ValueError(f"{path}: no documents")
    return docs


def make_request(encode, index, context, continuation, max_length=2048):
    """One request, as eval/src/lambada.cc make_request. `encode(str) -> list[int]` (no special tokens)."""
    n_spaces = len(context) - len(context.rstrip(ASCII_SPACE))
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = encode(context + continuation)
    ctx = encode(context)
    cont = whole[len(ctx):]
    if not cont:
        raise ValueError(f"document {index}: empty continuation after tokenization")
    inp = (ctx + cont)[-(max_length + 1):][:-1]
    return {"index": index, "input": inp, "continuation": cont, "n_ctx": len(ctx)}


def build_requests(tokenizer_path, docs, max_length=2048):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    # Encode in two batched passes (the tokenizer parallelizes), then assemble exactly as make_request.
    prepared = []
    for index, context, continuation in docs:
        n_spaces = len(context) - len(context.rstrip(ASCII_SPACE))
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        prepared.append((index, context, continuation))
    wholes = tok.encode_batch([c + k for _, c, k in prepared], add_special_tokens=False)
    ctxs = tok.encode_batch([c for _, c, _ in prepared], add_special_tokens=False)
    cache = {}
    for (index, context, continuation), w, c in zip(prepared, wholes, ctxs):
        cache[context + continuation] = w.ids
        cache[context] = c.ids
    encode = cache.__getitem__
    return [make_request(encode, i, c, k, max_length) for i, c, k in prepared]


def make_batches(requests, batch):
    """Requests sorted by input length (descending, then document index), `batch` at a time."""
    order = sorted(requests, key=lambda r: (-len(r["input"]), r["index"]))
    return [order[i:i + batch] for i in range(0, len(order), batch)]


# ----------------------------------------------------------------------------- torch part

def fast_path_status():
    """(available, detail) of transformers' mamba_ssm/causal_conv1d kernel path."""
    try:
        import transformers.models.mamba.modeling_mamba as mm
    except Exception as e:  # noqa: BLE001
        return None, f"cannot import modeling_mamba: {e}"
    v = getattr(mm, "is_fast_path_available", None)
    if isinstance(v, bool):
        return v, "modeling_mamba.is_fast_path_available"
    # transformers >= 5: the kernels are module globals filled in when a MambaMixer is built.
    names = ("selective_state_update", "selective_scan_fn", "causal_conv1d_fn", "causal_conv1d_update",
             "mamba_inner_fn")
    missing = [n for n in names if getattr(mm, n, None) is None]
    return not missing, ("all kernels present" if not missing else "missing: " + ", ".join(missing))


def main():
    ap = argparse.ArgumentParser(
        description="Transformers FP32 baseline for docs/BENCHMARKS.md's gpu_ref figure: "
                    "MambaForCausalLM scores LAMBADA (lambada_openai requests, as qmsim eval) on one GPU "
                    "and reports real tokens/s of the forward passes, plus acc/ppl to check the answers.",
        epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model dir in Hugging Face Mamba layout (config.json + safetensors)")
    ap.add_argument("--docs", type=int, default=None, help="first N documents (default: all 5153)")
    ap.add_argument("--batch", type=int, default=64, help="documents per forward pass (default 64; 1 = unbatched)")
    ap.add_argument("--device", default="cuda", help="torch device (default cuda; cpu works for a smoke test)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"],
                    help="model precision (default float32: the baseline)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed batches run first (the longest ones; default 1)")
    ap.add_argument("--json", dest="json_out", help="write the results here")
    ap.add_argument("--per-doc", action="store_true", help="also write per-document loglikelihood/is_greedy to --json")
    ap.add_argument("--lambada", default=os.path.join(REPO, "data", "lambada_test.jsonl"),
                    help="LAMBADA jsonl, field \"text\" (default: data/lambada_test.jsonl of the repo)")
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "data", "gpt-neox-20b-tokenizer.json"),
                    help="tokenizer.json (default: data/gpt-neox-20b-tokenizer.json of the repo)")
    ap.add_argument("--max-length", type=int, default=2048, help="model context (lm-eval max_length; default 2048)")
    a = ap.parse_args()
    if a.batch < 1:
        ap.error("--batch must be >= 1")
    if a.docs is not None and a.docs < 1:
        ap.error("--docs must be >= 1")
    if a.warmup < 0:
        ap.error("--warmup must be >= 0")

    # No network on the device machine: never try the hub (also for the `kernels` lazy loader).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    t0 = time.perf_counter()
    docs = load_lambada(a.lambada, a.docs)
    requests = build_requests(a.tokenizer, docs, a.max_length)
    batches = make_batches(requests, a.batch)
    tokens = sum(len(r["input"]) for r in requests)
    padded = sum(len(b) * len(b[0]["input"]) for b in batches)
    n_rows = sum(len(r["continuation"]) for r in requests)
    tokenize_s = time.perf_counter() - t0
    log(f"tokenized {len(requests)} documents in {tokenize_s:.1f} s: {tokens} tokens "
        f"({padded} with padding, {tokens / padded:.1%} dense), {n_rows} continuation tokens, "
        f"{len(batches)} batches of <= {a.batch}")

    import torch
    import transformers
    from transformers import MambaForCausalLM

    torch.set_grad_enabled(False)
    device = torch.device(a.device)
    is_cuda = device.type == "cuda"
    if is_cuda and not torch.cuda.is_available():
        log("error: --device cuda but torch.cuda.is_available() is False")
        return 1
    sync = torch.cuda.synchronize if is_cuda else (lambda: None)
    dtype = getattr(torch, a.dtype)

    t0 = time.perf_counter()
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = MambaForCausalLM.from_pretrained(a.model, local_files_only=True, **{dtype_kw: dtype})
    model = model.to(device).eval()
    sync()
    load_s = time.perf_counter() - t0
    cfg = model.config
    vocab = int(cfg.vocab_size)
    max_id = max(max(r["input"] + r["continuation"]) for r in requests)
    if max_id >= vocab:
        log(f"error: token id {max_id} >= model vocab_size {vocab}")
        return 1
    fast_avail, fast_detail = fast_path_status()
    kernel_path = "cuda_kernels_forward" if (fast_avail and is_cuda) else "slow_forward (pure PyTorch)"
    device_name = torch.cuda.get_device_name(device) if is_cuda else (platform.processor() or platform.machine())
    try:
        matmul_precision = torch.get_float32_matmul_precision()
    except Exception:  # noqa: BLE001
        matmul_precision = "unknown"
    log(f"model {a.model}: {cfg.num_hidden_layers} layers, d_model {cfg.hidden_size}, d_inner "
        f"{cfg.intermediate_size}, vocab {vocab}, {a.dtype}, loaded in {load_s:.1f} s; device {device_name}; "
        f"fast path available: {fast_avail} ({fast_detail}) -> {kernel_path}")

    # Per batch, on the device before timing: input ids and the (row, position) of every continuation token.
    staged = []
    for b in batches:
        L = len(b[0]["input"])
        ids = torch.zeros((len(b), L), dtype=torch.long)
        bi, pi, tgt = [], [], []
        for j, r in enumerate(b):
            n = len(r["input"])
            ids[j, :n] = torch.tensor(r["input"], dtype=torch.long)
            nc = len(r["continuation"])
            bi += [j] * nc
            pi += range(n - nc, n)
            tgt += r["continuation"]
        staged.append((ids.to(device), torch.tensor(bi, device=device), torch.tensor(pi, device=device),
                       torch.tensor(tgt, device=device)))

    result = {
        "tool": "tools/bench_transformers.py", "what": "transformers MambaForCausalLM LAMBADA baseline",
        "model": a.model, "n_layer": int(cfg.num_hidden_layers), "d_model": int(cfg.hidden_size),
        "d_inner": int(cfg.intermediate_size), "vocab": vocab, "dtype": a.dtype,
        "lambada": a.lambada, "tokenizer": a.tokenizer, "max_length": a.max_length,
        "docs": len(requests), "tokens": tokens, "padded_tokens": padded, "continuation_tokens": n_rows,
        "batch": a.batch, "n_batches": len(batches), "warmup_batches": min(a.warmup, len(batches)),
        "device": str(device), "device_name": device_name, "torch": torch.__version__,
        "transformers": transformers.__version__, "fast_path_available": fast_avail,
        "fast_path_detail": fast_detail, "kernel_path": kernel_path, "use_cache": False,
        "float32_matmul_precision": matmul_precision, "load_s": load_s, "tokenize_s": tokenize_s,
        "argv": sys.argv[1:],
    }

    def write_json(obj):
        if a.json_out:
            d = os.path.dirname(os.path.abspath(a.json_out))
            os.makedirs(d, exist_ok=True)
            with open(a.json_out, "w") as f:
                json.dump(obj, f, indent=1)
                f.write("\n")

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)

    def forward(k):
        ids, bi, pi, _ = staged[k]
        logits = model(input_ids=ids, use_cache=False).logits  # [B, L, V]
        return logits[bi, pi]  # [rows, V], the continuation positions only

    def on_oom(k, phase, e):
        ids = staged[k][0]
        log(f"error: out of GPU memory at --batch {a.batch} ({phase}, batch {k + 1}/{len(batches)}: "
            f"{ids.shape[0]} documents x {ids.shape[1]} tokens); try a smaller --batch")
        log(f"  {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        result.update({"error": "out_of_memory", "failed_batch_size": a.batch, "failed_phase": phase,
                       "failed_batch_shape": list(ids.shape)})
        write_json(result)
        return 2

    with torch.inference_mode():
        # Warmup: the longest batches (largest allocations, kernel selection), not timed.
        t0 = time.perf_counter()
        for k in range(min(a.warmup, len(batches))):
            try:
                forward(k)
            except oom_types as e:
                return on_oom(k, "warmup", e)
        sync()
        if a.warmup:
            log(f"warmup: {min(a.warmup, len(batches))} batch(es) in {time.perf_counter() - t0:.1f} s")
        if is_cuda:
            torch.cuda.reset_peak_memory_stats(device)

        rows = []
        step = max(1, len(batches) // 10)
        done_docs = done_tok = 0
        sync()
        t0 = time.perf_counter()
        for k in range(len(batches)):
            try:
                rows.append(forward(k))
            except oom_types as e:
                return on_oom(k, "timed", e)
            done_docs += len(batches[k])
            done_tok += sum(len(r["input"]) for r in batches[k])
            if (k + 1) % step == 0 or k + 1 == len(batches):
                el = time.perf_counter() - t0  # host time: kernels may still be queued
                log(f"  {done_docs}/{len(requests)} docs ({done_docs / len(requests):.0%}), {done_tok} tokens, "
                    f"{el:.1f} s, ~{done_tok / max(el, 1e-9):.0f} tokens/s")
        sync()
        seconds = time.perf_counter() - t0
        peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if is_cuda else None

        # Scoring, untimed: log_softmax in float64, greedy = every continuation token is the argmax.
        t1 = time.perf_counter()
        per_doc = []
        for b, (_, bi, _, tgt), lg in zip(batches, staged, rows):
            lp = torch.log_softmax(lg.double(), dim=-1)
            tok_lp = lp.gather(1, tgt[:, None])[:, 0].cpu().tolist()
            hit = (lp.argmax(dim=-1) == tgt).cpu().tolist()
            bil = bi.cpu().tolist()
            for j, r in enumerate(b):
                sel = [m for m, x in enumerate(bil) if x == j]
                per_doc.append({"index": r["index"], "loglikelihood": math.fsum(tok_lp[m] for m in sel),
                                "is_greedy": all(hit[m] for m in sel), "n_ctx": r["n_ctx"],
                                "n_cont": len(r["continuation"]), "n_input": len(r["input"])})
        per_doc.sort(key=lambda d: d["index"])
        score_s = time.perf_counter() - t1

    n = len(per_doc)
    acc = sum(d["is_greedy"] for d in per_doc) / n
    mean_ll = sum(d["loglikelihood"] for d in per_doc) / n
    ppl = math.exp(-mean_ll)
    acc_stderr = math.sqrt(sum((d["is_greedy"] - acc) ** 2 for d in per_doc) / (n - 1) / n) if n > 1 else 0.0
    tps = tokens / seconds
    result.update({"seconds": seconds, "tokens_per_s": tps, "docs_per_s": n / seconds,
                   "padded_tokens_per_s": padded / seconds, "acc": acc, "acc_stderr": acc_stderr,
                   "perplexity": ppl, "mean_loglikelihood": mean_ll, "peak_mem_gib": peak_gib,
                   "score_s": score_s})
    if a.per_doc:
        result["per_document"] = per_doc

    print(f"transformers {transformers.__version__} MambaForCausalLM {a.dtype} on {device_name}: {n} docs, "
          f"{tokens} tokens in {seconds:.2f} s = {tps:,.0f} tokens/s (batch {a.batch}, {kernel_path}); "
          f"acc {acc:.4f}, ppl {ppl:.4f}", flush=True)
    table = [
        ("docs", n), ("tokens (real)", tokens), ("tokens (padded)", padded), ("seconds (forward)", f"{seconds:.3f}"),
        ("tokens/s", f"{tps:,.0f}"), ("acc", f"{acc:.4f} +- {acc_stderr:.4f}"), ("ppl", f"{ppl:.4f}"),
        ("batch", a.batch), ("batches", len(batches)), ("dtype", a.dtype), ("device", device_name),
        ("torch", torch.__version__), ("transformers", transformers.__version__),
        ("fast path available", f"{fast_avail} ({fast_detail})"), ("path used", kernel_path),
        ("fp32 matmul precision", matmul_precision),
        ("peak GPU memory", f"{peak_gib:.2f} GiB" if peak_gib is not None else "n/a"),
        ("load / tokenize / score s", f"{load_s:.1f} / {tokenize_s:.1f} / {score_s:.1f}"),
    ]
    w = max(len(k) for k, _ in table)
    print("| " + "metric".ljust(w) + " | value |")
    print("|" + "-" * (w + 2) + "|-------|")
    for k, v in table:
        print(f"| {k.ljust(w)} | {v} |")
    sys.stdout.flush()
    write_json(result)
    if a.json_out:
        log(f"wrote {a.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
