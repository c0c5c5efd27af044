"""The optional peers (PyTorch, JAX), imported lazily with the benchmark's thread count."""

import os

THREADS = int(os.environ.get("OMP_NUM_THREADS", "2"))


class Unavailable(Exception):
    """A column that cannot run here; the message is printed in the table instead of a time."""


_cache = {}
# the OpenMP/BLAS policy variables each peer saw when it was imported (its OpenMP runtime
# reads them once, at load): empty means the library's own defaults
ENV_AT_IMPORT = {}


def _policy_env():
    from .env import policy_env

    return policy_env()


def torch():
    if "torch" not in _cache:
        ENV_AT_IMPORT["torch"] = _policy_env()
        try:
            import torch as _t
        except ImportError:
            _cache["torch"] = None
        else:
            _t.set_num_threads(THREADS)
            try:
                _t.set_num_interop_threads(1)
            except RuntimeError:
                pass
            _cache["torch"] = _t
    if _cache["torch"] is None:
        raise Unavailable("not installed")
    return _cache["torch"]


def jax():
    if "jax" not in _cache:
        ENV_AT_IMPORT["jax"] = _policy_env()
        try:
            import jax as _j
            import jax.numpy  # noqa: F401
        except ImportError:
            _cache["jax"] = None
        else:
            _j.config.update("jax_platforms", "cpu")
            _cache["jax"] = _j
    if _cache["jax"] is None:
        raise Unavailable("not installed")
    return _cache["jax"]


def versions():
    """Versions of jitgrad and every peer; imports the peers first, before jitgrad.compile
    (which sets numba's OpenMP wait policy for jitgrad's own loops) can touch the environment."""
    out = {}
    peers = {}
    for name, get in (("torch", torch), ("jax", jax)):
        try:
            peers[name] = get().__version__
        except Unavailable as e:
            peers[name] = str(e)
    import numba
    import numpy as np

    import jitgrad

    out["jitgrad"] = getattr(jitgrad, "__version__", "?")
    out["numpy"] = np.__version__
    out["numba"] = numba.__version__
    out.update(peers)
    return out


def thread_report():
    """Which thread counts each library actually uses, as far as it tells."""
    rep = {}
    try:
        import numba

        rep["numba"] = f"{numba.get_num_threads()} (layer {numba.config.THREADING_LAYER})"
    except Exception as e:  # pragma: no cover
        rep["numba"] = f"? ({e})"
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            rep[f"{info['internal_api']} ({os.path.basename(info['filepath'])})"] = str(
                info["num_threads"]
            )
    except ImportError:
        rep["BLAS"] = f"{os.environ.get('OPENBLAS_NUM_THREADS')} (OPENBLAS_NUM_THREADS)"
    try:
        t = torch()
        rep["torch"] = f"{t.get_num_threads()} intra-op, {t.get_num_interop_threads()} inter-op"
    except Unavailable:
        pass
    try:
        j = jax()
        rep["jax"] = f"{len(os.sched_getaffinity(0))} (XLA sizes its pool from the usable CPUs)"
        _ = j
    except (Unavailable, AttributeError):
        pass
    return rep
