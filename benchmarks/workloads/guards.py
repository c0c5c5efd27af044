"""(g) Guard cost: what checking that a compiled variant still applies costs per call.

- the generated guard function alone, for the MNIST MLP step (a) and the 200-op chain (d);
- the front end's whole per-call overhead (signature, guards, gathering inputs, finishing
  outputs and ``.grad`` bindings) with the compiled kernel replaced by a stub that returns
  the outputs of a real call, so only the Python around the kernel is timed.

The targets (issue 10): guards add < 5 us per MNIST MLP call; the 200-op chain's whole
compiled call stays <= 15 us (row (d) of the overhead workload).
"""

import os

from .common import Row, mlp_params, mnist_batch


def _compiled(make):
    """A step that has compiled, with the (args, kwargs, leaves) of one compiled call."""
    os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
    fn = make()
    tf = fn.traced
    for _ in range(3):
        fn()
    tf.wait()
    fn()
    v = tf.last
    seen = {}
    real = v.run

    def spy(leaves, args=(), kwargs=None):
        seen["call"] = (args, kwargs or {}, leaves)
        return real(leaves, args, kwargs)

    v.run = spy
    fn()
    v.run = real
    return fn, tf, v, seen["call"]


def _mlp():
    from . import mlp

    return mlp.jitgrad_step(mlp_params(mlp.SIZES), mnist_batch(32), True)


def _chain():
    from . import overhead

    return overhead.jitgrad_case(overhead.N_OPS, True)


def guard_only(make):
    _, _, v, (a, k, leaves) = _compiled(make)
    check = v.guards.check
    if not check(a, k, leaves):
        raise RuntimeError("guard benchmark: the guards of the compiled variant do not hold")
    return lambda: check(a, k, leaves)


def front_end_only(make):
    fn, _, v, (a, k, leaves) = _compiled(make)
    outs = v.exe.run(v.gather(leaves))
    v.exe.run = lambda arrays, *_: outs  # the kernel's work is not what this row measures
    return fn


def rows(level):
    note = "kernel stubbed: Python per call around the compiled code"
    return [
        Row(
            "guards",
            "(g) guard check alone, MNIST MLP step",
            {"jitgrad compiled": lambda: guard_only(_mlp)},
            unit="us",
            group="(g) guard cost",
            x="MLP guards",
        ),
        Row(
            "guards",
            "(g) front-end per-call overhead, MNIST MLP step",
            {"jitgrad compiled": lambda: front_end_only(_mlp)},
            unit="us",
            group="(g) guard cost",
            x="MLP front end",
            note=note,
        ),
        Row(
            "guards",
            "(g) guard check alone, 200-op chain",
            {"jitgrad compiled": lambda: guard_only(_chain)},
            unit="us",
            group="(g) guard cost",
            x="chain guards",
        ),
        Row(
            "guards",
            "(g) front-end per-call overhead, 200-op chain",
            {"jitgrad compiled": lambda: front_end_only(_chain)},
            unit="us",
            group="(g) guard cost",
            x="chain front end",
            note=note,
        ),
    ]
