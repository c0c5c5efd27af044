"""``trace(check=True)``: run the compiled step, then the eager step on the same starting
state, and raise at the first output, parameter/buffer or gradient that differs."""

import numpy as np

from .errors import NonFiniteError, TraceCheckError
from .pytree import flatten


def _tol(dtype, rtol, atol):
    if dtype == np.float64:
        return rtol or 1e-9, atol or 1e-12
    return rtol or 1e-4, atol or 1e-5


def _compare(what, a, b, rtol, atol):
    if a is None or b is None:
        if (a is None) != (b is None):
            raise TraceCheckError(
                f"check=True: {what} is {'None' if a is None else 'set'} in the "
                f"compiled step but {'None' if b is None else 'set'} eagerly"
            )
        return
    if a.shape != b.shape:
        raise TraceCheckError(f"check=True: {what} has shape {a.shape} compiled vs {b.shape} eager")
    if a.dtype.kind != "f":
        if not np.array_equal(a, b):
            raise TraceCheckError(f"check=True: {what} differs (integer/bool values)")
        return
    r, at = _tol(a.dtype, rtol, atol)
    if not np.allclose(a, b, rtol=r, atol=at, equal_nan=True):
        err = np.nanmax(np.abs(a.astype(np.float64) - b))
        raise TraceCheckError(
            f"check=True: {what} differs between compiled and eager: max abs error {err:.3g} "
            f"(rtol={r}, atol={at}); the compiled kernel for this value is wrong or the step is "
            "not deterministic. Inspect step.source() and step.graph"
        )


class Snapshot:
    """Everything a step may change: state arrays, the ``.grad`` of the tensors it binds or
    reads, and the random generator. ``restore()`` puts it all back."""

    def __init__(self, v, leaves):
        from ..creation import default_generator
        from .tracer import resolve

        g = v.graph
        self.states = [inp.ref for inp in g.inputs if inp.kind == "state"]
        written = {i for i, _ in g.state_writes}
        self.states += [
            leaves[inp.ref] for i, inp in enumerate(g.inputs) if inp.kind == "arg" and i in written
        ]
        refs = [inp.ref for inp in g.inputs if inp.kind == "grad"]
        refs += [r for r, _ in g.grad_binds]
        self.owners = {}
        for r in refs:
            t = resolve(r, leaves)
            self.owners[id(t)] = t
        self.arrays = [t._data.copy() for t in self.states]
        self.grads = {
            k: (t._grad, None if t._grad is None else t._grad._data.copy())
            for k, t in self.owners.items()
        }
        self.gen = default_generator
        self.rng = default_generator._rng.bit_generator.state

    def restore(self):
        for t, a in zip(self.states, self.arrays):
            t._data[...] = a
        for k, t in self.owners.items():
            obj, data = self.grads[k]
            if obj is not None:
                obj._data[...] = data
            t._grad = obj
        self.gen._rng.bit_generator.state = self.rng


def run_checked(tf, v, leaves, args, kwargs):
    snap = Snapshot(v, leaves)
    states, owners = snap.states, snap.owners
    out_c = v.run(leaves, args, kwargs)
    oc = []
    flatten(out_c, oc)
    oc = [t._data.copy() for t in oc]
    sc = [t._data.copy() for t in states]
    gc = {k: (None if t._grad is None else t._grad._data.copy()) for k, t in owners.items()}
    snap.restore()

    out_e = tf.fn(*args, **kwargs)
    oe = []
    flatten(out_e, oe)
    rtol, atol = tf.rtol, tf.atol
    name = v.guards.name_of
    try:
        for i, (a, b) in enumerate(zip(oc, oe)):
            _compare(f"output {i}", a, b._data, rtol, atol)
        for t, a in zip(states, sc):
            _compare(f"state {name(t)}", a, t._data, rtol, atol)
        for k, t in owners.items():
            _compare(
                f"{name(t)}.grad", gc[k], None if t._grad is None else t._grad._data, rtol, atol
            )
    except TraceCheckError as e:
        now = v.guards.failure(args, kwargs, leaves)
        hint = (
            f" The guard `{now}` fails after the eager call: the step changes what it depends on."
            if now
            else " Every guard holds (see step.explain() for what is guarded): either a kernel "
            "is wrong or the step reads a Python value jitgrad does not see; pass it as an "
            "argument tensor"
        )
        raise TraceCheckError(str(e) + "." + hint) from None
    return out_e


def check_finite(v, arrays, outs):
    """Raise ``NonFiniteError`` naming the first op (in the traced graph) that turned finite
    inputs into NaN/inf, if any floating output, gradient or new state is not finite."""
    bad = [vid for vid, a in outs.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if not bad:
        return
    raw = v.raw
    env = dict(raw.consts)
    for inp, a in zip(raw.inputs, arrays):
        env[inp.vid] = a
    culprit = None
    for n in raw.nodes:
        xs = [env[i] for i in n.ins]
        r = np.asarray(n.op.impl(*xs, **n.params))
        env[n.out] = r
        if (
            r.dtype.kind == "f"
            and not np.isfinite(r).all()
            and all(x.dtype.kind != "f" or np.isfinite(x).all() for x in xs)
        ):
            culprit = n
            break
    if culprit is None:
        raise NonFiniteError(
            f"check_finite: the traced step {v.fn_name} produced non-finite "
            "values (NaN/inf) that were already in its inputs; nothing was "
            "updated"
        )
    where = f" at {culprit.where}" if culprit.where else ""
    shape = list(raw.values[culprit.out].shape)
    raise NonFiniteError(
        f"check_finite: {culprit.op.name} produced non-finite values (NaN/inf) from finite inputs "
        f"(output shape {shape}){where} in the traced step {v.fn_name}; parameters, gradients "
        "and optimizer state were not updated"
    )
