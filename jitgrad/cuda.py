"""``jitgrad.cuda``: is a GPU (or numba's CUDA simulator) there for ``trace(device="cuda")``?

numba is imported lazily, so ``import jitgrad`` stays cheap. The simulator
(``NUMBA_ENABLE_CUDASIM=1``, read by numba when it is first imported) runs the same kernels
in Python threads: correct, very slow, meant for tests on machines without a GPU.

>>> jitgrad.cuda.is_available()
False
"""

import os

_NO_GPU = (
    "jitgrad.trace(device='cuda'): no usable CUDA GPU ({why}). Use device='cpu', or, to run "
    "the CUDA kernels on numba's (slow) CUDA simulator, set NUMBA_ENABLE_CUDASIM=1 in the "
    "environment before Python starts (numba reads it when it is first imported)."
)


def _cuda():
    from numba import cuda

    return cuda


def simulated():
    """True when numba's CUDA simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from numba import config
    except ImportError:
        return False
    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def _why_not():
    try:
        cuda = _cuda()
    except Exception as e:  # numba without its CUDA target
        return f"numba.cuda cannot be imported: {type(e).__name__}: {e}"
    if simulated():
        return None
    try:
        if cuda.is_available():
            return None
    except Exception as e:
        return f"the CUDA driver failed: {type(e).__name__}: {e}"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") and not simulated():
        return (
            "NUMBA_ENABLE_CUDASIM is set but numba was imported before it was, so the "
            "simulator is off"
        )
    return "numba.cuda.is_available() is False: no NVIDIA driver or device found"


def is_available():
    """True when ``trace(device="cuda")`` can run: a CUDA GPU, or the CUDA simulator."""
    return _why_not() is None


def require():
    """Raise a RuntimeError that says why and what to do when no GPU/simulator is usable."""
    why = _why_not()
    if why is not None:
        raise RuntimeError(_NO_GPU.format(why=why))


def device_count():
    """Number of CUDA devices numba sees (the simulator counts as one; 0 without any)."""
    if not is_available():
        return 0
    try:
        return len(_cuda().gpus)
    except Exception:
        return 1 if simulated() else 0


def synchronize():
    """Wait for every kernel and copy queued on the current device (no-op without one)."""
    if is_available():
        _cuda().synchronize()


def get_device_name():
    """The current device's name ("SIMULATOR" on the simulator)."""
    require()
    if simulated():
        return "SIMULATOR"
    name = _cuda().get_current_device().name
    return name.decode() if isinstance(name, bytes) else name


def manual_seed(seed):
    """No-op: eager tensors use the CPU generator (``jitgrad.manual_seed`` seeds it)."""


def manual_seed_all(seed):
    """No-op, as ``manual_seed``."""


def empty_cache():
    """No-op: eager mode holds no CUDA memory."""


__all__ = [
    "manual_seed",
    "manual_seed_all",
    "empty_cache",
    "is_available",
    "require",
    "device_count",
    "synchronize",
    "simulated",
    "get_device_name",
]


def __getattr__(name):
    if name == "amp":  # torch.cuda.amp.GradScaler / autocast (deprecated aliases in torch)
        from . import amp

        return amp
    raise AttributeError(f"module 'jitgrad.cuda' has no attribute {name!r}")
