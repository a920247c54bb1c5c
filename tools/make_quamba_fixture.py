#!/usr/bin/env python3
"""Write a Quamba W8A8 checkpoint (pytorch_model.bin + config.json, the ORIGINAL's key layout and
torch zip format) from a qmsim quantized model -- without torch.

Usage:
    python3 tools/make_quamba_fixture.py QMSIM_MODEL_DIR --out DIR

This inverts tools/convert_quamba.py (whose docstring has the key table and the spec/code
citations), so ``convert_quamba.py DIR`` must give back the qmsim model's tensors bit for bit.
Layout written, as ``MambaLMHeadModel.save_pretrained`` + ``torch.save`` produce it
(UP:quamba/modelutils_mamba.py:853-872; UP = enyac-group/Quamba @ c474646):

* ``pytorch_model.bin``: a zip (stored, no compression, each storage's data 64-byte aligned through
  an ``FB`` extra field like PyTorchStreamWriter) with ``pytorch_model/data.pkl`` (pickle protocol
  2), ``pytorch_model/byteorder`` (``little``), ``pytorch_model/data/<key>`` (raw little-endian
  storages, keys "0", "1", ... in pickling order, records in sorted key order) and
  ``pytorch_model/version`` (``3``). torch 2.11's torch.save also writes ``.format_version``,
  ``.storage_alignment`` and ``.data/serialization_id``, which readers do not need. Checked on a
  machine with torch 2.11: torch.load(weights_only=True) reads this file, and its data.pkl equals
  torch.save's byte for byte except the storage location string ('cuda:0' here, 'cpu' there).
* ``data.pkl``: ``collections.OrderedDict`` (REDUCE, SETITEMS, then BUILD with ``_metadata``) whose
  tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
  OrderedDict())`` with the storage as persistent id ``('storage', torch.<T>Storage, key,
  'cuda:0', numel)`` -- what ``torch.load(weights_only=True)`` reads.
* Keys in module registration order; linear weights as int8 transposed views ``[in, out + pad]``,
  stride ``(1, in)`` of a row-major ``[out + pad, in]`` buffer whose padding rows (out dimension up
  to a multiple of 16) are zero (UP:quamba/qLinearLayer.py:547-554,573); ``a``/``b`` f32 [1, 1];
  selective-scan scales f32 []; ``alpha``, ``norm.output_scale``, conv scales and ``x_H_scale``
  Python floats; per-layer ``norm.weight`` f16 ones; embedding, ``norm_f``, ``lm_head`` f16.
* ``config.json``: mamba_ssm's MambaConfig fields + the ones quantize_model_mamba sets
  (``ssm_cfg.layer = "W8A8QMamba"``, ``norm_cfg``, ``embedding_cfg``, ``lm_head_cfg``,
  ``tie_embeddings = false``); ``vocab_size`` 50277 when the padded vocabulary is 50280
  (GPT-NeoX, as in quamba-130m-w8a8).

The functions are importable so tests can write damaged variants (missing key, wrong shape, ...).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import struct
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_quamba as cq  # noqa: E402

import numpy as np  # noqa: E402

_STORAGE_OF = {"int8": "CharStorage", "float16": "HalfStorage", "float32": "FloatStorage",
               "uint8": "ByteStorage", "int32": "IntStorage", "int64": "LongStorage", "float64": "DoubleStorage"}


class FixtureTensor:
    """A tensor to pickle: a view (offset, size, stride) of a 1-D storage array."""

    def __init__(self, storage, size, stride=None, offset=0):
        self.storage = np.ascontiguousarray(storage).reshape(-1)
        self.size = tuple(int(d) for d in size)
        if stride is None:  # C-contiguous
            stride, acc = [], 1
            for d in reversed(self.size):
                stride.insert(0, acc)
                acc *= d
        self.stride = tuple(int(s) for s in stride)
        self.offset = int(offset)

    @property
    def dtype(self):
        return self.storage.dtype.name

    @staticmethod
    def of(array):
        array = np.array(array, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
        return FixtureTensor(array.reshape(-1), array.shape)


class Global:
    """A pickled reference to module.name (written as GLOBAL, never imported here)."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Reduce:
    """func(*args) in the pickle: GLOBAL func, args tuple, REDUCE."""

    def __init__(self, func, args):
        self.func, self.args = func, tuple(args)


class PickleWriter:
    """Protocol-2 pickle emitter for state dicts (what torch.save's pickler writes for them)."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo = 0
        self.global_memo = {}
        self.str_memo = {}
        self.storage_keys = {}  # id(storage array) -> key
        self.storages = []      # (key, array)

    def _put(self):
        i = self.memo
        self.memo += 1
        self.out += (b"q" + bytes([i])) if i < 256 else (b"r" + struct.pack("<I", i))
        return i

    def _get(self, i):
        self.out += (b"h" + bytes([i])) if i < 256 else (b"j" + struct.pack("<I", i))

    def global_(self, g):
        key = (g.module, g.name)
        if key in self.global_memo:
            self._get(self.global_memo[key])
            return
        self.out += b"c" + f"{g.module}\n{g.name}\n".encode("ascii")
        self.global_memo[key] = self._put()

    def save(self, v):
        out = self.out
        if v is None:
            out += b"N"
        elif v is True:
            out += b"\x88"
        elif v is False:
            out += b"\x89"
        elif isinstance(v, int):
            if 0 <= v < 256:
                out += b"K" + bytes([v])
            elif 0 <= v < 65536:
                out += b"M" + struct.pack("<H", v)
            elif -(2 ** 31) <= v < 2 ** 31:
                out += b"J" + struct.pack("<i", v)
            else:
                raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
                out += b"\x8a" + bytes([len(raw)]) + raw
        elif isinstance(v, float):
            out += b"G" + struct.pack(">d", v)
        elif isinstance(v, str):
            if v in self.str_memo:
                self._get(self.str_memo[v])
                return
            raw = v.encode("utf-8")
            out += b"X" + struct.pack("<I", len(raw)) + raw
            self.str_memo[v] = self._put()
        elif isinstance(v, tuple):
            if not v:
                out += b")"
                return
            if len(v) <= 3:
                for x in v:
                    self.save(x)
                self.out += b"\x85\x86\x87"[len(v) - 1:len(v)]
            else:
                self.out += b"("
                for x in v:
                    self.save(x)
                self.out += b"t"
            self._put()
        elif isinstance(v, Global):
            self.global_(v)
        elif isinstance(v, Reduce):
            self.global_(v.func)
            self.save(v.args)
            self.out += b"R"
            self._put()
        elif isinstance(v, collections.OrderedDict):
            self.global_(Global("collections", "OrderedDict"))
            self.out += b")R"
            self._put()
            self._items(list(v.items()))
            state = getattr(v, "__dict__", None)
            if state:
                self.save(dict(state))
                self.out += b"b"  # BUILD
        elif isinstance(v, dict):
            self.out += b"}"
            self._put()
            self._items(list(v.items()))
        elif isinstance(v, FixtureTensor):
            self._tensor(v)
        else:
            raise TypeError(f"cannot pickle {type(v).__name__}")

    def _items(self, items):
        for start in range(0, len(items), 1000):  # pickle's batch size
            batch = items[start:start + 1000]
            if len(batch) == 1:
                self.save(batch[0][0])
                self.save(batch[0][1])
                self.out += b"s"
            else:
                self.out += b"("
                for k, x in batch:
                    self.save(k)
                    self.save(x)
                self.out += b"u"

    def _tensor(self, t):
        key = self.storage_keys.get(id(t.storage))
        if key is None:
            key = str(len(self.storage_keys))
            self.storage_keys[id(t.storage)] = key
            self.storages.append((key, t.storage))
        self.global_(Global("torch._utils", "_rebuild_tensor_v2"))
        self.out += b"("
        self.save(("storage", Global("torch", _STORAGE_OF[t.dtype]), key, "cuda:0", int(t.storage.size)))
        self.out += b"Q"  # BINPERSID
        self.save(t.offset)
        self.save(t.size)
        self.save(t.stride)
        self.save(False)
        self.save(collections.OrderedDict())
        self.out += b"t"
        self._put()
        self.out += b"R"
        self._put()

    def finish(self):
        return bytes(self.out) + b"."


def pickle_state(state):
    """(data.pkl bytes, [(storage key, array)]) for a state dict."""
    w = PickleWriter()
    w.save(state)
    return w.finish(), w.storages


def torch_zip_bytes(records, archive="pytorch_model"):
    """A zip laid out as PyTorchStreamWriter: stored records under ARCHIVE/, data 64-byte aligned."""
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=False) as zf:
        for name, data in records:
            full = f"{archive}/{name}"
            info = zipfile.ZipInfo(full, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 0
            if name.startswith("data/"):  # storages start on a 64-byte boundary (kFieldAlignment)
                start = buf.tell() + 30 + len(full.encode()) + 4
                pad = -start % 64
                info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zf.writestr(info, data)
    return buf.getvalue()


def write_torch_checkpoint(path, state):
    pkl, storages = pickle_state(state)
    records = [("data.pkl", pkl), ("byteorder", b"little")]
    for key, arr in sorted(storages, key=lambda kv: kv[0]):
        records.append((f"data/{key}", arr.astype(arr.dtype.newbyteorder("<")).tobytes()))
    records.append(("version", b"3\n"))
    archive = os.path.splitext(os.path.basename(path))[0] or "archive"
    with open(path, "wb") as f:
        f.write(torch_zip_bytes(records, archive))


# --------------------------------------------------------------------------------------------

def read_qmsim_model(qdir):
    """(config dict, {name: Tensor}, metadata dict) of a qmsim quantized model directory."""
    with open(os.path.join(qdir, "config.json")) as f:
        config = json.load(f)
    if config.get("qmsim_format") != cq.FORMAT_VERSION:
        raise cq.ConvertError(os.path.join(qdir, "config.json"), "qmsim_format", "not a qmsim quantized model")
    index = os.path.join(qdir, "model.safetensors.index.json")
    tensors, meta = collections.OrderedDict(), {}
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for name in files:
        t, m = cq.read_safetensors(os.path.join(qdir, name))
        tensors.update(t)
        meta = meta or m
    return config, tensors, json.loads(meta.get("qmsim", "{}"))


def quamba_config(config):
    """mamba_ssm MambaConfig dict (as Quamba writes it) for a qmsim config."""
    D, vocab = config["hidden_size"], config["vocab_size"]
    ssm = {"layer": "W8A8QMamba"}
    for key, hf, default in (("d_state", "state_size", 16), ("d_conv", "conv_kernel", 4), ("expand", "expand", 2)):
        if config.get(hf, default) != default:
            ssm[key] = config[hf]
    if config.get("time_step_rank", -(-D // 16)) != -(-D // 16):
        ssm["dt_rank"] = config["time_step_rank"]
    out = {
        "d_model": D, "d_intermediate": 0, "n_layer": config["num_hidden_layers"],
        "vocab_size": 50277 if vocab == 50280 else vocab, "ssm_cfg": ssm, "attn_layer_idx": [], "attn_cfg": {},
        "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8,
        "tie_embeddings": False, "norm_cfg": {"norm": "QRMSNorm"}, "embedding_cfg": {"layer": "Embedding"},
        "lm_head_cfg": {"layer": "Linear"},
    }
    eps = config.get("layer_norm_epsilon", 1e-5)
    if eps != 1e-5:
        out["norm_epsilon"] = eps
    return out


def quamba_state(config, tensors):
    """The Quamba state dict (OrderedDict in module registration order) of a qmsim model."""
    shape = cq.parse_quamba_config(quamba_config(config), "config.json")
    if "lm_head.weight" not in tensors:
        raise cq.ConvertError("model.safetensors", "lm_head.weight", "tied models cannot be written as Quamba")

    def arr(name):
        return tensors[name].array

    def f32(name):
        return np.float32(arr(name).reshape(-1)[0])

    state = collections.OrderedDict()
    modules = ["", "backbone", "backbone.embedding", "backbone.layers"]
    state["backbone.embedding.weight"] = FixtureTensor.of(arr("backbone.embedding.weight").astype("<f2"))
    linears = {suffix: (n_out, n_in) for suffix, n_out, n_in in cq.linear_shapes(shape)}
    for i in range(shape.L):
        p = f"backbone.layers.{i}."
        modules += [p[:-1], p + "mixer"]

        def linear(suffix):
            n_out, n_in = linears[suffix + ".weight"]
            w = np.zeros((cq.pad16(n_out), n_in), dtype=np.int8)
            w[:n_out] = arr(p + suffix + ".weight").reshape(n_out, n_in)
            state[p + suffix + ".weight"] = FixtureTensor(w.reshape(-1), (n_in, w.shape[0]), (1, n_in))
            state[p + suffix + ".a"] = FixtureTensor.of(np.full((1, 1), f32(p + suffix + ".a"), dtype="<f4"))
            state[p + suffix + ".b"] = FixtureTensor.of(np.full((1, 1), f32(p + suffix + ".b"), dtype="<f4"))
            state[p + suffix + ".alpha"] = float(f32(p + suffix + ".alpha"))
            modules.append(p + suffix)

        linear("mixer.in_proj")
        c = p + "mixer.conv1d."
        state[c + "weight"] = FixtureTensor.of(arr(c + "weight").astype("<i1"))
        state[c + "bias"] = FixtureTensor.of(arr(c + "bias").astype("<i1"))
        for s in ("weight_scale", "bias_scale", "input_scale", "output_scale"):
            state[c + s] = float(f32(c + s))
        modules.append(c[:-1])
        linear("mixer.x_proj")
        linear("mixer.dt_proj")
        s = p + "mixer.selective_scan."
        for name in ("dt_bias", "dt_bias_scale", "A_log", "A_scale", "D", "D_scale", "u_scale", "dt_scale",
                     "B_scale", "C_scale", "z_scale", "ssm_state_scale"):
            if name.endswith("_scale"):
                state[s + name] = FixtureTensor.of(np.array(f32(s + name), dtype="<f4"))
            else:
                state[s + name] = FixtureTensor.of(arr(s + name).astype("<i1"))
        state[p + "mixer.had.x_H_scale"] = float(f32(p + "mixer.had.x_H_scale"))
        modules += [s[:-1], p + "mixer.had"]
        linear("mixer.out_proj")
        state[p + "norm.weight"] = FixtureTensor.of(np.ones(shape.D, dtype="<f2"))
        state[p + "norm.output_scale"] = float(f32(p + "norm.output_scale"))
        modules.append(p + "norm")
    state["backbone.norm_f.weight"] = FixtureTensor.of(arr("backbone.norm_f.weight").astype("<f2"))
    state["lm_head.weight"] = FixtureTensor.of(arr("lm_head.weight").astype("<f2"))
    modules += ["backbone.norm_f", "lm_head"]
    # torch's state_dict() carries the module versions as the OrderedDict attribute _metadata.
    state._metadata = collections.OrderedDict((m, {"version": 1}) for m in modules)
    return state


def write_fixture(qdir, out_dir):
    config, tensors, _ = read_qmsim_model(qdir)
    os.makedirs(out_dir, exist_ok=True)
    write_torch_checkpoint(os.path.join(out_dir, "pytorch_model.bin"), quamba_state(config, tensors))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(quamba_config(config), f, indent=4)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a Quamba-layout pytorch_model.bin + config.json from a "
                                                 "qmsim quantized model (test fixture; no torch needed).")
    parser.add_argument("qmodel", help="qmsim quantized model directory")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    try:
        write_fixture(args.qmodel, args.out)
    except (cq.ConvertError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/pytorch_model.bin and config.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
