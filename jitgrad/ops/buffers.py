"""Recycled output buffers for eager ops: a steady training step makes no new large allocations.

An eager step allocates the same large arrays every call (activations, their gradients), and
frees them when the tape goes. glibc gives freed large blocks back to the OS (``munmap``, or
a heap trim) and every new one is faulted in again page by page: ~3,500 minor page faults
(14 MB, 4-7 ms of CPU) per eager small-CNN step, round 6. ``empty(shape, dtype)`` instead
hands out an array this module keeps: one nobody else references any more (its reference
count says so: a live Tensor, a view, a tape node or a user's variable all hold one), else a
new one that it keeps for the next call. Only arrays of at least ``MIN_BYTES`` are kept, at
most ``PER_SHAPE`` per (shape, dtype) and ``MAX_BYTES`` in all (the oldest shape is dropped
first); ``clear()`` drops them all. Nothing process-wide changes (no ``mallopt``).
"""

import math
import sys
import threading

import numpy as np

MIN_BYTES = 64 * 1024  # below this malloc keeps its blocks anyway (and a lookup costs more)
PER_SHAPE = 32  # arrays kept per (shape, dtype): live ones of a step (a ResNet stage holds
# a dozen activations and gradients of one shape) plus one to hand out; MAX_BYTES bounds them
MAX_BYTES = 256 * 1024 * 1024  # kept in all; the oldest shape goes first beyond it

_kept = {}  # (shape, dtype) -> [arrays], insertion order = age
_bytes = [0]
_lock = threading.Lock()
_refcount = sys.getrefcount


def _free_count():
    """What ``_refcount`` reports in ``empty``'s loop for a kept array nobody else holds (the
    list's reference, plus whatever the loop variable and the call add on this Python)."""
    for a in [np.empty(1)]:
        return _refcount(a)


_FREE = _free_count()


def empty(shape, dtype):
    """``np.empty(shape, dtype)``, from the kept arrays when one is free (same shape/dtype)."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)  # np.prod: 3 us of the 5 this took
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    key = (tuple(shape), dtype)
    with _lock:
        arrays = _kept.get(key)
        if arrays is None:
            arrays = _kept[key] = []
        else:
            for a in arrays:
                if _refcount(a) == _FREE:
                    return a
        out = np.empty(shape, dtype)
        if len(arrays) < PER_SHAPE:
            arrays.append(out)
            _bytes[0] += nbytes
            while _bytes[0] > MAX_BYTES and len(_kept) > 1:
                old = next(iter(_kept))
                if old == key:
                    break
                _bytes[0] -= sum(a.nbytes for a in _kept.pop(old))
        return out


def kept_bytes():
    """Bytes of the arrays kept for reuse."""
    return _bytes[0]


def clear():
    """Drop every kept array (the ones still in use live on with their users)."""
    with _lock:
        _kept.clear()
        _bytes[0] = 0
