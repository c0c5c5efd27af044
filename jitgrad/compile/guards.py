"""Guards: everything a captured graph depends on besides its tensor arguments.

A compiled variant is the eager call only while what the step read at capture is unchanged.
At capture this module records, with an *owner path* from something the step names (its
arguments, the globals and closure cells its code reads, its bound object):

- the identity of every state tensor (re-resolved through its owner: ``model.0.weight``,
  ``opt.state[model.0.weight]['momentum_buffer']``) and its requires_grad/dtype/shape/layout;
- ``training``, hooks and plain attributes (``Dropout.p``) of every module the step called or
  whose state it read, with their identity under their parent;
- each optimizer's ``param_groups`` structure, its non-runtime hyperparameters by value and
  the zero-ness of the runtime ones (``lr`` is read at every call, ``momentum`` 0 vs 0.9
  changes the graph);
- the values of Python globals, closure cells and attribute chains (``cfg.scale``) named by
  the step's code and by the code of the Python functions and module ``forward`` methods
  it calls; the identity of the objects on those chains;
- whether ``.grad`` of each tensor the step reads is None.

All checks are compiled into one generated Python function (shared path prefixes are read
once), so a call costs a few dict lookups and ``is`` tests per guarded object.
"""

import dis
import functools
import keyword
import math
import os
import types

import numpy as _np

from .. import _trace_hooks
from ..tensor import Tensor

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PLAIN = (int, float, bool, str, type(None), complex, bytes)
_MAX_ITEMS = 256
_MAX_NODES = 20000


def is_plain(v):
    """A value guarded by equality: numbers, strings, None and small tuples of them."""
    t = type(v)
    if t in _PLAIN:
        return True
    if t in (tuple, frozenset):
        return len(v) <= 32 and all(is_plain(x) for x in v)
    return False


ARRAY_GUARD_MAX = 1 << 16  # NumPy arrays the step reads, compared at every call up to this


def _array_same(a, snap):
    """``a`` is a NumPy array with ``snap``'s shape, dtype and bytes (NaN-safe)."""
    return (
        type(a) is _np.ndarray
        and a.shape == snap.shape
        and a.dtype == snap.dtype
        and (a.data.contiguous and a.tobytes() == snap.tobytes() or _np.array_equal(a, snap))
    )


def _plain_container(v):
    t = type(v)
    if t in (list, set):
        return len(v) <= 32 and all(is_plain(x) for x in v)
    if t is dict:
        return len(v) <= 32 and all(is_plain(k) and is_plain(x) for k, x in v.items())
    return False


def _is_optimizer(obj):
    d = getattr(obj, "__dict__", None)
    return isinstance(d, dict) and isinstance(d.get("param_groups"), list) and "state" in d


def _is_module(obj):
    from ..nn import Module

    return isinstance(obj, Module)


def _in_jitgrad(fn):
    code = getattr(fn, "__code__", None)
    return code is not None and os.path.abspath(code.co_filename).startswith(_PKG)


# ---------------------------------------------------------------- paths ----------------
class Path:
    """An access path: a root (an expression of the guard's arguments or a bound object)
    and steps: ``("a", name)`` attribute, ``("i", key)`` item, ``("g", key)`` ``.get(key)``."""

    __slots__ = ("root", "steps", "label", "implied")

    def __init__(self, root, steps=(), label="?", implied=None):
        self.root = root  # ("A",) ("K",) or ("obj", object)
        self.steps = tuple(steps)
        self.label = label
        # leading steps the label already names (args[i], a global's or a cell's name)
        self.implied = (1 if self.steps else 0) if implied is None else implied

    def child(self, *steps):
        return Path(self.root, self.steps + steps, self.label, self.implied)

    def key(self):
        r = self.root
        rk = r[0] if len(r) == 1 else (r[0], id(r[1]))
        return (rk,) + tuple((s, id(k) if not _litable(k) else k) for s, k in self.steps)

    def name(self):
        """``model.0.weight``, ``opt.state[model.0.weight]['momentum_buffer']``."""
        out = self.label
        steps = self.steps
        i = self.implied
        while i < len(steps):
            s, k = steps[i]
            if (
                s == "a"
                and k in ("_parameters", "_buffers", "_modules")
                and i + 1 < len(steps)
                and steps[i + 1][0] == "i"
            ):
                out += f".{steps[i + 1][1]}"
                i += 2
                continue
            if s == "a":
                out += "" if k == "cell_contents" else f".{k}"
            elif s == "g":
                out += f"[{_NAMES.get(id(k), type(k).__name__)}]"
            else:
                out += f"[{k!r}]"
            i += 1
        return out

    def get(self, A, K):
        """The value now (raises if the path no longer resolves)."""
        r = self.root
        x = A if r[0] == "A" else K if r[0] == "K" else r[1]
        for s, k in self.steps:
            if s == "a":
                x = getattr(x, k)
            elif s == "i":
                x = x[k]
            else:
                x = x.get(k)
        return x

    def set(self, A, K, value):
        parent = Path(self.root, self.steps[:-1]).get(A, K)
        s, k = self.steps[-1]
        if s == "a":
            setattr(parent, k, value)
        else:
            parent[k] = value


_NAMES = {}  # id(tensor) -> owner path name, for printing optimizer-state keys


def _litable(k):
    return type(k) in (int, str, bool, type(None)) or (type(k) is float and math.isfinite(k))


def _same_float(a, b):
    """Floats that produce the same program: equal with the same sign (``-0.0`` is not
    ``0.0``: ``x * -0.0`` differs), or both NaN."""
    return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)


def _eq_src(e, v, lit):
    """Guard source for "``e`` still holds the plain value ``v``" (``lit`` spells ``v``):
    identity for bools and None, same type for numbers (``1`` and ``1.0`` promote differently),
    NaN equal to NaN, and the sign of zero kept."""
    if type(v) in (bool, type(None)):
        return f"{e} is {lit}"
    if type(v) is float and (v != v or v == 0.0):
        return f"(type({e}) is float and _same_float({e}, {lit}))"
    if type(v) in (int, float):
        return f"(type({e}) is {type(v).__name__} and {e} == {lit})"
    return f"{e} == {lit}"


class _Code:
    """Python source for guard expressions, binding objects as names and sharing prefixes."""

    def __init__(self):
        self.ns = {}
        self._ids = {}
        self.lines = []
        self._tmp = {}

    def const(self, obj):
        k = id(obj)
        name = self._ids.get(k)
        if name is None:
            name = self._ids[k] = f"_k{len(self._ids)}"
            self.ns[name] = obj
        return name

    def lit(self, v):
        return repr(v) if _litable(v) else self.const(v)

    def _step(self, base, s, k):
        if s == "a":
            if k.isidentifier() and not keyword.iskeyword(k):
                return f"{base}.{k}"
            return f"getattr({base}, {k!r})"
        if s == "i":
            return f"{base}[{self.lit(k)}]"
        return f"{base}.get({self.lit(k)})"

    def full(self, path):
        r = path.root
        e = r[0] if len(r) == 1 else self.const(r[1])
        for s, k in path.steps:
            e = self._step(e, s, k)
        return e

    def hoisted(self, path):
        """A local variable holding the path's value (prefixes computed once)."""
        r = path.root
        e = r[0] if len(r) == 1 else self.const(r[1])
        key = (e,)
        for s, k in path.steps:
            key = key + ((s, id(k) if not _litable(k) else k),)
            var = self._tmp.get(key)
            if var is None:
                var = self._tmp[key] = f"_v{len(self._tmp)}"
                self.lines.append(f"{var} = {self._step(e, s, k)}")
            e = var
        return e


# ---------------------------------------------------------------- code scan ------------
_SCAN_CACHE = {}


def _scan(code):
    """Attribute/subscript chains the code loads: [(root kind, name, steps)], the one-argument
    calls of a chain on a chain ``f(obj.x)`` as ("call", callee chain, argument chain) (an
    ``operator.attrgetter``/``itemgetter`` reads through them), and the attribute names it
    stores to. ``vars(obj)[k]`` is the chain ``obj.k``. Cached per code object."""
    hit = _SCAN_CACHE.get(code)
    if hit is not None:
        return hit
    chains, stores = [], set()
    ins = list(dis.get_instructions(code))
    cur = prev = last = None  # the chain being read; the one just before it; its last op
    start = 0
    as_attr = False  # the chain is vars(obj): its next subscript is an attribute read
    for i, x in enumerate(ins):
        op = x.opname
        if op in ("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_FAST", "LOAD_NAME", "LOAD_CLASSDEREF"):
            kind = {"LOAD_GLOBAL": "g", "LOAD_NAME": "g", "LOAD_FAST": "f"}.get(op, "d")
            prev = cur if cur is not None and i > 0 and ins[i - 1] is last else None
            cur = (kind, x.argval, ())
            start = i
            as_attr = False
            chains.append(cur)
            last = x
            continue
        if cur is not None and op in ("LOAD_ATTR", "LOAD_METHOD"):
            cur = (cur[0], cur[1], cur[2] + (("a", x.argval),))
            chains.append(cur)
            last = x
            continue
        if cur is not None and op == "LOAD_CONST" and _getattr_call(ins, i, start):
            cur = (cur[0], cur[1], cur[2] + (("a", x.argval),))  # getattr(obj, "name"[, d])
            chains.append(cur)
            last = x
            continue
        if (
            cur is not None
            and op == "LOAD_CONST"
            and i + 1 < len(ins)
            and ins[i + 1].opname == "BINARY_SUBSCR"
            and _litable(x.argval)
        ):
            step = "a" if as_attr and isinstance(x.argval, str) else "i"
            cur = (cur[0], cur[1], cur[2] + ((step, x.argval),))
            as_attr = False
            chains.append(cur)
            last = x
            continue
        if op == "BINARY_SUBSCR" and cur is not None:
            last = x
            continue
        if op in ("PRECALL", "CALL") and cur is not None:
            if as_attr and op == "CALL" and ins[i - 1].opname == "PRECALL":  # 3.11's pair
                last = x
                continue
            if x.arg == 1 and prev is not None:
                if prev == ("g", "vars", ()):
                    as_attr = True  # vars(obj): the chain goes on through obj's attributes
                    prev = None
                    last = x
                    continue
                chains.append(("call", prev, cur))  # f(chain): resolved in Watch._chains
        if op in ("STORE_ATTR", "DELETE_ATTR"):
            stores.add(x.argval)
        cur = prev = None
        as_attr = False
    nested = [c for c in code.co_consts if isinstance(c, types.CodeType)]
    for c in nested:  # lambdas, comprehensions, generator expressions, inner defs
        sub_chains, sub_stores = _scan(c)
        # a nested function's fast locals are its own; its cells are the enclosing code's
        # (the step's closure or its captured arguments: resolved by name in _chains)
        chains += [ch for ch in sub_chains if ch[0] in ("g", "d") or _outer_call(ch)]
        stores |= sub_stores
    res = (chains, stores)
    _SCAN_CACHE[code] = res
    return res


def _outer_call(ch):
    return ch[0] == "call" and ch[1][0] in ("g", "d") and ch[2][0] in ("g", "d")


def _getattr_call(ins, i, start):
    """Is ``ins[i]`` the constant name of ``getattr(<chain from ins[start]>, "name"[, d])``?"""
    if not isinstance(ins[i].argval, str) or not ins[i].argval.isidentifier():
        return False
    j = start - 1
    while j >= 0 and ins[j].opname in ("PUSH_NULL", "NOP"):
        j -= 1
    if j < 0 or ins[j].opname not in ("LOAD_GLOBAL", "LOAD_NAME") or ins[j].argval != "getattr":
        return False
    k = i + 1
    if k < len(ins) and ins[k].opname == "LOAD_CONST":  # the default
        k += 1
    n = k - i + 1  # the call's argument count
    return k < len(ins) and ins[k].opname in ("PRECALL", "CALL") and ins[k].arg == n


def _static_attr(obj, name):
    """``(steps, value, method_function)`` for ``obj.name`` without running properties."""
    d = getattr(obj, "__dict__", None)
    if _is_module(obj):
        for slot in ("_parameters", "_buffers", "_modules"):
            dd = obj.__dict__.get(slot)
            if dd is not None and name in dd:
                return (("a", slot), ("i", name)), dd[name], None
    if isinstance(d, dict) and name in d:
        return (("a", name),), d[name], None
    if isinstance(obj, type):  # a class's own settings (``Config.scale``), never its methods
        for klass in obj.__mro__:
            attr = klass.__dict__.get(name, _MISSING)
            if attr is not _MISSING:
                if is_plain(attr) or _plain_container(attr):
                    return (("a", name),), attr, None
                return None
        return None
    for klass in type(obj).__mro__:
        attr = klass.__dict__.get(name, _MISSING)
        if attr is not _MISSING:
            if isinstance(attr, types.FunctionType):
                return None, None, attr
            if isinstance(attr, property) and isinstance(attr.fget, types.FunctionType):
                return None, None, attr.fget  # its code is scanned like a method's
            if isinstance(attr, types.MemberDescriptorType):  # a __slots__ field
                try:
                    return (("a", name),), attr.__get__(obj, type(obj)), None
                except AttributeError:  # not set
                    return None
            if is_plain(attr) or _plain_container(attr):  # a class-level setting
                return (("a", name),), attr, None
            return None
    return None


_READS = {}


def forward_reads(cls):
    """Attribute names ``cls.forward`` (and the ``self.method()``s it calls) read from
    ``self``; None when the code cannot be scanned (then every plain attribute is guarded)."""
    if cls in _READS:
        return _READS[cls]
    f = getattr(cls, "forward", None)
    if not isinstance(f, types.FunctionType):
        _READS[cls] = None
        return None
    names, todo, done = set(), [f], set()
    while todo:
        fn = todo.pop()
        code = fn.__code__
        if code in done or not code.co_varnames:
            continue
        done.add(code)
        me = code.co_varnames[0]
        for kind, name, steps in _scan(code)[0]:
            if kind == "f" and name == me and steps and steps[0][0] == "a":
                attr = steps[0][1]
                names.add(attr)
                m = getattr(cls, attr, None)
                if isinstance(m, property):  # what its getter reads from self is read too
                    m = m.fget
                if isinstance(m, types.FunctionType) and len(done) < 8:
                    todo.append(m)
    _READS[cls] = names
    return names


# ---------------------------------------------------------------- entry watch ---------
class Location:
    """A Python value the step reads, with the path to read (and, on replay, write) it."""

    __slots__ = ("path", "value", "kind", "guard")

    def __init__(self, path, value, kind, guard=True):
        self.path = path
        self.value = value  # at entry (a copy for containers)
        self.kind = kind  # 'plain', 'container', 'object'
        self.guard = guard


def _snap(v):
    if type(v) in (list, set):
        return ("c", type(v), list(v))
    if type(v) is dict:
        return ("c", dict, list(v.items()))
    return v


def same(a, b):
    """Equality that compares tensors and objects by identity (never calls Tensor.__eq__)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is float:
        return _same_float(a, b)
    if is_plain(a):
        try:
            return bool(a == b)
        except Exception:
            return False
    return False


def equal(a, b):
    """``same``, or equal by ``==`` when neither side holds a tensor or an array (whose ``==``
    is elementwise: a watched dict entry rebound to another tensor is a change, not an
    ambiguous truth value)."""
    if same(a, b):
        return True
    if type(a) is _np.ndarray and type(b) is _np.ndarray:
        return _array_same(a, b)
    if _holds_array(a) or _holds_array(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _holds_array(v):
    if isinstance(v, (Tensor, _np.ndarray)):
        return True
    if type(v) in (list, tuple):
        return any(_holds_array(x) for x in v)
    return False


class Watch:
    """What a call of the step can see: chains from its code, the objects reachable from its
    roots (modules, optimizers, tensors with owner paths), and their entry values."""

    def __init__(self, fn, args, kwargs):
        self.roots = []  # [(Path, obj)]
        self.locations = {}  # path key -> Location
        self.functions = []  # (code, globals, cells, fast map, depth)
        self.unstable = []  # clocks and Python/NumPy RNGs the code names
        self.skipped = []  # chains that could not be inspected
        self.big_arrays = []  # NumPy arrays read, too big to compare at every call
        self._A, self._K = args, kwargs
        self._targets(fn, args, kwargs)
        for code, glb, cells, fast, depth in list(self.functions):
            self._chains(code, glb, cells, fast, depth)
        for i, a in enumerate(args):
            if not isinstance(a, Tensor):
                self.roots.append((Path(("A",), (("i", i),), _arg_label(fn, i)), a))
        for k, a in kwargs.items():
            if not isinstance(a, Tensor):
                self.roots.append((Path(("K",), (("i", k),), k), a))
        self.walk()
        self._scan_hooks()
        self._scan_forwards()

    # ---- which code the step runs ------------------------------------------------------
    def _targets(self, fn, args, kwargs):
        if isinstance(fn, types.MethodType):
            me = Path(("obj", fn.__self__), (), "self", 0)
            self._add_function(fn.__func__, me, args, kwargs)
            self.roots.append((me, fn.__self__))
        elif isinstance(fn, types.FunctionType):
            self._add_function(fn, None, args, kwargs)
        elif isinstance(fn, functools.partial):  # its own arguments are roots, its code scanned
            me = Path(("obj", fn), (), "partial", 0)
            for j, a in enumerate(fn.args):
                self.roots.append((me.child(("a", "args"), ("i", j)), a))
            for key, a in fn.keywords.items():
                self.roots.append((me.child(("a", "keywords"), ("i", key)), a))
            self._targets(fn.func, (), {})
        else:
            call = getattr(type(fn), "forward" if _is_module(fn) else "__call__", None)
            root = Path(("obj", fn), (), type(fn).__name__.lower(), 0)
            self.roots.append((root, fn))
            if isinstance(call, types.FunctionType):
                self._add_function(call, root, args, kwargs)

    def _add_function(self, f, self_path, args, kwargs, depth=0):
        if depth > 3 or _in_jitgrad(f) or any(f.__code__ is c[0] for c in self.functions):
            return
        code = f.__code__
        cells = {}
        for name, cell in zip(code.co_freevars, f.__closure__ or ()):
            cells[name] = cell
        fast = {}
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        shift = 0
        if self_path is not None and names:
            fast[names[0]] = self_path
            shift = 1
            names = names[1:]
        if depth == 0:
            for i, n in enumerate(names[: code.co_argcount - shift]):
                if i < len(args):
                    fast[n] = Path(("A",), (("i", i),), n)
            for n in names:
                if n in kwargs:
                    fast[n] = Path(("K",), (("i", n),), n)
        if f.__defaults__:
            fast["__defaults__"] = Path(("obj", f), (("a", "__defaults__"),), f.__name__, 0)
        self.functions.append((code, f.__globals__, cells, fast, depth))

    def _chains(self, code, glb, cells, fast, depth=0):
        chains, stores = _scan(code)
        for kind, name, steps in chains:
            if kind == "call":  # f(chain) with f an operator.attrgetter/itemgetter
                kind, name, steps = self._getter_chain((kind, name, steps), glb, cells, fast)
                if kind is None:
                    continue
            root = self._root(kind, name, glb, cells, fast)
            if root is None:
                continue
            path, val = root
            try:
                self._follow(path, val, steps, stores, depth)
            except Exception as e:  # an object that resists inspection: say so in explain()
                self.skipped.append(f"{path.name()} ({type(e).__name__})")

    def _root(self, kind, name, glb, cells, fast):
        """(path, value) of the name a chain starts at, or None."""
        if kind == "g":
            if name not in glb:
                return None
            return Path(("obj", glb), (("i", name),), name), glb[name]
        if kind == "d" and name in cells:
            try:
                val = cells[name].cell_contents
            except ValueError:
                return None
            return Path(("obj", cells[name]), (("a", "cell_contents"),), name), val
        # a local, or an argument captured by a nested function (a "d" not in cells)
        path = fast.get(name)
        if path is None:
            return None
        try:
            return path, path.get(self._A, self._K)
        except Exception:
            return None

    def _getter_chain(self, entry, glb, cells, fast):
        """``get(obj.x)`` with ``get = operator.attrgetter("a.b")``: the chain ``obj.x.a.b``
        (the first of its names; itemgetter: ``obj.x[k]``), or (None, None, None)."""
        import operator

        _, (ckind, cname, csteps), (akind, aname, asteps) = entry
        root = self._root(ckind, cname, glb, cells, fast)
        if root is None:
            return None, None, None
        f = root[1]
        try:
            for st, k in csteps:
                f = getattr(f, k) if st == "a" else f[k]
        except Exception:
            return None, None, None
        if type(f) is operator.attrgetter:
            names = f.__reduce__()[1]
            more = tuple(("a", part) for part in names[0].split("."))
        elif type(f) is operator.itemgetter:
            names = f.__reduce__()[1]
            if not _litable(names[0]):
                return None, None, None
            more = (("i", names[0]),)
        else:
            return None, None, None
        if len(names) > 1:  # attrgetter("a", "b"): each name is a chain of its own
            for extra in names[1:]:
                tail = (
                    tuple(("a", part) for part in extra.split("."))
                    if type(f) is operator.attrgetter
                    else (("i", extra),)
                    if _litable(extra)
                    else None
                )
                if tail is not None:
                    root = self._root(akind, aname, glb, cells, fast)
                    if root is not None:
                        self._follow(root[0], root[1], asteps + tail, set(), 0)
        return akind, aname, asteps + more

    def _follow(self, path, val, steps, stores, depth):
        self._note(path, val, stores, depth)
        for s, k in steps:
            if isinstance(val, (Tensor, types.ModuleType)) and s == "i":
                return
            if isinstance(val, Tensor):
                return
            if s == "a":
                r = _static_attr(val, k)
                if r is None:
                    return
                st, nv, method = r
                if method is not None:  # obj.method(...): scan the method with self = obj
                    if not _in_jitgrad(method) and depth < 3:
                        self._add_method(method, path, depth + 1)
                    return
                path = path.child(*st)
                val = nv
            else:
                if not isinstance(val, (dict, list, tuple)):
                    get = getattr(type(val), "__getitem__", None)  # obj[k]: scan its code
                    if isinstance(get, types.FunctionType) and not _in_jitgrad(get):
                        if depth < 3:
                            self._add_method(get, path, depth + 1)
                    return
                try:
                    val = val[k]
                except (KeyError, IndexError, TypeError):
                    return
                path = path.child(("i", k))
            self._note(path, val, stores, depth)

    def _add_method(self, f, self_path, depth):
        n = len(self.functions)
        self._add_function(f, self_path, (), {}, depth)
        for code, glb, cells, fast, d in self.functions[n:]:
            self._chains(code, glb, cells, fast, d)

    def _note(self, path, val, stores, depth):
        key = path.key()
        if key in self.locations:
            return
        if isinstance(val, types.ModuleType) or isinstance(val, type):
            return
        if isinstance(val, (types.BuiltinFunctionType, types.MethodType)):
            if _unstable(val):
                self.unstable.append(path.name())
            return
        if isinstance(val, types.FunctionType):
            if _in_jitgrad(val):  # library functions do not change
                return
            self.locations[key] = Location(path, val, "object")
            if depth < 3:
                n = len(self.functions)
                self._add_function(val, None, (), {}, depth + 1)
                for code, glb, cells, fast, d in self.functions[n:]:
                    self._chains(code, glb, cells, fast, d)
            return
        if is_plain(val):
            self.locations[key] = Location(path, val, "plain")
            return
        if hasattr(type(val), "__next__") and not isinstance(val, Tensor):
            # a generator, an iterator or a file: next() gives a new value at every call,
            # which a compiled call would replay from the capture
            self.unstable.append(f"next({path.name()})")
        if _plain_container(val):
            self.locations[key] = Location(path, _snap(val), "container")
            return
        if isinstance(val, (list, dict, set)):
            self.locations[key] = Location(path, ("len", len(val)), "container", guard=False)
            return
        if isinstance(val, Tensor) and path.root[0] in ("A", "K") and len(path.steps) == 1:
            return  # a tensor argument: covered by the signature, new every call
        if type(val) is _np.ndarray:  # numbers the step reads from it: its bytes are guarded
            if val.size <= ARRAY_GUARD_MAX:
                self.locations[key] = Location(path, val.copy(), "array")
            else:  # comparing it at every call would cost more than the step: say so
                self.big_arrays.append(f"{path.name()} ({val.dtype} {list(val.shape)})")
            return
        self.locations[key] = Location(path, val, "object")
        if not isinstance(val, Tensor):
            self.roots.append((path, val))
            d = getattr(val, "__dict__", None)
            if isinstance(d, dict) and not _is_module(val):
                for name in stores:
                    if name in d:
                        self._note(path.child(("a", name)), d[name], (), depth)

    # ---- reachable objects -------------------------------------------------------------
    def _scan_forwards(self):
        """The forward code of the user's own module classes runs inside the step too: the
        globals and closure values it (and the methods it calls) reads are watched."""
        for m, path in list(self.modules.values()):
            f = getattr(type(m), "forward", None)
            if isinstance(f, types.FunctionType) and not _in_jitgrad(f):
                self._add_method(f, path, 1)

    def _scan_hooks(self):
        """Hooks run inside the step too: the Python values their code reads are watched."""
        fns = []
        for m, _ in self.modules.values():
            fns += list(m._forward_pre_hooks.values()) + list(m._forward_hooks.values())
        for p in self.tensor_path.values():
            try:
                t = p.get(self._A, self._K)
            except Exception:
                continue
            if isinstance(t, Tensor) and t._x:
                fns += list(t._x.get("hooks", ()))
        for f in fns:
            if isinstance(f, types.FunctionType) and not _in_jitgrad(f):
                n = len(self.functions)
                self._add_function(f, None, (), {}, 1)
                for code, glb, cells, fast, d in self.functions[n:]:
                    self._chains(code, glb, cells, fast, d)

    def rewalk(self):
        """Owner paths as they are now (for state the step created or attached); the entry
        view (paths, owners, modules, optimizers, entry values) is kept, new owners added."""
        saved = (self.tensor_path, self.owner, self.modules, self.optimizers, self.tensor_alias)
        entry = (self.module_entry, self.opt_entry)
        self.walk()
        now, owners = self.tensor_path, self.owner
        self.tensor_path, self.owner, self.modules, self.optimizers, self.tensor_alias = saved
        self.module_entry, self.opt_entry = entry
        for k, v in owners.items():
            self.owner.setdefault(k, v)
        return now

    def walk(self):
        """Breadth-first from the roots: the shortest owner path of every tensor, module and
        optimizer reachable, and the entry values of module attributes and optimizer groups."""
        self.tensor_path = {}
        # id(tensor) -> more module slots holding it (tied weights: ``out.weight = emb.weight``)
        self.tensor_alias = {}
        self.owner = {}  # id(tensor) -> module owning it
        self.modules = {}  # id -> (module, path)
        self.optimizers = {}  # id -> (optimizer, path)
        seen = set()
        queue = [(p, o, 0) for p, o in self.roots]
        n = 0
        while queue and n < _MAX_NODES:
            nxt = []
            for path, obj, depth in queue:
                n += 1
                k = id(obj)
                if isinstance(obj, Tensor):
                    if k not in self.tensor_path:
                        self.tensor_path[k] = path
                    elif _in_slot(path) and len(self.tensor_alias.get(k, ())) < 8:
                        self.tensor_alias.setdefault(k, []).append(path)
                    continue
                if k in seen or is_plain(obj):
                    continue
                seen.add(k)
                if depth > 8 or isinstance(obj, (types.ModuleType, type, types.FunctionType)):
                    continue
                kids = []
                if _is_module(obj):
                    self.modules[k] = (obj, path)
                    d = obj.__dict__
                    for slot in ("_parameters", "_buffers", "_modules"):
                        for name, v in d[slot].items():
                            if v is not None:
                                kids.append((path.child(("a", slot), ("i", name)), v))
                                if slot != "_modules":
                                    self.owner.setdefault(id(v), obj)
                    for name, v in d.items():
                        if not name.startswith("_") and not is_plain(v):
                            kids.append((path.child(("a", name)), v))
                elif _is_optimizer(obj):
                    self.optimizers[k] = (obj, path)
                    later = []
                    for i, g in enumerate(obj.param_groups):
                        gp = (("a", "param_groups"), ("i", i))
                        for j, p in enumerate(g.get("params", ())):
                            later.append((gp + (("i", "params"), ("i", j)), p))
                        for key, v in g.items():
                            if key != "params" and isinstance(v, Tensor):
                                later.append((gp + (("i", key),), v))
                    for p, st in obj.state.items():
                        if isinstance(st, dict):
                            for key, v in st.items():
                                later.append(((("a", "state"), ("g", p), ("i", key)), v))
                    self._pending_state = getattr(self, "_pending_state", []) + [(path, later)]
                elif isinstance(obj, dict):
                    if len(obj) <= _MAX_ITEMS:
                        kids = [
                            (path.child(("i", key)), v) for key, v in obj.items() if _litable(key)
                        ]
                elif isinstance(obj, (list, tuple)):
                    if len(obj) <= _MAX_ITEMS:
                        kids = [(path.child(("i", i)), v) for i, v in enumerate(obj)]
                else:
                    d = getattr(obj, "__dict__", None)
                    if isinstance(d, dict) and len(d) <= _MAX_ITEMS:
                        kids = [
                            (path.child(("a", name)), v)
                            for name, v in d.items()
                            if isinstance(name, str) and not is_plain(v)
                        ]
                nxt += [(p, o, depth + 1) for p, o in kids]
            queue = nxt
        # optimizers last: a parameter is named (and re-resolved) through its module
        for path, items in getattr(self, "_pending_state", ()):
            for steps, v in items:
                if isinstance(v, Tensor):
                    self.tensor_path.setdefault(id(v), path.child(*steps))
        self._pending_state = []
        if len(_NAMES) > 100000:  # names for printing only: forget old ones
            _NAMES.clear()
        for k, p in self.tensor_path.items():
            _NAMES[k] = p.name()
        for k, (_, p) in list(self.modules.items()) + list(self.optimizers.items()):
            _NAMES[k] = p.name()
        self.module_entry = {k: module_values(m) for k, (m, _) in self.modules.items()}
        self.opt_entry = {k: optimizer_values(o) for k, (o, _) in self.optimizers.items()}
        self.state_entry = {k: state_layout(o) for k, (o, _) in self.optimizers.items()}

    def state_created(self):
        """An optimizer whose per-parameter state gained entries since the call started
        (``amsgrad`` switched on: the step creates ``max_exp_avg_sq``): the recorded graph
        built that state from nothing, so it is not the program of the calls that follow."""
        return [
            o for k, (o, _) in self.optimizers.items() if state_layout(o) != self.state_entry[k]
        ]

    _A = ()
    _K = {}

    def values(self, A, K):
        """Current values of every watched location (for before/after comparisons)."""
        out = {}
        for key, loc in self.locations.items():
            try:
                v = loc.path.get(A, K)
            except Exception:
                v = _MISSING
            if loc.kind == "container" and not loc.guard:
                v = ("len", len(v))
            elif loc.kind == "array" and type(v) is _np.ndarray:
                v = v.copy()  # its bytes: the step (or the user between calls) writes in place
            out[key] = _snap(v)
        for k, (m, _) in self.modules.items():
            out[("module", k)] = module_values(m)
        for k, (o, _) in self.optimizers.items():
            out[("opt", k)] = optimizer_values(o)
        return out


_MISSING = object()
_UNSTABLE_MODULES = ("time", "random", "secrets", "uuid")


def _unstable(fn):
    """A clock or a Python/NumPy random generator: a new value at every call."""
    import random

    import numpy as np

    owner = getattr(fn, "__self__", None)
    if isinstance(owner, (random.Random, np.random.RandomState, np.random.Generator)):
        return True
    if isinstance(owner, types.ModuleType):
        return owner.__name__ in _UNSTABLE_MODULES or fn is getattr(os, "urandom", None)
    return False


def _arg_label(fn, i):
    code = getattr(fn, "__code__", None)
    if code is not None and i < code.co_argcount:
        return code.co_varnames[i]
    return f"args[{i}]"


def _children_guard(G, c, k, mod, name):
    """The names of a module's children: one appended to a Sequential or a ModuleList, or
    deleted from it, changes what a forward that iterates them runs."""
    kids = mod.__dict__.get("_modules")
    if kids:
        keys = tuple(kids)
        G.expr(f"tuple({k}._modules) == {c.const(keys)}", f"{name} has the children {list(keys)}")


@functools.lru_cache(maxsize=1)
def _iterated_containers():
    """The containers a forward iterates or indexes rather than calls."""
    from ..nn.modules.container import ModuleDict, ModuleList

    return ModuleList, ModuleDict


def module_values(m):
    """``{attr: value}`` of a module's training flag and plain attributes (private ones,
    ``self._scale``, where its forward reads them)."""
    # (jitgrad's own modules keep bookkeeping there: DDP's ``_traced``, ``_active``)
    cls = type(m)
    reads = () if cls.__module__.startswith("jitgrad.") else (forward_reads(cls) or ())
    return {
        k: v for k, v in m.__dict__.items() if (not k.startswith("_") or k in reads) and is_plain(v)
    }


def optimizer_values(o):
    return (
        len(o.param_groups),
        [{k: v for k, v in g.items() if k != "params" and is_plain(v)} for g in o.param_groups],
        len(o.state),
    )


def state_layout(o):
    """How many parameters have optimizer state, and how many entries it holds in all."""
    return len(o.state), sum(len(st) for st in o.state.values() if isinstance(st, dict))


def hooks_of(obj):
    """The hooks registered on a module or a leaf tensor, as a tuple (identity compared)."""
    if isinstance(obj, Tensor):
        return tuple((obj._x or {}).get("hooks", ())) if obj._x else ()
    return tuple(obj._forward_pre_hooks.values()) + tuple(obj._forward_hooks.values())


# ---------------------------------------------------------------- the guard set ---------
class Guards:
    """The compiled check for one variant, plus what to say when it fails."""

    def __init__(self):
        self.code = _Code()
        self.items = []  # (condition source with full paths, description)
        self.effects = []  # (Path, value): Python values the step set, replayed after a call
        self.runtime = []  # descriptions of runtime inputs (for explain)
        self.unowned = []  # state without an owner path (identity captured)
        self.skipped = []
        self.names = {}  # id(tensor) -> owner path name
        self.check = _true
        self.hook_objs = []
        self._done = set()
        self._identity = []  # indices of identity guards rooted outside the arguments

    def add(self, fast, full, desc):
        self.code.lines.append(f"if not ({fast}): return False")
        self.items.append((full, desc))

    def path_is(self, path, obj, desc):
        key = (path.key(), id(obj))
        if key in self._done:  # the same object through the same path: checked once
            return
        self._done.add(key)
        c = self.code
        k = c.const(obj)
        self.add(f"{c.hoisted(path)} is {k}", f"{c.full(path)} is {k}", desc)
        if path.root[0] == "obj":  # not about this call's arguments: can go stale for good
            self._identity.append(len(self.items) - 1)

    def path_eq(self, path, value, desc):
        c = self.code
        v = c.lit(value)
        if type(value) in (list, dict, set, tuple, frozenset) and not _litable(value):
            self.add(f"_same({c.hoisted(path)}, {v})", f"_same({c.full(path)}, {v})", desc)
            return
        self.add(_eq_src(c.hoisted(path), value, v), _eq_src(c.full(path), value, v), desc)

    def expr(self, src, desc):
        self.add(src, src, desc)

    def build(self):
        c = self.code
        c.ns["_same"] = same
        c.ns["_same_float"] = _same_float
        c.ns["_EP"] = _trace_hooks.HOOK_EPOCH
        c.ns["_hooks_ok"] = self._hooks_ok
        src = "def guard(A, K, L):\n    try:\n"
        src += "".join(f"        {b}\n" for b in c.lines)
        src += "        return True\n    except Exception:\n        return False\n"
        self.source = src
        exec(compile(src, "<jitgrad guards>", "exec"), c.ns)
        self.check = c.ns["guard"]
        self._slow = []
        for full, desc in self.items:
            f = eval(compile(f"lambda A, K, L: ({full})", "<jitgrad guard>", "eval"), c.ns)
            self._slow.append((f, desc))

    def failure(self, A, K, L):
        """The description of the first guard that fails now, or None."""
        for f, desc in self._slow:
            try:
                ok = f(A, K, L)
            except Exception:
                ok = False
            if not ok:
                return desc
        return None

    def stale(self):
        """True when an object this variant captured is no longer where the step finds it
        (a replaced layer, a new optimizer): the variant cannot apply again."""
        for i in self._identity:
            f = self._slow[i][0]
            try:
                if not f((), {}, ()):
                    return True
            except Exception:
                return True
        return False

    def _hooks_ok(self):
        for obj, hooks in self.hook_objs:
            now = hooks_of(obj)
            if len(now) != len(hooks) or any(a is not b for a, b in zip(now, hooks)):
                return False
        self.code.ns["_e"][0] = _trace_hooks.HOOK_EPOCH[0]
        return True

    def name_of(self, t):
        """The owner path of a state tensor (``model.0.weight``) or a shape description."""
        return self.names.get(id(t)) or f"a tensor of shape {list(t.shape)}"

    def replay_effects(self, A, K):
        for path, value in self.effects:
            path.set(A, K, value)

    def describe(self):
        lines = [f"guards ({len(self.items)} checks per call):"]
        lines += [f"  {d}" for _, d in self.items[:60]]
        if len(self.items) > 60:
            lines.append(f"  ... and {len(self.items) - 60} more (step.guards.items)")
        if self.runtime:
            lines.append("runtime inputs (read at every call): " + ", ".join(self.runtime))
        if self.effects:
            lines.append(
                "Python values the step sets (replayed after each compiled call): "
                + ", ".join(f"{p.name()} = {v!r}" for p, v in self.effects)
            )
        if self.skipped:
            lines.append("could not inspect (not guarded): " + ", ".join(self.skipped))
        if self.unowned:
            lines.append(
                "state with no owner path from the step's names (its identity is captured): "
                + ", ".join(self.unowned)
            )
        return lines


def _true(A, K, L):
    return True


def describe_value(v):
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."


# ---------------------------------------------------------------- building -------------
_NUM = (int, float)


def _meta(ns, t, meta):
    """Slow half of the storage check: ``t._data`` was replaced (``p.data = ...``); accept
    it when shape, dtype and layout are the ones the graph was compiled for."""
    name, shape, dtype, contig = meta
    a = t._data
    if a.shape == shape and a.dtype == dtype and bool(a.flags.c_contiguous) == contig:
        ns[name] = a
        return True
    return False


def _tensor_ref(c, r):
    from .tracer import ArgRef

    return f"L[{r.i}]" if isinstance(r, ArgRef) else c.const(r)


def build(tr, watch, leaves):
    """The guards of a variant just captured by tracer ``tr`` with entry ``watch``."""
    from .tracer import ArgRef

    G = Guards()
    c = G.code
    c.ns["_meta"] = functools.partial(_meta, c.ns)
    c.ns["_NUM"] = _NUM
    c.ns["_T"] = Tensor
    c.ns["_e"] = [_trace_hooks.HOOK_EPOCH[0]]
    later = None

    def path_of(t):
        nonlocal later
        p = watch.tensor_path.get(id(t))
        if p is None:
            if later is None:
                later = watch.rewalk()
            p = later.get(id(t))
        return p

    # arguments sharing storage
    n = len(leaves)
    if 1 < n <= 4:
        for i in range(n):
            for j in range(i + 1, n):
                shared = leaves[i]._data is leaves[j]._data
                G.expr(
                    f"L[{i}]._data {'is' if shared else 'is not'} L[{j}]._data",
                    f"tensor arguments {i} and {j} {'are' if shared else 'are not'} one storage",
                )
    elif n > 4:
        k = len({id(t._data) for t in leaves})
        G.expr(f"len({{id(t._data) for t in L}}) == {k}", f"{k} distinct argument storages")

    # state tensors: identity through the owner, storage/shape/dtype/layout, requires_grad
    hook_objs = []
    first = {k: v for k, v in tr.entry_grad.items()}
    for inp in tr.g.inputs:
        if inp.kind != "state":
            continue
        t = inp.ref
        p = path_of(t)
        name = p.name() if p is not None else f"tensor{list(t._data.shape)}"
        G.names[id(t)] = name
        _NAMES[id(t)] = name
        if p is not None and _state_entry(p) is not None:
            _optimizer_state_is(G, p, t, name, watch)
        elif p is not None:
            G.path_is(p, t, f"{name} is the tensor captured (re-resolved through its owner)")
        for alias in watch.tensor_alias.get(id(t), ()):  # tied: every slot still holds it
            G.path_is(alias, t, f"{alias.name()} is {name} (tied when captured)")
        else:
            G.unowned.append(name)
        k = c.const(t)
        a = c.const(t._data)  # the array itself; _meta rebinds the name when it is replaced
        m = c.const((a, t._data.shape, t._data.dtype, bool(t._data.flags.c_contiguous)))
        layout = "contiguous" if t._data.flags.c_contiguous else "non-contiguous"
        rg = bool(first.get(id(t), (None, None, t._requires_grad))[2])
        G.expr(
            f"({k}._data is {a} or _meta({k}, {m})) and {k}._requires_grad is {rg}",
            f"{name}: {t._data.dtype.name}{list(t._data.shape)} {layout}, requires_grad={rg}",
        )
        hook_objs.append((t, hooks_of(t)))

    # .grad None or set, for every tensor whose .grad the step read or bound
    grads_done = set()
    for r, was_none, rg in tr.entry_grad.values():
        if not rg and was_none:
            continue
        t = leaves[r.i] if isinstance(r, ArgRef) else r
        grads_done.add(id(t))
        name = G.names.get(id(t)) or (f"argument {r.i}" if isinstance(r, ArgRef) else None)
        name = name or _NAMES.get(id(t)) or f"tensor{list(t._data.shape)}"
        G.expr(
            f"{_tensor_ref(c, r)}._grad is {'' if was_none else 'not '}None",
            f"{name}.grad is {'None' if was_none else 'set'}",
        )

    # modules: the ones called and the owners of state read
    mods = dict(tr.modules)
    for inp in tr.g.inputs:
        if inp.kind == "state":
            o = watch.owner.get(id(inp.ref))
            if o is not None and id(o) not in mods:
                mods[id(o)] = (o, module_values(o), hooks_of(o))
    for km, (mod, noted, hooks) in mods.items():
        hit = watch.modules.get(km)
        name = hit[1].name() if hit else type(mod).__name__
        if hit:
            G.path_is(hit[1], mod, f"{name} is the module captured")
        entry = watch.module_entry.get(km, noted)
        k = c.const(mod)
        _children_guard(G, c, k, mod, name)
        if km in tr.modules:  # called: the forward it dispatches to (instance or class)
            fwd = mod.__dict__.get("forward") or type(mod).forward
            G.expr(
                f"({k}.__dict__.get('forward') or type({k}).forward) is {c.const(fwd)}",
                f"{name}.forward is the function captured",
            )
        reads = forward_reads(type(mod))
        for attr, v in entry.items():
            if not attr.isidentifier() or keyword.iskeyword(attr):
                continue
            if reads is not None and attr not in reads and attr != "training":
                continue
            G.expr(_eq_src(f"{k}.{attr}", v, c.lit(v)), f"{name}.{attr} == {v!r}")
        for attr in sorted(reads or ()):  # other objects forward reads: functions, configs
            v = mod.__dict__.get(attr, _MISSING)
            if v is _MISSING:  # a class attribute (a setting shared by the class)
                r = _static_attr(mod, attr)
                if r is not None and r[0] is not None and is_plain(r[1]):
                    src = _eq_src(f"{k}.{attr}", r[1], c.lit(r[1]))
                    G.expr(src, f"{name}.{attr} == {r[1]!r} (class)")
                continue
            if v is _MISSING or is_plain(v) or isinstance(v, Tensor) or _is_module(v):
                continue
            if not attr.isidentifier() or keyword.iskeyword(attr):
                continue
            if _plain_container(v):
                G.expr(f"_snapc({k}.{attr}) == {c.const(_snap(v))}", f"{name}.{attr} == {v!r}")
            else:
                G.expr(f"{k}.{attr} is {c.const(v)}", f"{name}.{attr} is the object captured")
        hook_objs.append((mod, hooks))
    for km, (mod, path) in watch.modules.items():  # containers iterated, not called
        if km not in mods and isinstance(mod, _iterated_containers()):
            _children_guard(G, c, c.const(mod), mod, path.name())
    G.hook_objs = hook_objs
    if hook_objs:
        G.expr("_EP[0] == _e[0] or _hooks_ok()", "no hook added to or removed from them")

    # optimizers: structure, hyperparameters (value, or type and zero-ness when runtime)
    runtime = tr.runtime_keys
    for ko, (o, noted) in tr.optimizers.items():
        hit = watch.optimizers.get(ko)
        name = hit[1].name() if hit else type(o).__name__
        if hit:
            G.path_is(hit[1], o, f"{name} is the optimizer captured")
        n_groups, group_vals, n_state = watch.opt_entry.get(ko, noted)
        k = c.const(o)
        G.expr(f"len({k}.param_groups) == {n_groups}", f"{name} has {n_groups} param group(s)")
        G.expr(f"len({k}.state) == {n_state}", f"{name}.state has {n_state} entries")
        for i, g in enumerate(o.param_groups[:n_groups]):
            kg = c.const(g)
            gname = f"{name}.param_groups[{i}]"
            G.expr(f"{k}.param_groups[{i}] is {kg}", f"{gname} is the group captured")
            plist = g["params"]
            kl = c.const(plist)
            G.expr(
                f"{kg}['params'] is {kl} and len({kl}) == {len(plist)}",
                f"{gname}['params'] holds {len(plist)} tensors",
            )
            for j, p in enumerate(plist):
                pn = _NAMES.get(id(p)) or f"{gname}['params'][{j}]"
                G.expr(f"{kl}[{j}] is {c.const(p)}", f"{gname}['params'][{j}] is {pn}")
                if id(p) not in grads_done:
                    grads_done.add(id(p))
                    none = p._grad is None
                    G.expr(
                        f"{c.const(p)}._grad is {'' if none else 'not '}None",
                        f"{pn}.grad is {'None' if none else 'set'}",
                    )
            rt = runtime.get(id(g), (None, set()))[1]
            vals = group_vals[i] if i < len(group_vals) else {}
            for key, v in vals.items():
                if key in rt:
                    continue
                G.path_eq(Path(("obj", g), (("i", key),)), v, f"{gname}[{key!r}] == {v!r}")
            for key, v in g.items():
                if key != "params" and key not in vals and key not in rt:
                    G.expr(
                        f"{kg}[{key!r}] is {c.const(v)}", f"{gname}[{key!r}] is the object captured"
                    )

    # runtime scalars (lr, betas, ...): their type, and zero-ness (0 vs non-zero is a branch)
    for inp in tr.g.inputs:
        if inp.kind != "scalar":
            continue
        owner, key = inp.ref
        kw = c.const(owner)
        v = inp.info[0] if inp.info else None
        label = getattr(owner, "label", None) or _owner_label(owner, tr)
        desc = f"{label}[{key!r}]"
        G.runtime.append(desc)
        if isinstance(v, Tensor):
            G.expr(
                f"type({kw}[{key!r}]) is _T and {kw}[{key!r}]._data.dtype == "
                f"{c.const(v._data.dtype)} and {kw}[{key!r}]._data.shape == ()",
                f"{desc} is a 0-d {v._data.dtype.name} tensor",
            )
        else:
            c.ns.setdefault(f"_{type(v).__name__}", type(v))
            x = c.hoisted(Path(("obj", owner), (("i", key),)))
            xf = c.full(Path(("obj", owner), (("i", key),)))
            t = f"_{type(v).__name__}"
            op = "!=" if v != 0 else "=="
            G.add(
                f"{x}.__class__ is {t} and {x} {op} 0",
                f"{xf}.__class__ is {t} and {xf} {op} 0",
                f"{desc} is of type {type(v).__name__} and {'non-zero' if v != 0 else 'zero'}",
            )
    nrand = sum(1 for i in tr.g.inputs if i.kind == "random")
    if nrand:
        G.runtime.append(f"{nrand} random draw(s) from the generator")
    if tr.effects:
        G.runtime.append(
            "Python calls replayed in order: "
            + ", ".join(getattr(f, "__qualname__", str(f)) for _, f, _, _ in tr.effects)
        )

    # Python values the code reads: by value, or by identity for objects
    for loc in watch.locations.values():
        p = loc.path
        name = p.name()
        if not loc.guard:
            if loc.kind == "container":  # a list/dict of objects: the step may loop over it
                n = loc.value[1]
                G.add(
                    f"len({c.hoisted(p)}) == {n}", f"len({c.full(p)}) == {n}", f"len({name}) == {n}"
                )
            continue
        if loc.kind == "plain":
            G.path_eq(p, loc.value, f"{name} == {describe_value(loc.value)}")
        elif loc.kind == "container":
            G.add(
                f"_snapc({c.hoisted(p)}) == {c.const(loc.value)}",
                f"_snapc({c.full(p)}) == {c.const(loc.value)}",
                f"{name} == {describe_value(loc.value[2])}",
            )
        elif loc.kind == "array":
            a = loc.value
            G.add(
                f"_arreq({c.hoisted(p)}, {c.const(a)})",
                f"_arreq({c.full(p)}, {c.const(a)})",
                f"{name} holds the values captured (NumPy {a.dtype} {list(a.shape)})",
            )
        else:
            G.path_is(p, loc.value, f"{name} is the object captured")
    c.ns["_snapc"] = _snap
    c.ns["_arreq"] = _array_same
    if watch.big_arrays:
        import warnings

        warnings.warn(
            f"jitgrad.trace: the step reads NumPy array(s) {', '.join(watch.big_arrays)}; "
            "a compiled call uses the values they had at capture (arrays over "
            f"{ARRAY_GUARD_MAX} elements are not compared at every call). Pass the data as "
            "a tensor argument, or keep the array fixed",
            RuntimeWarning,
            stacklevel=4,
        )
    G.skipped = list(watch.skipped) + [f"{a}: its values" for a in watch.big_arrays]
    G.build()
    return G


def _in_slot(p):
    """Is ``p`` a module's parameter or buffer slot (``...._parameters['weight']``)?"""
    return len(p.steps) >= 2 and p.steps[-2] in (("a", "_parameters"), ("a", "_buffers"))


def _state_entry(p):
    """Index of the ``("g", param)`` step of an optimizer-state path, or None."""
    for i, (s, _) in enumerate(p.steps):
        if s == "g":
            return i
    return None


def _optimizer_state_is(G, p, t, name, watch):
    """``opt.state[param][key] is t`` without hashing tensors at every call: the per-param
    dicts of ``opt.state`` are compared by identity, in order, then ``dict[key] is t``."""
    c = G.code
    i = _state_entry(p)
    sp = Path(p.root, p.steps[:i], p.label, p.implied)
    try:
        state = sp.get(watch._A, watch._K)
        inner = state.get(p.steps[i][1])
    except Exception:
        G.path_is(p, t, f"{name} is the tensor captured")
        return
    key = ("state", sp.key())
    if key not in G._done:
        G._done.add(key)
        ids = c.const([id(d) for d in state.values()])
        G.add(
            f"list(map(id, {c.hoisted(sp)}.values())) == {ids}",
            f"list(map(id, {c.full(sp)}.values())) == {ids}",
            f"{sp.name()} holds the per-parameter state dicts captured",
        )
    rest = Path(("obj", inner), p.steps[i + 1 :], name, 0)
    G.path_is(rest, t, f"{name} is the tensor captured (re-resolved through its owner)")


def _owner_label(owner, tr):
    for ko, (o, _) in tr.optimizers.items():
        for i, g in enumerate(o.param_groups):
            if g is owner or getattr(owner, "group", None) is g:
                hit = _NAMES.get(ko)
                return f"{hit or type(o).__name__}.param_groups[{i}]"
    return type(owner).__name__
