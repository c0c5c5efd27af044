"""``jitgrad.save`` / ``jitgrad.load``: tensors and nested containers, never pickle.

Format: a NumPy ``.npz`` archive. Each tensor is an array entry ``t0, t1, ...``; the entry
``__jitgrad__`` holds a JSON description of the object (dicts, lists, tuples, numbers,
strings, None, tensor references). Loading uses ``allow_pickle=False`` and validates every
part, so a malformed or malicious file raises an error instead of running code.

A whole ``nn.Module`` (``jitgrad.save(model, path)``) is stored as its class's import path,
its plain attributes, parameters, buffers and children. Rebuilding it imports that class,
which is code: like PyTorch (2.6+), ``load`` refuses it unless ``weights_only=False``.

>>> jitgrad.save(model.state_dict(), "model.pt")
>>> model.load_state_dict(jitgrad.load("model.pt"))
"""

import importlib
import io
import json
import math
import os
import pickle
import types
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import _dtype
from .tensor import Tensor

_META = "__jitgrad__"
_FORMAT = "jitgrad-npz"
_VERSION = 1


class _Writer:
    def __init__(self):
        self.arrays = {}
        self.seen = {}  # id(tensor) -> name: a tensor saved twice is stored once

    def enc(self, obj, depth=0):
        if depth > 100:
            raise ValueError("jitgrad.save: the object is nested too deeply (or cyclic)")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            f = float(obj)
            if math.isfinite(f):
                return f
            return {"float": repr(f)}
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, Tensor):
            return self.tensor(obj)
        if isinstance(obj, np.ndarray):
            return {"ndarray": self.array(obj, id(obj))}
        if isinstance(obj, _dtype.DType):
            return {"dtype": obj.name}
        if isinstance(obj, (dict, OrderedDict)):
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {kind: [[self.key(k), self.enc(v, depth + 1)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"tuple": [self.enc(v, depth + 1) for v in obj]}
        if isinstance(obj, list):
            return [self.enc(v, depth + 1) for v in obj]
        if isinstance(obj, (set, frozenset)):
            return {"set": [self.enc(v, depth + 1) for v in obj]}
        if _is_module(obj):
            return {"module": self.module(obj, depth)}
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)):
            return {"callable": _import_path(obj, self.where)}
        raise TypeError(
            f"jitgrad.save: can't save an object of type {type(obj).__name__}"
            f"{f' (at {self.where})' if self.where else ''}; supported: tensors, NumPy arrays, "
            "dicts, lists, tuples, numbers, strings, None, nn.Modules and importable functions"
        )

    where = ""

    def module(self, m, depth):
        d = m.__dict__
        out = {"class": _import_path(type(m), self.where or type(m).__name__), "attrs": []}
        for slot in ("_parameters", "_buffers", "_modules"):
            out[slot[1:]] = [[k, self._at(k, v, depth)] for k, v in d[slot].items()]
        out["non_persistent"] = sorted(d.get("_non_persistent_buffers_set", ()))
        for k, v in d.items():
            if k in _MODULE_INTERNALS:
                continue
            out["attrs"].append([k, self._at(k, v, depth)])
        return out

    def _at(self, name, v, depth):
        outer = self.where
        self.where = f"{outer}.{name}" if outer else name
        try:
            return None if v is None else self.enc(v, depth + 1)
        finally:
            self.where = outer

    def key(self, k):
        if isinstance(k, (Tensor, np.ndarray, dict, list)):
            raise TypeError(
                f"jitgrad.save: dict keys must be numbers, strings or tuples, "
                f"not {type(k).__name__}"
            )
        return self.enc(k)

    def array(self, arr, ident):
        if arr.dtype.kind not in "biuf" or arr.dtype.hasobject:
            raise TypeError(f"jitgrad.save: arrays of dtype {arr.dtype} can't be saved")
        name = self.seen.get(ident)
        if name is None:
            name = f"t{len(self.arrays)}"
            self.arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
            self.seen[ident] = name
        return name

    def tensor(self, t):
        d = {"tensor": self.array(t._data, id(t))}
        if t.requires_grad:
            d["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            d["parameter"] = True
        return d


_MODULE_INTERNALS = {
    "_parameters",
    "_buffers",
    "_modules",
    "_non_persistent_buffers_set",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
}


def _is_module(obj):
    from .nn.modules.module import Module

    return isinstance(obj, Module)


def _import_path(obj, where):
    """``"package.module:Qual.name"`` of a class or function that importing finds again."""
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    found = None
    try:
        module = importlib.import_module(mod) if mod else None
    except ImportError:
        module = None
    if module is not None and "<" not in qual:
        found = module
        for part in qual.split("."):
            found = getattr(found, part, None)
    if found is not obj and module is not None:  # a wrapper exported under another name
        qual = next((k for k, v in vars(module).items() if v is obj), qual)
        found = getattr(module, qual, None) if "<" not in qual else None
    if found is not obj:
        raise TypeError(
            f"jitgrad.save: {where or 'the object'} is {obj!r}, which can't be found again by "
            "importing it (a lambda, a local function or class): define it at module level, "
            "or save model.state_dict() instead"
        )
    return f"{mod}:{qual}"


def save(obj, f):
    """Write ``obj`` (tensors, state dicts, nested containers) to a path or binary file."""
    w = _Writer()
    meta = {"format": _FORMAT, "version": _VERSION, "obj": w.enc(obj)}
    blob = json.dumps(meta, separators=(",", ":")).encode()
    arrays = dict(w.arrays)
    arrays[_META] = np.frombuffer(blob, dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:  # np.savez(path) would append ".npz" to the name
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def _bad(src, why):
    return RuntimeError(f"jitgrad.load: {src} is not a valid jitgrad file: {why}")


class _Reader:
    def __init__(self, npz, src, weights_only=True):
        self.npz = npz
        self.src = src
        self.cache = {}
        self.weights_only = weights_only

    def code(self, path, what):
        """The class or function ``path`` names (only with ``weights_only=False``)."""
        if self.weights_only:
            raise pickle.UnpicklingError(
                f"jitgrad.load: {self.src} holds a whole {what} ({path}); rebuilding it imports "
                "and runs that code, so the default weights_only=True refuses it. If you trust "
                "the file, load it with jitgrad.load(f, weights_only=False); or save and load "
                "model.state_dict() instead"
            )
        if not isinstance(path, str) or path.count(":") != 1:
            raise _bad(self.src, f"a {what} entry is malformed ({str(path)[:60]!r})")
        mod, qual = path.split(":")
        try:
            obj = importlib.import_module(mod)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise RuntimeError(
                f"jitgrad.load: {self.src} holds a {what} of class/function {path}, which can't "
                f"be imported here ({type(e).__name__}: {e}); define or import it first"
            ) from None
        return obj

    def module(self, d, depth):
        from .nn.modules.module import Module

        if not isinstance(d, dict) or not {
            "class",
            "attrs",
            "parameters",
            "buffers",
            "modules",
        } <= set(d):
            raise _bad(self.src, "a module entry is malformed")
        cls = self.code(d["class"], "nn.Module")
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise _bad(self.src, f"{d['class']} is not an nn.Module class")
        m = cls.__new__(cls)
        Module.__init__(m)
        dd = m.__dict__
        for slot in ("parameters", "buffers", "modules"):
            for k, v in d[slot]:
                dd["_" + slot][k] = None if v is None else self.dec(v, depth + 1)
        dd["_non_persistent_buffers_set"] = set(d.get("non_persistent", ()))
        for k, v in d["attrs"]:
            if not isinstance(k, str) or k in _MODULE_INTERNALS:
                raise _bad(self.src, f"a module attribute name is malformed ({str(k)[:60]!r})")
            dd[k] = self.dec(v, depth + 1)
        return m

    def array(self, name):
        if not isinstance(name, str) or name == _META or name not in self.npz.files:
            raise _bad(self.src, f"it refers to a missing array entry {name!r}")
        try:
            arr = self.npz[name]
        except ValueError as e:  # object arrays: refused by allow_pickle=False
            raise _bad(self.src, f"entry {name!r} can't be read without pickle ({e})") from None
        if arr.dtype.hasobject or arr.dtype not in _dtype._FROM_NP:
            raise _bad(self.src, f"entry {name!r} has unsupported dtype {arr.dtype}")
        return arr

    def tensor(self, d):
        from .creation import from_numpy

        name = d["tensor"]
        if not isinstance(name, str):
            raise _bad(self.src, f"a tensor entry is malformed ({str(d)[:60]!r})")
        if name in self.cache:
            return self.cache[name]
        t = from_numpy(self.array(name).copy())
        if d.get("parameter"):
            try:
                from .nn import Parameter

                t = Parameter(t, requires_grad=bool(d.get("requires_grad", False)))
            except ImportError:
                t.requires_grad_(bool(d.get("requires_grad", False)))
        elif d.get("requires_grad"):
            t.requires_grad_(True)
        self.cache[name] = t
        return t

    def dec(self, o, depth=0):
        if depth > 200:
            raise _bad(self.src, "the structure is nested too deeply")
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if isinstance(o, list):
            return [self.dec(v, depth + 1) for v in o]
        if not isinstance(o, dict) or len(o) == 0:
            raise _bad(self.src, f"unexpected structure element {str(o)[:60]!r}")
        if "tensor" in o:
            return self.tensor(o)
        if len(o) != 1:
            raise _bad(self.src, f"unexpected structure element {str(o)[:60]!r}")
        ((kind, v),) = o.items()
        if kind in ("dict", "odict"):
            if not isinstance(v, list) or not all(
                isinstance(kv, list) and len(kv) == 2 for kv in v
            ):
                raise _bad(self.src, "a dict entry is malformed")
            items = [(self._key(self.dec(k, depth + 1)), self.dec(x, depth + 1)) for k, x in v]
            return OrderedDict(items) if kind == "odict" else dict(items)
        if kind in ("tuple", "set"):
            if not isinstance(v, list):
                raise _bad(self.src, f"a {kind} entry is malformed")
            items = [self.dec(x, depth + 1) for x in v]
            return tuple(items) if kind == "tuple" else set(items)
        if kind == "float" and v in ("inf", "-inf", "nan"):
            return float(v)
        if kind == "ndarray":
            return self.array(v).copy()
        if kind == "dtype" and isinstance(v, str) and v in _dtype._NAMES:
            return _dtype._NAMES[v]
        if kind == "module":
            return self.module(v, depth)
        if kind == "callable":
            return self.code(v, "function")
        raise _bad(self.src, f"unknown structure element {kind!r}")

    def _key(self, k):
        if isinstance(k, list):
            raise _bad(self.src, "a dict key is a list")
        return k


def load(f, map_location=None, weights_only=True, **_compat):
    """Read what ``jitgrad.save`` wrote, from a path or binary file. Never unpickles; a whole
    module (its class imported and rebuilt) only with ``weights_only=False``."""
    if map_location is not None and str(map_location) not in ("cpu", "device(type='cpu')"):
        raise RuntimeError(
            f"jitgrad.load: map_location={map_location!r}: jitgrad eager tensors live on the CPU"
        )
    src = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file object"
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
        if isinstance(data, str):
            raise TypeError("jitgrad.load: open the file in binary mode ('rb')")
    if not data.startswith(b"PK"):
        hint = " (it looks like a pickle, which jitgrad never loads)" if data[:1] == b"\x80" else ""
        raise _bad(src, f"it is not a NumPy .npz archive{hint}")
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise _bad(src, f"the archive can't be read ({e})") from None
    with npz:
        if not isinstance(npz, np.lib.npyio.NpzFile) or _META not in npz.files:
            raise _bad(src, f"the archive has no {_META!r} entry (not written by jitgrad.save)")
        try:
            raw = npz[_META]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError("bad header dtype")
            meta = json.loads(raw.tobytes().decode())
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile) as e:
            raise _bad(src, f"its header is corrupt ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "obj" not in meta:
            raise _bad(src, "its header is not a jitgrad header")
        if not isinstance(meta.get("version"), int) or meta["version"] > _VERSION:
            raise _bad(
                src, f"it was written by a newer jitgrad (format version {meta.get('version')!r})"
            )
        try:
            return _Reader(npz, src, weights_only=weights_only is not False).dec(meta["obj"])
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
            raise _bad(src, f"an array entry is corrupt ({e})") from None
        except (TypeError, ValueError) as e:  # e.g. an unhashable set item or dict key
            raise _bad(src, f"its structure is malformed ({type(e).__name__}: {e})") from None
