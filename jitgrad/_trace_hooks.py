"""What library code (optimizers, schedulers, modules, the RNG) calls so a static-graph trace
stays correct.

``scalar_input(group, "lr")`` returns the value in eager mode; under a tracer it returns a 0-d
tensor that the compiled step reads again from ``group["lr"]`` at every call, so a
learning-rate schedule is never baked into compiled code. ``note(obj)`` tells the tracer a
module was called or an optimizer used (their flags and structure become guards).
``replayed`` marks a function that only changes Python values (``scheduler.step()``,
``manual_seed``): called inside a traced step it is recorded and called again, in program
order, by every compiled call. ``HOOK_EPOCH`` counts hook registrations and removals.
"""

import functools

from ._grad_mode import STATE

HOOK_EPOCH = [0]


def scalar_input(owner, key):
    """``owner[key]`` (a number or a 0-d tensor), as a runtime input of a traced step."""
    v = owner[key]
    tr = STATE.tracer
    if tr is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) or (getattr(v, "_data", None) is not None and v.ndim == 0):
        return tr.scalar_input(owner, key, v)
    return v


def note(obj):
    """Under a tracer, record that the step used this module or optimizer."""
    tr = STATE.tracer
    if tr is not None:
        tr.note(obj)


def hooks_changed():
    """Called whenever a tensor or module hook is added or removed."""
    HOOK_EPOCH[0] += 1


def replayed(fn):
    """Decorator: a Python-only function that a compiled step calls again at every call."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        tr = STATE.tracer
        if tr is None or tr.in_effect:
            return fn(*args, **kwargs)
        tr.effect(fn, args, kwargs)
        tr.in_effect = True
        try:
            return fn(*args, **kwargs)
        finally:
            tr.in_effect = False

    return wrapper


def is_tracing():
    """True while ``jitgrad.trace`` records the current thread's operations."""
    return STATE.tracer is not None
