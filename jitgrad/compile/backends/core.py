"""The backend core: everything that is the same for every target.

A target is a ``Backend``: a table from Primitive to lowering (``lower``), a table of scalar
templates that differ from the registry's (``scalar``) and a ``Generator`` subclass that
knows how to emit code for it. The core owns

- the generation skeleton (``Generator.lower_nodes``: fused loops, then the table, then the
  one fallback),
- input / constant binding (``used_consts``),
- memory planning (``passes/memory.py``, read through ``Generator.plan``),
- bounds-check planning (``index_checks``, from ``Primitive.bounds``),
- kernel de-duplication by source (``KernelSet``),
- the fallback mechanism: ``Generator.fallback(node, why)`` records "op: why", the target
  emits its slow path, and the ``Executable`` warns once per compiled step and lists it in
  ``exe.fallbacks`` (``explain()`` prints it),
- the ``Executable`` base: options, ``deferred`` (``check_finite``: the caller commits state
  after looking at it), ``commit``, attributes ``explain()`` reads.

Adding a lowering is one entry: ``CPU.lower[conv2d_p] = my_lowering`` where
``my_lowering(gen, node)`` uses the generator's helpers (or ``gen.fallback(node, why)``).
"""

import hashlib
import warnings

import numpy as np

from ..passes.fuse import FusedNode
from ..passes.memory import plan_of


class Backend:
    """A target: ``lower`` (Primitive -> lowering(gen, node)), ``scalar`` (Primitive ->
    template for fused loops) and the generator class that uses them."""

    def __init__(self, name, lower, scalar, generator=None, executable=None):
        self.name = name
        self.lower = lower
        self.scalar = scalar
        self.generator = generator
        self.executable = executable  # the Executable class ``compile`` builds

    def compile(self, graph, options):
        """The compiled step of ``graph`` for this target (an ``Executable``)."""
        return self.executable(graph, options)

    def __repr__(self):
        return f"<Backend {self.name}: {len(self.lower)} lowerings, {len(self.scalar)} templates>"


def used_consts(g):
    """Constants that some node or the caller reads, in graph order."""
    used = set()
    for n in g.nodes:
        used.update(n.ins)
    used.update(g.live_outputs())
    return [(vid, c) for vid, c in g.consts.items() if vid in used]


def index_checks(g):
    """Bounds checks planned from ``Primitive.bounds``: ``(arg, computed)`` where ``arg`` is
    ``[(input index, size, message)]`` for integer arguments used as indices (checked before
    the step runs) and ``computed`` the nodes whose indices are computed inside the step."""
    arg_k = {inp.vid: k for k, inp in enumerate(g.inputs) if inp.kind == "arg"}
    arg, computed = [], []
    for n in g.nodes:
        if isinstance(n, FusedNode) or n.op.bounds is None:
            continue
        shapes = [g.values[v].shape for v in n.ins]
        for pos, size in n.op.bounds(n.params, shapes):
            vid = n.ins[pos]
            k = arg_k.get(vid)
            if k is not None:
                arg.append(
                    (k, size, f"{n.op.name}: index out of range for a dimension of size {size}")
                )
            elif vid not in g.consts:
                computed.append(n)
    return arg, computed


class KernelSet:
    """Kernels de-duplicated by source: the same loop twice in a step is compiled once."""

    def __init__(self, decorate):
        self.decorate = decorate  # key -> decorator line(s) placed above the kernel
        self.names = {}  # key -> name
        self.src = []

    def add(self, src, key=None):
        """The name of the kernel with this source (``KERNEL`` stands for its name)."""
        key = src if key is None else key
        name = self.names.get(key)
        if name is None:
            name = "k_" + hashlib.sha1(repr(key).encode()).hexdigest()[:10]
            self.names[key] = name
            self.src.append(self.decorate(key) + "\n" + src.replace("KERNEL", name) + "\n\n")
        return name

    def __len__(self):
        return len(self.names)


class Generator:
    """The generation skeleton shared by the numba targets; a target subclass implements
    ``fused(node)`` and ``emit_fallback(node)`` and its lowerings."""

    backend = None  # the Backend whose tables this generator reads

    def __init__(self, g, options):
        self.g = g
        self.opt = dict(options or {})
        # check_finite: state is not written by the step; the caller commits it after the
        # finiteness check (``Executable.deferred``)
        self.defer = bool(self.opt.get("check_finite"))
        mp = plan_of(g)
        self.plan = mp
        self.direct = {} if self.defer else dict(mp.direct)  # state value vid -> input index
        self.reuse = dict(mp.reuse)
        self.arg_checks, self.computed_checks = index_checks(g)
        self.fallbacks = []  # "op: why" per node that took the slow path
        self.fallback_ops = []  # the op names, in order
        self.loops = 0

    def shape(self, vid):
        return self.g.values[vid].shape

    def dtype(self, vid):
        return self.g.values[vid].dtype

    def scalar_const(self, vid):
        """Literal text of a 1-element constant, else None."""
        from .codegen import lit

        c = self.g.consts.get(vid)
        if c is not None and c.size == 1:
            return lit(c.reshape(()).item(), c.dtype)
        return None

    def member(self, m, operands):
        """Scalar expression of a fused member through this backend's template table."""
        from .codegen import member_expr

        return member_expr(m, operands, self.backend.scalar, self.rewrite_template(m))

    def rewrite_template(self, m):
        """A backend's substitution of a member's template (None: the template as is)."""
        return None

    def lower_nodes(self):
        """Every node in order: fused loops, the lowering table, else the fallback."""
        table = self.backend.lower
        for i, n in enumerate(self.g.nodes):
            self.pos = i  # the node being lowered (its place relative to plan.last_raise)
            if isinstance(n, FusedNode):
                self.fused(n)
                continue
            fn = table.get(n.op)
            if fn is None:
                self.fallback(n, f"no {self.backend.name} lowering")
            else:
                fn(self, n)

    def fallback(self, n, why):
        """Run ``n`` the slow way (the target's ``emit_fallback``), recorded with the reason."""
        self.fallbacks.append(f"{n.op.name}: {why}")
        self.fallback_ops.append(n.op.name)
        self.emit_fallback(n)

    # a target implements these
    def fused(self, n):
        raise NotImplementedError

    def emit_fallback(self, n):
        raise NotImplementedError


class Executable:
    """What every backend's compiled step offers: ``run(arrays) -> {vid: array}``,
    ``precompile(arrays)``, ``source()``, ``deferred``/``commit`` for ``check_finite``, and
    the attributes ``explain()`` reads (loops, n_kernels, fallbacks, cache_hit, ...)."""

    name = "?"

    def __init__(self, graph, options):
        self.g = graph
        self.options = dict(options or {})
        self.check_finite = bool(self.options.get("check_finite"))
        # check_finite: state writes come back as outputs; the caller checks, then commits
        self.deferred = list(graph.state_writes) if self.check_finite else []
        self.fallbacks = []
        self.loops = 0
        self.n_kernels = 0
        self.compile_seconds = None
        self.cache_hit = False

    @property
    def objmode_ops(self):
        """Op names that took a slow path (old name; ``fallbacks`` says why)."""
        return [f.split(":", 1)[0] for f in self.fallbacks]

    @property
    def fallback_ops(self):
        return self.objmode_ops

    def source(self):
        return ""

    def precompile(self, arrays):
        """Compile for these arrays without running (nothing to do by default)."""

    def run(self, arrays):
        raise NotImplementedError

    def commit(self, arrays, outs):
        """Write the deferred state values ``outs`` into the state arrays (check_finite)."""
        for i, v in self.deferred:
            np.copyto(arrays[i], outs[v].reshape(arrays[i].shape))

    def warn_fallbacks(self, stacklevel=5):
        """The one warning for slow paths, naming each op and why (once per compiled step)."""
        if not self.fallbacks:
            return
        items = "; ".join(dict.fromkeys(self.fallbacks))
        warnings.warn(
            f"jitgrad.trace(device={self.name!r}): {len(self.fallbacks)} op(s) run through a "
            f"slower path ({self.fallback_kind}): {items}. step.explain() lists them",
            RuntimeWarning,
            stacklevel=stacklevel,
        )

    fallback_kind = "their NumPy implementation"
