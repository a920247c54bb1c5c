#!/usr/bin/env python3
"""Convert a Quamba W8A8 (Mamba-1) checkpoint into qmsim's quantized format "quamba-w8a8-v1".

Usage:
    python3 tools/convert_quamba.py SRC --out OUT_DIR [--profile quamba-compat|golden] [--force]

SRC is a Quamba model directory (``config.json`` + ``pytorch_model.bin``, or ``model.safetensors``)
or the weight file itself (``config.json`` must then sit beside it). OUT_DIR receives
``config.json`` (HF Mamba keys + ``"qmsim_format": "quamba-w8a8-v1"``) and ``model.safetensors``
exactly as qmsim's C++ ``save_quant_model`` lays them out (model/src/quant_format.cc), so that
``qmsim eval --model OUT_DIR --mode 0`` runs the checkpoint. Exit status 0 on success, 1 on any bad
input (one line ``error: FILE: KEY: detail`` on stderr, never a traceback), 2 on bad arguments.

Safety: pickled code is never executed. With torch installed the file is read by
``torch.load(path, map_location="cpu", weights_only=True)``; without torch (CI) by the restricted
unpickler below, which understands the torch zip format (``<name>/data.pkl``,
``<name>/data/<key>`` storages, ``<name>/byteorder``, ``<name>/version`` or ``.data/version``) and
whose ``find_class`` resolves only the globals a state dict needs (collections.OrderedDict,
torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.<T>Storage classes, torch dtype
objects); any other global is refused with an error naming the file and the global. The legacy
(pre-1.6, non-zip) torch format is rejected. Tensors may be arbitrary strided views of their
storage (Quamba's linear weights are transposed views); every view is bounds-checked.

Source layout (UP = enyac-group/Quamba @ c474646; the fork 798253405/Quamba-SE keeps the same
buffers). ``MambaLMHeadModel.save_pretrained`` writes ``torch.save(state_dict)`` + config.json
(UP:quamba/modelutils_mamba.py:853-872). Per layer i, prefix ``backbone.layers.i.``:

=====================================  ==========================  =====================================
Quamba key (dtype, logical shape)      qmsim key (dtype, shape)    mapping (spec section, code)
=====================================  ==========================  =====================================
norm.weight (f16 [D])                  -- (dropped)                must be all ones: the RMSNorm weight is
                                                                   folded into in_proj (spec §1.4 (2));
                                                                   qmsim's QRMSNorm has no weight (§2.3).
                                                                   UP:quamba/qNorm.py:20
norm.output_scale (float)              norm.output_scale (F32 [])  s_in, verbatim (§2.1). qNorm.py:38-40
mixer.in_proj.weight (i8 [D, 2E+p])    mixer.in_proj.weight        Quamba stores Wq^T as a transposed view
                                       (I8 [2E, D])                of a row-major [out+p, in] buffer, the
                                                                   out dim zero-padded to a multiple of 16
                                                                   (UP:quamba/qLinearLayer.py:547-554,573).
                                                                   qmsim: row-major [out, in]; transpose,
                                                                   drop the padding rows (must be zero).
mixer.in_proj.a (f32 [1,1])            mixer.in_proj.a (F32 [])    a = fl32(s_in/s_xz), verbatim (§2.1, §2.4
                                                                   scaleB of to_seqlen_last).
                                                                   qLinearLayer.py:555-556,575-579
mixer.in_proj.b (f32 [1,1])            mixer.in_proj.b (F32 [])    b = w_in (an f16 value as f32, §3.3)
mixer.in_proj.alpha (float)            mixer.in_proj.alpha (F32)   fl32(w·s_in/s_xz) (GEMV path, §2.4);
                                                                   Python float (f64) that must be exactly
                                                                   an f32 value. qLinearLayer.py:560,587,590
mixer.conv1d.weight (i8 [E, K])        same (I8 [E, K])            verbatim. UP:quamba/qConvLayer.py:28-29,59
mixer.conv1d.bias (i8 [E])             same (I8 [E])               verbatim. qConvLayer.py:31-32,68
mixer.conv1d.weight_scale (float)      same (F32 [])               w_c (§2.1, §2.5). qConvLayer.py:75-79
mixer.conv1d.bias_scale (float)        same (F32 [])               b_c
mixer.conv1d.input_scale (float)       same (F32 [])               s_xz
mixer.conv1d.output_scale (float)      same (F32 [])               s_u
mixer.x_proj.weight (i8 [E, R+2N+p])   same (I8 [R+2N, E])         as in_proj (R+2N = 80 for 130m: p = 0)
mixer.x_proj.{a, b, alpha}             same (F32 [])               a = fl32(s_u/s_xdbl), b = w_x (§2.1)
mixer.dt_proj.weight (i8 [R, E+p])     same (I8 [E, R])            as in_proj; no bias (§2.1)
mixer.dt_proj.{a, b, alpha}            same (F32 [])               a = fl32(s_xdbl/s_dt), b = w_dt
mixer.selective_scan.A_log (i8 [E,N])  same (I8 [E, N])            verbatim. UP:quamba/qSelectiveScan.py:97
mixer.selective_scan.D (i8 [E])        same                        verbatim. qSelectiveScan.py:101
mixer.selective_scan.dt_bias (i8 [E])  same                        verbatim. qSelectiveScan.py:93
mixer.selective_scan.{A_scale, D_scale, dt_bias_scale, u_scale, dt_scale, B_scale, C_scale, z_scale,
  ssm_state_scale} (f32 [])            same (F32 [])               verbatim (§2.1, §3.3).
                                                                   qSelectiveScan.py:94-110
mixer.had.x_H_scale (float)            mixer.had.x_H_scale (F32)   s_y (§2.1, §2.7). UP:quamba/qHadamard.py:18-19
mixer.out_proj.weight (i8 [E, D+p])    same (I8 [D, E])            as in_proj. qLinearLayer.py:757-759,777
mixer.out_proj.{a, b, alpha}           same (F32 [])               a = s_y, b = w_out, alpha = fl32(w·s_y)
                                                                   (§2.1, §2.8). qLinearLayer.py:779-787
=====================================  ==========================  =====================================

Global: ``backbone.embedding.weight`` (f16 [V, D], already H_D-rotated, not quantized, §1.4 (1),
§2.1) -> same key, F16, verbatim; ``backbone.norm_f.weight`` (f16 [D], all ones after folding) ->
same, verbatim; ``lm_head.weight`` (f16 [V, D] = (E ⊙ w_norm_f) rotated, §2.1) -> same, verbatim
(the model is untied, config ``tie_embeddings=false``). An f32 copy of these three is accepted when
every value is exactly an f16 value. V is config ``vocab_size`` padded to
``pad_vocab_size_multiple`` (spec §1.1).

Scalars: Quamba keeps ``alpha``, ``norm.output_scale``, the four conv scales and ``x_H_scale`` as
Python floats (f64 in the pickle, UP state-dict hooks cited above); their values are f32 values
(spec §2.1 "always exactly representable in f32"), which the converter checks: a value that is not
exactly an f32 is an error, not rounded. ``a``/``b`` are f32 [1, 1] tensors, the selective-scan
scales f32 [] tensors. qmsim stores every scale as F32 [] under the same name (its loader also
accepts [1] and [1, 1]); every scale must be finite and positive. No scale is recomputed: the
products a = s_in/s_xz etc. are stored in the same form by both formats (spec §3.3: a loader must
use the stored values verbatim).

Config: Quamba's config.json is mamba_ssm's MambaConfig (``d_model``, ``n_layer``, ``vocab_size``,
``pad_vocab_size_multiple``, ``ssm_cfg`` with ``layer = "W8A8QMamba"``, ``norm_cfg``,
``embedding_cfg = {"layer": "Embedding"}``, ``lm_head_cfg = {"layer": "Linear"}``,
``tie_embeddings = false``); only W8A8QMamba mixers with an unquantized embedding and lm_head are
supported (the Quamba-1 W8A8 recipe, spec §2). The output config has the HF keys qmsim's
``mamba_config_to_hf_json`` writes, ``tie_word_embeddings = false``, ``qmsim_format`` and
``torch_dtype = "int8"``.

Metadata (``__metadata__["qmsim"]``): ``numerics_profile`` (default ``quamba-compat``),
``converted_from = "quamba"``, ``source_file``, ``source_sha256`` (of the weight file),
``source_config_sha256``, ``source_format`` (torch-zip or safetensors), ``quamba_config`` (the
source config.json), ``converter``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import struct
import sys
import zipfile
import zlib

try:
    import numpy as np
except ImportError:  # pragma: no cover - reported cleanly in main()
    np = None

FORMAT_VERSION = "quamba-w8a8-v1"
CONVERTER = "tools/convert_quamba.py v1"
PROFILES = ("golden", "quamba-compat")


class ConvertError(Exception):
    """An expected input problem: printed as 'FILE: KEY: detail' without a traceback."""

    def __init__(self, file, key, detail):
        super().__init__(f"{file}: {key}: {detail}")
        self.file = file
        self.key = key
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Tensors as read from any source: a numpy array (None for dtypes numpy lacks) + the dtype name.

class Tensor:
    __slots__ = ("dtype", "shape", "array")

    def __init__(self, dtype, shape, array):
        self.dtype = dtype            # "int8", "float16", "float32", "bfloat16", ...
        self.shape = tuple(int(d) for d in shape)
        self.array = array            # numpy array of that shape (bfloat16: uint16 bits)

    def __repr__(self):
        return f"Tensor({self.dtype}, {list(self.shape)})"


# torch storage class name -> (dtype name, numpy dtype)
_STORAGES = {
    "FloatStorage": ("float32", "<f4"),
    "HalfStorage": ("float16", "<f2"),
    "BFloat16Storage": ("bfloat16", "<u2"),
    "DoubleStorage": ("float64", "<f8"),
    "CharStorage": ("int8", "<i1"),
    "ByteStorage": ("uint8", "<u1"),
    "ShortStorage": ("int16", "<i2"),
    "IntStorage": ("int32", "<i4"),
    "LongStorage": ("int64", "<i8"),
    "BoolStorage": ("bool", "?"),
}
# torch dtype attribute name -> our dtype name
_TORCH_DTYPES = {
    "float32": "float32", "float": "float32", "float16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "float64": "float64", "double": "float64", "int8": "int8",
    "uint8": "uint8", "int16": "int16", "short": "int16", "int32": "int32", "int": "int32",
    "int64": "int64", "long": "int64", "bool": "bool",
}
_NP_OF = {v[0]: v[1] for v in _STORAGES.values()}


class _StorageType:
    """Stands in for torch.<T>Storage inside the restricted unpickler."""

    def __init__(self, name):
        self.name = name
        self.dtype, self.np_dtype = _STORAGES[name]


class _DType:
    """Stands in for a torch dtype object (torch.float16 ...)."""

    def __init__(self, name):
        self.name = _TORCH_DTYPES[name]


class _Storage:
    def __init__(self, dtype, np_dtype, array):
        self.dtype = dtype
        self.np_dtype = np_dtype
        self.array = array  # 1-D numpy array over the whole storage


class _PendingView:
    """A tensor view (storage, offset, size, stride) from _rebuild_tensor_v2, materialized (and
    bounds-checked) once its state-dict key is known, so errors can name the key."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _Rebuilder:
    """Callable for torch._utils._rebuild_tensor_v2 / _rebuild_parameter in the restricted unpickler."""

    def __init__(self, file, record, kind):
        self.file = file
        self.record = record
        self.kind = kind

    def __call__(self, *args):
        if self.kind == "parameter":  # _rebuild_parameter(data, requires_grad, backward_hooks)
            if not args or not isinstance(args[0], _PendingView):
                raise ConvertError(self.file, self.record, "_rebuild_parameter without a tensor")
            return args[0]
        if len(args) < 4:
            raise ConvertError(self.file, self.record, f"_rebuild_tensor_v2 with {len(args)} arguments")
        if not isinstance(args[0], _Storage):
            raise ConvertError(self.file, self.record, "_rebuild_tensor_v2 without a storage")
        return _PendingView(*args[:4])


def _strided_view(file, key, view):
    """The tensor (size, stride) at element offset `offset` of a storage, copied to C order."""
    storage = view.storage
    try:
        offset = int(view.offset)
        size = tuple(int(d) for d in view.size)
        stride = tuple(int(s) for s in view.stride)
    except (TypeError, ValueError):
        raise ConvertError(file, key, "tensor with a malformed size/stride") from None
    if len(size) != len(stride) or offset < 0 or any(d < 0 for d in size) or any(s < 0 for s in stride):
        raise ConvertError(file, key, f"invalid tensor view: offset {offset}, size {list(size)}, stride {list(stride)}")
    count = len(storage.array)
    numel = 1
    for d in size:
        numel *= d
    if numel > 0:
        last = offset + sum((d - 1) * s for d, s in zip(size, stride))
        if last >= count:
            raise ConvertError(file, key, f"tensor view (offset {offset}, size {list(size)}, stride {list(stride)}) "
                                          f"reaches past its storage of {count} elements")
        item = storage.array.itemsize
        strided = np.lib.stride_tricks.as_strided(storage.array[offset:], shape=size,
                                                  strides=tuple(s * item for s in stride), writeable=False)
        array = np.array(strided, order="C")  # a copy; keeps 0-d arrays 0-d
    else:
        array = np.zeros(size, dtype=storage.np_dtype)
    return Tensor(storage.dtype, size, array)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for torch's data.pkl that can only build dicts, tensors and plain values."""

    def __init__(self, fp, file, zf, prefix):
        super().__init__(fp)
        self._file = file
        self._record = prefix + "data.pkl"
        self._zf = zf
        self._prefix = prefix
        self._storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _Rebuilder(self._file, self._record, "tensor")
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _Rebuilder(self._file, self._record, "parameter")
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        if module == "torch" and name in _TORCH_DTYPES:
            return _DType(name)
        raise ConvertError(self._file, self._record, f"forbidden global '{module}.{name}' in the pickle "
                                                   "(only state-dict tensors are allowed; nothing was executed)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ConvertError(self._file, self._record, f"unsupported persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid
        if isinstance(stype, _DType):  # UntypedStorage ids carry a dtype instead of a class
            stype = next(_StorageType(n) for n, v in _STORAGES.items() if v[0] == stype.name)
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise ConvertError(self._file, self._record, f"malformed storage id {pid!r:.80}")
        cached = self._storages.get(key)
        if cached is not None:
            return cached
        record = f"{self._prefix}data/{key}"
        raw = _read_record(self._file, self._zf, record)
        itemsize = np.dtype(stype.np_dtype).itemsize
        if len(raw) != numel * itemsize:
            raise ConvertError(self._file, record, f"storage holds {len(raw)} bytes but {numel} x {stype.dtype} "
                                                   f"needs {numel * itemsize}")
        storage = _Storage(stype.dtype, stype.np_dtype, np.frombuffer(raw, dtype=stype.np_dtype))
        self._storages[key] = storage
        return storage


def _read_record(file, zf, name):
    try:
        return zf.read(name)
    except KeyError:
        raise ConvertError(file, name, "record missing from the zip archive") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
        raise ConvertError(file, name, f"cannot read record (truncated or corrupt archive): {e}") from None


def _load_torch_zip_restricted(path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ConvertError(path, "zip", f"not a readable zip archive (truncated or corrupt): {e}") from None
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ConvertError(path, "data.pkl", f"expected exactly one '<name>/data.pkl' record, found {len(pkls)}")
        prefix = pkls[0][: -len("data.pkl")]
        names = set(zf.namelist())
        if prefix + "byteorder" in names:
            order = _read_record(path, zf, prefix + "byteorder").decode("ascii", "replace").strip()
            if order != "little":
                raise ConvertError(path, prefix + "byteorder", f"'{order}' storages are not supported (only little)")
        for vname in (prefix + "version", prefix + ".data/version"):
            if vname in names:
                text = _read_record(path, zf, vname).decode("ascii", "replace").strip()
                if not text.isdigit() or not 1 <= int(text) <= 20:
                    raise ConvertError(path, vname, f"unsupported archive version '{text[:20]}'")
        data = _read_record(path, zf, pkls[0])
        unpickler = _RestrictedUnpickler(io.BytesIO(data), path, zf, prefix)
        try:
            obj = unpickler.load()
        except ConvertError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, struct.error, UnicodeDecodeError) as e:
            raise ConvertError(path, pkls[0], f"malformed pickle: {type(e).__name__}: {e}") from None
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, _PendingView):
                obj[key] = _strided_view(path, key, value)
    return obj


def _load_torch_with_torch(path, torch):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, ... for bad files
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        # weights_only refusals name the global further down ("Trying to load unsupported GLOBAL
        # os.system whose module os is blocked." in torch 2.11); report that line.
        line = next((ln for ln in lines if "GLOBAL" in ln or "nsupported global" in ln), lines[0] if lines else "")
        raise ConvertError(path, "torch.load(weights_only=True)", f"{type(e).__name__}: {line[:300]}") from None

    def convert(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            name = str(t.dtype).replace("torch.", "")
            if t.dtype == torch.bfloat16:
                arr = t.view(torch.int16).numpy().view("<u2")
            else:
                arr = t.numpy()
            return Tensor(name, tuple(t.shape), arr)
        return v

    if not isinstance(obj, dict):
        return obj
    return collections.OrderedDict((k, convert(v)) for k, v in obj.items())


def load_torch_checkpoint(path, use_torch=None):
    """The state dict of a torch zip checkpoint: {key: Tensor | float | ...}. Never runs pickled code."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise ConvertError(path, "zip", "truncated or corrupt zip archive (no central directory)")
        if head[:1] == b"\x80":
            raise ConvertError(path, "format", "legacy (pre-1.6, non-zip) torch serialization is not supported; "
                                               "re-save it with torch >= 1.6 (zip format)")
        raise ConvertError(path, "format", "not a torch zip checkpoint")
    torch = None
    if use_torch is not False:
        try:
            import torch  # noqa: F401
        except ImportError:
            torch = None
    if torch is not None:
        return _load_torch_with_torch(path, torch)
    return _load_torch_zip_restricted(path)


# --------------------------------------------------------------------------------------------
# safetensors (reader for Quamba .safetensors input and for the tests; writer for the output)

_ST_DTYPES = {"I8": ("int8", "<i1"), "U8": ("uint8", "<u1"), "I16": ("int16", "<i2"), "I32": ("int32", "<i4"),
              "I64": ("int64", "<i8"), "F16": ("float16", "<f2"), "BF16": ("bfloat16", "<u2"),
              "F32": ("float32", "<f4"), "F64": ("float64", "<f8"), "BOOL": ("bool", "?")}
_ST_NAME = {"int8": "I8", "float16": "F16", "float32": "F32"}


def read_safetensors(path):
    """(tensors {name: Tensor}, metadata {str: str}) of a safetensors file, fully validated."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ConvertError(path, "file", f"cannot read: {e.strerror}") from None
    if len(blob) < 8:
        raise ConvertError(path, "header", "file shorter than the 8-byte header length (truncated)")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ConvertError(path, "header", f"header length {hlen} exceeds the file (truncated)")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(path, "header", f"not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ConvertError(path, "header", "not a JSON object")
    data = memoryview(blob)[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = collections.OrderedDict()
    for name, info in header.items():
        try:
            dtype, np_dtype = _ST_DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConvertError(path, name, f"malformed header entry {info!r:.100}") from None
        numel = 1
        for d in shape:
            if d < 0:
                raise ConvertError(path, name, f"negative dimension in shape {shape}")
            numel *= d
        itemsize = np.dtype(np_dtype).itemsize
        if not 0 <= begin <= end <= len(data):
            raise ConvertError(path, name, f"data offsets [{begin}, {end}] outside the {len(data)} data bytes "
                                           "(truncated?)")
        if end - begin != numel * itemsize:
            raise ConvertError(path, name, f"{end - begin} bytes but {info['dtype']} {shape} needs {numel * itemsize}")
        arr = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape)
        tensors[name] = Tensor(dtype, shape, arr)
    return tensors, meta


def safetensors_bytes(tensors, metadata):
    """safetensors bytes laid out as qmsim's write_safetensors: names sorted, compact JSON header with
    sorted keys, padded with spaces to a multiple of 8. tensors: {name: (st_dtype, shape, bytes)}."""
    header = {}
    offset = 0
    names = sorted(tensors)
    for name in names:
        dtype, shape, raw = tensors[name]
        header[name] = {"data_offsets": [offset, offset + len(raw)], "dtype": dtype, "shape": list(shape)}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[n][2] for n in names)


def write_file_atomic(path, data):
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise ConvertError(path, "file", f"cannot write: {e.strerror}") from None


# --------------------------------------------------------------------------------------------
# Quamba config -> shape

class Shape:
    def __init__(self, d_model, n_layer, vocab, d_state, d_conv, expand, dt_rank, eps, conv_bias):
        self.D, self.L, self.V = d_model, n_layer, vocab
        self.N, self.K, self.expand, self.R = d_state, d_conv, expand, dt_rank
        self.E = expand * d_model
        self.eps = eps
        self.conv_bias = conv_bias


def _cfg_int(cfg, key, file, default=None, prefix=""):
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConvertError(file, prefix + key, f"expected a positive integer, got {json.dumps(v)}")
    return v


def parse_quamba_config(cfg, file):
    if not isinstance(cfg, dict):
        raise ConvertError(file, "JSON", "config is not an object")
    if "d_model" not in cfg:
        raise ConvertError(file, "d_model", "missing: not a Quamba/mamba_ssm config.json")
    d_model = _cfg_int(cfg, "d_model", file)
    n_layer = _cfg_int(cfg, "n_layer", file)
    raw_vocab = _cfg_int(cfg, "vocab_size", file)
    multiple = _cfg_int(cfg, "pad_vocab_size_multiple", file, 8)
    vocab = (raw_vocab + multiple - 1) // multiple * multiple  # spec §1.1
    ssm = cfg.get("ssm_cfg") or {}
    if not isinstance(ssm, dict):
        raise ConvertError(file, "ssm_cfg", "is not an object")
    layer = ssm.get("layer", "W8A8QMamba")
    if layer != "W8A8QMamba":
        raise ConvertError(file, "ssm_cfg.layer", f"only Quamba-1 W8A8 mixers (\"W8A8QMamba\") are supported, "
                                                  f"got {json.dumps(layer)}")
    if cfg.get("is_hybrid"):
        raise ConvertError(file, "is_hybrid", "hybrid Quamba models are not supported")
    checks = (("embedding_cfg", "layer", "Embedding", "a quantized embedding"),
              ("lm_head_cfg", "layer", "Linear", "a quantized lm_head"),
              ("norm_cfg", "norm", "QRMSNorm", "another norm"))
    for section, key, want, what in checks:
        sec = cfg.get(section) or {}
        if not isinstance(sec, dict):
            raise ConvertError(file, section, "is not an object")
        if sec.get(key, want) != want:
            raise ConvertError(file, f"{section}.{key}", f"{what} ({json.dumps(sec[key])}) is not supported; "
                                                         f"expected {json.dumps(want)}")
    if cfg.get("d_intermediate", 0) not in (0, None):
        raise ConvertError(file, "d_intermediate", "MLP blocks are not supported (expected 0)")
    if cfg.get("attn_layer_idx"):
        raise ConvertError(file, "attn_layer_idx", "attention layers are not supported")
    if cfg.get("rms_norm", True) is not True:
        raise ConvertError(file, "rms_norm", "LayerNorm models are not supported")
    if ssm.get("bias", False):
        raise ConvertError(file, "ssm_cfg.bias", "in_proj/out_proj biases are not supported")
    d_state = _cfg_int(ssm, "d_state", file, 16, "ssm_cfg.")
    d_conv = _cfg_int(ssm, "d_conv", file, 4, "ssm_cfg.")
    expand = _cfg_int(ssm, "expand", file, 2, "ssm_cfg.")
    dt_rank = ssm.get("dt_rank", "auto")
    dt_rank = math.ceil(d_model / 16) if dt_rank in ("auto", None) else _cfg_int(ssm, "dt_rank", file, None, "ssm_cfg.")
    conv_bias = ssm.get("conv_bias", True)
    if conv_bias is not True:
        raise ConvertError(file, "ssm_cfg.conv_bias", "models without a conv1d bias are not supported")
    eps = cfg.get("norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (eps > 0 and math.isfinite(eps)):
        raise ConvertError(file, "norm_epsilon", f"must be finite and positive, got {json.dumps(eps)}")
    return Shape(d_model, n_layer, vocab, d_state, d_conv, expand, dt_rank, float(eps), conv_bias)


def _short_f32(v):
    """The double whose shortest decimal form is the f32's (qmsim writes layer_norm_epsilon so)."""
    f = float(np.float32(v))
    for digits in range(1, 18):
        text = f"{f:.{digits}g}"
        if float(np.float32(float(text))) == f:
            return float(text)
    return f


def qmsim_config(shape):
    """config.json as qmsim's mamba_config_to_hf_json + qmsim_format/torch_dtype (model/src/checkpoint.cc)."""
    return {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": shape.D,
        "num_hidden_layers": shape.L, "vocab_size": shape.V, "state_size": shape.N, "expand": shape.expand,
        "conv_kernel": shape.K, "intermediate_size": shape.E, "time_step_rank": shape.R,
        "layer_norm_epsilon": _short_f32(shape.eps), "use_bias": False, "use_conv_bias": shape.conv_bias,
        "tie_word_embeddings": False, "residual_in_fp32": True, "hidden_act": "silu",
        "qmsim_format": FORMAT_VERSION, "torch_dtype": "int8",
    }


# --------------------------------------------------------------------------------------------
# The mapping

SCALE_SUFFIXES = (  # qmsim's kScaleFields (model/src/quant_format.cc), same names in Quamba
    "norm.output_scale",
    "mixer.in_proj.a", "mixer.in_proj.b", "mixer.in_proj.alpha",
    "mixer.conv1d.weight_scale", "mixer.conv1d.bias_scale", "mixer.conv1d.input_scale",
    "mixer.conv1d.output_scale",
    "mixer.x_proj.a", "mixer.x_proj.b", "mixer.x_proj.alpha",
    "mixer.dt_proj.a", "mixer.dt_proj.b", "mixer.dt_proj.alpha",
    "mixer.selective_scan.A_scale", "mixer.selective_scan.D_scale", "mixer.selective_scan.dt_bias_scale",
    "mixer.selective_scan.u_scale", "mixer.selective_scan.dt_scale", "mixer.selective_scan.B_scale",
    "mixer.selective_scan.C_scale", "mixer.selective_scan.z_scale", "mixer.selective_scan.ssm_state_scale",
    "mixer.had.x_H_scale",
    "mixer.out_proj.a", "mixer.out_proj.b", "mixer.out_proj.alpha",
)
# How Quamba stores each scale: a Python float (state-dict hook), f32 [1,1] (a, b) or f32 [] (QSScan).
# The converter accepts either form for every scale; the fixture writer uses Quamba's.
PY_FLOAT_SCALES = {"norm.output_scale", "mixer.in_proj.alpha", "mixer.x_proj.alpha", "mixer.dt_proj.alpha",
                   "mixer.out_proj.alpha", "mixer.conv1d.weight_scale", "mixer.conv1d.bias_scale",
                   "mixer.conv1d.input_scale", "mixer.conv1d.output_scale", "mixer.had.x_H_scale"}


def linear_shapes(shape):
    """(suffix, out, in) of the four linears; Quamba stores each as logical [in, out + pad16]."""
    return (("mixer.in_proj.weight", 2 * shape.E, shape.D), ("mixer.x_proj.weight", shape.R + 2 * shape.N, shape.E),
            ("mixer.dt_proj.weight", shape.E, shape.R), ("mixer.out_proj.weight", shape.D, shape.E))


def pad16(n):
    return n + (16 - n % 16) % 16  # W8A8B8O8Linear.pad_out (UP:quamba/qLinearLayer.py:547-549)


def plain_int8(shape):
    return (("mixer.conv1d.weight", (shape.E, shape.K)), ("mixer.conv1d.bias", (shape.E,)),
            ("mixer.selective_scan.A_log", (shape.E, shape.N)), ("mixer.selective_scan.D", (shape.E,)),
            ("mixer.selective_scan.dt_bias", (shape.E,)))


class Source:
    def __init__(self, path, state):
        self.path = path
        self.state = state
        self.used = set()

    def get(self, key):
        if key not in self.state:
            raise ConvertError(self.path, key, "missing key")
        self.used.add(key)
        return self.state[key]

    def tensor(self, key, dtypes, shapes, hint=""):
        v = self.get(key)
        if not isinstance(v, Tensor):
            raise ConvertError(self.path, key, f"expected a tensor, got {type(v).__name__}")
        if v.dtype not in dtypes:
            raise ConvertError(self.path, key, f"wrong dtype {v.dtype}, expected {' or '.join(dtypes)}")
        wanted = list(dict.fromkeys(tuple(s) for s in shapes))
        if v.shape not in wanted:
            want = " or ".join(str(list(s)) for s in wanted)
            raise ConvertError(self.path, key, f"wrong shape {list(v.shape)}, expected {want}{hint}")
        if v.array is None:
            raise ConvertError(self.path, key, "tensor data unavailable")
        return v


def _f16_values(src, key, shape):
    """An f16 tensor (or an f32 one whose values are all f16 values) as little-endian f16 bytes."""
    t = src.tensor(key, ("float16", "float32"), [shape])
    if t.dtype == "float16":
        return t.array.astype("<f2").tobytes()
    as16 = t.array.astype("<f2")
    same = (as16.astype("<f4") == t.array) | (np.isnan(as16) & np.isnan(t.array))
    if not same.all():
        bad = int(np.argmin(same.reshape(-1)))
        raise ConvertError(src.path, key, f"float32 value {t.array.reshape(-1)[bad]!r} at flat index {bad} is not "
                                          "an f16 value (expected the f16 tensor Quamba stores)")
    return as16.tobytes()


def _scale(src, key):
    """A scale as f32 bytes: a Python float that is exactly an f32, or an f32 tensor of shape [], [1], [1, 1]."""
    v = src.get(key)
    if isinstance(v, Tensor):
        if v.dtype != "float32":
            raise ConvertError(src.path, key, f"wrong dtype {v.dtype}, expected float32")
        if v.shape not in ((), (1,), (1, 1)):
            raise ConvertError(src.path, key, f"wrong shape {list(v.shape)}, expected [], [1] or [1, 1]")
        f = v.array.reshape(-1)[0]
        value = float(f)
    elif isinstance(v, (float, int)) and not isinstance(v, bool):
        value = float(v)
        f = np.float32(value)
        if not (math.isnan(value) or float(f) == value):
            raise ConvertError(src.path, key, f"{value!r} is not exactly an f32 value (Quamba's scales are f32 "
                                              "values, spec §2.1)")
    else:
        raise ConvertError(src.path, key, f"expected a float or a float32 tensor, got {type(v).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ConvertError(src.path, key, f"scale must be finite and positive, got {value!r}")
    return np.float32(f).astype("<f4").tobytes()


def convert_state(src, shape):
    """{qmsim name: (st dtype, shape, bytes)} from a Quamba state dict (see the module docstring)."""
    out = {}
    V, D = shape.V, shape.D
    out["backbone.embedding.weight"] = ("F16", (V, D), _f16_values(src, "backbone.embedding.weight", (V, D)))
    out["backbone.norm_f.weight"] = ("F16", (D,), _f16_values(src, "backbone.norm_f.weight", (D,)))
    out["lm_head.weight"] = ("F16", (V, D), _f16_values(src, "lm_head.weight", (V, D)))
    for i in range(shape.L):
        p = f"backbone.layers.{i}."
        norm = src.tensor(p + "norm.weight", ("float16", "float32"), [(D,)])
        if not (norm.array == 1).all():
            raise ConvertError(src.path, p + "norm.weight", "must be all ones (the RMSNorm weight folded into "
                                                            "in_proj, spec §1.4); qmsim's W8A8 norm has no weight")
        for suffix, n_out, n_in in linear_shapes(shape):
            key = p + suffix
            t = src.tensor(key, ("int8",), [(n_in, pad16(n_out)), (n_in, n_out)],
                           " (Quamba stores linear weights transposed: [in, out padded to a multiple of 16])")
            w = t.array.T  # [out + pad, in]
            if w.shape[0] > n_out and np.any(w[n_out:]):
                raise ConvertError(src.path, key, f"padding rows {n_out}..{w.shape[0] - 1} of the output dimension "
                                                  "are not zero")
            out[key] = ("I8", (n_out, n_in), np.ascontiguousarray(w[:n_out]).astype("<i1").tobytes())
        for suffix, s in plain_int8(shape):
            key = p + suffix
            out[key] = ("I8", s, src.tensor(key, ("int8",), [s]).array.astype("<i1").tobytes())
        for suffix in SCALE_SUFFIXES:
            out[p + suffix] = ("F32", (), _scale(src, p + suffix))
    extra = sorted(set(src.state) - src.used)
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ConvertError(src.path, extra[0], f"unexpected key{more}: not part of a Quamba-1 W8A8 checkpoint of "
                                               "this config")
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(src):
    """(weight file, config.json) of a Quamba model directory or weight file."""
    if os.path.isdir(src):
        for name in ("pytorch_model.bin", "model.safetensors"):
            if os.path.isfile(os.path.join(src, name)):
                return os.path.join(src, name), os.path.join(src, "config.json")
        raise ConvertError(os.path.join(src, "pytorch_model.bin"), "file",
                           "no weights: neither pytorch_model.bin nor model.safetensors exists")
    if not os.path.isfile(src):
        raise ConvertError(src, "file", "does not exist")
    return src, os.path.join(os.path.dirname(os.path.abspath(src)), "config.json")


def load_state(weights, use_torch=None):
    if weights.endswith(".safetensors"):
        tensors, _ = read_safetensors(weights)
        return tensors, "safetensors"
    state = load_torch_checkpoint(weights, use_torch)
    if not isinstance(state, dict):
        raise ConvertError(weights, "data.pkl", f"top-level object is a {type(state).__name__}, not a state dict")
    for k in state:
        if not isinstance(k, str):
            raise ConvertError(weights, "data.pkl", f"state-dict key {k!r:.60} is not a string")
    return state, "torch-zip"


def convert(src, out_dir, profile="quamba-compat", force=False, use_torch=None):
    if profile not in PROFILES:
        raise ConvertError("--profile", "numerics_profile", f"unknown profile '{profile}'")
    weights, config_path = locate(src)
    try:
        with open(config_path, "rb") as f:
            config_bytes = f.read()
    except OSError as e:
        raise ConvertError(config_path, "file", f"cannot read: {e.strerror}") from None
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(config_path, "JSON", f"not valid JSON: {e}") from None
    shape = parse_quamba_config(config, config_path)
    state, source_format = load_state(weights, use_torch)
    tensors = convert_state(Source(weights, state), shape)

    meta = {
        "converted_from": "quamba",
        "converter": CONVERTER,
        "numerics_profile": profile,
        "quamba_config": config,
        "source_config_sha256": hashlib.sha256(config_bytes).hexdigest(),
        "source_file": os.path.basename(weights),
        "source_format": source_format,
        "source_sha256": sha256_file(weights),
    }
    meta_text = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    blob = safetensors_bytes(tensors, {"qmsim": meta_text})

    targets = [os.path.join(out_dir, n) for n in ("config.json", "model.safetensors")]
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConvertError(out_dir, "directory", "exists and is not a directory")
    if not force and any(os.path.exists(t) for t in targets):
        raise ConvertError(out_dir, "directory", "already holds a model (pass --force to overwrite)")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ConvertError(out_dir, "directory", f"cannot create: {e.strerror}") from None
    index = os.path.join(out_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        os.remove(index)  # a stale shard index would shadow model.safetensors
    write_file_atomic(targets[1], blob)
    write_file_atomic(targets[0], (json.dumps(qmsim_config(shape), indent=2, sort_keys=True) + "\n").encode())
    return shape, meta


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a Quamba W8A8 Mamba-1 checkpoint (pytorch_model.bin + "
                                                 "config.json) into qmsim's quantized format.")
    parser.add_argument("src", help="Quamba model directory, or its pytorch_model.bin / .safetensors file")
    parser.add_argument("--out", required=True, help="output directory (qmsim quantized model)")
    parser.add_argument("--profile", default="quamba-compat", choices=PROFILES,
                        help="numerics profile recorded in the model (default: quamba-compat)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing model in --out")
    parser.add_argument("--no-torch", action="store_true",
                        help="use the built-in restricted unpickler even when torch is installed")
    args = parser.parse_args(argv)
    if np is None:
        print("error: numpy is required (bash tools/pyenv.sh creates .venv with it)", file=sys.stderr)
        return 1
    try:
        shape, meta = convert(args.src, args.out, args.profile, args.force, False if args.no_torch else None)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # unreadable/unwritable paths not caught closer to their use
        print(f"error: {e.filename or args.src}: file: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"converted {meta['source_file']} ({meta['source_format']}, sha256 {meta['source_sha256'][:16]}...): "
          f"{shape.L} layers, d_model {shape.D}, vocab {shape.V} -> {args.out} (profile {args.profile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
