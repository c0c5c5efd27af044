"""The op registry: one ``Primitive`` per op, holding every rule of that op.

A primitive has a NumPy implementation (eager mode and the reference backend), a VJP written
in jitgrad ops (so the tape engine, the tracer and higher-order gradients share one rule), a
kind, and for elementwise ops a scalar template that code generators paste into loop bodies.
``apply`` is the single dispatch point: it runs the implementation, records a tape node when
a gradient is needed, and tells the active tracer (if any) what ran.
"""

import itertools

import numpy as np

from .._grad_mode import STATE
from ..tensor import Tensor, _wrap

PRIMITIVES = {}
_EMPTY = {}


class Primitive:
    """An op with its rules; see ``register``."""

    __slots__ = (
        "name",
        "kind",
        "impl",
        "vjp",
        "scalar",
        "saves",
        "saves_out",
        "saves_for",
        "nondiff",
        "backward_name",
        "n_diff",
        "doc",
        "extra",
        # ---- backend facts (issue 11): read by passes and backends, never name lists ----
        "view",
        "may_raise",
        "bounds",
        "identities",
        "noop",
        "fusible",
        "effect",
        # ---- the public surface: the ``Api`` entry of the function that runs this op ----
        "api",
        # ---- the tape: the ``Node`` subclass named ``backward_name`` (``SumBackward0``) ----
        "node_cls",
    )

    def __init__(
        self,
        name,
        kind,
        impl,
        vjp=None,
        scalar=None,
        saves=None,
        saves_out=False,
        saves_for=None,
        nondiff=False,
        backward_name=None,
        n_diff=None,
        doc="",
        extra=None,
        # ---- backend facts (issue 11) ----
        view=False,
        may_raise=None,
        bounds=None,
        identities=(),
        noop=None,
        fusible=None,
        effect=False,
    ):
        self.name = name
        self.kind = kind
        self.impl = impl
        self.vjp = vjp
        self.scalar = scalar
        self.saves = saves  # input indices whose data the VJP reads (None: all)
        self.saves_out = saves_out
        # {input i: inputs whose gradient reads i's data}: i's version is checked at backward
        # only when one of those needs a gradient (``view * 3`` may modify ``view`` later)
        self.saves_for = saves_for
        self.nondiff = nondiff or vjp is None
        self.backward_name = backward_name or _camel(name) + "Backward0"
        # type(grad_fn).__name__ is the backward name, as in PyTorch: one class per name
        self.node_cls = node_class(self.backward_name)
        self.n_diff = n_diff  # only the first n_diff inputs are differentiable (None: all)
        self.doc = doc
        self.extra = extra or {}  # per-backend kernels and flags (e.g. {"cpu": ...})
        # ---- backend facts (issue 11) ----
        # view: the result may alias input 0 (a backend may return a view, not a copy)
        self.view = view
        # may_raise: can raise at run time for some input values (index out of range, ...):
        # no state is written before the last such node. Default: opaque ops may raise.
        self.may_raise = (kind == "opaque") if may_raise is None else may_raise
        # bounds(params, in_shapes) -> [(input position, dim size)]: integer inputs used as
        # indices, range-checked before the step writes anything
        self.bounds = bounds
        # algebraic identities for the fold pass: a tuple of ``Identity``
        self.identities = tuple(identities)
        # noop(params, in_shape, out_shape) -> True when the op returns input 0 unchanged
        self.noop = noop
        # fusible: joins elementwise loop fusion (default: elementwise with a scalar template)
        if fusible is None:
            fusible = kind == "elementwise" and scalar is not None
        self.fusible = fusible
        # effect: the node matters even when nothing reads its value (a check that raises):
        # dead-code elimination keeps it
        self.effect = effect
        self.api = None  # set by ``public(fn, prim=self)``: jitgrad.<name>, Tensor.<name>, ...

    def __repr__(self):
        return f"<Primitive {self.name} ({self.kind})>"


class Identity:
    """An algebraic identity of a binary op, for constant folding.

    ``const_pos`` is the operand that is the scalar constant ``value`` (``None``: both operands
    are the same value); the node then equals ``result``: ``"x"`` (the other operand) or a
    number. ``exact``: ``"ieee"`` holds for every float including NaN, inf and signed zeros;
    ``"int"`` only for integer/bool dtypes (else it needs ``fastmath=True``); ``"fast"`` only
    under ``fastmath=True``. A float zero ``value`` matches only a zero of the same sign.
    """

    __slots__ = ("const_pos", "value", "result", "exact")

    def __init__(self, const_pos, value, result, exact):
        self.const_pos, self.value, self.result, self.exact = const_pos, value, result, exact

    def __repr__(self):
        return f"Identity({self.const_pos}, {self.value!r}, {self.result!r}, {self.exact!r})"


class Api:
    """Where one public op appears: ``jitgrad.<name>``, ``Tensor.<name>``, ``Tensor.<name>_``.

    ``fn`` is the function; ``method`` the callable behind the Tensor method (``fn`` itself,
    or an adaptor such as ``where``'s ``self``-first form; ``None``: no method); ``inplace``:
    True: ``Tensor.<name>_`` runs the method and writes the result back (version counter,
    leaf check: ``ops.inplace``), ``"view"``: the tensor takes the view's shape
    (``unsqueeze_``); ``export``: the function is ``jitgrad.<name>``; ``aliases``: more names
    for all of these (``arcsin`` for ``asin``); ``axis``: the method also takes torch's
    ``axis=`` spelling of ``dim=`` (and so does the exported function);
    ``shape_kw``: the method also takes its ``*shape`` as that keyword (``view(size=...)``);
    ``out``: the function takes torch's ``out=`` (``jitgrad._out.with_out``).
    """

    __slots__ = (
        "name",
        "fn",
        "method",
        "inplace",
        "export",
        "aliases",
        "axis",
        "shape_kw",
        "out",
        "prim",
    )

    def __init__(self, name, fn, method, inplace, export, aliases, axis, shape_kw, out, prim):
        self.name, self.fn, self.method, self.inplace = name, fn, method, inplace
        self.export, self.aliases, self.axis, self.prim = export, tuple(aliases), axis, prim
        self.shape_kw, self.out = shape_kw, out

    @property
    def names(self):
        """The public name and its aliases."""
        return (self.name,) + self.aliases

    def __repr__(self):
        return f"<Api {self.name}>"


SURFACE = {}  # every public name (aliases too) -> its Api entry, in declaration order
_INSTALLERS = []  # jitgrad.ops appends the function that installs one entry (late entries)


def public(
    fn=None,
    name=None,
    *,
    method=True,
    inplace=False,
    export=True,
    aliases=(),
    axis=False,
    shape_kw=None,
    out=False,
    prim=None,
):
    """Declare ``fn`` a public op (see ``Api``); usable as ``@public(...)``. Returns ``fn``.

    ``method``: True (the method is ``fn``), False, or the callable the method runs.
    ``prim``: the primitive ``fn`` runs (``prim.api`` then names the entry). An entry declared
    after ``import jitgrad`` (a toy op in a test) is installed at once.
    """
    if fn is None:
        return lambda f: public(
            f,
            name,
            method=method,
            inplace=inplace,
            export=export,
            aliases=aliases,
            axis=axis,
            shape_kw=shape_kw,
            out=out,
            prim=prim,
        )
    name = name or fn.__name__
    m = fn if method is True else (method or None)
    entry = Api(name, fn, m, inplace, export, aliases, axis, shape_kw, out, prim)
    for n in entry.names:
        if n in SURFACE:
            raise ValueError(f"public name {n!r} declared twice ({SURFACE[n]} and {entry})")
    for n in entry.names:
        SURFACE[n] = entry
    if prim is not None:
        prim.api = entry
    for install in _INSTALLERS:
        install(entry)
    return fn


def _camel(name):
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def register(name, kind, impl, **kw):
    """Define a primitive once; returns it. ``kind`` is elementwise/reduce/movement/opaque."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} registered twice")
    p = Primitive(name, kind, impl, **kw)
    PRIMITIVES[name] = p
    return p


_next_seq = itertools.count(1).__next__


class Node:
    """A tape entry (a ``grad_fn``): the primitive, its saved inputs, and the graph edges.

    ``seq`` numbers nodes in creation order: a node's inputs always come from older nodes,
    so the engine can run nodes newest first without counting dependencies.

    A node is built as a ``Node``; where users see it (``Tensor.grad_fn``,
    ``next_functions``) it takes the subclass named like PyTorch's node (``expose``), so
    ``type(t.grad_fn).__name__`` is ``"MulBackward0"``. Why not build it so: CPython's
    attribute caches are per class, and one class for every node keeps the tape's hot loops
    (``apply``, the engine) on their fast paths (~10% per op). So test "is a tape node" with
    ``isinstance(x, Node)``, never ``x.__class__ is Node``.
    """

    __slots__ = (
        "prim",
        "params",
        "saved",
        "edges",
        "versions",
        "out_data",
        "out_vc",
        "out_version",
        "pre_hooks",
        "out_meta",
        "label",
        "seq",
        "shown",
        "__weakref__",
    )

    def __init__(self, prim, inputs, params, res):
        self.seq = _next_seq()
        self.prim = prim
        self.params = params
        self.saved = inputs
        self.pre_hooks = None
        nd = prim.n_diff
        # explicit loops: this runs once per recorded op, generators cost more here
        edges = []
        versions = []
        i = 0
        for t in inputs:
            versions.append(t._vc[0])
            if nd is not None and i >= nd:
                edges.append(None)
            else:
                fn = t._grad_fn
                edges.append(fn if fn is not None else (t if t._requires_grad else None))
            i += 1
        self.edges = tuple(edges)
        self.versions = versions
        if prim.saves_out:
            self.out_data = res._data
            self.out_vc = res._vc
            self.out_version = res._vc[0]
            self.out_meta = (res._data.shape, res._data.dtype)  # for the in-place error only
        else:
            self.out_data = None

    def name(self):
        # ``label``: PyTorch's name for a composite's last node (``MeanBackward0`` on a div)
        return getattr(self, "label", None) or self.prim.backward_name

    def expose(self):
        """This node as users see it: of the class named ``name()``; returns ``self``."""
        if self.__class__ is Node:
            lab = getattr(self, "label", None)
            self.__class__ = node_class(lab) if lab else self.prim.node_cls
        return self

    @property
    def next_functions(self):
        from ..autograd.engine import accumulate_node

        # ``shown``: the edges PyTorch's single node for a composite would have (see label)
        edges = getattr(self, "shown", None)
        if edges is None:  # torch lists no edge for an op's non-differentiable inputs
            nd = self.prim.n_diff
            edges = self.edges if nd is None else self.edges[:nd]
        return tuple(
            (
                (accumulate_node(e) if isinstance(e, Tensor) else _show(e))
                if e is not None
                else None,
                0,
            )
            for e in edges
        )

    def register_hook(self, fn):
        raise NotImplementedError("Node.register_hook: register hooks on tensors instead")

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"


def _show(e):
    return e.expose() if isinstance(e, Node) else e


_NODE_CLASSES = {}


def node_class(name, base=None):
    """The subclass of ``base`` (default ``Node``) named ``name``: made once, then cached.

    No slots of its own, so a ``Node`` can take it as its class (``Node.expose``).
    """
    base = base or Node
    cls = _NODE_CLASSES.get((name, base))
    if cls is None:
        cls = type(base)(name, (base,), {"__slots__": (), "__module__": base.__module__})
        _NODE_CLASSES[(name, base)] = cls
    return cls


def _refresh_view(t):
    from .movement import refresh_view

    refresh_view(t)


def apply(prim, inputs, params=_EMPTY):
    """Run ``prim`` on Tensors ``inputs`` (same dtype already), record tape and trace."""
    for t in inputs:
        b = t._base
        if b is not None and b[2] != t._vc[0]:  # a view whose root changed in place
            _refresh_view(t)
    n = len(inputs)
    if params:
        out = prim.impl(*[t._data for t in inputs], **params)
    elif n == 2:
        out = prim.impl(inputs[0]._data, inputs[1]._data)
    elif n == 1:
        out = prim.impl(inputs[0]._data)
    else:
        out = prim.impl(*[t._data for t in inputs])
    if out.__class__ is not _ndarray:
        out = _asarray(out)
    res = _new(_Tensor)
    res._data = out
    res._grad = None
    res._vc = [0]
    res._base = None
    res._x = None
    mode = STATE.mode  # 0: tape on, no tracer; 1: no_grad, no tracer; 2: tracer active
    if mode != 1 and not prim.nondiff and (mode == 0 or STATE.enabled):
        # the tape node, built inline for one and two inputs (the hot cases)
        if n == 2 and prim.n_diff is None:
            a, b = inputs
            ea = a._grad_fn
            if ea is None and a._requires_grad:
                ea = a
            eb = b._grad_fn
            if eb is None and b._requires_grad:
                eb = b
            if ea is not None or eb is not None:
                node = _new_node(_Node)
                node.seq = _next_seq()
                node.prim = prim
                node.params = params
                node.saved = inputs
                node.edges = (ea, eb)
                node.versions = (a._vc[0], b._vc[0])
                node.pre_hooks = None
                if prim.saves_out:
                    node.out_data = out
                    node.out_vc = res._vc
                    node.out_version = 0
                    node.out_meta = (out.shape, out.dtype)
                else:
                    node.out_data = None
                res._grad_fn = node
                res._requires_grad = True
            else:
                res._grad_fn = None
                res._requires_grad = False
        elif n == 1 and prim.n_diff is None:
            a = inputs[0]
            ea = a._grad_fn
            if ea is None and a._requires_grad:
                ea = a
            if ea is not None:
                node = _new_node(_Node)
                node.seq = _next_seq()
                node.prim = prim
                node.params = params
                node.saved = inputs
                node.edges = (ea,)
                node.versions = (a._vc[0],)
                node.pre_hooks = None
                if prim.saves_out:
                    node.out_data = out
                    node.out_vc = res._vc
                    node.out_version = 0
                    node.out_meta = (out.shape, out.dtype)
                else:
                    node.out_data = None
                res._grad_fn = node
                res._requires_grad = True
            else:
                res._grad_fn = None
                res._requires_grad = False
        else:
            res._grad_fn = None
            res._requires_grad = False
            for t in inputs:
                if t._requires_grad:
                    res._grad_fn = Node(prim, inputs, params, res)
                    res._requires_grad = True
                    break
    else:
        res._grad_fn = None
        res._requires_grad = False
    if mode == 2:
        STATE.tracer.record(prim, inputs, params, res)
    elif mode == 3 and res._grad_fn is not None:
        from ..autograd.anomaly import record_site

        record_site(res._grad_fn)
    return res


_Node = Node
_new_node = Node.__new__
_asarray = np.asarray
_ndarray = np.ndarray
_Tensor = Tensor
_new = object.__new__


def label(t, name, inputs=None):
    """Give ``t``'s grad_fn PyTorch's display name for the composite that made it.

    With ``inputs`` (the composite's operands, in PyTorch's order; a ``ShownNode`` stands for
    a node PyTorch has and jitgrad does not), ``next_functions`` reports those operands'
    nodes, as PyTorch's one node for the composite would. Only introspection changes: the
    tape keeps the composite's real nodes.
    """
    n = t._grad_fn
    if isinstance(n, Node):
        n.label = name
        if n.__class__ is not Node:  # already shown under the old name
            n.__class__ = node_class(name)
        if inputs is not None:
            n.shown = tuple(_edge_of(x) for x in inputs)
    return t


def _edge_of(x):
    if isinstance(x, Tensor):
        return x._grad_fn if x._grad_fn is not None else (x if x._requires_grad else None)
    return x if isinstance(x, ShownNode) else None


class ShownNode:
    """A display-only node (``TBackward0`` of a weight inside ``AddmmBackward0``)."""

    __slots__ = ("_edges", "__weakref__")

    def __new__(cls, name, inputs):
        # an instance of the subclass named ``name``, as for ``Node``
        return object.__new__(node_class(name, ShownNode))

    def __init__(self, name, inputs):
        self._edges = tuple(_edge_of(x) for x in inputs)

    def name(self):
        return self.__class__.__name__

    @property
    def next_functions(self):
        from ..autograd.engine import accumulate_node

        return tuple(
            (
                (accumulate_node(e) if isinstance(e, Tensor) else _show(e))
                if e is not None
                else None,
                0,
            )
            for e in self._edges
        )

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"


_CONSTS = {}


def _scalar_array(value, dtype):
    """``np.array(value, dtype)``; a Python int out of an integer dtype's range wraps
    modulo 2**bits as torch's scalar operands do (``int8_t + 200`` is -55); beyond 64 bits
    torch's OverflowError."""
    try:
        return np.array(value, dtype=dtype)
    except OverflowError:
        if value.__class__ is not int or np.dtype(dtype).kind not in "iu":
            raise
        if not -(1 << 63) <= value < (1 << 64):
            raise OverflowError("int too big to convert") from None
        bits = 8 * np.dtype(dtype).itemsize
        v = value % (1 << bits)
        if np.dtype(dtype).kind == "i" and v >= 1 << (bits - 1):
            v -= 1 << bits
        return np.array(v, dtype=dtype)


def const(value, dtype):
    """A 0-d constant Tensor for a Python scalar operand (known to the tracer as a constant).

    Outside a trace, constants are cached read-only by (type, value, dtype): a loop like
    ``y * 0.5`` then builds no new array per op.
    """
    if STATE.mode != 2:
        key = (value.__class__, value, dtype)
        try:
            t = _CONSTS.get(key)
        except TypeError:  # unhashable: no caching
            t = key = None
        if t is not None:
            if STATE.observer is not None:
                STATE.observer.operand(t._data)
            return t
        t = _wrap(_scalar_array(value, dtype))
        # never cache NaN, nor float zeros: -0.0 == 0.0 and they hash alike, so a cached
        # +0.0 would stand in for -0.0 (x - (-0.0) is +0.0 for x = -0.0, x - 0.0 is not)
        if (
            key is not None
            and value == value
            and not (value == 0 and value.__class__ is float)
            and len(_CONSTS) < 4096
        ):
            t._data.flags.writeable = False
            _CONSTS[key] = t
    else:
        t = _wrap(_scalar_array(value, dtype))
        STATE.tracer.constant(t)
    if STATE.observer is not None:  # jitgrad.trace's two eager calls compare these
        STATE.observer.operand(t._data)
    return t


__all__ = [
    "Api",
    "SURFACE",
    "public",
    "Primitive",
    "Identity",
    "register",
    "apply",
    "const",
    "Node",
    "PRIMITIVES",
    "Tensor",
]
