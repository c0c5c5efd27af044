"""What library code (optimizers, schedulers) calls so a static-graph trace stays correct.

``scalar_input(group, "lr")`` returns the Python number in eager mode; under a tracer it
returns a 0-d tensor that the compiled step reads again from ``group["lr"]`` at every call,
so a learning-rate schedule is never baked into compiled code.
"""

from ._grad_mode import STATE


def scalar_input(owner, key):
    """``owner[key]`` (a number), as a runtime input of a traced step."""
    v = owner[key]
    tr = STATE.tracer
    if tr is None or not isinstance(v, (int, float)) or isinstance(v, bool):
        return v
    return tr.scalar_input(owner, key, v)


def is_tracing():
    """True while ``jitgrad.trace`` records the current thread's operations."""
    return STATE.tracer is not None
