#!/usr/bin/env python3
"""Known answers for golden::selective_scan_pseq: the PyTorch "P-seq" selective scan of spec §4.5.

An INDEPENDENT numpy float32 transcription of the §4.5 pseudo-code (it shares no code with qmsim's
C++ nor with tools/make_op_vectors.py). Every op is one np.float32 op (one IEEE binary32 rounding,
never an FMA); exp and log1p are evaluated in float64 and rounded to float32, and each such f64
value is asserted to lie farther than MARGIN = 1e-12 (relative) from a float32 rounding midpoint, so
the float32 result is the correctly rounded one (spec §5.8) with certainty: libm's f64 exp/log1p
err by < 1 f64 ulp (~2.2e-16 relative), far below the margin. (A 1e-9 margin is not usable: a
float32 half-ulp is only 3e-8..6e-8 relative, so ~2% of all values would be rejected.)
The Σ_n of y_t runs in ascending n starting from the first term (torch.sum's order is unspecified;
this is the fixed definition, spec §5.8 reduction rule).

Usage: python3 tools/make_pseq_vectors.py [out.json]   (default tests/data/ops/selective_scan_pseq.json)
"""
import json
import math
import os
import sys

import numpy as np

F32 = np.float32
ONE, ZERO, TWENTY = F32(1.0), F32(0.0), F32(20.0)
MARGIN = 1e-12


def bits32(x):
    return int(np.array([x], dtype=np.float32).view(np.uint32)[0])


def bits16(x):
    return int(np.array([np.float16(F32(x))], dtype=np.float16).view(np.uint16)[0])  # numpy f32->f16 is RNE


def round_certain(v):
    """float64 -> float32, asserting the f64 value is not within MARGIN (relative) of a rounding midpoint."""
    r = F32(v)
    if math.isfinite(v) and v != 0.0 and np.isfinite(r):
        for nb in (np.nextafter(r, F32(np.inf)), np.nextafter(r, F32(-np.inf))):
            if np.isfinite(nb):
                mid = (float(r) + float(nb)) / 2.0  # exact in f64
                assert abs(v - mid) > MARGIN * abs(v), f"f64 value {v!r} too close to a f32 midpoint"
    return r


def exp32(x):
    return round_certain(math.exp(float(x)))


def log1p32(x):
    return round_certain(math.log1p(float(x)))


def pseq(L, E, N, u_q, u_f, dt, B, C, z, A_log, Dq, dtb, s):
    """spec §4.5 P-seq, literally: [L,E] token-major, returns y f16 bits [L,E] and final h [E,N] f32."""
    u = np.empty((L, E), dtype=np.float32)
    for t in range(L):
        for e in range(E):
            u[t, e] = F32(int(u_q[t, e])) * s["u"] if u_q is not None else u_f[t, e]
    zz = np.empty((L, E), dtype=np.float32)
    dtv = np.empty((L, E), dtype=np.float32)
    for t in range(L):
        for e in range(E):
            zz[t, e] = F32(int(z[t, e])) * s["z"]
            d = (F32(int(dt[t, e])) * s["dt"]) + (F32(int(dtb[e])) * s["dt_bias"])
            dtv[t, e] = log1p32(exp32(d)) if d <= TWENTY else d
    Dv = [F32(int(Dq[e])) * s["D"] for e in range(E)]
    A = [[-exp32(F32(int(A_log[e, n])) * s["A"]) for n in range(N)] for e in range(E)]
    Bf = [[F32(int(B[t, n])) * s["B"] for n in range(N)] for t in range(L)]
    Cf = [[F32(int(C[t, n])) * s["C"] for n in range(N)] for t in range(L)]
    y16 = np.zeros((L, E), dtype=np.int64)
    h = [[ZERO] * N for _ in range(E)]
    for t in range(L):
        for e in range(E):
            d, ut = dtv[t, e], u[t, e]
            terms = []
            for n in range(N):
                dA = exp32(d * A[e][n])
                dBu = (d * Bf[t][n]) * ut
                h[e][n] = (dA * h[e][n]) + dBu
                terms.append(h[e][n] * Cf[t][n])
            y = terms[0]
            for term in terms[1:]:
                y = y + term
            y = y + (ut * Dv[e])
            silu = zz[t, e] / (ONE + exp32(-zz[t, e]))
            y = y * silu
            assert all(isinstance(v, np.float32) for v in (y, silu, d, ut))
            y16[t, e] = bits16(y)
    state = np.array(h, dtype=np.float32)
    return y16, state


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "ops",
                                                             "selective_scan_pseq.json")
    rng = np.random.default_rng(20261125)
    cases = []
    specs = [("int8u_L7_E5_N4", 7, 5, 4, "int8", 0.004), ("f32u_true_L7_E5_N4", 7, 5, 4, "f32", 0.004),
             ("int8u_L1_E5_N4", 1, 5, 4, "int8", 0.004), ("f32u_true_L1_E5_N4", 1, 5, 4, "f32", 0.004),
             ("f32u_softplus_threshold_L7_E5_N4", 7, 5, 4, "f32", 0.2)]
    for name, L, E, N, uform, dt_scale in specs:
        i8 = lambda shape, lo=-128, hi=127: rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
        u_q = i8((L, E))
        dt, z, B, C = i8((L, E)), i8((L, E)), i8((L, N)), i8((L, N))
        A_log = i8((E, N), 0, 127)
        Dq, dtb = i8((E,), -127, 127), i8((E,), -127, -40)
        s = {"u": F32(0.021), "dt": F32(dt_scale), "B": F32(np.float16(0.013)), "C": F32(np.float16(0.013)),
             "z": F32(np.float16(0.037)), "A": F32(math.log(N + 1.05) / 127), "D": F32(1.06 / 127),
             "dt_bias": F32(6.9 / 127), "state": F32(0.0029)}
        u_f = None
        if uform == "f32":  # TRUE FP32 u: off the int8 grid
            u_f = (rng.standard_normal((L, E)) * 1.3).astype(np.float32)
            u_q = None
        y16, state = pseq(L, E, N, u_q, u_f, dt, B, C, z, A_log, Dq, dtb, s)
        if name.startswith("f32u_softplus"):
            big = sum(1 for t in range(L) for e in range(E)
                      if (F32(int(dt[t, e])) * s["dt"]) + (F32(int(dtb[e])) * s["dt_bias"]) > TWENTY)
            assert big > 0, "no dt above the softplus threshold"
        L8 = lambda a: [int(v) for v in np.asarray(a).reshape(-1)]
        cases.append({"name": name, "L": L, "E": E, "N": N,
                      "u_q": L8(u_q) if u_q is not None else None,
                      "u_f32": [bits32(v) for v in u_f.reshape(-1)] if u_f is not None else None,
                      "dt": L8(dt), "B": L8(B), "C": L8(C), "z": L8(z), "A_log": L8(A_log), "D": L8(Dq),
                      "dt_bias": L8(dtb), "scales_f32": {k: bits32(v) for k, v in s.items()},
                      "y_f16": L8(y16), "state_f32": [bits32(v) for v in state.reshape(-1)]})
    doc = {"generator": "tools/make_pseq_vectors.py (independent numpy float32; exp/log1p via f64, rounding "
                        "certified 1e-12 from a midpoint)",
           "spec": "quamba-w8a8.md §4.5 P-seq, §5.8 (sum over n ascending from the first term)",
           "op": "selective_scan_pseq", "layouts": "u,dt,z,y [L,E]; B,C [L,N]; A_log,state [E,N]; D,dt_bias [E]",
           "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
