"""On-disk cache of generated modules: numba's own cache sits beside each module.

Key = hash of the generated source (which encodes the graph structure) + versions of jitgrad,
numba, NumPy and the CPU. Writes are atomic (temp file + rename). A module that fails to load
is rebuilt with a warning; an unwritable directory falls back to memory with a warning.

numba (0.68) stamps its index with a hash of the module's *content*, so rewriting an identical
file (two processes writing the same entry) does not invalidate what the other one compiled.
numba's files live in ``__pycache__`` beside the module, or under ``NUMBA_CACHE_DIR`` when that
is set; ``numba_dirs`` finds both. The cache is bounded: least-recently-used entries are
deleted once the whole directory exceeds ``JITGRAD_CACHE_MAX_MB`` (default 512).
"""

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import os
import platform
import sys
import tempfile
import time
import types
import warnings

import numba
import numpy as np

from ... import __version__

_MEM = {}
PREFIX = "jitgrad_gen_"
DEFAULT_MAX_MB = 512
_SCANS = {}  # cache dir -> (time of the last size scan, bytes it found)
_RESCAN_S = 60.0


def cache_dir():
    d = os.environ.get("JITGRAD_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jitgrad")


@functools.lru_cache(maxsize=None)
def _linked_sources_tag():
    import hashlib

    from ...ops import _conv_kernels
    from .. import vmath

    h = hashlib.sha1(vmath.SOURCE_TAG.encode())
    with open(_conv_kernels.__file__, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:10]


def _env_tag():
    py = sys.version_info[:2]
    # numba's cache of a generated step holds the vmath and conv-kernel code it linked in and
    # does not see those files change: key on their source
    s = f"{__version__}-{numba.__version__}-{np.__version__}-{platform.machine()}-{py}"
    s += f"-{_linked_sources_tag()}"
    return "".join(c if c.isalnum() else "_" for c in s)


def entry_root():
    """The directory holding this interpreter's entries (one per version combination)."""
    return os.path.join(cache_dir(), _env_tag())


def write_source(key, src, stacklevel=2):
    """Make sure the module file for ``key`` holds ``src`` (atomic write); returns
    ``(module name, path, was_there)``. Raises OSError when the directory is unwritable."""
    name = PREFIX + key
    root = entry_root()
    path = os.path.join(root, name + ".py")
    os.makedirs(root, exist_ok=True)
    data = src.encode("utf-8")
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return name, path, True
        warnings.warn(
            f"jitgrad cache: entry {path} is corrupt or stale; rebuilding it",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
    fd, tmp = tempfile.mkstemp(dir=root, prefix=name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return name, path, False


class _EntryLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        module.CACHE = True
        super().exec_module(module)
        _MEM[module.__name__] = module


class _EntryFinder(importlib.abc.MetaPathFinder):
    """``import jitgrad_gen_<key>`` finds the entry in this interpreter's cache directory:
    numba's cached code of a step compiled against the tier-1 kernel modules (tiers.py) names
    them, and a new process loading that step must import them without having built them."""

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or not fullname.startswith(PREFIX):
            return None
        p = os.path.join(entry_root(), fullname + ".py")
        if not os.path.exists(p):
            return None
        return importlib.util.spec_from_file_location(fullname, p, loader=_EntryLoader(fullname, p))


if not any(isinstance(f, _EntryFinder) for f in sys.meta_path):
    sys.meta_path.append(_EntryFinder())


def load_module(key, src, use_cache=True):
    """Import generated source as a module; returns (module, cache_hit)."""
    name = PREFIX + key
    if name in _MEM:
        return _MEM[name], True
    if not use_cache:
        return _load_mem(name, src, False), False
    root = entry_root()
    try:
        name, path, hit = write_source(key, src, stacklevel=3)
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
    _touch(root, name)
    if not hit:
        evict()
    return mod, hit and index_exists(mod)


def _load_mem(name, src, cache):
    mod = types.ModuleType(name)
    mod.CACHE = cache
    sys.modules[name] = mod
    code = compile(src, f"<{name}>", "exec")
    exec(code, mod.__dict__)
    _MEM[name] = mod
    return mod


def _dispatchers(mod):
    return [v for v in vars(mod).values() if hasattr(v, "py_func") and hasattr(v, "_cache")]


def index_exists(mod, func="step"):
    """True when numba has an index file on disk for ``mod.func`` (wherever numba keeps it:
    beside the module or under NUMBA_CACHE_DIR)."""
    fn = getattr(mod, func, None)
    cands = [fn] if fn is not None and hasattr(fn, "_cache") else _dispatchers(mod)
    files = [getattr(d._cache, "_cache_file", None) for d in cands]
    files = [cf for cf in files if cf is not None]
    if files:
        return any(os.path.exists(cf._index_path) for cf in files)
    # other targets (numba.cuda): any index file of this module where numba keeps them
    path = getattr(mod, "__file__", None)
    if not path:
        return False
    name = os.path.splitext(os.path.basename(path))[0]
    for d in numba_dirs(os.path.dirname(path)):
        try:
            if any(f.startswith(name + ".") and f.endswith(".nbi") for f in os.listdir(d)):
                return True
        except OSError:
            pass
    return False


def loaded_from_disk(fn, sig):
    """True when dispatcher ``fn`` got its code for ``sig`` from numba's disk cache."""
    return bool(fn.stats.cache_hits.get(tuple(sig)))


def has_compiled(fn, sig):
    """True when numba's disk cache already holds code of dispatcher ``fn`` for ``sig`` (a
    cheap index lookup: nothing is loaded)."""
    c = getattr(fn, "_cache", None)
    cf = getattr(c, "_cache_file", None)
    if cf is None or not getattr(c, "_enabled", False):
        return False
    try:
        key = c._index_key(tuple(sig), fn.targetctx.codegen())
        return key in cf._load_index()
    except Exception:  # an unreadable index: numba's own load will sort it out
        return False


def numba_dirs(root):
    """Where numba keeps the compiled code of modules in ``root``."""
    out = [os.path.join(root, "__pycache__")]
    if numba.config.CACHE_DIR:
        from numba.core.caching import _CacheLocator

        sub = _CacheLocator.get_suitable_cache_subpath(os.path.join(root, "x.py"))
        out.append(os.path.join(numba.config.CACHE_DIR, sub))
    return out


# ---------------------------------------------------------------- size bound (LRU) ------
def max_bytes():
    """The cache's size bound in bytes (``JITGRAD_CACHE_MAX_MB``, default 512 MB)."""
    v = os.environ.get("JITGRAD_CACHE_MAX_MB", "").strip()
    try:
        mb = float(v) if v else DEFAULT_MAX_MB
    except ValueError:
        warnings.warn(
            f"JITGRAD_CACHE_MAX_MB={v!r} is not a number; using {DEFAULT_MAX_MB}",
            RuntimeWarning,
            stacklevel=2,
        )
        mb = DEFAULT_MAX_MB
    return int(mb * 2**20)


def _touch(root, name):
    """Record a use of entry ``name`` (its ``.lru`` file's mtime is the last-use time)."""
    p = os.path.join(root, name + ".lru")
    try:
        with open(p, "a"):
            pass
        os.utime(p)
    except OSError:
        pass


def entries():
    """Every entry under the cache directory: {(root, name): [size, last use, [paths]]}."""
    base = cache_dir()
    out = {}
    try:
        tags = os.listdir(base)
    except OSError:
        return out
    now = time.time()
    for tag in tags:
        root = os.path.join(base, tag)
        if not os.path.isdir(root):
            continue
        for d in [root] + numba_dirs(root):
            try:
                files = os.listdir(d)
            except OSError:
                continue
            for f in files:
                p = os.path.join(d, f)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if f.startswith(PREFIX):
                    name = f.split(".", 1)[0]
                elif d == root and f.endswith(".tmp") and now - st.st_mtime > 3600:
                    name = "(tmp)"  # a write that never finished long ago: evicted first
                else:
                    continue
                e = out.setdefault((root, name), [0, 0.0, [], None])
                e[0] += st.st_size
                e[2].append(p)
                if f == name + ".lru":
                    e[3] = st.st_mtime
                e[1] = max(e[1], st.st_mtime)
    for e in out.values():  # last use: the .lru stamp, else the newest file
        if e[3] is not None:
            e[1] = e[3]
        del e[3:]
    return out


def evict(limit=None, keep=()):
    """Delete least-recently-used entries until the cache is at most ``limit`` bytes
    (default ``max_bytes()``); entries this process has loaded (and names in ``keep``) are
    kept. Returns the number of bytes left. Without ``limit``, the directory is not scanned
    again within a minute of a scan that found it under half the bound."""
    base, now = cache_dir(), time.monotonic()
    last = _SCANS.get(base)
    if limit is None:
        limit = max_bytes()
        if last is not None and now - last[0] < _RESCAN_S and last[1] < limit / 2:
            return last[1]  # well under the bound a moment ago: skip the directory scan
    ents = entries()
    total = sum(e[0] for e in ents.values())
    _SCANS[base] = (now, total)
    if total <= limit:
        return total
    for (_root, name), (size, _, paths) in sorted(ents.items(), key=lambda kv: kv[1][1]):
        if total <= limit:
            break
        if name in _MEM or name in keep:
            continue
        for p in paths:
            try:
                os.remove(p)
            except OSError:
                pass
        total -= size
    _SCANS[base] = (now, total)
    return total


def drop_numba_cache(mod, err):
    """After numba failed to load a damaged cache entry: delete it and warn. Returns False when
    ``mod`` has no on-disk cache entry (then the error is not a cache fault)."""
    path = getattr(mod, "__file__", None)
    if not path:
        return False
    base = os.path.splitext(os.path.basename(path))[0]
    victims = []
    for d in numba_dirs(os.path.dirname(path)):
        try:
            victims += [os.path.join(d, f) for f in os.listdir(d) if f.startswith(base + ".")]
        except OSError:
            pass
    if not victims:
        return False
    for p in victims:
        try:
            os.remove(p)
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
