"""``@jitgrad.trace``: capture a step once, replay it as compiled code.

Per input signature (shapes, dtypes, requires_grad, non-tensor arguments, grad mode) the
first call runs eagerly (it creates lazily-initialised state such as optimizer buffers), the
second call runs eagerly while recording the graph and what it read (``guards``), and later
calls run the compiled code while the guards hold. A call whose guards match no compiled
variant is recorded again. The two eager calls double as a purity check: Python values the
step changes are replayed or refused (``TraceError``), never silently dropped.
"""

import functools
import os
import time
import warnings

from .. import _dtype
from .._grad_mode import STATE
from ..tensor import Tensor
from . import guards as _guards
from .autodiff import ForwardOnlyVariant
from .check import Snapshot, run_checked
from .errors import NonFiniteError, TraceCheckError, TraceError  # noqa: F401
from .graph import Graph  # noqa: F401
from .passes.pipeline import optimize
from .pytree import constants, flatten, hashable, shape_of
from .tracer import Tracer, operand_frame, user_frame
from .variant import Variant, _make_backend  # noqa: F401


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
        if async_compile and (backend or device) == "cpu":
            from .worker import prewarm

            # the worker's start-up (a new interpreter importing numba and the CPU backend:
            # ~0.5 s idle, 1.4 s at load 3) overlaps whatever runs before the first call,
            # instead of the first calls (notes/issue-13.md, round 5)
            prewarm()
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
        self._warm = {}  # signature -> (entry values, exit values, output tree) of warm-up
        self._by_tensors = {}  # tensor part of a signature -> non-tensor parts seen
        self._warned_args = False
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
            hashable(tree),
            STATE.enabled,
            STATE._grad,  # is_grad_enabled(): differs from recording inside inference_mode
            _dtype.default_float(),  # jitgrad.zeros(3), tensor(1.0): set_default_dtype retraces
        )

    def __call__(self, *args, **kwargs):
        if STATE.tracer is not None:  # nested inside another trace: inline
            return self.fn(*args, **kwargs)
        leaves = []
        tree = flatten((args, kwargs), leaves)
        sig = self._signature(leaves, tree)
        for v in self._variants.get(sig, ()):
            if v.guards.check(args, kwargs, leaves):
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
                    if v.error is not None or len(v.eager_times) >= 20:
                        return self.fn(*args, **kwargs)
                    t0 = time.perf_counter()  # eager vs tier 1 (tiers.check_tier1)
                    out = self.fn(*args, **kwargs)
                    v.eager_times.append(time.perf_counter() - t0)
                    return out
                self.last = v
                self.stats["compiled_calls"] += 1
                if self.check:
                    return self._checked(v, leaves, args, kwargs)
                rng = _rng_state() if v.has_random else None
                try:
                    return v.run(leaves, args, kwargs)
                except NonFiniteError:
                    raise
                except Exception as e:  # state is untouched: let eager mode say what went wrong
                    if rng is not None:  # the draws of the failed call are drawn again
                        _set_rng_state(rng)
                    return self._recover(v, e, leaves, args, kwargs)
        self._last_call = (args, kwargs, leaves)
        n = self._seen.get(sig, 0)
        if n == 0:
            self._new_signature(sig, tree)
            if self.async_compile and self.backend == "cpu":
                from .worker import prewarm

                prewarm()  # worker start-up and numba's setup hide behind the eager calls
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen[sig] = n + 1
        if n < self.warmup:
            return self._warmup(sig, args, kwargs)
        return self._capture(sig, leaves, args, kwargs)

    # ---- eager calls -------------------------------------------------------------------
    def _warmup(self, sig, args, kwargs):
        self.stats["eager_calls"] += 1
        watch = _guards.Watch(self.fn, args, kwargs)
        before = watch.values(args, kwargs)
        with _Observe() as consts:
            out = self.fn(*args, **kwargs)
        self._warm[sig] = (before, watch.values(args, kwargs), flatten(out, []), consts)
        if len(self._warm) > 64:
            self._warm.pop(next(iter(self._warm)))
        return out

    def _new_signature(self, sig, tree):
        """Warn once when a non-tensor argument changes at every call (never compiles)."""
        key = (sig[0], sig[2])
        seen = self._by_tensors.setdefault(key, [])
        seen.append(tree)
        if len(seen) > self.max_variants + 1:
            seen.pop(0)
            if not self._warned_args:
                self._warned_args = True
                what = _first_difference(seen[-2], seen[-1])
                warnings.warn(
                    f"jitgrad.trace({self._name()}): the non-tensor argument {what} changes "
                    "at every call; each value is its own static graph, so this step keeps "
                    "running eagerly and never compiles. Pass it as a tensor "
                    "(jitgrad.tensor(value)) or keep it fixed",
                    RuntimeWarning,
                    stacklevel=4,
                )

    def _name(self):
        return getattr(self.fn, "__name__", type(self.fn).__name__)

    def _capture(self, sig, leaves, args, kwargs):
        total = sum(len(v) for v in self._variants.values())
        if total >= self.max_variants:
            total = self._evict_stale()
        if total >= self.max_variants:
            self._warn_retrace(sig)
            self.stats["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        watch = _guards.Watch(self.fn, args, kwargs)
        before = watch.values(args, kwargs)
        attrs_before = {k: _tensor_attrs(m) for k, (m, _) in watch.modules.items()}
        tr = Tracer(leaves)
        rng = _rng_state()
        STATE.tracer = tr
        try:
            with _Observe() as consts:
                out = self.fn(*args, **kwargs)
            out_leaves = []
            out_tree = flatten(out, out_leaves)
            fwd_only = _record_backward(tr, leaves, out_leaves)
        except TraceError as e:  # stopped half-way: undo what the call had written
            tr.undo_writes()
            _set_rng_state(rng)
            raise TraceError(
                f"{e} (the call stopped there; the tensors it had updated in place are restored)"
            ) from None
        finally:
            STATE.tracer = None
        after = watch.values(args, kwargs)
        created = watch.state_created()
        if created:  # the next call records the step with that state as state
            self.stats["eager_calls"] += 1
            self.stats["state_created"] = self.stats.get("state_created", 0) + 1
            if self.stats["state_created"] == 3:
                warnings.warn(
                    f"jitgrad.trace({self._name()}): the step creates new optimizer state at "
                    f"every call ({type(created[0]).__name__}.state grows), so it keeps "
                    "running eagerly; create the state before the traced calls",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return out
        # tensor attributes a module's code (a hook: nn.utils.prune, weight_norm) rebinds to a
        # value the step computes: extra outputs, bound again after every compiled call
        rebound = [] if fwd_only is not None else _rebound(watch, attrs_before, tr)
        raw = tr.finish(out_leaves + [t for _, _, t in rebound])
        guards = _guards.build(tr, watch, leaves)
        if watch.unstable:
            warnings.warn(
                f"jitgrad.trace({self._name()}): the step calls {', '.join(watch.unstable)}, "
                "whose value changes at every call; a compiled call replays the value from "
                "the capture (and Python branches taken on it). Use jitgrad's random "
                "functions inside the step, and read clocks and iterators outside it (pass "
                "their values as tensor arguments)",
                RuntimeWarning,
                stacklevel=3,
            )
        try:
            guards.effects = self._effects(watch, tr, before, after, args, kwargs)
            self._purity(sig, watch, before, out_tree, consts, _used_arrays(tr, raw))
        except TraceError as e:  # found after the call ran: say what it left behind
            self._seen[sig] = 0  # a retry warms up and compares again: never an unchecked capture
            raise TraceError(
                f"{e} (this call ran eagerly to its end: its updates are applied, so do not "
                "call it again to retry)"
            ) from None
        name = self._name()
        if fwd_only is None:
            graph, counts = optimize(
                raw, fusion=self.backend != "reference", fastmath=self.options["fastmath"]
            )
            v = Variant(
                name, graph, raw, counts, guards, tr.effects, out_tree, self.backend, self.options
            )
        else:
            v = ForwardOnlyVariant(
                name, raw, fwd_only, guards, tr.effects, out_tree, self.backend, self.options
            )
        v.attr_binds = [(m, attr) for m, attr, _ in rebound]
        self._warn_layout(v)
        if self.async_compile:
            v.compile_async(leaves)
        self._variants.setdefault(sig, []).append(v)
        self._history.append(sig)
        self.last = v
        self.stats["captures"] += 1
        return out

    def _warn_layout(self, v):
        """Non-contiguous state on a backend that does not report its own fallbacks: say so
        (the CPU kernels read C-contiguous state; other layouts run a slower path)."""
        if self.backend != "cpu" or hasattr(v.exe, "fallbacks"):
            return
        odd = [
            v.guards.name_of(inp.ref)
            for inp in v.graph.inputs
            if inp.kind == "state" and not inp.ref._data.flags.c_contiguous
        ]
        if odd:
            warnings.warn(
                f"jitgrad.trace({self._name()}): non-contiguous state {', '.join(odd)}: the "
                "CPU backend runs this variant through its NumPy reference interpreter "
                "(slower). Make it contiguous, e.g. p.data = p.data.contiguous()",
                RuntimeWarning,
                stacklevel=3,
            )

    def _evict_stale(self):
        """Drop variants that captured objects no longer in place; the variant count left."""
        for sig, vs in list(self._variants.items()):
            keep = [v for v in vs if not v.guards.stale()]
            if keep:
                self._variants[sig] = keep
            else:
                del self._variants[sig]
        return sum(len(v) for v in self._variants.values())

    def _effects(self, watch, tr, before, after, args, kwargs):
        """Python values the recorded call changed: replayed after every compiled call when
        the graph is keyed on them (guarded by value), else a ``TraceError``."""
        effects = []
        where = f"in the traced step {self._name()}"
        for key, loc in watch.locations.items():
            b, a = before.get(key), after.get(key)
            if _guards.equal(b, a):
                continue
            name = loc.path.name()
            if loc.kind == "plain" and _guards.is_plain(loc.path.get(args, kwargs)):
                effects.append((loc.path, loc.path.get(args, kwargs)))
                continue
            what = "contents" if loc.kind == "container" else "binding"
            raise TraceError(
                f"{where}: `{name}` ({type(loc.path.get(args, kwargs)).__name__}) has its {what} "
                "changed by the step itself at every call. A compiled step replays tensor "
                "operations only, not Python side effects (appends, counters, rebinding). Keep "
                "Python state outside the traced function (return the value and update it "
                "there), or remove @jitgrad.trace"
            )
        for k, (_m, path) in watch.modules.items():
            b, a = before.get(("module", k)), after.get(("module", k))
            if b == a:
                continue
            for attr, v in a.items():
                if b.get(attr, _MISS) != v or type(b.get(attr)) is not type(v):
                    effects.append((path.child(("a", attr)), v))
        for k, (o, path) in watch.optimizers.items():
            b, a = before.get(("opt", k)), after.get(("opt", k))
            if b[1] == a[1]:
                continue
            for i, (gb, ga) in enumerate(zip(b[1], a[1])):
                group = o.param_groups[i]
                rt = tr.runtime_keys.get(id(group), (None, set()))[1]
                for key, v in ga.items():
                    if gb.get(key, _MISS) == v:
                        continue
                    gname = f"{path.name()}.param_groups[{i}][{key!r}]"
                    if key in rt and not tr.effects:
                        raise TraceError(
                            f"{where}: {gname} is changed by Python code inside the step "
                            f"({gb.get(key)!r} -> {v!r}); a compiled step reads it at every "
                            "call but does not rerun that code. Change it outside the traced "
                            "function, or with an lr scheduler (scheduler.step() is replayed)"
                        )
                    if key not in rt:
                        effects.append((path.child(("a", "param_groups"), ("i", i), ("i", key)), v))
        return effects

    def _purity(self, sig, watch, before, out_tree, consts, used=None):
        """The warm-up and the recorded call saw the same Python values but built different
        constants or returned different non-tensor results: the step depends on something
        unguarded (a clock, a counter, a Python computation), which a replay would freeze."""
        w = self._warm.pop(sig, None)
        if w is None:
            return
        b1, _, tree1, consts1 = w
        for key in watch.locations:
            if not _guards.equal(b1.get(key), before.get(key)):
                return  # a guarded value changed in between: each value gets its own variant
        # numbers from a clock or an RNG the step names were warned about at capture
        site = _Observe.changed(consts1, consts, used, numbers=not watch.unstable)
        if site is not None:
            where, kind, a, b = site
            what = (
                "a tensor built from Python data"
                if kind == "tensor"
                else "a Python number in a tensor operation"
            )
            raise TraceError(
                f"in the traced step {self._name()}: {what} at {where} had the value {a} in "
                f"one call and {b} in the next, with the same inputs (a value jitgrad cannot "
                "see: a generator, an iterator, a file, a C extension); the compiled step "
                "would keep the value from its capture. Pass it as an argument tensor, or "
                "keep it in a global/attribute that the step reads (those are guarded), or "
                "remove @jitgrad.trace"
            )
        c1, c2 = constants(tree1), constants(out_tree)
        if shape_of(tree1) == shape_of(out_tree) and all(
            _guards.same(x[1], y[1]) for x, y in zip(c1, c2)
        ):
            return
        diff = next(((p, x, y) for (p, x), (_, y) in zip(c1, c2) if not _guards.same(x, y)), None)
        detail = (
            f"output {list(diff[0])} was {_guards.describe_value(diff[1])} then "
            f"{_guards.describe_value(diff[2])}"
            if diff
            else "the structure of the returned value changed"
        )
        raise TraceError(
            f"the traced step {self._name()} returned a non-tensor value that differs between "
            f"two calls with the same inputs ({detail}); a compiled step would return the value "
            "from its capture forever. Return tensors only (compute Python values outside the "
            "traced function), or remove @jitgrad.trace"
        )

    def _recover(self, v, err, leaves, args, kwargs):
        """The compiled step raised (e.g. an index out of range). Compiled steps write state
        only at their end, so nothing changed: run the step eagerly to raise eager mode's
        precise error, then restore every parameter, buffer and ``.grad`` it touched."""
        snap = Snapshot(v, leaves)
        try:
            out = self.fn(*args, **kwargs)
        except Exception:
            snap.restore()
            raise
        self.stats["compiled_calls"] -= 1  # this call's result is the eager one
        self.stats["eager_calls"] += 1
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
                args, kwargs, leaves = self._last_call
                for v in self._variants.get(sig, ()):
                    f = v.guards.failure(args, kwargs, leaves)
                    if f:
                        field = f"the guard `{f}` no longer holds"
                        break
        warnings.warn(
            f"jitgrad.trace({self._name()}): {self.max_variants} compiled "
            f"variants already exist; running eagerly. The field that keeps changing: {field}. "
            "Keep it fixed (e.g. drop_last=True in the DataLoader) or raise max_variants.",
            RuntimeWarning,
            stacklevel=3,
        )

    # ---- check=True: compiled vs eager on the same state -----------------------------------
    def _checked(self, v, leaves, args, kwargs):
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

    @property
    def guards(self):
        """The guards of the latest variant (``print(*step.guards.describe(), sep="\\n")``)."""
        return self._variant().guards

    def source(self):
        """The generated numba source of the latest variant."""
        return self._variant().exe.source()

    def explain(self):
        """Nodes, fusion groups, loops, estimated bytes/FLOPs, compile time, cache hits,
        guards and runtime inputs, and slower paths taken (fallbacks)."""
        from .explain import explain

        return explain(self, self._variant())


_MISS = object()


class _Observe:
    """Collect ``(user line, array)`` of the constants created from Python data in a call."""

    def __enter__(self):
        self.prev = STATE.observer
        self.arrays = STATE.observer = _SiteList()
        return self.arrays

    def __exit__(self, *exc):
        STATE.observer = self.prev
        return False

    @staticmethod
    def changed(first, second, used=None, numbers=True):
        """The first creation site whose values differ between two calls (same count):
        ``(line, kind, value 1, value 2)``; ``used``: ids of the recorded call's arrays that
        its graph reads (others are dead); ``numbers``: compare Python-number operands too."""
        import numpy as np

        a, b = first.by_site(numbers), second.by_site(numbers)
        for where, xs in b.items():
            ys = a.get(where)
            if ys is None or len(ys) != len(xs):
                continue
            for (x, _, _), (y, k, kind) in zip(ys, xs):
                if used is not None and k not in used:
                    continue
                if x.shape != y.shape or x.dtype != y.dtype:
                    break
                if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                    return (
                        where,
                        kind,
                        _guards.describe_value(x.tolist()),
                        _guards.describe_value(y.tolist()),
                    )
        return None


class _SiteList(list):
    """``(user line, copy, id, kind)`` per constant: "tensor" for ``jitgrad.tensor(data)``,
    "number" for a Python number the user's code gave a tensor operator (``x * next(gen)``)."""

    def append(self, arr):
        if arr.size <= 4096:
            super().append((user_frame(), arr.copy(), id(arr), "tensor"))

    def operand(self, arr):
        where = operand_frame()
        if where is not None:
            super().append((where, arr.copy(), id(arr), "number"))

    def by_site(self, numbers=True):
        out = {}
        for where, a, k, kind in self:
            if numbers or kind == "tensor":
                out.setdefault(where, []).append((a, k, kind))
        return out


def _used_arrays(tr, g):
    """ids of the arrays whose values the recorded graph reads or returns."""
    used = set(g.live_outputs())
    for n in g.nodes:
        used.update(n.ins)
    return {k for k, vid in tr.vals.items() if vid in used}


def _rng_state():
    from ..creation import default_generator

    return default_generator._rng, default_generator._rng.bit_generator.state


def _set_rng_state(saved):
    from ..creation import default_generator

    default_generator._rng = saved[0]
    saved[0].bit_generator.state = saved[1]


def _first_difference(t1, t2):
    for (p, a), (_, b) in zip(constants(t1), constants(t2)):
        if not _guards.same(a, b):
            where = f"args[{p[1]}]" if p and p[0] == 0 and len(p) > 1 else f"at {list(p)}"
            return f"{where} ({_guards.describe_value(a)} -> {_guards.describe_value(b)})"
    return "(structure)"


def _record_backward(tr, leaves, out_leaves):
    """For a forward-only step: record the backward of its differentiable outputs too."""
    if not STATE.enabled or tr.grad_now or tr.ran_backward:  # the step ran backward itself
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
    default; env ``JITGRAD_ASYNC_COMPILE=0`` turns it off) a compile worker process compiles
    while calls keep running eagerly, so no step waits for the compiler: on the CPU first the
    fused loops one by one (tier 1: the step runs as Python over them), then the whole step
    (tier 2, swapped in when ready; see ``compile/tiers.py``). ``step.wait()`` blocks until
    the compile is done.
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


__all__ = ["trace", "TracedFunction", "TraceCheckError", "NonFiniteError", "user_frame"]


def _tensor_attrs(m):
    """A module's public tensor attributes that are neither parameters nor buffers."""
    return {k: v for k, v in m.__dict__.items() if not k.startswith("_") and isinstance(v, Tensor)}


def _rebound(watch, before, tr):
    """[(module, attr, tensor)]: attributes the recorded call rebound to a traced value."""
    out = []
    for k, (m, _) in watch.modules.items():
        old = before.get(k, {})
        for attr, t in _tensor_attrs(m).items():
            if old.get(attr) is not t and id(t._data) in tr.vals:
                out.append((m, attr, t))
    return out
