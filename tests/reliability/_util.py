"""Shared helpers for the reliability suite (see docs/reliability.md).

``JITGRAD_FUZZ=1`` (or a number: the max_examples to use) turns the property-based tests
into a longer fuzzing run; the default keeps the whole folder fast enough for CI.
"""

import os
import re

import numpy as np
from hypothesis import HealthCheck, settings

_FUZZ = os.environ.get("JITGRAD_FUZZ", "")
FUZZ = _FUZZ not in ("", "0")
MAX_EXAMPLES = (int(_FUZZ) if _FUZZ.isdigit() and int(_FUZZ) > 1 else 2000) if FUZZ else 25

# Applied per test (not a global profile, so other folders' hypothesis settings stay theirs).
PROPS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not FUZZ,  # CI: the same examples every run; fuzzing: fresh ones
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# The exception types PyTorch raises for bad input (never a crash, never MemoryError/KeyError).
USER_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)


def check_error(exc, op, *mentions):
    """``exc`` is a user error whose message names ``op`` and each of ``mentions``."""
    assert isinstance(exc, USER_ERRORS), f"{type(exc).__name__}: {exc}"
    msg = str(exc)
    assert re.search(op, msg, re.I), f"message does not name {op!r}: {msg}"
    for m in mentions:
        assert str(m) in msg, f"message does not mention {m!r}: {msg}"


def snapshot(*tensors_or_opt):
    """Byte-exact copy of tensors, their .grad, and optimizer state buffers."""
    from jitgrad.tensor import Tensor

    snap = []
    for obj in tensors_or_opt:
        if isinstance(obj, Tensor):
            snap.append(("t", obj._data.tobytes(), obj._data.shape, obj._data.dtype.str))
            g = obj._grad
            snap.append(("g", None if g is None else (g._data.tobytes(), g._data.shape)))
        else:  # an optimizer
            for st in obj.state.values():
                for k in sorted(st):
                    v = st[k]
                    if isinstance(v, Tensor):
                        snap.append((k, v._data.tobytes()))
                    elif isinstance(v, np.ndarray):
                        snap.append((k, v.tobytes()))
                    else:
                        snap.append((k, repr(v)))
    return snap


class State:
    """Every parameter, its .grad and every optimizer buffer, saved byte-for-byte."""

    def __init__(self, params, opts=()):
        self.params = list(params)
        self.opts = list(opts)

    def _bufs(self):
        from jitgrad.tensor import Tensor

        out = []
        for o in self.opts:
            for p in self.params:
                for k in sorted(o.state.get(p, {})):
                    v = o.state[p][k]
                    if isinstance(v, Tensor):
                        out.append(v)
        return out

    def save(self):
        return (
            [p._data.copy() for p in self.params],
            [None if p.grad is None else p.grad._data.copy() for p in self.params],
            [b._data.copy() for b in self._bufs()],
        )

    def same(self, saved):
        """True when the current state equals ``saved`` byte for byte."""
        now = self.save()
        for a_list, b_list in zip(now, saved):
            if len(a_list) != len(b_list):
                return False
            for a, b in zip(a_list, b_list):
                if (a is None) != (b is None):
                    return False
                if a is not None and (a.shape != b.shape or a.tobytes() != b.tobytes()):
                    return False
        return True

    def restore(self, saved):
        import jitgrad

        data, grads, bufs = saved
        for p, d, g in zip(self.params, data, grads):
            np.copyto(p._data, d)
            p.grad = None if g is None else jitgrad.tensor(g)
        for b, d in zip(self._bufs(), bufs):
            np.copyto(b._data, d)
