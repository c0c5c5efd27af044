"""On-disk cache of generated modules: numba's own cache sits beside each module.

Key = hash of the generated source (which encodes the graph structure) + versions of jitgrad,
numba, NumPy and the CPU. Writes are atomic (temp file + rename). A module that fails to load
is rebuilt with a warning; an unwritable directory falls back to memory with a warning.
"""

import importlib.util
import os
import platform
import sys
import tempfile
import types
import warnings

import numba
import numpy as np

from ... import __version__

_MEM = {}


def cache_dir():
    d = os.environ.get("JITGRAD_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jitgrad")


def _env_tag():
    py = sys.version_info[:2]
    s = f"{__version__}-{numba.__version__}-{np.__version__}-{platform.machine()}-{py}"
    return "".join(c if c.isalnum() else "_" for c in s)


def load_module(key, src, use_cache=True):
    """Import generated source as a module; returns (module, cache_hit)."""
    name = f"jitgrad_gen_{key}"
    if name in _MEM:
        return _MEM[name], True
    if not use_cache:
        return _load_mem(name, src, False), False
    root = os.path.join(cache_dir(), _env_tag())
    path = os.path.join(root, name + ".py")
    try:
        os.makedirs(root, exist_ok=True)
        hit = False
        if os.path.exists(path):
            with open(path, "rb") as f:
                old = f.read()
            if old == src.encode("utf-8"):
                hit = True
            else:
                warnings.warn(
                    f"jitgrad cache: entry {path} is corrupt or stale; rebuilding it",
                    RuntimeWarning,
                    stacklevel=3,
                )
        if not hit:
            fd, tmp = tempfile.mkstemp(dir=root, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(src)
            os.replace(tmp, path)
    except OSError as e:
        warnings.warn(
            f"jitgrad cache: directory {root} is not writable ({e}); compiled code is "
            "kept in memory only (set JITGRAD_CACHE_DIR to a writable directory)",
            RuntimeWarning,
            stacklevel=3,
        )
        return _load_mem(name, src, False), False
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        mod.CACHE = True
        sys.modules[name] = mod  # numba's cache re-imports the module by name
        spec.loader.exec_module(mod)
    except Exception as e:
        sys.modules.pop(name, None)  # a broken entry: rebuild in memory rather than trust it
        warnings.warn(
            f"jitgrad cache: could not load {path} ({type(e).__name__}: {e}); "
            "compiling without the disk cache",
            RuntimeWarning,
            stacklevel=3,
        )
        return _load_mem(name, src, False), False
    _MEM[name] = mod
    has_index = os.path.isdir(os.path.join(root, "__pycache__")) and any(
        f.startswith(name) and f.endswith(".nbi")
        for f in os.listdir(os.path.join(root, "__pycache__"))
    )
    return mod, hit and has_index


def _load_mem(name, src, cache):
    mod = types.ModuleType(name)
    mod.CACHE = cache
    sys.modules[name] = mod
    code = compile(src, f"<{name}>", "exec")
    exec(code, mod.__dict__)
    _MEM[name] = mod
    return mod


def drop_numba_cache(mod, err):
    """After numba failed to load a damaged cache entry: delete it and warn. Returns False when
    ``mod`` has no on-disk cache entry (then the error is not a cache fault)."""
    path = getattr(mod, "__file__", None)
    if not path:
        return False
    d = os.path.join(os.path.dirname(path), "__pycache__")
    base = os.path.splitext(os.path.basename(path))[0]
    try:
        victims = [f for f in os.listdir(d) if f.startswith(base + ".")]
    except OSError:
        return False
    if not victims:
        return False
    for f in victims:
        try:
            os.remove(os.path.join(d, f))
        except OSError:
            pass
    warnings.warn(
        f"jitgrad cache: numba's cache entry for {base} is corrupt "
        f"({type(err).__name__}: {err}); deleted it and recompiling",
        RuntimeWarning,
        stacklevel=4,
    )
    _MEM.pop(base, None)
    sys.modules.pop(base, None)
    return True
