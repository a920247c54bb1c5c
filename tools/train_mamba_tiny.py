#!/usr/bin/env python3
"""Train "mamba-tiny", a small real Mamba-1 language model, on the shared public-domain corpus (issue 5).

Plain PyTorch (no mamba_ssm / causal_conv1d): Mamba-1 blocks with Hugging Face MambaForCausalLM
parameter names and layout, and a chunked selective scan with a hand-written backward pass
(fp32; tested against the sequential recurrence by --smoke). Writes a Hugging Face folder
(config.json, float16 safetensors shards of at most 16 MiB + model.safetensors.index.json,
training_log.json, loss_curve.png) loadable by transformers' MambaForCausalLM and qmsim.

Typical use (device machine with one GPU; corpus copied to .devrun/data, or pass --data-dir):
  python3 tools/train_mamba_tiny.py --smoke --out $OUT                   # tests + timings
  python3 tools/train_mamba_tiny.py --out $OUT --time-limit 575 --hf-check   # the shipped run (defaults)
  python3 tools/train_mamba_tiny.py --out $OUT --time-limit 575 --hf-check --resume .devrun/ckpt  # after a stop
  python3 tools/train_mamba_tiny.py --plot models/mamba-tiny/training_log.json models/mamba-tiny/loss_curve.png

Defaults = the shipped model: d_model 128 (the largest d_model of the form 2^m or 12*2^m whose float16
embedding, 50280*d*2 bytes, fits one <= 16 MiB safetensors file), 24 layers, seq 512, batch 128,
1900 steps, AdamW lr 2e-3, 100 warmup steps, cosine to 1e-4, wd 0.1, clip 1.0, seed 1234.

Data: corpus-train-00/01.txt.xz (training), corpus-valid.txt.xz (validation, never trained on);
books are separated by lines equal to "<|endoftext|>", which become token id 0. The LAMBADA test
set is never read. The run is deterministic for a given seed up to GPU non-determinism.

A stop by --time-limit before --steps is reached writes a resumable checkpoint (ckpt.partNN,
each <= 15 MiB: fp32 weights except the float16 embedding, AdamW moments in bf16)
instead of the model folder; --resume DIR (a folder holding those parts) continues from it.
"""
import argparse
import hashlib
import io
import json
import lzma
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 50280           # GPT-NeoX 50277 (+ added tokens) padded to a multiple of 8, as the Mamba models
EOT = "<|endoftext|>"
MiB = 1 << 20


# ============================================================================ selective scan
def _linear_scan_(a, b, T, reverse=False):
    """h_t = a_t * h_{t-1} + b_t (forward) or h_t = a_t * h_{t+1} + b_t (reverse), h = 0 outside.

    a, b: (L, ...) float tensors, time first. Works in place where it can: returns h (b's storage
    when L is a multiple of T) and leaves a overwritten. Two levels: a sequential loop over the T
    positions of a chunk, run for all L/T chunks at once, then a loop over the chunks that adds
    (product of a within the chunk) * (state carried in)."""
    L = a.shape[0]
    T = max(1, min(int(T), L))
    nc = (L + T - 1) // T
    pad = nc * T - L
    if pad:
        a = torch.cat([a, a.new_zeros((pad,) + tuple(a.shape[1:]))])
        b = torch.cat([b, b.new_zeros((pad,) + tuple(b.shape[1:]))])
    a4 = a.view(nc, T, -1)
    b4 = b.view(nc, T, -1)
    order = list(range(T - 1, -1, -1)) if reverse else list(range(T))
    prev = order[0]
    for t in order[1:]:
        b4[:, t].addcmul_(a4[:, t], b4[:, prev])   # intra-chunk state
        a4[:, t].mul_(a4[:, prev])                 # running product of a within the chunk
        prev = t
    last = order[-1]
    chunks = list(range(nc - 2, -1, -1)) if reverse else list(range(1, nc))
    carry = b4[nc - 1 if reverse else 0, last]
    for c in chunks:
        b4[c].addcmul_(a4[c], carry.unsqueeze(0))
        carry = b4[c, last]
    return b[:L] if pad else b


class SelectiveScan(torch.autograd.Function):
    """y[m,l,e] = sum_n C[m,l,n] h[m,l,e,n],  h_l = exp(dt_l A) h_{l-1} + dt_l x_l B_l  (h_{-1} = 0).

    x, dt: (M, L, E); A: (E, N) (negative); B, C: (M, L, N); all float32 (or float64 for tests).
    Saves only the inputs; the backward pass recomputes the states."""

    @staticmethod
    def forward(ctx, x, dt, A, Bm, Cm, chunk):
        ctx.save_for_backward(x, dt, A, Bm, Cm)
        ctx.chunk = chunk
        xt, dtt, Bt, Ct = (t.transpose(0, 1).contiguous() for t in (x, dt, Bm, Cm))
        a = torch.exp(dtt.unsqueeze(-1) * A)
        b = (dtt * xt).unsqueeze(-1) * Bt.unsqueeze(2)
        h = _linear_scan_(a, b, chunk)
        del a
        y = torch.einsum("lmen,lmn->lme", h, Ct)
        return y.transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, dy):
        x, dt, A, Bm, Cm = ctx.saved_tensors
        xt, dtt, Bt, Ct, dyt = (t.transpose(0, 1).contiguous() for t in (x, dt, Bm, Cm, dy))
        dtx = dtt * xt
        b = dtx.unsqueeze(-1) * Bt.unsqueeze(2)
        a = torch.exp(dtt.unsqueeze(-1) * A)
        h = _linear_scan_(a, b.clone(), ctx.chunk)
        del a
        dC = torch.einsum("lmen,lme->lmn", h, dyt)
        # g_t = dL/dh_t (total) = C_t dy_t + a_{t+1} g_{t+1}
        dt_next = torch.cat([dtt[1:], torch.zeros_like(dtt[:1])])
        a_next = torch.exp(dt_next.unsqueeze(-1) * A)
        del dt_next
        g = _linear_scan_(a_next, dyt.unsqueeze(-1) * Ct.unsqueeze(2), ctx.chunk, reverse=True)
        del a_next
        d_dtx = torch.einsum("lmen,lmn->lme", g, Bt)
        dB = torch.einsum("lmen,lme->lmn", g, dtx)
        # dL/d(dt A)_t = g_t * a_t * h_{t-1} = g_t * (h_t - b_t)
        dDA = h.sub_(b).mul_(g)
        del g, b
        ddt = torch.einsum("lmen,en->lme", dDA, A) + d_dtx * xt
        dA = torch.einsum("lmen,lme->en", dDA, dtt)
        dx = d_dtx * dtt
        tr = lambda t: t.transpose(0, 1).contiguous()
        return tr(dx), tr(ddt), dA, tr(dB), tr(dC), None


_TRITON = None


def _triton_kernels():
    """Fused selective-scan kernels (one sequential pass over L per (batch, block of channels));
    None when Triton is not usable. The forward stores the states h (M, L, E, N) for the backward."""
    global _TRITON
    if _TRITON is not None:
        return _TRITON or None
    try:
        import triton
        import triton.language as tl
    except Exception:
        _TRITON = False
        return None

    @triton.jit
    def fwd(x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, y_ptr, h_ptr, L, E,
            N: tl.constexpr, BLOCK_E: tl.constexpr, STORE_H: tl.constexpr):
        m = tl.program_id(0).to(tl.int64)
        e = tl.program_id(1) * BLOCK_E + tl.arange(0, BLOCK_E)
        n = tl.arange(0, N)
        A = tl.load(A_ptr + e[:, None] * N + n[None, :])
        h = tl.zeros((BLOCK_E, N), dtype=tl.float32)
        for t in range(L):
            row = m * L + t
            x = tl.load(x_ptr + row * E + e)
            dt = tl.load(dt_ptr + row * E + e)
            Bt = tl.load(B_ptr + row * N + n)
            Ct = tl.load(C_ptr + row * N + n)
            h = tl.exp(dt[:, None] * A) * h + (dt * x)[:, None] * Bt[None, :]
            tl.store(y_ptr + row * E + e, tl.sum(h * Ct[None, :], axis=1))
            if STORE_H:
                tl.store(h_ptr + (row * E + e[:, None]) * N + n[None, :], h)

    @triton.jit
    def bwd(x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, h_ptr, dy_ptr, dx_ptr, ddt_ptr, dA_ptr, dB_ptr, dC_ptr, M, L, E,
            N: tl.constexpr, BLOCK_E: tl.constexpr):
        m = tl.program_id(0).to(tl.int64)
        eb = tl.program_id(1).to(tl.int64)
        e = eb * BLOCK_E + tl.arange(0, BLOCK_E)
        n = tl.arange(0, N)
        A = tl.load(A_ptr + e[:, None] * N + n[None, :])
        g = tl.zeros((BLOCK_E, N), dtype=tl.float32)
        a_next = tl.zeros((BLOCK_E, N), dtype=tl.float32)
        dA_acc = tl.zeros((BLOCK_E, N), dtype=tl.float32)
        for i in range(L):
            t = L - 1 - i
            row = m * L + t
            x = tl.load(x_ptr + row * E + e)
            dt = tl.load(dt_ptr + row * E + e)
            dy = tl.load(dy_ptr + row * E + e)
            Bt = tl.load(B_ptr + row * N + n)
            Ct = tl.load(C_ptr + row * N + n)
            h = tl.load(h_ptr + (row * E + e[:, None]) * N + n[None, :])
            g = a_next * g + dy[:, None] * Ct[None, :]           # dL/dh_t
            a_next = tl.exp(dt[:, None] * A)
            dtx = dt * x
            dDA = g * (h - dtx[:, None] * Bt[None, :])          # dL/d(dt*A) = g_t * a_t * h_{t-1}
            d_dtx = tl.sum(g * Bt[None, :], axis=1)
            tl.store(dx_ptr + row * E + e, d_dtx * dt)
            tl.store(ddt_ptr + row * E + e, d_dtx * x + tl.sum(dDA * A, axis=1))
            dA_acc += dDA * dt[:, None]
            part = (eb * M * L + row) * N + n                   # per-channel-block partial sums
            tl.store(dB_ptr + part, tl.sum(g * dtx[:, None], axis=0))
            tl.store(dC_ptr + part, tl.sum(h * dy[:, None], axis=0))
        tl.store(dA_ptr + (m * E + e[:, None]) * N + n[None, :], dA_acc)

    _TRITON = (fwd, bwd)
    return _TRITON


class TritonScan(torch.autograd.Function):
    """Same contract as SelectiveScan, fused Triton kernels (CUDA, float32, E % block == 0, N power of 2)."""
    BLOCK_E = 32

    @staticmethod
    def forward(ctx, x, dt, A, Bm, Cm, chunk):
        fwd, _ = _triton_kernels()
        M, L, E = x.shape
        N = A.shape[1]
        x, dt, A, Bm, Cm = (t.contiguous() for t in (x, dt, A, Bm, Cm))
        y = torch.empty_like(x)
        need = any(ctx.needs_input_grad)
        h = torch.empty((M, L, E, N), device=x.device, dtype=x.dtype) if need else y
        fwd[(M, E // TritonScan.BLOCK_E)](x, dt, A, Bm, Cm, y, h, L, E, N=N, BLOCK_E=TritonScan.BLOCK_E,
                                           STORE_H=bool(need))
        if need:
            ctx.save_for_backward(x, dt, A, Bm, Cm, h)
        return y

    @staticmethod
    def backward(ctx, dy):
        _, bwd = _triton_kernels()
        x, dt, A, Bm, Cm, h = ctx.saved_tensors
        M, L, E = x.shape
        N = A.shape[1]
        nb = E // TritonScan.BLOCK_E
        dy = dy.contiguous()
        dx, ddt = torch.empty_like(x), torch.empty_like(x)
        dA = torch.empty((M, E, N), device=x.device, dtype=x.dtype)
        dB = torch.empty((nb, M, L, N), device=x.device, dtype=x.dtype)
        dC = torch.empty((nb, M, L, N), device=x.device, dtype=x.dtype)
        bwd[(M, nb)](x, dt, A, Bm, Cm, h, dy, dx, ddt, dA, dB, dC, M, L, E, N=N, BLOCK_E=TritonScan.BLOCK_E)
        return dx, ddt, dA.sum(0), dB.sum(0), dC.sum(0), None


def triton_ok(x, A):
    return (SCAN_IMPL == "triton" and x.is_cuda and x.dtype == torch.float32 and x.shape[-1] % TritonScan.BLOCK_E == 0
            and A.shape[1] & (A.shape[1] - 1) == 0 and _triton_kernels() is not None)


SCAN_IMPL = "torch"   # "triton" to use the fused kernels where they apply


def selective_scan(x, dt, A, Bm, Cm, chunk):
    if triton_ok(x, A):
        return TritonScan.apply(x, dt, A, Bm, Cm, chunk)
    return SelectiveScan.apply(x, dt, A, Bm, Cm, chunk)


def selective_scan_ref(x, dt, A, Bm, Cm):
    """The sequential recurrence (reference for tests)."""
    M, L, E = x.shape
    h = x.new_zeros(M, E, A.shape[1])
    ys = []
    for t in range(L):
        h = torch.exp(dt[:, t, :, None] * A) * h + (dt[:, t] * x[:, t])[..., None] * Bm[:, t, None, :]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1)


# ============================================================================ model
class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Mixer(nn.Module):
    def __init__(self, d_model, d_inner, d_state, d_conv, dt_rank):
        super().__init__()
        self.E, self.N, self.R, self.K = d_inner, d_state, dt_rank, d_conv
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(d_inner, d_state))
        self.D = nn.Parameter(torch.empty(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, h, chunk=32, amp=False):
        L = h.shape[1]
        xz = self.in_proj(h)                                   # bf16 under autocast
        with torch.autocast(h.device.type, enabled=False):
            xz = xz.float()
            x, z = xz.chunk(2, dim=-1)
            x = F.conv1d(x.transpose(1, 2), self.conv1d.weight, self.conv1d.bias,
                         padding=self.K - 1, groups=self.E)[..., :L].transpose(1, 2)
            x = F.silu(x)
            dbl = self.x_proj(x)
            dt, Bm, Cm = torch.split(dbl, [self.R, self.N, self.N], dim=-1)
            dt = F.softplus(self.dt_proj(dt))
            A = -torch.exp(self.A_log.float())
            y = selective_scan(x.contiguous(), dt.contiguous(), A, Bm.contiguous(), Cm.contiguous(), chunk)
            y = (y + x * self.D) * F.silu(z)
        return self.out_proj(y)                                # bf16 under autocast


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg["d_model"], cfg["eps"])
        self.mixer = Mixer(cfg["d_model"], cfg["d_inner"], cfg["d_state"], cfg["d_conv"], cfg["dt_rank"])

    def forward(self, h, chunk):
        return h + self.mixer(self.norm(h), chunk).float()      # residual in fp32


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg["vocab"], cfg["d_model"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.norm_f = RMSNorm(cfg["d_model"], cfg["eps"])


class MambaLM(nn.Module):
    """Parameter names = transformers MambaForCausalLM (lm_head tied to backbone.embeddings)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)

    def hidden(self, ids, chunk=32):
        h = self.backbone.embeddings(ids).float()
        for layer in self.backbone.layers:
            h = layer(h, chunk)
        return self.backbone.norm_f(h)

    def forward(self, ids, chunk=32):
        h = self.hidden(ids, chunk)
        return F.linear(h, self.backbone.embeddings.weight)

    @torch.no_grad()
    def init_weights(self, seed):
        """mamba_ssm's init: embedding N(0, 0.02); nn.Linear/Conv1d defaults; out_proj / sqrt(n_layer);
        A_log = log(1..N); D = 1; dt_proj.weight U(+-dt_rank^-0.5); dt bias = softplus^-1(dt),
        dt log-uniform in [1e-3, 1e-1] (floor 1e-4)."""
        g = torch.Generator().manual_seed(seed)
        cfg = self.cfg
        for name, p in self.named_parameters():
            if name.endswith("embeddings.weight"):
                p.normal_(0.0, 0.02, generator=g)
            elif name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.fill_(1.0)
            elif name.endswith("A_log"):
                p.copy_(torch.log(torch.arange(1, cfg["d_state"] + 1, dtype=torch.float32)).expand_as(p))
            elif name.endswith(".D"):
                p.fill_(1.0)
            elif name.endswith("dt_proj.weight"):
                s = cfg["dt_rank"] ** -0.5
                p.uniform_(-s, s, generator=g)
            elif name.endswith("dt_proj.bias"):
                dt = torch.exp(torch.rand(p.shape, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
                dt = dt.clamp(min=1e-4)
                p.copy_(dt + torch.log(-torch.expm1(-dt)))
            elif name.endswith("conv1d.bias"):
                fan_in = cfg["d_conv"]
                bound = 1.0 / math.sqrt(fan_in)
                p.uniform_(-bound, bound, generator=g)
            elif p.dim() >= 2:   # in_proj, x_proj, out_proj, conv1d.weight: kaiming_uniform(a=sqrt(5))
                fan_in = p.shape[1] * (p.shape[2] if p.dim() == 3 else 1)
                bound = 1.0 / math.sqrt(fan_in)
                p.uniform_(-bound, bound, generator=g)
                if name.endswith("out_proj.weight"):
                    p.div_(math.sqrt(cfg["n_layer"]))
            else:
                raise RuntimeError("no init rule for " + name)


def model_cfg(d_model, n_layer):
    return {"vocab": VOCAB, "d_model": d_model, "n_layer": n_layer, "d_inner": 2 * d_model, "d_state": 16,
            "d_conv": 4, "dt_rank": math.ceil(d_model / 16), "eps": 1e-5}


def ce_loss(model, ids, targets, chunk, ce_chunk=16384):
    """Mean cross-entropy; the [tokens, V] logits are made chunk by chunk and recomputed in backward."""
    h = model.hidden(ids, chunk).reshape(-1, model.cfg["d_model"])
    t = targets.reshape(-1)
    W = model.backbone.embeddings.weight
    total = h.new_zeros((), dtype=torch.float32)

    def piece(hh, tt, WW):
        return F.cross_entropy(F.linear(hh, WW).float(), tt, reduction="sum")

    for i in range(0, h.shape[0], ce_chunk):
        if torch.is_grad_enabled():
            total = total + torch.utils.checkpoint.checkpoint(piece, h[i:i + ce_chunk], t[i:i + ce_chunk], W,
                                                              use_reentrant=False)
        else:
            total = total + piece(h[i:i + ce_chunk], t[i:i + ce_chunk], W)
    return total / t.numel()


# ============================================================================ data
def sha256_file(path):
    hsh = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            hsh.update(blk)
    return hsh.hexdigest()


def load_tokens(path, tokenizer):
    """Books split at lines equal to <|endoftext|>; each encoded alone (no special tokens), joined by id 0."""
    with lzma.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    docs = [d for d in re.split(r"^<\|endoftext\|>\n", text, flags=re.M) if d]
    enc = tokenizer.encode_batch(docs, add_special_tokens=False)
    out = []
    for i, e in enumerate(enc):
        if i:
            out.append(0)
        out.extend(e.ids)
    return np.asarray(out, dtype=np.int32), len(docs)


def epoch_windows(n_tokens, L, seed, epoch):
    """Start offsets of the training windows (L+1 tokens, stride L) of one epoch, shuffled; the
    first window starts at a random offset in [0, L) that changes every epoch."""
    rng = np.random.default_rng([seed, epoch])
    off = int(rng.integers(0, L))
    n = (n_tokens - off - 1) // L
    return off + L * rng.permutation(n)


class Batches:
    """Deterministic stream of training batches; position = number of sequences consumed."""

    def __init__(self, tokens, L, batch, seed):
        self.tokens, self.L, self.batch, self.seed = tokens, L, batch, seed
        self.epoch, self.pos, self.win = 0, 0, epoch_windows(len(tokens), L, seed, 0)

    def seek(self, seqs):
        self.epoch, self.pos = 0, 0
        self.win = epoch_windows(len(self.tokens), self.L, self.seed, 0)
        while seqs >= len(self.win) - self.pos:
            seqs -= len(self.win) - self.pos
            self.epoch += 1
            self.pos = 0
            self.win = epoch_windows(len(self.tokens), self.L, self.seed, self.epoch)
        self.pos = seqs

    def next(self):
        starts = []
        while len(starts) < self.batch:
            take = min(self.batch - len(starts), len(self.win) - self.pos)
            starts.extend(self.win[self.pos:self.pos + take])
            self.pos += take
            if self.pos == len(self.win):
                self.epoch += 1
                self.pos = 0
                self.win = epoch_windows(len(self.tokens), self.L, self.seed, self.epoch)
        idx = np.asarray(starts)[:, None] + np.arange(self.L + 1)[None, :]
        return torch.from_numpy(self.tokens[idx].astype(np.int64))


def eval_windows(tokens, L, max_tokens=None):
    n = (len(tokens) - 1) // L
    if max_tokens is not None:
        n = min(n, max(1, max_tokens // L))
    idx = np.arange(n)[:, None] * L + np.arange(L + 1)[None, :]
    return torch.from_numpy(tokens[idx].astype(np.int64))


@torch.no_grad()
def evaluate(model, windows, device, chunk, bs=64, amp=True):
    model.eval()
    tot, cnt = 0.0, 0
    for i in range(0, windows.shape[0], bs):
        w = windows[i:i + bs].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            loss = ce_loss(model, w[:, :-1], w[:, 1:], chunk)
        tot += float(loss) * w[:, 1:].numel()
        cnt += w[:, 1:].numel()
    model.train()
    return tot / cnt


# ============================================================================ HF export / import
def hf_config(cfg):
    return {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba",
        "vocab_size": cfg["vocab"], "hidden_size": cfg["d_model"], "intermediate_size": cfg["d_inner"],
        "num_hidden_layers": cfg["n_layer"], "state_size": cfg["d_state"], "expand": cfg["d_inner"] // cfg["d_model"],
        "conv_kernel": cfg["d_conv"], "time_step_rank": cfg["dt_rank"], "layer_norm_epsilon": cfg["eps"],
        "use_bias": False, "use_conv_bias": True, "hidden_act": "silu", "initializer_range": 0.1,
        "residual_in_fp32": True, "rescale_prenorm_residual": False, "time_step_scale": 1.0,
        "time_step_min": 0.001, "time_step_max": 0.1, "time_step_init_scheme": "random", "time_step_floor": 1e-4,
        "use_cache": True, "use_mambapy": False, "tie_word_embeddings": True,
        "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
        "torch_dtype": "float16", "dtype": "float16",
    }


def export_hf(model, out_dir, max_shard=15 * MiB):
    """float16 safetensors in HF sharded layout (model-0000i-of-0000n.safetensors + index), every
    file <= max_shard; lm_head omitted (tied)."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    shards, cur, cur_bytes = [], {}, 0
    for k in sorted(sd, key=lambda k: (k != "backbone.embeddings.weight", k)):
        nb = sd[k].numel() * 2
        if nb > max_shard:
            raise SystemExit(f"tensor {k} ({nb} bytes) exceeds the shard limit {max_shard}")
        if cur and cur_bytes + nb > max_shard - 64 * 1024:   # room for the header
            shards.append(cur)
            cur, cur_bytes = {}, 0
        cur[k] = sd[k]
        cur_bytes += nb
    if cur:
        shards.append(cur)
    n = len(shards)
    weight_map, total = {}, 0
    for i, sh in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        save_file(sh, os.path.join(out_dir, name), metadata={"format": "pt"})
        os.chmod(os.path.join(out_dir, name), 0o644)
        assert os.path.getsize(os.path.join(out_dir, name)) <= 16 * MiB
        for k, v in sh.items():
            weight_map[k] = name
            total += v.numel() * 2
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(model.cfg), f, indent=2)
    return [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]


def load_hf_into(model, folder):
    from safetensors.torch import load_file
    idx = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    sd = {}
    for fn in sorted(set(idx["weight_map"].values())):
        sd.update(load_file(os.path.join(folder, fn)))
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)


def hf_check(folder, valid_tokens, L, device, chunk, max_tokens=50000, log=print):
    """Load `folder` with transformers' MambaForCausalLM (float32), compute its validation loss on the
    first ~max_tokens tokens of corpus-valid, and compare its logits with this file's implementation
    (same float16 weights, float32 math, TF32 off)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers
    from transformers import MambaForCausalLM
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        hf = MambaForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device).eval()
    except TypeError:
        hf = MambaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).to(device).eval()
    cfg = json.load(open(os.path.join(folder, "config.json")))
    mine = MambaLM(model_cfg(cfg["hidden_size"], cfg["num_hidden_layers"])).to(device)
    load_hf_into(mine, folder)
    mine.eval()
    win = eval_windows(valid_tokens, L, max_tokens)
    tot_hf = tot_mine = 0.0
    cnt = 0
    max_abs = max_ref = 0.0
    num = den = 0.0
    agree = 0
    with torch.no_grad():
        for i in range(0, win.shape[0], 50):
            w = win[i:i + 50].to(device)
            x, y = w[:, :-1], w[:, 1:]
            lh = hf(input_ids=x).logits.float()
            lm = mine(x, chunk).float()
            tot_hf += float(F.cross_entropy(lh.reshape(-1, lh.shape[-1]), y.reshape(-1), reduction="sum"))
            tot_mine += float(F.cross_entropy(lm.reshape(-1, lm.shape[-1]), y.reshape(-1), reduction="sum"))
            cnt += y.numel()
            d = (lm - lh).abs()
            max_abs = max(max_abs, float(d.max()))
            max_ref = max(max_ref, float(lh.abs().max()))
            num += float((d.double() ** 2).sum())
            den += float((lh.double() ** 2).sum())
            agree += int((lm.argmax(-1) == lh.argmax(-1)).sum())
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    res = {
        "transformers": transformers.__version__, "torch": torch.__version__, "tokens": cnt, "windows": int(win.shape[0]),
        "seq_len": L, "hf_valid_loss": tot_hf / cnt, "hf_valid_ppl": math.exp(tot_hf / cnt),
        "own_valid_loss_fp32": tot_mine / cnt,
        "logits_max_abs_diff": max_abs, "logits_max_abs_ref": max_ref,
        "logits_max_rel_err": max_abs / max_ref, "logits_rel_l2": math.sqrt(num / den),
        "argmax_agreement": agree / cnt,
    }
    log("hf_check: " + json.dumps(res))
    return res


# ============================================================================ checkpoints
def save_ckpt(out_dir, model, opt, state, part_bytes=15 * MiB):
    """Resumable checkpoint split into ckpt.partNN files of <= part_bytes (fits the 16 MiB limit).
    Weights fp32 except the embedding (float16); AdamW moments bf16 (about 61 MB for 24 layers)."""
    emb = model.backbone.embeddings.weight
    params = {}
    for k, p in model.named_parameters():
        params[k] = p.detach().to("cpu", torch.float16 if p is emb else torch.float32)
    opt_state = {}
    names = {id(p): k for k, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if not st:
                continue
            dt = torch.bfloat16   # all AdamW moments in bf16: keeps the whole checkpoint under 64 MiB
            opt_state[names[id(p)]] = {"step": torch.as_tensor(st["step"]).float().cpu(),
                                       "exp_avg": st["exp_avg"].detach().to("cpu", dt),
                                       "exp_avg_sq": st["exp_avg_sq"].detach().to("cpu", dt)}
    buf = io.BytesIO()
    torch.save({"params": params, "opt": opt_state, "state": json.dumps(state)}, buf)
    data = buf.getvalue()
    for fn in os.listdir(out_dir):
        if fn.startswith("ckpt.part"):
            os.remove(os.path.join(out_dir, fn))
    n = (len(data) + part_bytes - 1) // part_bytes
    for i in range(n):
        tmp = os.path.join(out_dir, f"ckpt.part{i:02d}.tmp")
        with open(tmp, "wb") as f:
            f.write(data[i * part_bytes:(i + 1) * part_bytes])
        os.replace(tmp, os.path.join(out_dir, f"ckpt.part{i:02d}"))
    return len(data), n


def load_ckpt(path):
    parts = sorted(fn for fn in os.listdir(path) if re.fullmatch(r"ckpt\.part\d\d", fn))
    if not parts:
        raise SystemExit(f"--resume {path}: no ckpt.partNN files")
    data = b"".join(open(os.path.join(path, fn), "rb").read() for fn in parts)
    ck = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return ck["params"], ck["opt"], json.loads(ck["state"])


def restore(model, opt, params, opt_state):
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(params[k].float())
    for group in opt.param_groups:
        for p in group["params"]:
            k = {id(q): n for n, q in model.named_parameters()}[id(p)]
            if k in opt_state:
                s = opt_state[k]
                opt.state[p] = {"step": s["step"].to(p.device) if group.get("fused") or group.get("capturable")
                                else s["step"].clone(),
                                "exp_avg": s["exp_avg"].to(p.device, torch.float32),
                                "exp_avg_sq": s["exp_avg_sq"].to(p.device, torch.float32)}


# ============================================================================ plotting
def plot_log(log_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lg = json.load(open(log_path))
    tr = lg["train"]
    va = lg["valid"]
    full_n = max(r["subset_tokens"] for r in va)
    sub = [r for r in va if r["subset_tokens"] < full_n]
    full = [r for r in va if r["subset_tokens"] == full_n]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot([r["tokens"] / 1e6 for r in tr], [r["loss"] for r in tr], lw=1, label="train (mean over log interval)")
    if sub:
        ax.plot([r["tokens"] / 1e6 for r in sub], [r["loss"] for r in sub], "o-", ms=3,
                label=f"valid, first {sub[0]['subset_tokens'] // 1000}k tokens of the held-out books")
    ax.plot([r["tokens"] / 1e6 for r in full], [r["loss"] for r in full], "s", ms=5,
            label=f"valid, all 6 held-out books ({full_n // 1000}k tokens)")
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("cross-entropy (nats/token)")
    c = lg["config"]
    ax.set_title(f"mamba-tiny: d_model {c['d_model']}, {c['n_layer']} layers, seq {c['seq_len']}, "
                 f"batch {c['batch']}")
    ax.set_ylim(min([r["loss"] for r in tr + va]) - 0.2, min(8.0, max(r["loss"] for r in tr + va)))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


# ============================================================================ smoke test
def check_scan(device, chunk, M=2, L=512, E=256, N=16, seed=7):
    """Max relative errors (y and all input gradients) of selective_scan in float32 (the implementation
    selected by SCAN_IMPL) against autograd through the float64 sequential recurrence."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, L, E, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(M, L, E, generator=g, dtype=torch.float64) - 3)
    A = -torch.arange(1, N + 1, dtype=torch.float64).expand(E, N).contiguous() * torch.rand(E, 1, generator=g,
                                                                                               dtype=torch.float64)
    Bm = torch.randn(M, L, N, generator=g, dtype=torch.float64)
    Cm = torch.randn(M, L, N, generator=g, dtype=torch.float64)
    dy = torch.randn(M, L, E, generator=g, dtype=torch.float64)
    ins = [t.to(device).float().requires_grad_() for t in (x, dt, A, Bm, Cm)]
    y = selective_scan(*ins, chunk)
    gr = torch.autograd.grad(y, ins, dy.to(device).float())
    ins2 = [t.to(device).requires_grad_() for t in (x, dt, A, Bm, Cm)]
    y2 = selective_scan_ref(*ins2)
    gr2 = torch.autograd.grad(y2, ins2, dy.to(device))
    rel = lambda u, v: float((u.double() - v).detach().abs().max() / v.detach().abs().max())
    with torch.no_grad():
        y3 = selective_scan(*[t.detach() for t in ins], chunk)
    return {"y": rel(y, y2), "y_nograd": rel(y3, y2),
            **{n: rel(a, b) for n, a, b in zip(["dx", "ddt", "dA", "dB", "dC"], gr, gr2)}}


def smoke(args, device, log):
    res = {}
    torch.manual_seed(0)
    # 1. scan vs sequential recurrence, float64, small odd sizes (padding path), both devices
    for dev in ["cpu"] + (["cuda"] if device.type == "cuda" else []):
        for (M, L, E, N, T) in [(2, 37, 5, 3, 8), (3, 64, 7, 4, 16), (1, 5, 3, 2, 32)]:
            g = torch.Generator().manual_seed(M * 1000 + L)
            x = torch.randn(M, L, E, generator=g, dtype=torch.float64)
            dt = F.softplus(torch.randn(M, L, E, generator=g, dtype=torch.float64) - 1)
            A = -torch.exp(torch.randn(E, N, generator=g, dtype=torch.float64))
            Bm = torch.randn(M, L, N, generator=g, dtype=torch.float64)
            Cm = torch.randn(M, L, N, generator=g, dtype=torch.float64)
            dy = torch.randn(M, L, E, generator=g, dtype=torch.float64)
            ins = [t.to(dev).requires_grad_() for t in (x, dt, A, Bm, Cm)]
            y = SelectiveScan.apply(*ins, T)
            gr = torch.autograd.grad(y, ins, dy.to(dev))
            ins2 = [t.detach().clone().requires_grad_() for t in ins]
            y2 = selective_scan_ref(*ins2)
            gr2 = torch.autograd.grad(y2, ins2, dy.to(dev))
            rel = lambda u, v: float((u - v).detach().abs().max() / v.detach().abs().max().clamp_min(1e-300))
            key = f"scan_f64_{dev}_M{M}_L{L}_E{E}_N{N}_T{T}"
            res[key] = {"y": rel(y, y2), **{n: rel(a, b) for n, a, b in zip(["dx", "ddt", "dA", "dB", "dC"], gr, gr2)}}
            log(f"{key}: max rel err {res[key]}")
    # 2. fp32 scans at training size vs float64 sequential recurrence (the chunked torch scan; Triton if usable)
    global SCAN_IMPL
    keep = SCAN_IMPL
    for impl in ["torch"] + (["triton"] if device.type == "cuda" and _triton_kernels() is not None else []):
        SCAN_IMPL = impl
        try:
            res[f"scan_{impl}_f32_vs_f64_M2_L512_E256_N16"] = r = check_scan(device, args.chunk)
        except Exception as e:
            res[f"scan_{impl}_f32_vs_f64_M2_L512_E256_N16"] = r = {"error": repr(e)}
        log(f"scan {impl} fp32 (M2 L512 E256 N16 chunk {args.chunk}) vs f64 sequential: {r}")
    SCAN_IMPL = keep
    return res


def bench(model, opt, batches, device, chunk, steps, log, tag):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps):
        t0 = time.time()
        w = batches.next().to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = ce_loss(model, w[:, :-1], w[:, 1:], chunk)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.time() - t0)
    st = sorted(times[2:])
    med = st[len(st) // 2]
    toks = w[:, 1:].numel()
    r = {"step_s_median": med, "tokens_per_step": toks, "tokens_per_s": toks / med,
         "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2**30, "last_loss": float(loss.detach())}
    log(f"bench {tag}: {r}")
    return r


# ============================================================================ main
def make_opt(model, lr, wd, device):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and not n.endswith("A_log") else no_decay).append(p)
    kw = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8, **kw)


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (a.min_lr_ratio + (1 - a.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=False, help="output folder (model folder, log, checkpoints)")
    ap.add_argument("--data-dir", default=".devrun/data", help="folder with corpus-train-0{0,1}.txt.xz, corpus-valid.txt.xz")
    ap.add_argument("--tokenizer", default="data/gpt-neox-20b-tokenizer.json")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=24)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128, help="sequences per optimizer step")
    ap.add_argument("--steps", type=int, default=1900, help="total optimizer steps (cosine schedule length)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1, help="AdamW weight decay on matrices (not A_log, D, norms, biases)")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--chunk", type=int, default=32, help="scan chunk length (torch scan)")
    ap.add_argument("--scan", choices=["auto", "torch", "triton"], default="auto",
                    help="selective scan: fused Triton kernels or the chunked PyTorch scan; auto = Triton on CUDA "
                         "if its self-test against the float64 recurrence passes")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-tokens", type=int, default=131072, help="valid tokens for periodic evals (final: all)")
    ap.add_argument("--ckpt-every", type=float, default=150.0, help="seconds between checkpoints")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="seconds from start after which training stops with a checkpoint (0: none)")
    ap.add_argument("--reserve", type=float, default=60.0, help="seconds kept for the final eval/export/check")
    ap.add_argument("--resume", help="folder with ckpt.partNN files")
    ap.add_argument("--hf-check", action="store_true", help="after export, load the folder with transformers and compare")
    ap.add_argument("--hf-check-dir", help="only run the transformers check on this model folder")
    ap.add_argument("--smoke", action="store_true", help="scan tests, throughput, export + transformers check of a few steps")
    ap.add_argument("--plot", nargs=2, metavar=("LOG_JSON", "PNG"), help="only draw the loss curve")
    a = ap.parse_args()

    if a.plot:
        plot_log(*a.plot)
        return 0
    if not a.out:
        ap.error("--out is required")
    os.makedirs(a.out, exist_ok=True)
    t_start = time.time()
    logf = open(os.path.join(a.out, "train.log.txt"), "a")

    def log(msg):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        log(f"device {torch.cuda.get_device_name()} torch {torch.__version__}")

    global SCAN_IMPL
    scan_test = None
    if a.scan != "torch" and device.type == "cuda":
        SCAN_IMPL = "triton"
        try:
            scan_test = check_scan(device, a.chunk)
            ok = max(scan_test.values()) < 1e-4
        except Exception as e:
            scan_test, ok = {"error": repr(e)}, False
        log(f"triton scan self-test (fp32 vs float64 recurrence, max rel err): {scan_test}")
        if not ok:
            if a.scan == "triton":
                raise SystemExit("triton scan failed its self-test")
            SCAN_IMPL = "torch"
    elif a.scan == "triton":
        raise SystemExit("--scan triton needs CUDA")
    log(f"selective scan: {SCAN_IMPL}")

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.tokenizer)
    files = {"train": ["corpus-train-00.txt.xz", "corpus-train-01.txt.xz"], "valid": ["corpus-valid.txt.xz"]}
    checks = {fn: sha256_file(os.path.join(a.data_dir, fn)) for v in files.values() for fn in v}
    checks[os.path.basename(a.tokenizer)] = sha256_file(a.tokenizer)
    t0 = time.time()
    valid, _ = load_tokens(os.path.join(a.data_dir, "corpus-valid.txt.xz"), tok)
    if a.hf_check_dir:
        hf_check(a.hf_check_dir, valid, a.seq_len, device, a.chunk, log=log)
        return 0
    parts, ndocs = [], 0
    for fn in files["train"]:
        tk, nd = load_tokens(os.path.join(a.data_dir, fn), tok)
        parts.append(tk)
        ndocs += nd
    train = np.concatenate([parts[0], np.zeros(1, np.int32), parts[1]])
    log(f"tokenized: train {len(train)} tokens ({ndocs} books), valid {len(valid)} tokens, {time.time() - t0:.1f}s; "
        f"sha256 {checks}")
    assert train.max() < VOCAB and valid.max() < VOCAB

    cfg = model_cfg(a.d_model, a.n_layer)
    config = {**cfg, "seq_len": a.seq_len, "batch": a.batch, "tokens_per_step": a.batch * a.seq_len, "steps": a.steps,
              "lr": a.lr, "min_lr_ratio": a.min_lr_ratio, "warmup": a.warmup, "schedule": "linear warmup + cosine",
              "optimizer": "AdamW(betas=(0.9,0.95), eps=1e-8, fused)", "weight_decay": a.wd,
              "weight_decay_on": "ndim>=2 except A_log (embedding, in_proj, conv1d, x_proj, dt_proj, out_proj)",
              "grad_clip": a.clip, "seed": a.seed, "scan": SCAN_IMPL, "scan_self_test": scan_test,
              "scan_chunk": a.chunk, "precision": "bf16 autocast for in_proj/"
              "out_proj/lm_head, fp32 conv/x_proj/dt_proj/scan/norms/residual, TF32 on",
              "train_tokens": int(len(train)), "valid_tokens": int(len(valid)), "train_books": ndocs,
              "data_sha256": checks, "tokenizer": "HF tokenizers " + __import__("tokenizers").__version__,
              "torch": torch.__version__}

    if a.smoke:
        res = {"config": config, "tests": smoke(a, device, log)}
        if device.type == "cuda":
            res["bench"] = {}
            keep = SCAN_IMPL
            for (impl, nl, bs, ch) in [("torch", a.n_layer, a.batch, a.chunk), (keep, a.n_layer, a.batch, a.chunk),
                                       (keep, a.n_layer, 2 * a.batch, a.chunk), (keep, 16, 2 * a.batch, a.chunk),
                                       (keep, 24, 2 * a.batch, a.chunk)]:
                SCAN_IMPL = impl
                torch.manual_seed(a.seed)
                m = MambaLM(model_cfg(a.d_model, nl))
                m.init_weights(a.seed)
                m.to(device)
                o = make_opt(m, a.lr, a.wd, device)
                res["bench"][f"{impl}_L{nl}_B{bs}"] = bench(m, o, Batches(train, a.seq_len, bs, a.seed), device, ch, 12,
                                                            log, f"{impl} scan, n_layer {nl} batch {bs}x{a.seq_len}")
                del m, o
                torch.cuda.empty_cache()
            SCAN_IMPL = keep
        # a few real steps, checkpoint round trip, export, transformers check
        torch.manual_seed(a.seed)
        m = MambaLM(cfg)
        m.init_weights(a.seed)
        m.to(device)
        o = make_opt(m, a.lr, a.wd, device)
        bt = Batches(train, a.seq_len, 8 if device.type == "cpu" else a.batch, a.seed)
        for i in range(30):
            w = bt.next().to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = ce_loss(m, w[:, :-1], w[:, 1:], a.chunk)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
            for gr in o.param_groups:
                gr["lr"] = 1e-3
            o.step()
            o.zero_grad(set_to_none=True)
        log(f"30 steps: loss {float(loss.detach()):.4f}")
        ck = os.path.join(a.out, "smoke_ckpt")
        os.makedirs(ck, exist_ok=True)
        nbytes, nparts = save_ckpt(ck, m, o, {"step": 30})
        p2, o2, s2 = load_ckpt(ck)
        m2 = MambaLM(cfg).to(device)
        opt2 = make_opt(m2, a.lr, a.wd, device)
        restore(m2, opt2, p2, o2)
        w = bt.next().to(device)
        for mm, oo in ((m, o), (m2, opt2)):
            for gr in oo.param_groups:
                gr["lr"] = 1e-3
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = ce_loss(mm, w[:, :-1], w[:, 1:], a.chunk)
            loss.backward()
            oo.step()
            oo.zero_grad(set_to_none=True)
        with torch.no_grad():
            diff = max(float((p - q).abs().max()) for p, q in zip(m.parameters(), m2.parameters()))
        res["ckpt_roundtrip"] = {"bytes": nbytes, "parts": nparts, "max_param_diff_after_step": diff}
        log(f"checkpoint round trip: {res['ckpt_roundtrip']}")
        for fn in os.listdir(ck):
            os.remove(os.path.join(ck, fn))
        os.rmdir(ck)
        hf_dir = os.path.join(a.out, "smoke_model")
        shards = export_hf(m, hf_dir)
        res["export"] = {fn: os.path.getsize(os.path.join(hf_dir, fn)) for fn in os.listdir(hf_dir)}
        log(f"export: {res['export']}")
        try:
            res["hf_check"] = hf_check(hf_dir, valid, a.seq_len, device, a.chunk, max_tokens=8192, log=log)
        except Exception as e:  # report, don't die
            import traceback
            res["hf_check"] = {"error": repr(e), "trace": traceback.format_exc()[-3000:]}
            log("hf_check failed: " + repr(e))
        try:
            import matplotlib  # noqa: F401
            res["matplotlib"] = matplotlib.__version__
        except Exception as e:
            res["matplotlib"] = repr(e)
        for fn in os.listdir(hf_dir):
            os.remove(os.path.join(hf_dir, fn))
        os.rmdir(hf_dir)
        json.dump(res, open(os.path.join(a.out, "smoke.json"), "w"), indent=1)
        return 0

    # ------------------------------------------------------------------ training
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    model = MambaLM(cfg)
    model.init_weights(a.seed)
    model.to(device)
    opt = make_opt(model, a.lr, a.wd, device)
    nparams = sum(p.numel() for p in model.parameters())
    config["params"] = nparams
    config["params_non_embedding"] = nparams - model.backbone.embeddings.weight.numel()
    history = {"train": [], "valid": [], "runs": []}
    step = 0
    if a.resume:
        params, opt_state, st = load_ckpt(a.resume)
        restore(model, opt, params, opt_state)
        step = st["step"]
        history = st["history"]
        old = st["config"]
        for k in ("d_model", "n_layer", "seq_len", "batch", "steps", "lr", "warmup", "seed", "min_lr_ratio"):
            if old[k] != config[k]:
                raise SystemExit(f"--resume: {k} differs: checkpoint {old[k]} vs now {config[k]}")
        log(f"resumed at step {step}")
    history["runs"].append({"start_step": step, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"})
    batches = Batches(train, a.seq_len, a.batch, a.seed)
    batches.seek(step * a.batch)
    vwin = eval_windows(valid, a.seq_len, a.eval_tokens)
    vwin_all = eval_windows(valid, a.seq_len)
    tps = a.batch * a.seq_len

    def state():
        return {"step": step, "history": history, "config": config}

    acc = torch.zeros((), device=device)
    nacc = 0
    t_last_ck = time.time()
    t_run = time.time()
    step0 = step
    step_times = []
    stopped_early = False
    while step < a.steps:
        if a.time_limit and step > step0:
            per = (time.time() - t_run) / (step - step0)
            if time.time() - t_start + per + a.reserve > a.time_limit:
                stopped_early = True
                log(f"time limit: stopping at step {step}")
                break
        lr = lr_at(step, a)
        for gr in opt.param_groups:
            gr["lr"] = lr
        w = batches.next().to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = ce_loss(model, w[:, :-1], w[:, 1:], a.chunk)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        acc += loss.detach()
        nacc += 1
        step += 1
        if step % a.log_every == 0 or step == a.steps:
            tl = float(acc) / nacc
            el = time.time() - t_run
            history["train"].append({"step": step, "tokens": step * tps, "loss": tl, "lr": lr, "grad_norm": float(gn),
                                     "epoch": step * tps / len(train)})
            log(f"step {step}/{a.steps} loss {tl:.4f} lr {lr:.2e} gnorm {float(gn):.3f} "
                f"epoch {step * tps / len(train):.2f} tok/s {(step - step0) * tps / el:,.0f}")
            acc.zero_()
            nacc = 0
            if not math.isfinite(tl):
                raise SystemExit("loss is not finite")
        if step % a.eval_every == 0 and step < a.steps:
            vl = evaluate(model, vwin, device, a.chunk)
            history["valid"].append({"step": step, "tokens": step * tps, "loss": vl, "subset_tokens": int(vwin[:, 1:].numel())})
            log(f"valid (first {vwin[:, 1:].numel()} tokens) loss {vl:.4f} ppl {math.exp(vl):.1f}")
        if time.time() - t_last_ck > a.ckpt_every and step < a.steps:
            history["runs"][-1]["tokens_per_s"] = (step - step0) * tps / (time.time() - t_run)
            nb, npt = save_ckpt(a.out, model, opt, state())
            json.dump({"config": config, **history}, open(os.path.join(a.out, "training_log.json"), "w"), indent=1)
            t_last_ck = time.time()
            log(f"checkpoint at step {step}: {nb} bytes in {npt} parts")
    history["runs"][-1].update({"end_step": step, "seconds": time.time() - t_run,
                                "tokens_per_s": (step - step0) * tps / max(1e-9, time.time() - t_run)})
    if stopped_early:
        save_ckpt(a.out, model, opt, state())
        json.dump({"config": config, **history}, open(os.path.join(a.out, "training_log.json"), "w"), indent=1)
        log(f"stopped at step {step} of {a.steps}; resume with --resume <folder with ckpt.partNN>")
        return 3
    vl = evaluate(model, vwin_all, device, a.chunk)
    history["valid"].append({"step": step, "tokens": step * tps, "loss": vl, "subset_tokens": int(vwin_all[:, 1:].numel())})
    history["final"] = {"step": step, "train_loss_last_interval": history["train"][-1]["loss"],
                        "valid_loss_full": vl, "valid_ppl_full": math.exp(vl),
                        "epochs": step * tps / len(train)}
    log(f"final: valid loss (all {vwin_all[:, 1:].numel()} tokens, bf16 autocast) {vl:.4f} ppl {math.exp(vl):.1f}")
    for fn in os.listdir(a.out):
        if fn.startswith("ckpt.part") or fn == "training_log.json":
            os.remove(os.path.join(a.out, fn))
    model_dir = os.path.join(a.out, "mamba-tiny")
    export_hf(model, model_dir)
    if a.hf_check:
        try:
            history["hf_check"] = hf_check(model_dir, valid, a.seq_len, device, a.chunk, log=log)
        except Exception as e:
            import traceback
            history["hf_check"] = {"error": repr(e)}
            log("hf_check failed: " + traceback.format_exc())
    json.dump({"config": config, **history}, open(os.path.join(model_dir, "training_log.json"), "w"), indent=1)
    try:
        plot_log(os.path.join(model_dir, "training_log.json"), os.path.join(model_dir, "loss_curve.png"))
    except Exception as e:
        log(f"plot failed ({e!r}); draw it later with --plot")
    log("done: " + ", ".join(sorted(os.listdir(model_dir))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
