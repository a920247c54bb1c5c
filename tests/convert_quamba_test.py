#!/usr/bin/env python3
"""Round trip qmsim quantized model -> Quamba checkpoint (fixture) -> tools/convert_quamba.py -> qmsim.

    python3 tests/convert_quamba_test.py --qmsim build/bin/qmsim [unittest options]

Checks (stdlib unittest + numpy, no torch):
1. tools/make_quamba_fixture.py writes a torch-zip pytorch_model.bin in Quamba's key layout from a
   small calibrated qmsim model (synth mamba-small-test, 4 calibration documents);
2. tools/convert_quamba.py converts it back;
3. every tensor and scale equals the original bit for bit, config.json is byte-identical and only
   the metadata differs (converted_from, source hashes, profile quamba-compat);
4. `qmsim eval --mode 0 --limit 3` gives identical per-document log-likelihoods for the converted
   model and the original run with --profile quamba-compat;
5. bad inputs (forbidden pickle global -- never executed --, missing key, wrong shape/dtype,
   truncated file, legacy format, ...) give one clear error line naming the file and key, exit 1.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pickletools
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
sys.path.insert(0, TOOLS)
import convert_quamba as cq  # noqa: E402
import make_quamba_fixture as mf  # noqa: E402

CONVERTER = os.path.join(TOOLS, "convert_quamba.py")
QMSIM = os.path.join(ROOT, "build", "bin", "qmsim")


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ConvertQuambaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qmsim-convert-quamba-")
        t = cls.tmp
        cls.fp, cls.q = os.path.join(t, "fp"), os.path.join(t, "q")
        cls.quamba, cls.conv = os.path.join(t, "quamba"), os.path.join(t, "conv")
        for cmd in ([QMSIM, "synth", "--shape", "mamba-small-test", "--seed", "1", "--out", cls.fp],
                    [QMSIM, "calibrate", "--model", cls.fp, "--out", cls.q, "--docs", "4", "--seqlen", "64"]):
            r = run(cmd, cwd=ROOT)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
        mf.write_fixture(cls.q, cls.quamba)
        r = run([sys.executable, CONVERTER, cls.quamba, "--out", cls.conv])
        if r.returncode != 0:
            raise RuntimeError(f"conversion failed:\n{r.stdout}\n{r.stderr}")
        cls.config, cls.tensors, cls.meta = mf.read_qmsim_model(cls.q)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---------------------------------------------------------------------------- helpers
    def bad_dir(self, name, state=None, config=None, raw=None):
        """A Quamba model dir with a damaged state dict / config / raw weight bytes."""
        d = os.path.join(self.tmp, "bad", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config if config is not None else mf.quamba_config(self.config), f)
        path = os.path.join(d, "pytorch_model.bin")
        if raw is not None:
            with open(path, "wb") as f:
                f.write(raw)
        else:
            mf.write_torch_checkpoint(path, state if state is not None else self.state())
        return d

    def state(self):
        return mf.quamba_state(self.config, self.tensors)

    def expect_error(self, src, *needles, extra=()):
        out = os.path.join(self.tmp, "out-" + os.path.basename(src))
        r = run([sys.executable, CONVERTER, src, "--out", out, "--no-torch", *extra])
        self.assertEqual(r.returncode, 1, r.stderr + r.stdout)
        self.assertNotIn("Traceback", r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("error: "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertFalse(os.path.exists(os.path.join(out, "model.safetensors")))
        return lines[0]

    # ---------------------------------------------------------------------------- 1. fixture layout
    def test_fixture_is_a_torch_zip_in_quamba_layout(self):
        path = os.path.join(self.quamba, "pytorch_model.bin")
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            self.assertEqual(names[:2], ["pytorch_model/data.pkl", "pytorch_model/byteorder"])
            self.assertEqual(names[-1], "pytorch_model/version")
            self.assertEqual(zf.read("pytorch_model/byteorder"), b"little")
            for info in zf.infolist():
                self.assertEqual(info.compress_type, zipfile.ZIP_STORED)
                data_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                if "/data/" in info.filename:
                    self.assertEqual(data_at % 64, 0, info.filename)
            pkl = zf.read("pytorch_model/data.pkl")
        self.assertEqual(pkl[:2], b"\x80\x02")  # protocol 2, as torch.save
        globals_ = {arg for op, arg, _ in pickletools.genops(pkl) if op.name == "GLOBAL"}
        self.assertEqual(globals_, {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch CharStorage",
                                    "torch HalfStorage", "torch FloatStorage"})
        state = cq.load_torch_checkpoint(path, use_torch=False)
        self.assertIn("backbone.layers.0", state._metadata)
        E, R, N = 256, 8, 16
        xw = state["backbone.layers.1.mixer.x_proj.weight"]
        self.assertEqual((xw.dtype, xw.shape), ("int8", (E, 48)))  # [in, R + 2N padded from 40 to 48]
        self.assertFalse(xw.array[:, R + 2 * N:].any())
        self.assertIsInstance(state["backbone.layers.1.mixer.x_proj.alpha"], float)
        self.assertEqual(state["backbone.layers.1.mixer.x_proj.a"].shape, (1, 1))
        self.assertEqual(state["backbone.layers.1.mixer.selective_scan.u_scale"].shape, ())
        self.assertEqual(len(state), 3 + 4 * 37)  # per layer: norm 2, linears 4 x 4, conv 6, scan 12, had 1

    # ---------------------------------------------------------------------------- 2./3. round trip
    def test_round_trip_bit_for_bit(self):
        conv, conv_meta = cq.read_safetensors(os.path.join(self.conv, "model.safetensors"))
        self.assertEqual(list(conv), list(self.tensors))
        for name, t in self.tensors.items():
            c = conv[name]
            self.assertEqual((c.dtype, c.shape), (t.dtype, t.shape), name)
            self.assertEqual(c.array.tobytes(), t.array.tobytes(), name)
        with open(os.path.join(self.q, "config.json"), "rb") as a, open(os.path.join(self.conv, "config.json"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        meta = json.loads(conv_meta["qmsim"])
        self.assertEqual(meta["converted_from"], "quamba")
        self.assertEqual(meta["numerics_profile"], "quamba-compat")
        self.assertEqual(meta["source_file"], "pytorch_model.bin")
        self.assertEqual(meta["source_sha256"], sha256(os.path.join(self.quamba, "pytorch_model.bin")))
        self.assertEqual(meta["source_config_sha256"], sha256(os.path.join(self.quamba, "config.json")))
        self.assertEqual(meta["quamba_config"]["ssm_cfg"]["layer"], "W8A8QMamba")

    def test_writer_lays_out_safetensors_as_qmsim(self):
        # Same tensors + the original metadata through the converter's writer == qmsim's file, byte for byte.
        path = os.path.join(self.q, "model.safetensors")
        _, meta = cq.read_safetensors(path)
        tensors = {n: (cq._ST_NAME[t.dtype], t.shape, t.array.tobytes()) for n, t in self.tensors.items()}
        with open(path, "rb") as f:
            self.assertEqual(cq.safetensors_bytes(tensors, meta), f.read())

    def test_safetensors_quamba_input(self):
        # A Quamba state dict saved as safetensors (scalars as f32 [] tensors, weights [in, out + pad]).
        state = self.state()
        tensors = {}
        for k, v in state.items():
            if isinstance(v, float):
                tensors[k] = ("F32", (), np.float32(v).tobytes())
            else:
                view = np.lib.stride_tricks.as_strided(v.storage[v.offset:], v.size,
                                                       tuple(s * v.storage.itemsize for s in v.stride))
                arr = np.ascontiguousarray(view)
                tensors[k] = ({"int8": "I8", "float16": "F16", "float32": "F32"}[arr.dtype.name], arr.shape,
                              arr.tobytes())
        d = os.path.join(self.tmp, "quamba-st")
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(self.quamba, "config.json"), d)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(cq.safetensors_bytes(tensors, {}))
        out = os.path.join(self.tmp, "conv-st")
        r = run([sys.executable, CONVERTER, d, "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        conv, meta = cq.read_safetensors(os.path.join(out, "model.safetensors"))
        self.assertEqual(json.loads(meta["qmsim"])["source_format"], "safetensors")
        for name, t in self.tensors.items():
            self.assertEqual(conv[name].array.tobytes(), t.array.tobytes(), name)

    # ---------------------------------------------------------------------------- 4. qmsim eval
    def test_eval_identical_loglikelihoods(self):
        results = {}
        for tag, model, extra in (("orig", self.q, ["--profile", "quamba-compat"]), ("conv", self.conv, [])):
            out = os.path.join(self.tmp, f"eval-{tag}.json")
            r = run([QMSIM, "eval", "--model", model, "--mode", "0", "--limit", "3", "--no-progress",
                     "--output", out, *extra], cwd=ROOT)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(out) as f:
                results[tag] = json.load(f)
        self.assertEqual(results["conv"]["config"]["numerics_profile"], "quamba-compat")
        self.assertEqual(results["orig"]["config"]["numerics_profile"], "quamba-compat")
        samples = {k: v["samples"]["lambada_openai"] for k, v in results.items()}
        self.assertEqual(len(samples["orig"]), 3)
        for a, b in zip(samples["orig"], samples["conv"]):
            self.assertEqual(a["loglikelihood"], b["loglikelihood"])
            self.assertEqual(a["is_greedy"], b["is_greedy"])
        self.assertEqual(results["orig"]["results"], results["conv"]["results"])

    # ---------------------------------------------------------------------------- 5. errors
    def test_forbidden_global_is_not_executed(self):
        marker = os.path.join(self.tmp, "pwned-marker")
        cmd = f"touch {marker}"
        evil = (b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd.encode() + b"\x85R.")
        raw = mf.torch_zip_bytes([("data.pkl", evil), ("byteorder", b"little"), ("version", b"3\n")])
        d = self.bad_dir("evil", raw=raw)
        self.expect_error(d, "pytorch_model.bin", "data.pkl", "forbidden global 'os.system'")
        self.assertFalse(os.path.exists(marker))
        # The default path (torch.load(weights_only=True) where torch exists) must refuse it too.
        r = run([sys.executable, CONVERTER, d, "--out", os.path.join(self.tmp, "out-evil2")])
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("Traceback", r.stderr)
        self.assertFalse(os.path.exists(marker))
        # A forbidden global hidden between valid tensors of a real state dict.
        state = collections.OrderedDict()
        for i, (k, v) in enumerate(self.state().items()):
            state[k] = v
            if i == 10:
                state["evil"] = mf.Reduce(mf.Global("builtins", "eval"), (f"open({marker!r}, 'w')",))
        self.expect_error(self.bad_dir("evil-nested", state), "pytorch_model.bin", "forbidden global 'builtins.eval'")
        self.assertFalse(os.path.exists(marker))
        # The payload is live: a plain pickle.loads (in a child process) does create the marker.
        r = subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                           input=evil, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertTrue(os.path.exists(marker), r.stderr)

    def test_missing_key(self):
        state = self.state()
        del state["backbone.layers.2.mixer.x_proj.alpha"]
        self.expect_error(self.bad_dir("missing", state), "pytorch_model.bin", "backbone.layers.2.mixer.x_proj.alpha",
                          "missing key")

    def test_wrong_shape(self):
        state = self.state()
        state["backbone.layers.1.mixer.conv1d.weight"] = mf.FixtureTensor.of(np.zeros((256, 5), np.int8))
        self.expect_error(self.bad_dir("shape", state), "backbone.layers.1.mixer.conv1d.weight",
                          "wrong shape [256, 5], expected [256, 4]")
        state = self.state()
        state["backbone.layers.0.mixer.out_proj.weight"] = mf.FixtureTensor.of(np.zeros((128, 256), np.int8))
        self.expect_error(self.bad_dir("shape2", state), "backbone.layers.0.mixer.out_proj.weight", "wrong shape")

    def test_wrong_dtype(self):
        state = self.state()
        state["backbone.layers.3.mixer.selective_scan.A_log"] = mf.FixtureTensor.of(np.zeros((256, 16), np.float32))
        self.expect_error(self.bad_dir("dtype", state), "backbone.layers.3.mixer.selective_scan.A_log",
                          "wrong dtype float32, expected int8")
        state = self.state()
        state["backbone.layers.0.mixer.in_proj.a"] = mf.FixtureTensor.of(np.ones((1, 1), np.float16))
        self.expect_error(self.bad_dir("dtype2", state), "backbone.layers.0.mixer.in_proj.a", "wrong dtype float16")

    def test_truncated_file(self):
        with open(os.path.join(self.quamba, "pytorch_model.bin"), "rb") as f:
            raw = f.read()
        self.expect_error(self.bad_dir("trunc", raw=raw[: len(raw) // 2]), "pytorch_model.bin", "truncated")
        self.expect_error(self.bad_dir("trunc-head", raw=raw[:10]), "pytorch_model.bin", "truncated")
        # A storage record shorter than its persistent id says.
        pkl, storages = mf.pickle_state(self.state())
        records = [("data.pkl", pkl), ("byteorder", b"little")]
        records += [(f"data/{k}", a.tobytes()[:-1] if k == "5" else a.tobytes()) for k, a in storages]
        self.expect_error(self.bad_dir("short-storage", raw=mf.torch_zip_bytes(records)), "pytorch_model/data/5",
                          "storage holds")
        # Corrupted storage bytes (CRC mismatch).
        data = bytearray(raw)
        data[len(raw) // 2] ^= 0xFF
        self.expect_error(self.bad_dir("crc", raw=bytes(data)), "pytorch_model.bin", "corrupt")

    def test_legacy_and_foreign_formats(self):
        legacy = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."
        self.expect_error(self.bad_dir("legacy", raw=legacy), "pytorch_model.bin", "legacy")
        self.expect_error(self.bad_dir("text", raw=b"hello"), "pytorch_model.bin", "not a torch zip checkpoint")

    def test_bad_values(self):
        state = self.state()
        state["backbone.layers.0.mixer.in_proj.alpha"] = 0.1  # not an f32 value
        self.expect_error(self.bad_dir("notf32", state), "backbone.layers.0.mixer.in_proj.alpha", "not exactly an f32")
        state = self.state()
        state["backbone.layers.0.mixer.had.x_H_scale"] = -1.0
        self.expect_error(self.bad_dir("neg", state), "backbone.layers.0.mixer.had.x_H_scale", "finite and positive")
        state = self.state()
        w = state["backbone.layers.2.mixer.x_proj.weight"]
        w.storage = w.storage.copy()
        w.storage[-1] = 3  # a padding row of the [48, 256] buffer
        self.expect_error(self.bad_dir("pad", state), "backbone.layers.2.mixer.x_proj.weight", "padding rows")
        state = self.state()
        state["backbone.layers.1.norm.weight"] = mf.FixtureTensor.of(np.full(128, 2, np.float16))
        self.expect_error(self.bad_dir("norm", state), "backbone.layers.1.norm.weight", "all ones")
        state = self.state()
        state["lm_head.bias"] = mf.FixtureTensor.of(np.zeros(50280, np.float16))
        self.expect_error(self.bad_dir("extra", state), "lm_head.bias", "unexpected key")
        state = self.state()
        t = state["backbone.layers.0.mixer.conv1d.bias"]
        state["backbone.layers.0.mixer.conv1d.bias"] = mf.FixtureTensor(t.storage, t.size, offset=5)
        self.expect_error(self.bad_dir("view", state), "backbone.layers.0.mixer.conv1d.bias", "reaches past its storage")

    def test_bad_config(self):
        config = mf.quamba_config(self.config)
        config["ssm_cfg"]["layer"] = "W4A8QMamba"
        self.expect_error(self.bad_dir("cfg-layer", config=config), "config.json", "ssm_cfg.layer")
        config = mf.quamba_config(self.config)
        config["embedding_cfg"] = {"layer": "W8O16Embedding"}
        self.expect_error(self.bad_dir("cfg-emb", config=config), "config.json", "embedding_cfg.layer")
        config = mf.quamba_config(self.config)
        del config["n_layer"]
        self.expect_error(self.bad_dir("cfg-nlayer", config=config), "config.json", "n_layer")
        config = mf.quamba_config(self.config)
        config["n_layer"] = 5
        self.expect_error(self.bad_dir("cfg-5", config=config), "backbone.layers.4.", "missing key")

    def test_refuses_to_overwrite(self):
        r = run([sys.executable, CONVERTER, self.quamba, "--out", self.conv, "--no-torch"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("--force", r.stderr)
        out = os.path.join(self.tmp, "conv-force")
        for _ in range(2):
            r = run([sys.executable, CONVERTER, self.quamba, "--out", out, "--force", "--no-torch"])
            self.assertEqual(r.returncode, 0, r.stderr)


def main():
    global QMSIM
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--qmsim", default=QMSIM)
    args, rest = parser.parse_known_args()
    QMSIM = os.path.abspath(args.qmsim)
    if not os.path.isfile(QMSIM):
        print(f"error: qmsim binary not found: {QMSIM} (pass --qmsim)", file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
