"""``@jitgrad.trace``: capture a step once, replay it as compiled code.

Per input signature (shapes, dtypes, requires_grad, non-tensor arguments, grad mode) the
first call runs eagerly (it creates lazily-initialised state such as optimizer buffers), the
second call runs eagerly while recording the graph, and later calls run the compiled code.
A call whose guards match no compiled variant is handled like a new signature.
"""

import functools
import os
import threading
import time
import warnings

import numpy as np

from .._grad_mode import STATE
from ..tensor import Tensor, _wrap
from .graph import Graph  # noqa: F401
from .passes.pipeline import optimize
from .tracer import Tracer, resolve


class TraceCheckError(AssertionError):
    """``check=True`` found compiled results that differ from eager ones."""


class NonFiniteError(RuntimeError):
    """``check_finite=True``: a compiled step produced NaN or inf (nothing was updated)."""


# ---------------------------------------------------------------- pytrees -------------
def _flatten(obj, leaves):
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T",)
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return (type(obj), tuple(_flatten(o, leaves) for o in obj))
    if isinstance(obj, tuple):  # namedtuple
        return ("NT", type(obj), tuple(_flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        return (dict, tuple(obj.keys()), tuple(_flatten(v, leaves) for v in obj.values()))
    return ("C", obj)


def _unflatten(tree, it):
    tag = tree[0]
    if tag == "T":
        return next(it)
    if tag == "C":
        return tree[1]
    if tag == "NT":
        return tree[1](*[_unflatten(t, it) for t in tree[2]])
    if tag is dict:
        return {k: _unflatten(t, it) for k, t in zip(tree[1], tree[2])}
    return tag(_unflatten(t, it) for t in tree[1])


def _hashable(tree):
    try:
        hash(tree)
        return tree
    except TypeError:
        return ("id", id(tree))


# ---------------------------------------------------------------- variants ------------
class Variant:
    """One compiled graph plus the guards under which it is valid."""

    def __init__(
        self, fn_name, graph, raw, counts, entry_grads, modules, out_tree, backend, options
    ):
        self.fn_name = fn_name
        self.graph = graph  # optimized
        self.raw = raw  # as traced
        self.counts = counts
        self.entry_grads = entry_grads  # [(tensor, grad_was_none)]
        self.modules = modules  # [(module, training)]
        self.out_tree = out_tree
        self.options = options
        self.calls = 0
        t0 = time.perf_counter()
        self.exe = _make_backend(backend, graph, options)
        self.build_seconds = time.perf_counter() - t0
        self.ready = True
        self.error = None
        self._prepare()

    def compile_async(self, args):
        """Compile in a background thread; until it is done, calls run eagerly."""
        pre = getattr(self.exe, "precompile", None)
        if pre is None:
            return
        self.ready = False
        arrays = self.gather(args)

        def work():
            try:
                pre(arrays)
            except BaseException as e:  # reported on the next call, which then runs eagerly
                self.error = e
            self.ready = True

        self._thread = threading.Thread(target=work, name="jitgrad-compile", daemon=True)
        self._thread.start()

    def wait(self):
        """Block until a background compile is done."""
        t = getattr(self, "_thread", None)
        if t is not None:
            t.join()

    def _prepare(self):
        g = self.graph
        self.getters = []
        for inp in g.inputs:
            self.getters.append(_getter(inp))
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

    def guard_ok(self, args):
        for r, was_none in self.entry_grads:
            if (resolve(r, args)._grad is None) != was_none:
                return False
        for m, training in self.modules:
            if m.training != training:
                return False
        return True

    def failed_guard(self, args):
        for r, was_none in self.entry_grads:
            t = resolve(r, args)
            if (t._grad is None) != was_none:
                now = "None" if t._grad is None else "set"
                return f".grad of a tensor of shape {list(t.shape)} is {now}"
        for m, training in self.modules:
            if m.training != training:
                return f"{type(m).__name__}.training is {m.training}"
        return None

    def gather(self, args):
        return [get(args) for get in self.getters]

    def run(self, args):
        arrays = self.gather(args)
        outs = self.exe.run(arrays)
        deferred = getattr(self.exe, "deferred", None)
        if deferred:  # check_finite: look before committing any state
            from .check import check_finite

            check_finite(self, arrays, outs)
            for i, v in deferred:
                np.copyto(arrays[i], outs[v].reshape(arrays[i].shape))
        self.calls += 1
        return self.finish(args, arrays, outs)

    def finish(self, args, arrays, outs):
        g = self.graph
        for r, v in g.grad_binds:
            resolve(r, args)._grad = None if v is None else _wrap(outs[v])
        return _unflatten(self.out_tree, iter(self.outputs(args, outs)))

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
        return lambda args: np.array(float(owner[key]), dtype=np.float64)
    if kind == "random":
        from ..creation import draw

        k, shape, dtype, params = inp.info
        gen = inp.ref
        return lambda args: draw(k, shape, dtype, params, gen)
    raise AssertionError(kind)


def _contig(a):
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


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


# ---------------------------------------------------------------- the decorator ---------
class TracedFunction:
    """A function whose calls replay a compiled static graph; see ``jitgrad.trace``."""

    def __init__(
        self,
        fn,
        device="cpu",
        parallel=None,
        check=False,
        cache=True,
        max_variants=8,
        fastmath=None,
        backend=None,
        warmup=1,
        check_finite=False,
        rtol=None,
        atol=None,
        async_compile=None,
    ):
        if async_compile is None:
            async_compile = os.environ.get("JITGRAD_ASYNC_COMPILE", "1") not in ("0", "")
        self.async_compile = async_compile
        if device not in ("cpu", "cuda"):
            raise ValueError(f"jitgrad.trace: device must be 'cpu' or 'cuda', got {device!r}")
        self.fn = fn
        self.device = device
        self.backend = backend or device
        self.check = check
        self.max_variants = max_variants
        self.warmup = warmup
        self.options = {
            "parallel": parallel,
            "cache": cache,
            "fastmath": fastmath,
            "check_finite": check_finite,
        }
        self.rtol, self.atol = rtol, atol
        self._variants = {}  # signature -> [Variant]
        self._seen = {}
        self._history = []
        self.last = None
        self.stats = {"eager_calls": 0, "captures": 0, "compiled_calls": 0}
        functools.update_wrapper(self, fn)
        if device == "cuda":
            from .. import cuda as _cuda

            _cuda.require()

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def _signature(self, leaves, tree):
        return (
            tuple((t._data.shape, t._data.dtype.str, t._requires_grad) for t in leaves),
            _hashable(tree),
            STATE.enabled,
        )

    def __call__(self, *args, **kwargs):
        if STATE.tracer is not None:  # nested inside another trace: inline
            return self.fn(*args, **kwargs)
        leaves = []
        tree = _flatten((args, kwargs), leaves)
        sig = self._signature(leaves, tree)
        for v in self._variants.get(sig, ()):
            if v.guard_ok(leaves):
                if not v.ready or v.error is not None:
                    if v.error is not None and not getattr(v, "_warned", False):
                        v._warned = True
                        warnings.warn(
                            f"jitgrad.trace: compiling {v.fn_name} failed "
                            f"({type(v.error).__name__}: {v.error}); this signature "
                            "runs eagerly",
                            RuntimeWarning,
                            stacklevel=2,
                        )
                    self.stats["eager_calls"] += 1
                    return self.fn(*args, **kwargs)
                self.last = v
                self.stats["compiled_calls"] += 1
                if self.check:
                    return self._checked(v, leaves, args, kwargs)
                try:
                    return v.run(leaves)
                except NonFiniteError:
                    raise
                except Exception as e:  # state is untouched: let eager mode say what went wrong
                    return self._recover(v, e, leaves, args, kwargs)
        self._last_leaves = leaves
        n = self._seen.get(sig, 0)
        self._seen[sig] = n + 1
        if n < self.warmup:
            self.stats["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        return self._capture(sig, leaves, args, kwargs)

    def _capture(self, sig, leaves, args, kwargs):
        total = sum(len(v) for v in self._variants.values())
        if total >= self.max_variants:
            self._warn_retrace(sig)
            self.stats["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        tr = Tracer(leaves)
        STATE.tracer = tr
        try:
            out = self.fn(*args, **kwargs)
            out_leaves = []
            out_tree = _flatten(out, out_leaves)
            fwd_only = _record_backward(tr, leaves, out_leaves)
        finally:
            STATE.tracer = None
        raw = tr.finish(out_leaves)
        entry = [(r, none) for r, none, rg in tr.entry_grad.values() if rg or not none]
        modules = [(m, m.training) for m in _find_modules(self.fn)]
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        if fwd_only is None:
            graph, counts = optimize(raw, fusion=self.backend != "reference")
            v = Variant(
                name, graph, raw, counts, entry, modules, out_tree, self.backend, self.options
            )
        else:
            from .autodiff import ForwardOnlyVariant

            v = ForwardOnlyVariant(
                name, raw, fwd_only, entry, modules, out_tree, self.backend, self.options
            )
        if self.async_compile:
            v.compile_async(leaves)
        self._variants.setdefault(sig, []).append(v)
        self._history.append(sig)
        self.last = v
        self.stats["captures"] += 1
        return out

    def _recover(self, v, err, leaves, args, kwargs):
        """The compiled step raised (e.g. an index out of range). Compiled steps write state
        only at their end, so nothing changed: run the step eagerly to raise eager mode's
        precise error, then restore every parameter, buffer and ``.grad`` it touched."""
        from .check import Snapshot

        snap = Snapshot(v, leaves)
        try:
            out = self.fn(*args, **kwargs)
        except Exception:
            snap.restore()
            raise
        warnings.warn(
            f"jitgrad.trace({v.fn_name}): the compiled step raised "
            f"{type(err).__name__}: {err}, but the same call ran eagerly without error; "
            "returning the eager result",
            RuntimeWarning,
            stacklevel=3,
        )
        return out

    def _warn_retrace(self, sig):
        field = "input signature"
        if len(self._history) >= 1:
            prev = self._history[-1]
            if prev[0] != sig[0]:
                for a, b in zip(prev[0], sig[0]):
                    if a != b:
                        field = f"tensor argument shape/dtype/requires_grad {a} -> {b}"
                        break
            elif prev[1] != sig[1]:
                field = "a non-tensor argument"
            elif prev[2] != sig[2]:
                field = "grad mode"
            else:
                for v in self._variants.get(sig, ()):
                    f = v.failed_guard(self._last_leaves)
                    if f:
                        field = f
                        break
        warnings.warn(
            f"jitgrad.trace({getattr(self.fn, '__name__', 'fn')}): {self.max_variants} compiled "
            f"variants already exist; running eagerly. The field that keeps changing: {field}. "
            "Keep it fixed (e.g. drop_last=True in the DataLoader) or raise max_variants.",
            RuntimeWarning,
            stacklevel=3,
        )

    # ---- check=True: compiled vs eager on the same state -----------------------------------
    def _checked(self, v, leaves, args, kwargs):
        from .check import run_checked

        return run_checked(self, v, leaves, args, kwargs)

    def wait(self):
        """Block until every background compile has finished."""
        for vs in self._variants.values():
            for v in vs:
                v.wait()

    # ---- inspection ------------------------------------------------------------------
    def _variant(self):
        if self.last is None:
            raise RuntimeError(
                "jitgrad.trace: nothing compiled yet: call the traced function at least "
                f"{self.warmup + 1} times (the first call(s) run eagerly, the next one records)"
            )
        return self.last

    @property
    def graph(self):
        """The optimized graph of the latest variant (``print(step.graph)``)."""
        return self._variant().graph

    @property
    def traced_graph(self):
        return self._variant().raw

    def source(self):
        """The generated numba source of the latest variant."""
        return self._variant().exe.source()

    def explain(self):
        """Nodes, fusion groups, loops, estimated bytes/FLOPs, compile time and cache hits."""
        from .explain import explain

        return explain(self, self._variant())


def _record_backward(tr, leaves, out_leaves):
    """For a forward-only step: record the backward of its differentiable outputs too."""
    if not STATE.enabled or tr.grad_now:  # the step ran backward itself
        return None
    diff = [
        i
        for i, t in enumerate(out_leaves)
        if t._grad_fn is not None and t._grad_fn.saved is not None
    ]
    if not diff:
        return None
    from ..autograd.engine import grad as _grad
    from .tracer import ArgRef

    wrt, refs = [], []
    for inp in tr.g.inputs:
        if inp.kind not in ("arg", "state"):
            continue
        t = leaves[inp.ref] if inp.kind == "arg" else inp.ref
        if t._requires_grad:
            wrt.append(t)
            refs.append(ArgRef(inp.ref) if inp.kind == "arg" else t)
    if not wrt:
        return None
    cots = [tr.cotangent(out_leaves[i]) for i in diff]
    grads = _grad(
        [out_leaves[i] for i in diff], wrt, grad_outputs=cots, retain_graph=True, allow_unused=True
    )
    return {
        "diff": diff,
        "cot_vids": [tr.vals[id(c._data)] for c in cots],
        "refs": refs,
        "grad_vids": [None if g is None else tr.val_of(g) for g in grads],
    }


def _find_modules(fn):
    """Modules a step uses (itself, its bound object, globals and closure cells it names)."""
    try:
        from ..nn import Module
    except ImportError:
        return []
    found = []
    cands = [fn, getattr(fn, "__self__", None)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        glb = getattr(fn, "__globals__", {})
        cands += [glb.get(n) for n in code.co_names]
        for c in getattr(fn, "__closure__", None) or ():
            try:
                cands.append(c.cell_contents)
            except ValueError:
                pass
    seen = set()
    for c in cands:
        if isinstance(c, Module):
            for m in c.modules():
                if id(m) not in seen:
                    seen.add(id(m))
                    found.append(m)
    return found


def trace(
    fn=None,
    *,
    device="cpu",
    parallel=None,
    check=False,
    cache=True,
    max_variants=8,
    fastmath=None,
    backend=None,
    warmup=1,
    check_finite=False,
    rtol=None,
    atol=None,
    async_compile=None,
):
    """Compile a whole training step: ``@jitgrad.trace`` or ``jitgrad.trace(device=...)(fn)``.

    ``jitgrad.trace(module)`` traces a forward-only module call. With ``async_compile`` (the
    default; env ``JITGRAD_ASYNC_COMPILE=0`` turns it off) numba compiles in a background
    thread while calls keep running eagerly, so no step waits for the compiler;
    ``step.wait()`` blocks until it is done.
    """
    opts = dict(
        device=device,
        parallel=parallel,
        check=check,
        cache=cache,
        max_variants=max_variants,
        fastmath=fastmath,
        backend=backend,
        warmup=warmup,
        check_finite=check_finite,
        rtol=rtol,
        atol=atol,
        async_compile=async_compile,
    )
    if fn is None:
        return lambda f: trace(f, **opts)
    return TracedFunction(fn, **opts)
