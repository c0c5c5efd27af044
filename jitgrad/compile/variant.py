"""A compiled variant: one optimized graph, its guards, and how to feed and finish a call.

``Variant.run`` reads every runtime input (arguments, state, ``.grad``, scalar
hyperparameters, random draws, with the recorded Python calls such as ``scheduler.step()``
replayed in program order between them), runs the backend's executable, writes arguments
back where the step wrote them, rebinds ``.grad`` and replays the Python values the step set.
"""

import functools
import sys
import threading
import time

import numpy as np

from ..tensor import _wrap
from .check import check_finite
from .pytree import unflatten
from .tracer import resolve


class _Slot:
    __slots__ = ("x",)


def _sole_count():
    """What ``sys.getrefcount`` says of an object held by one slot and one local variable
    (the pattern ``Variant.recycled`` tests; measured, since interpreters differ)."""
    holder = _Slot()
    holder.x = [0]
    obj = holder.x
    return sys.getrefcount(obj)


_SOLE = _sole_count()


def _make_backend(name, graph, options):
    if name == "reference":
        from .backends.reference import ReferenceExecutable

        return ReferenceExecutable(graph, options)
    if name == "cpu":
        from .backends.cpu import CPUExecutable

        return CPUExecutable(graph, options)
    if name == "cuda":
        from .backends.cuda import CUDAExecutable

        return CUDAExecutable(graph, options)
    raise ValueError(f"jitgrad.trace: unknown device/backend {name!r}; use 'cpu' or 'cuda'")


class Variant:
    """One compiled graph plus the guards under which it is valid."""

    def __init__(self, fn_name, graph, raw, counts, guards, effects, out_tree, backend, options):
        self.fn_name = fn_name
        self.graph = graph  # optimized
        self.raw = raw  # as traced
        self.counts = counts
        self.guards = guards
        self.effects = effects  # [(input position, fn, args, kwargs)] replayed in order
        self.out_tree = out_tree
        self.options = options
        self.calls = 0
        t0 = time.perf_counter()
        self.exe = _make_backend(backend, graph, options)
        self.build_seconds = time.perf_counter() - t0
        self.ready = True
        self.error = None
        # call times for tiers.check_tier1: eager calls while compiling, tier-1 calls
        self.eager_times, self.tier1_times, self.tier1_warned = [], [], False
        self._prepare()

    def compile_async(self, args):
        """Compile in a background thread; until it is done, calls run eagerly (a CPU step in
        tiers: ``tiers.compile_tiered``)."""
        pre = getattr(self.exe, "precompile", None)
        if pre is None:
            return
        arrays = self.probe_arrays(args)
        on_disk = getattr(self.exe, "on_disk", None)
        if on_disk is not None and on_disk(arrays):
            try:  # a warm cache: loading takes ~0.05 s, so the next call runs compiled
                pre(arrays)
                self.exe.tier = 2  # the whole step, directly
            except Exception as e:  # reported on the next call, which then runs eagerly
                self.error = e
            return
        self.ready = False
        from .worker import hold_blas, lower_this_thread, release_blas

        held = hold_blas()  # NumPy's BLAS on one thread meanwhile (worker.py says why)
        # in tiers, object-mode fallbacks (a DDP step's collectives) included: the garbage a
        # traced DDP step once returned came from the stub run writing into the live state
        # (worker.step_calls now runs on copies), not from tier 1's Python step
        if getattr(self.exe, "name", None) == "cpu" and hasattr(self.exe, "src"):
            from .tiers import compile_tiered

            pre = functools.partial(compile_tiered, self)

        def work():
            # its Python work (IR, loading) competes with the eager calls meanwhile: at the
            # workers' priority (MLP step, idle 2-core box, 5 runs each: eager calls while
            # compiling, mean / the 1-BLAS-thread eager step, median 1.50x -> 1.29x; the first
            # compiled call ~0.08 s later)
            lower_this_thread()
            try:
                pre(arrays)
            except BaseException as e:  # reported on the next call, which then runs eagerly
                self.error = e
            finally:
                self.ready = True  # first: no eager call sees the restored count as "compiling"
                if held:
                    release_blas()

        self._thread = threading.Thread(target=work, name="jitgrad-compile", daemon=True)
        self._thread.start()

    def wait(self):
        """Block until a background compile is done."""
        t = getattr(self, "_thread", None)
        if t is not None:
            t.join()

    def _prepare(self):
        g = self.graph
        self.getters = [_getter(inp) for inp in g.inputs]
        self.out_kind = []
        in_vid = {inp.vid: k for k, inp in enumerate(g.inputs)}
        refs = g.out_refs or [None] * len(g.outputs)
        for v, r in zip(g.outputs, refs):
            k = in_vid.get(v)
            if r is not None:
                self.out_kind.append(("ref", r))
            elif k is not None and g.inputs[k].kind in ("arg", "state"):
                self.out_kind.append(("input", k))
            else:
                self.out_kind.append(("new", v))
        self.has_random = any(inp.kind == "random" for inp in g.inputs)
        rec = getattr(self.exe, "recyclable", None) or {}
        self.recycle_binds = [(r, v) for r, v in g.grad_binds if v in rec]
        # arguments the step writes in place: copied back when the input was a copy
        self.arg_writes = [
            (i, g.inputs[i].ref) for i, _ in g.state_writes if g.inputs[i].kind == "arg"
        ]

    def guard_ok(self, args, kwargs, leaves):
        return self.guards.check(args, kwargs, leaves)

    def failed_guard(self, args, kwargs, leaves):
        return self.guards.failure(args, kwargs, leaves)

    def gather(self, leaves):
        """The input arrays of one call (running the recorded Python calls in between)."""
        if not self.effects:
            return [get(leaves) for get in self.getters]
        arrays = []
        fx = self.effects
        j = 0
        for k, get in enumerate(self.getters):
            while j < len(fx) and fx[j][0] <= k:
                _, f, a, kw = fx[j]
                f(*a, **kw)
                j += 1
            arrays.append(get(leaves))
        for _, f, a, kw in fx[j:]:
            f(*a, **kw)
        return arrays

    def probe_arrays(self, leaves):
        """Inputs of the right types without side effects (no draw, no replayed call). Read
        after the recording call, which may have changed the state (a ``.grad`` the step's
        ``zero_grad()`` set to None): such an input is stood in for by zeros of its type."""
        out = []
        for inp, get in zip(self.graph.inputs, self.getters):
            val = self.graph.values[inp.vid]
            arr = None
            if inp.kind != "random":
                try:
                    arr = get(leaves)
                except AttributeError:  # the tensor or its .grad is gone now
                    arr = None
            ok = isinstance(arr, np.ndarray) and arr.shape == tuple(val.shape)
            out.append(arr if ok and arr.dtype == val.dtype else np.zeros(val.shape, val.dtype))
        return out

    def recycled(self, leaves, arrays):
        """{vid: array} of the ``.grad`` buffers of the previous call that only their
        ``.grad`` slot holds (no user reference to the tensor or its memory, not an input of
        this call): the step writes the new gradients into them instead of fresh memory (a
        fresh big array costs a page fault per 4 KB page at every call)."""
        out = {}
        inputs = None
        for r, v in self.recycle_binds:
            t = resolve(r, leaves)
            old = t._grad
            # held by the .grad slot and ``old`` only (no user reference)
            if old is None or sys.getrefcount(old) > _SOLE:
                continue
            a = old._data  # held by the tensor's _data and ``a`` only
            if sys.getrefcount(a) > _SOLE or a.base is not None or not a.flags.c_contiguous:
                continue
            sh, dt = self.exe.recyclable[v]
            if a.shape != sh or a.dtype != dt or not a.flags.writeable:
                continue
            if inputs is None:
                inputs = {id(x) for x in arrays}
            if id(a) not in inputs:
                out[v] = a
        return out

    def run(self, leaves, args=(), kwargs=None):
        arrays = self.gather(leaves)
        exe = self.exe  # one executable per call (the compile thread may swap in tier 2)
        timed = getattr(exe, "tier", None) == 1 and not self.tier1_warned
        t0 = time.perf_counter() if timed else 0.0
        if self.recycle_binds:
            outs = exe.run(arrays, self.recycled(leaves, arrays))
        else:
            outs = exe.run(arrays)
        if timed:
            from .tiers import check_tier1

            self.tier1_times.append(time.perf_counter() - t0)
            check_tier1(self)
        deferred = getattr(exe, "deferred", None)
        if getattr(exe, "check_finite", False):  # look before committing any state
            check_finite(self, arrays, outs)
        if deferred:
            for i, v in deferred:
                np.copyto(arrays[i], outs[v].reshape(arrays[i].shape))
        for i, a in self.arg_writes:
            t = leaves[a]
            if arrays[i] is not t._data:
                np.copyto(t._data, arrays[i].reshape(t._data.shape))
            t._vc[0] += 1
        if self.guards.effects:
            self.guards.replay_effects(args, kwargs or {})
        self.calls += 1
        return self.finish(leaves, arrays, outs)

    attr_binds = ()  # (module, attribute): the last outputs, rebound after every call

    def finish(self, args, arrays, outs):
        g = self.graph
        for r, v in g.grad_binds:
            resolve(r, args)._grad = None if v is None else _wrap(outs[v])
        res = self.outputs(args, outs)
        if self.attr_binds:
            n = len(res) - len(self.attr_binds)
            for (m, attr), t in zip(self.attr_binds, res[n:]):
                setattr(m, attr, t)
            res = res[:n]
        return unflatten(self.out_tree, iter(res))

    def outputs(self, args, outs):
        g = self.graph
        res = []
        for kind, x in self.out_kind:
            if kind == "ref":
                res.append(resolve(x, args))
            elif kind == "input":
                inp = g.inputs[x]
                res.append(args[inp.ref] if inp.kind == "arg" else inp.ref)
            else:
                res.append(_wrap(outs[x].reshape(g.values[x].shape)))
        return res


def _getter(inp):
    kind = inp.kind
    if kind == "arg":
        i = inp.ref
        return lambda args: _contig(args[i]._data)
    if kind == "state":
        t = inp.ref
        return lambda args: t._data
    if kind == "grad":
        r = inp.ref
        return lambda args: resolve(r, args)._grad._data
    if kind == "scalar":
        owner, key = inp.ref
        if inp.info and hasattr(inp.info[0], "_data"):  # a 0-d tensor hyperparameter
            return lambda args: owner[key]._data
        return lambda args: np.array(float(owner[key]), dtype=np.float64)
    if kind == "random":
        from ..creation import draw

        k, shape, dtype, params = inp.info
        gen = inp.ref
        return lambda args: draw(k, shape, dtype, params, gen)
    if kind == "cotangent":
        return None
    raise AssertionError(kind)


def _contig(a):
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)
