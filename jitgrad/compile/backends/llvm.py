"""Tier 1's fused loops compiled with llvmlite directly (``JITGRAD_TIER1_LLVM``, on by
default; ``0`` turns it off).

numba's floor is ~0.1 s CPU per fused kernel (notes/issue-13.md), most of a cold tier 1. A
fused kernel's source (``cpu.CPUGen.fused``) is a small language: loop nests over
``range(n_d)``, loads ``a[j0, 0]``, one assignment per member (the member's scalar template,
``codegen.member_expr``) and stores. This module lowers *that same source* to LLVM IR, so the
fusion logic stays in one place (cpu.py) and each template word has one IR emitter
(``EMIT``: operators, ``max``/``min``, ``abs``, ``math.sqrt``, ``math.isinf``/``isnan``, the
``np.<dtype>(...)`` casts, ``x if c else y``). The IR follows numba's typing (a float32 and an
int literal meet in float64, as in numba) and numba's lowering of each word (``fsub -0.0, x``
for a negation, ``select(v > acc, v, acc)`` for ``max``), with the module's fastmath flags on
the same instructions numba's fastmath pass flags, compiled by numba's own target machine
at O3: the bits equal numba's (tests/compile/test_llvm.py). A kernel using anything else
(``_vm`` calls, the chunked sums, slices, ``//``) raises ``Unsupported`` and stays numba.

The object code is cached on disk beside numba's entries (``cache.entry_root()``, named
``jitgrad_gen_<key>.llvm.o``: evicted by ``cache.evict`` with them). Loaded into one MCJIT
engine of this process; called as a builtin (METH_FASTCALL) function (``Kernel``).
"""

import ast
import ctypes
import functools
import hashlib
import os
import threading
import time

import numpy as np

_LOCK = threading.Lock()
_ENGINE = []  # [MCJIT engine], created on first use
_LOADED = {}  # key -> address of its builtin wrapper in this process
_TYPES = {
    "float32": "f32",
    "float64": "f64",
    "int64": "i64",
    "int32": "i32",
    "bool": "b",
}
_NP = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32", "bool_": "b"}
_NUM = {k: np.dtype(n).num for n, k in _TYPES.items()}
_DTYPE = {k: n for n, k in _TYPES.items()}  # NumPy's type numbers
_FLOAT_OPS = ("fadd", "fsub", "fmul", "fdiv", "frem", "fcmp")  # numba's fastmath pass


class Unsupported(Exception):
    """The kernel uses something this lowering has no emitter for: it stays numba."""


def mode():
    """Where tier 1 compiles the fused loops it can lower with llvmlite
    (``JITGRAD_TIER1_LLVM``): "worker" (the default, ``1`` or ``worker``: in the compile
    worker), "process" (``process``: in the compile thread of this process; the eager calls
    meanwhile ran 2x slower on 2 cores) or None (``0``: numba compiles them, as before)."""
    v = os.environ.get("JITGRAD_TIER1_LLVM", "1").strip()
    if v in ("0", ""):
        return None
    return "process" if v == "process" else "worker"


def enabled():
    """Whether tier 1 compiles with llvmlite the fused loops it can lower (``mode()``)."""
    return mode() is not None


def _ir():
    from llvmlite import ir

    return ir


def _lltype(k):
    ir = _ir()
    return {
        "f32": ir.FloatType(),
        "f64": ir.DoubleType(),
        "i64": ir.IntType(64),
        "i32": ir.IntType(32),
        "b": ir.IntType(1),
    }[k]


def _mem_type(k):
    return _ir().IntType(8) if k == "b" else _lltype(k)


def _unify(a, b):
    """numba's type of ``a op b`` / ``x if c else y`` for two scalar kinds."""
    if a == b:
        return a
    fl = {"f32", "f64"}
    if a in fl and b in fl:
        return "f64"
    if a in fl or b in fl:
        return "f64"  # int (or bool) with a float: float64 in numba
    if "b" in (a, b):
        return "i64" if "i64" in (a, b) else "i32" if "i32" in (a, b) else "b"
    return "i64"


class _Fn:
    """One kernel being lowered: the builder and the values in scope."""

    def __init__(self, builder, flags, kernel=None):
        self.b = builder
        self.flags = flags
        self.vals = {}  # name -> (llvm value, kind)
        self.kernel = kernel  # the _Kernel (its arrays), or None
        self.globals = None  # inside an inlined vmath function: its module's globals

    def fl(self, instr):
        """Put the module's fastmath flags on ``instr`` (what numba's pass flags)."""
        if getattr(instr, "opname", None) in _FLOAT_OPS:
            instr.flags.extend(self.flags)
        return instr

    def cast(self, v, src, dst):
        """numba's ``context.cast`` between scalar kinds."""
        b, ir = self.b, _ir()
        if src == dst:
            return v
        t = _lltype(dst)
        fl = ("f32", "f64")
        if src in fl and dst in fl:
            return b.fpext(v, t) if dst == "f64" else b.fptrunc(v, t)
        if src == "b":
            if dst in fl:
                return b.uitofp(v, t)
            return b.zext(v, t)
        if dst == "b":
            if src in fl:
                return self.fl(b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0)))
            return b.icmp_signed("!=", v, ir.Constant(v.type, 0))
        if src in fl:
            return b.fptosi(v, t)
        if dst in fl:
            return b.sitofp(v, t)
        return b.sext(v, t) if _lltype(dst).width > _lltype(src).width else b.trunc(v, t)


def _const(fn, node):
    ir = _ir()
    v = node.value
    if isinstance(v, bool):
        return ir.Constant(_lltype("b"), int(v)), "b"
    if isinstance(v, int):
        return ir.Constant(_lltype("i64"), v), "i64"
    if isinstance(v, float):
        return ir.Constant(_lltype("f64"), v), "f64"
    raise Unsupported(f"constant {v!r}")


def _arith(op):
    def emit(fn, a, b):
        (x, ka), (y, kb) = a, b
        k = _unify(ka, kb)
        if k == "b":
            raise Unsupported(f"{op} on booleans")
        x, y = fn.cast(x, ka, k), fn.cast(y, kb, k)
        if k in ("f32", "f64"):
            return fn.fl(getattr(fn.b, "f" + op)(x, y)), k
        if op == "div":
            raise Unsupported("integer true division")
        return getattr(fn.b, op)(x, y), k

    return emit


def _compare(opstr):
    def emit(fn, a, b):
        (x, ka), (y, kb) = a, b
        k = _unify(ka, kb)
        x, y = fn.cast(x, ka, k), fn.cast(y, kb, k)
        if k in ("f32", "f64"):
            if opstr == "!=":
                return fn.fl(fn.b.fcmp_unordered("!=", x, y)), "b"
            return fn.fl(fn.b.fcmp_ordered(opstr, x, y)), "b"
        if k == "b":
            return fn.b.icmp_unsigned(opstr, x, y), "b"
        return fn.b.icmp_signed(opstr, x, y), "b"

    return emit


def _bitwise(op):
    def emit(fn, a, b):  # numba's int_shl/shr/and/or: both operands in the unified type
        (x, ka), (y, kb) = a, b
        k = _unify(ka, kb)
        if k in ("f32", "f64") or (k == "b" and op in ("shl", "ashr")):
            raise Unsupported(f"{op} on {k}")
        x, y = fn.cast(x, ka, k), fn.cast(y, kb, k)
        return getattr(fn.b, op)(x, y), k

    return emit


def _minmax(opstr):
    def emit(fn, a, b):  # numba's do_minmax: select(v OP acc, v, acc) in the unified type
        (acc, ka), (v, kb) = a, b
        k = _unify(ka, kb)
        acc, v = fn.cast(acc, ka, k), fn.cast(v, kb, k)
        pred, _ = _compare(opstr)(fn, (v, k), (acc, k))
        return fn.b.select(pred, v, acc), k

    return emit


def _neg(fn, a):
    x, k = a
    ir = _ir()
    if k in ("f32", "f64"):  # numba's negate_real: fsub -0.0, x
        return fn.fl(fn.b.fsub(ir.Constant(x.type, -0.0), x)), k
    if k == "b":
        raise Unsupported("negation of a boolean")
    return fn.b.neg(x), k


def _intrinsic(name):
    def emit(fn, a):
        x, k = a
        if k not in ("f32", "f64"):
            raise Unsupported(f"{name} of {k}")
        f = fn.b.module.declare_intrinsic(f"llvm.{name}", [x.type])
        return fn.b.call(f, [x]), k

    return emit


def _copysign(fn, a, b):  # numba's copysign_float_impl: llvm.copysign in the unified type
    (x, ka), (y, kb) = a, b
    k = _unify(ka, kb)
    if k not in ("f32", "f64"):
        raise Unsupported(f"copysign of {k}")
    x, y = fn.cast(x, ka, k), fn.cast(y, kb, k)
    name, mod = f"llvm.copysign.{x.type.intrinsic_name}", fn.b.module
    f = mod.globals.get(name) or _ir().Function(
        mod, _ir().FunctionType(x.type, [x.type, x.type]), name
    )
    return fn.b.call(f, [x, y]), k


def _abs(fn, a):
    x, k = a
    if k in ("f32", "f64"):
        return _intrinsic("fabs")(fn, a)
    raise Unsupported(f"abs of {k}")


def _isinf(fn, a):  # numba's is_inf: x == +inf or x == -inf (ordered)
    x, k = a
    if k not in ("f32", "f64"):
        return _ir().Constant(_lltype("b"), 0), "b"
    ir = _ir()
    p = fn.fl(fn.b.fcmp_ordered("==", x, ir.Constant(x.type, float("inf"))))
    n = fn.fl(fn.b.fcmp_ordered("==", x, ir.Constant(x.type, float("-inf"))))
    return fn.b.or_(p, n), "b"


def _isnan(fn, a):  # numba's is_nan: fcmp uno x, x
    x, k = a
    if k not in ("f32", "f64"):
        return _ir().Constant(_lltype("b"), 0), "b"
    return fn.fl(fn.b.fcmp_unordered("uno", x, x)), "b"


def _cast_to(k):
    def emit(fn, a):
        x, ka = a
        return fn.cast(x, ka, k), k

    return emit


# the IR emitter of each word of the scalar templates (operators, calls by their dotted name)
EMIT = {
    ast.Add: _arith("add"),
    ast.Sub: _arith("sub"),
    ast.Mult: _arith("mul"),
    ast.Div: _arith("div"),
    ast.USub: _neg,
    ast.Gt: _compare(">"),
    ast.GtE: _compare(">="),
    ast.Lt: _compare("<"),
    ast.LtE: _compare("<="),
    ast.Eq: _compare("=="),
    ast.NotEq: _compare("!="),
    ast.LShift: _bitwise("shl"),
    ast.RShift: _bitwise("ashr"),  # signed integers only (numba: lshr for unsigned)
    ast.BitAnd: _bitwise("and_"),
    ast.BitOr: _bitwise("or_"),
    "max": _minmax(">"),
    "min": _minmax("<"),
    "abs": _abs,
    "math.sqrt": _intrinsic("sqrt"),
    "math.copysign": _copysign,
    "math.isinf": _isinf,
    "math.isnan": _isnan,
}
EMIT.update({f"np.{n}": _cast_to(k) for n, k in _NP.items()})


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise Unsupported(f"call of {ast.dump(node)[:60]}")


def _is_shape(node):
    """``X.shape[d]`` with a literal ``d``."""
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "shape"
        and isinstance(node.value.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
    )


def _global(fn, name):
    """The Python object ``name`` (dotted) names in the scope being lowered: vmath's globals
    inside one of its functions, else the generated module's (``np``, ``math``, ``_vm``)."""
    import math

    from .. import vmath

    g = fn.globals if fn.globals is not None else {"np": np, "math": math, "_vm": vmath}
    head, *rest = name.split(".")
    if head not in g:
        raise Unsupported(f"name {name}")
    v = g[head]
    for a in rest:
        v = getattr(v, a, None)
    return v


@functools.lru_cache(maxsize=None)
def _vm_dispatch():
    """{id of a vmath dispatch stub: (float32 function, float64 function)}, read from vmath's
    own ``_x_d = _unary_dispatch(f32, f64)`` lines (its overloads: float32 in float32, the
    rest through float64)."""
    import inspect

    from .. import vmath

    out = {}
    try:
        src = inspect.getsource(vmath)
    except (OSError, TypeError):  # no source: nothing dispatches (numba compiles those loops)
        return out
    for st in ast.parse(src).body:
        v = st.value if isinstance(st, ast.Assign) else None
        if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "_unary_dispatch":
            f32, f64 = (getattr(vmath, a.id) for a in v.args)
            out[id(getattr(vmath, st.targets[0].id))] = (f32, f64)
    return out


@functools.lru_cache(maxsize=None)
def _py_def(py):
    import inspect
    import textwrap

    try:  # (no source: an install without .py files; numba then compiles the loop)
        tree = ast.parse(textwrap.dedent(inspect.getsource(py)))
    except (OSError, TypeError) as e:
        raise Unsupported(f"no source of vmath.{py.__name__}: {e}") from None
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef))


def _bits(fn, a):  # vmath._bits: a float's bit pattern as the signed integer of its width
    x, k = a
    if k not in ("f32", "f64"):
        raise Unsupported(f"_bits of {k}")
    ki = "i32" if k == "f32" else "i64"
    return fn.b.bitcast(x, _lltype(ki)), ki


def _from_bits(width):  # vmath._f32_bits / _f64_bits: trunc or sext, then a bit cast
    def emit(fn, a):
        x, k = a
        if k not in ("i32", "i64"):
            raise Unsupported(f"_f{width}_bits of {k}")
        ki = f"i{width}"
        if _lltype(k).width > width:
            x = fn.b.trunc(x, _lltype(ki))
        elif _lltype(k).width < width:
            x = fn.b.sext(x, _lltype(ki))
        return fn.b.bitcast(x, _lltype("f32" if width == 32 else "f64")), ("f32", "f64")[
            width == 64
        ]

    return emit


def _inline(fn, disp, args):
    """A vmath function's body emitted in place (numba inlines them: ``forceinline``), with
    its own fastmath flags on its instructions (theirs, not the caller's, as in numba)."""
    py = disp.py_func
    fdef = _py_def(py)
    params = [a.arg for a in fdef.args.args]
    if len(params) != len(args) or fdef.args.vararg or fdef.args.kwonlyargs:
        raise Unsupported(f"call of vmath.{py.__name__} with {len(args)} arguments")
    fm = disp.targetoptions.get("fastmath") or set()
    if not isinstance(fm, (set, frozenset)):
        raise Unsupported(f"vmath.{py.__name__}: fastmath={fm!r}")
    saved = fn.vals, fn.flags, fn.globals
    fn.vals, fn.flags, fn.globals = dict(zip(params, args)), sorted(fm), py.__globals__
    try:
        for st in fdef.body:
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
                continue  # the docstring
            if isinstance(st, ast.Assign) and len(st.targets) == 1:
                tgt, val = st.targets[0], st.value
                if isinstance(tgt, ast.Name):
                    fn.vals[tgt.id] = _expr(fn, val)
                elif (  # ``b1, b2 = u2 * b1 - b2 + c, b1``: every value first, then the names
                    isinstance(tgt, ast.Tuple)
                    and isinstance(val, ast.Tuple)
                    and len(tgt.elts) == len(val.elts)
                    and all(isinstance(e, ast.Name) for e in tgt.elts)
                ):
                    vals = [_expr(fn, v) for v in val.elts]
                    fn.vals.update((e.id, v) for e, v in zip(tgt.elts, vals))
                else:
                    raise Unsupported(f"assignment target in vmath.{py.__name__}")
            elif isinstance(st, ast.Return) and st.value is not None:
                return _expr(fn, st.value)
            else:
                raise Unsupported(f"statement {type(st).__name__} in vmath.{py.__name__}")
        raise Unsupported(f"vmath.{py.__name__} has no return")
    finally:
        fn.vals, fn.flags, fn.globals = saved


def _call(fn, node):
    """A call: a template word of ``EMIT``, a cast, or one of vmath's functions."""
    from .. import vmath

    name = _dotted(node.func)
    args = [_expr(fn, a) for a in node.args]
    if name in EMIT and ("." in name or fn.globals is None or name not in fn.globals):
        return EMIT[name](fn, *args)
    obj = _global(fn, name)
    if isinstance(obj, type) and issubclass(obj, np.generic) and f"np.{obj.__name__}" in EMIT:
        return EMIT[f"np.{obj.__name__}"](fn, *args)  # vmath's ``_f = np.float32``
    if obj is vmath._bits:
        return _bits(fn, *args)
    if obj is vmath._f32_bits or obj is vmath._f64_bits:
        return _from_bits(32 if obj is vmath._f32_bits else 64)(fn, *args)
    pair = _vm_dispatch().get(id(obj))
    if pair is not None:  # float32 in float32; anything else as float64
        if len(args) != 1:
            raise Unsupported(f"call of {name} with {len(args)} arguments")
        x, k = args[0]
        if k == "f32":
            return _inline(fn, pair[0], args)
        return _inline(fn, pair[1], [(fn.cast(x, k, "f64"), "f64")])
    if getattr(obj, "py_func", None) is not None and obj.py_func.__module__ == vmath.__name__:
        return _inline(fn, obj, args)
    raise Unsupported(f"call of {name}")


def _expr(fn, node):
    if isinstance(node, ast.Constant):
        return _const(fn, node)
    if isinstance(node, ast.Name):
        if node.id in fn.vals:
            return fn.vals[node.id]
        k = fn.kernel
        if k is not None and fn.globals is None and node.id in k.slots:
            slot, kind = k.slots[node.id]
            return fn.b.load(slot), kind
        if fn.globals is not None and node.id in fn.globals:  # vmath's constants
            return _py_const(fn, fn.globals[node.id], node.id)
        raise Unsupported(f"name {node.id}")
    if isinstance(node, ast.Attribute):  # np.inf, np.nan
        return _py_const(fn, _global(fn, _dotted(node)), _dotted(node))
    if isinstance(node, ast.Subscript) and fn.kernel is not None and fn.globals is None:
        if _is_shape(node):
            return fn.vals[f"{node.value.value.id}.shape[{node.slice.value}]"]
        if isinstance(node.value, ast.Name) and node.value.id in fn.kernel.arrays:
            return fn.kernel.load(node.value.id, node.slice)
        raise Unsupported(f"subscript {ast.dump(node)[:60]}")
    if isinstance(node, ast.BinOp) and type(node.op) in EMIT:
        return EMIT[type(node.op)](fn, _expr(fn, node.left), _expr(fn, node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in EMIT:
        return EMIT[type(node.op)](fn, _expr(fn, node.operand))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in EMIT:
        return EMIT[type(node.ops[0])](fn, _expr(fn, node.left), _expr(fn, node.comparators[0]))
    if isinstance(node, ast.IfExp):
        c, kc = _expr(fn, node.test)
        if kc != "b":
            raise Unsupported("a condition that is not a boolean")
        (x, kx), (y, ky) = _expr(fn, node.body), _expr(fn, node.orelse)
        k = _unify(kx, ky)
        return fn.b.select(c, fn.cast(x, kx, k), fn.cast(y, ky, k)), k
    if isinstance(node, ast.Call) and not node.keywords:
        return _call(fn, node)
    raise Unsupported(f"expression {type(node).__name__}")


def _py_const(fn, v, name):
    """A global Python number as numba types it: float64, int64, bool."""
    if isinstance(v, (bool, int, float)) and not isinstance(v, np.generic):
        return _const(fn, ast.Constant(v))
    raise Unsupported(f"name {name}")


class _Kernel:
    """The lowering of one kernel source: its IR function and argument plan."""

    def __init__(self, src, argkinds, flags, fname):
        ir = _ir()
        tree = ast.parse(src)
        fdef = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        self.params = [a.arg for a in fdef.args.args]
        self.arrays = {}  # param (or a slice, a scratch array) -> (kind, ndim)
        for p, ak in zip(self.params, argkinds):
            if ak is not None:
                self.arrays[p] = ak
        # every ``X.shape[d]`` the kernel reads is an argument, read by the wrapper from X
        self.sizes = []  # (name, param, dim)
        for node in ast.walk(fdef):
            if _is_shape(node):
                p, d = node.value.value.id, node.slice.value
                if p not in self.arrays:
                    raise Unsupported(f"the shape of {p}")
                if (f"{p}.shape[{d}]", p, d) not in self.sizes:
                    self.sizes.append((f"{p}.shape[{d}]", p, d))
        self.module = ir.Module(name=fname)
        arrs = [p for p in self.params if p in self.arrays]
        fty = ir.FunctionType(
            ir.VoidType(),
            [ir.IntType(8).as_pointer()] * len(arrs) + [ir.IntType(64)] * len(self.sizes),
        )
        self.func = ir.Function(self.module, fty, name=fname)
        self.array_params = arrs
        block = self.func.append_basic_block("entry")
        fn = self.fn = _Fn(ir.IRBuilder(block), flags, self)
        self.ptr = {}
        for p, a in zip(arrs, self.func.args[: len(arrs)]):
            self.ptr[p] = fn.b.bitcast(a, _mem_type(self.arrays[p][0]).as_pointer())
        for (n, _, _), a in zip(self.sizes, self.func.args[len(arrs) :]):
            fn.vals[n] = (a, "i64")
        # names updated in place (a chunk's ``acc += r0[j0]``): a stack slot each, as numba
        # has them before mem2reg
        self.mutable = {
            n.target.id
            for n in ast.walk(fdef)
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
        }
        self.slots = {}  # name -> (alloca, kind)
        self.bound = {}  # loop variable -> its loop's size (llvm value)
        self.allocs = [[]]  # scratch arrays to free at the end of each loop body (and the end)
        self.stmts(fdef.body)
        self._free(self.allocs.pop())
        fn.b.ret_void()
        self.name, self.py_name = fname, fname + "_py"
        self._py_wrapper()

    def _py_wrapper(self):
        """``PyObject *<name>_py(self, PyObject *const *args, Py_ssize_t nargs)``: a
        METH_FASTCALL function (called like a builtin: no ctypes on the way) that reads each
        array's data pointer and sizes from its ``PyArrayObject`` and calls the kernel.
        Returns ``Py_None``, or ``Py_False`` when an argument is not what the kernel was
        compiled for (rank, dtype, C-contiguity; the caller then runs numba's dispatcher)."""
        ir = _ir()
        i8p, i32, i64 = ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(64)
        obj = i8p
        fty = ir.FunctionType(obj, [obj, obj.as_pointer(), i64])
        w = ir.Function(self.module, fty, name=self.py_name)
        none = ir.GlobalVariable(self.module, ir.IntType(8), "_Py_NoneStruct")
        false = ir.GlobalVariable(self.module, ir.IntType(8), "_Py_FalseStruct")
        entry, bad = w.append_basic_block("entry"), w.append_basic_block("bad")
        b = ir.IRBuilder(entry)

        def field(p, off, ty):  # NumPy's PyArrayObject_fields / PyArray_Descr layout
            q = b.gep(p, [ir.Constant(i64, off)])
            return b.load(b.bitcast(q, ty.as_pointer()))

        incref = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [obj]), "Py_IncRef")

        def ret(g, blk):
            b.position_at_end(blk)
            b.call(incref, [b.bitcast(g, obj)])  # CPython's own (immortal objects, 3.12+)
            b.ret(b.bitcast(g, obj))

        _, args, nargs = w.args
        ok = b.icmp_signed("==", nargs, ir.Constant(i64, len(self.params)))
        pos = {p: i for i, p in enumerate(self.params)}
        for p in self.array_params:
            kind, ndim = self.arrays[p]
            o = b.load(b.gep(args, [ir.Constant(i64, pos[p])]))
            descr = field(o, 56, i8p)
            ok = b.and_(ok, b.icmp_signed("==", field(o, 24, i32), ir.Constant(i32, ndim)))
            num = ir.Constant(i32, _NUM[kind])
            ok = b.and_(ok, b.icmp_signed("==", field(descr, 28, i32), num))
            c = b.and_(field(o, 64, i32), ir.Constant(i32, 1))  # NPY_ARRAY_C_CONTIGUOUS
            ok = b.and_(ok, b.icmp_signed("!=", c, ir.Constant(i32, 0)))
        call = w.append_basic_block("call")
        b.cbranch(ok, call, bad)
        b.position_at_end(call)
        cargs, dims = [], {}
        for p in self.array_params:
            o = b.load(b.gep(args, [ir.Constant(i64, pos[p])]))
            cargs.append(field(o, 16, i8p))
            dims[p] = field(o, 32, i64.as_pointer())
        for _, p, d in self.sizes:
            cargs.append(b.load(b.gep(dims[p], [ir.Constant(i64, d)])))
        b.call(self.func, cargs)
        done = w.append_basic_block("done")
        b.branch(done)
        ret(none, done)
        ret(false, bad)

    def offset(self, p, idx):
        """Element offset of ``p[idx]``: C-contiguous, a literal 0 on a broadcast (size-1)
        dim, a loop variable on a dim of its loop's size."""
        ir, b = _ir(), self.fn.b
        kind, ndim = self.arrays[p]
        elts = idx.elts if isinstance(idx, ast.Tuple) else [idx]
        if len(elts) != ndim:
            raise Unsupported(f"{p} indexed with {len(elts)} of its {ndim} dims")
        off = ir.Constant(ir.IntType(64), 0)
        for e in elts:
            if isinstance(e, ast.Constant) and e.value == 0:
                size, j = ir.Constant(ir.IntType(64), 1), ir.Constant(ir.IntType(64), 0)
            elif isinstance(e, ast.Name) and e.id in self.bound:
                size, j = self.bound[e.id], self.fn.vals[e.id][0]
            else:
                raise Unsupported(f"index {ast.dump(e)[:40]}")
            off = b.add(b.mul(off, size), j)
        return off

    def load(self, p, idx):
        kind = self.arrays[p][0]
        v = self.fn.b.load(self.fn.b.gep(self.ptr[p], [self.offset(p, idx)]))
        if kind == "b":
            v = self.fn.b.icmp_unsigned("!=", v, _ir().Constant(v.type, 0))
        return v, kind

    def assign(self, name, value):
        """``name = value``: a value in scope, or a store into the name's stack slot."""
        fn = self.fn
        if name not in self.mutable:
            fn.vals[name] = value
            return
        v, k = value
        if name not in self.slots:
            with fn.b.goto_entry_block():
                self.slots[name] = (fn.b.alloca(_lltype(k), name=name), k)
        slot, ks = self.slots[name]
        if ks != k:  # numba would unify the variable's type: not lowered
            raise Unsupported(f"{name} assigned a {k} and a {ks}")
        fn.b.store(v, slot)

    def view(self, name, val):
        """``name = a[lo:hi]`` (a one-dimensional slice: a pointer into ``a``; the loops
        over it say its size) or ``name = np.empty(n, dtype=np.X)`` (heap scratch, as
        numba's; freed at the end of the loop body around it). False for anything else."""
        ir, fn = _ir(), self.fn
        if (
            isinstance(val, ast.Subscript)
            and isinstance(val.value, ast.Name)
            and isinstance(val.slice, ast.Slice)
        ):
            a, sl = val.value.id, val.slice
            if a not in self.arrays or self.arrays[a][1] != 1 or sl.lower is None or sl.step:
                raise Unsupported(f"slice of {a}")
            lo, k = _expr(fn, sl.lower)
            if k != "i64":
                raise Unsupported(f"a slice from a {k}")
            self.arrays[name] = self.arrays[a]
            self.ptr[name] = fn.b.gep(self.ptr[a], [lo])
            return True
        if (
            isinstance(val, ast.Call)
            and _dotted(val.func) == "np.empty"
            and len(val.args) == 1
            and [kw.arg for kw in val.keywords] == ["dtype"]
        ):
            kind = _NP.get(_dotted(val.keywords[0].value).replace("np.", ""))
            n, k = _expr(fn, val.args[0])
            if kind is None or k != "i64":
                raise Unsupported("np.empty of this size or dtype")
            i8p, i64 = ir.IntType(8).as_pointer(), ir.IntType(64)
            malloc = self.module.globals.get("malloc") or ir.Function(
                self.module, ir.FunctionType(i8p, [i64]), "malloc"
            )
            size = ir.Constant(i64, np.dtype(_DTYPE[kind]).itemsize)
            mem = fn.b.call(malloc, [fn.b.mul(n, size)])
            self.arrays[name] = (kind, 1)
            self.ptr[name] = fn.b.bitcast(mem, _mem_type(kind).as_pointer())
            self.allocs[-1].append(mem)
            return True
        return False

    def _free(self, mems):
        ir = _ir()
        if not mems:
            return
        i8p = ir.IntType(8).as_pointer()
        free = self.module.globals.get("free") or ir.Function(
            self.module, ir.FunctionType(ir.VoidType(), [i8p]), "free"
        )
        for m in mems:
            self.fn.b.call(free, [m])

    def stmts(self, body):
        fn = self.fn
        for st in body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1:
                tgt, val = st.targets[0], st.value
                if isinstance(tgt, ast.Name):
                    if not self.view(tgt.id, val):
                        self.assign(tgt.id, _expr(fn, val))
                elif isinstance(tgt, ast.Subscript) and isinstance(tgt.value, ast.Name):
                    self.store(tgt, _expr(fn, val))
                else:
                    raise Unsupported("assignment target")
            elif (
                isinstance(st, ast.AugAssign)
                and isinstance(st.target, ast.Name)
                and type(st.op) in EMIT
            ):
                cur = _expr(fn, ast.Name(st.target.id, ast.Load()))
                self.assign(st.target.id, EMIT[type(st.op)](fn, cur, _expr(fn, st.value)))
            elif isinstance(st, ast.For):
                self.loop(st)
            elif (
                isinstance(st, ast.If)
                and isinstance(st.test, ast.Compare)
                and isinstance(st.test.comparators[0], ast.Name)
                and st.test.comparators[0].id == "par_t"
            ):
                self.stmts(st.orelse)  # the serial form (same bits: elementwise prange)
            elif (
                isinstance(st, ast.Expr)
                and isinstance(st.value, ast.Call)
                and _dotted(st.value.func) == "K.wide_vectors"
            ):  # as cpu_kernels.wide_vectors: an attribute of the kernel's function
                set.add(self.func.attributes, '"prefer-vector-width"="512"')
            else:
                raise Unsupported(f"statement {type(st).__name__}")

    def store(self, tgt, value):
        fn, p = self.fn, tgt.value.id
        if p not in self.arrays:
            raise Unsupported(f"store into {p}")
        v, k = value
        v = fn.cast(v, k, self.arrays[p][0])
        if self.arrays[p][0] == "b":
            v = fn.b.zext(v, _ir().IntType(8))
        fn.b.store(v, fn.b.gep(self.ptr[p], [self.offset(p, tgt.slice)]))

    def loop(self, st):
        ir, fn = _ir(), self.fn
        it = st.iter
        if not (
            isinstance(st.target, ast.Name)
            and isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id in ("range", "prange")
            and len(it.args) == 1
            and not st.orelse
        ):
            raise Unsupported("a loop other than range(n)")
        n, k = _expr(fn, it.args[0])
        if k != "i64":
            raise Unsupported(f"range of a {k}")
        b = fn.b
        pre = b.block
        hdr = self.func.append_basic_block("hdr")
        body = self.func.append_basic_block("body")
        done = self.func.append_basic_block("done")
        b.branch(hdr)
        b.position_at_end(hdr)
        j = b.phi(ir.IntType(64))
        j.add_incoming(ir.Constant(ir.IntType(64), 0), pre)
        b.cbranch(b.icmp_signed("<", j, n), body, done)
        b.position_at_end(body)
        fn.vals[st.target.id] = (j, "i64")
        self.bound[st.target.id] = n
        self.allocs.append([])
        self.stmts(st.body)
        self._free(self.allocs.pop())
        j.add_incoming(b.add(j, ir.Constant(ir.IntType(64), 1)), b.block)
        b.branch(hdr)
        b.position_at_end(done)


def _kinds(sig):
    """(kind, ndim) per argument of a numba signature; None for the thread threshold."""
    out = []
    for t in sig:
        dt = getattr(t, "dtype", None)
        if dt is None:
            out.append(None)  # par_t: an integer (ignored: the serial form is lowered)
            continue
        if getattr(t, "layout", "C") != "C":
            raise Unsupported(f"a {t.layout}-layout array")
        k = _TYPES.get(str(dt))
        if k is None:
            raise Unsupported(f"dtype {dt}")
        out.append((k, t.ndim))
    return out


@functools.lru_cache(maxsize=None)
def _layout_ok():
    """Whether this NumPy's arrays have the field offsets the builtin wrapper reads (data 16,
    nd 24, dimensions 32, descr 56, flags 64; the descr's type_num 28)."""
    a = np.zeros((3, 5), np.float32)[1:]
    rd = lambda addr, t: t.from_address(addr).value  # noqa: E731
    try:
        dims = rd(id(a) + 32, ctypes.c_void_p)
        return (
            rd(id(a) + 16, ctypes.c_void_p) == a.ctypes.data
            and rd(id(a) + 24, ctypes.c_int) == 2
            and (rd(dims, ctypes.c_int64), rd(dims + 8, ctypes.c_int64)) == (2, 5)
            and rd(rd(id(a) + 56, ctypes.c_void_p) + 28, ctypes.c_int) == a.dtype.num
            and bool(rd(id(a) + 64, ctypes.c_int) & 1) == a.flags.c_contiguous
        )
    except Exception:
        return False


class Spec:
    """What lowering one generated kernel ``block`` (its decorated source) for the numba
    signature ``sig`` needs, and the key of its object code, found without lowering it: the
    lowering (``ir_text``, ~10 ms of Python each) runs where the object code is compiled,
    the compile worker, not in the process whose eager calls it would slow (the GIL). Raises
    ``Unsupported`` for what is known before lowering (this NumPy's array layout, the
    argument types)."""

    def __init__(self, block, header, sig):
        if not _layout_ok():
            raise Unsupported("this NumPy's array struct is not the layout the call wrapper reads")
        flags = []
        for ln in header.splitlines():
            if ln.startswith("_FM = "):
                flags = ast.literal_eval(ln[len("_FM = ") :])
        self.name = "jg_" + hashlib.sha256(f"{flags}{sig}{block}".encode()).hexdigest()[:24]
        self.py_name = self.name + "_py"
        # (the kernel without its decorator, argument kinds, fastmath flags, function name)
        self.lowering = (block.split("\n", 1)[1], _kinds(sig), sorted(flags), self.name)
        # keyed by what the IR is made of and by the emitters that make it (this module's
        # source), the CPU the object code is for (a cache directory shared by machines) and
        # numba's target machine options
        what = f"llvm-3{_version()}{_host()}{tm_options()}{self.lowering}"
        self.key = hashlib.sha256(what.encode()).hexdigest()[:24]


def ir_text(src, kinds, flags, name):
    """The IR text of one kernel (``Spec.lowering``); raises ``Unsupported``."""
    return str(_Kernel(src, kinds, flags, name).module)


def _text(lowering):
    """IR text, given as such or as ``Spec.lowering``."""
    return lowering if isinstance(lowering, str) else ir_text(*lowering)


def lower(block, header, sig):
    """(key, IR text, kernel) of one generated kernel ``block`` (its decorated source) for
    the numba signature ``sig``, lowered here; raises ``Unsupported``."""
    spec = Spec(block, header, sig)
    k = _Kernel(*spec.lowering)
    k.key = spec.key
    return spec.key, str(k.module), k


@functools.lru_cache(maxsize=None)
def _version():
    """A digest of this module's source: a change of an emitter is a new object-code key."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _host():
    from llvmlite import binding as llb

    return f"{llb.get_host_cpu_name()}-{llb.get_host_cpu_features().flatten()}"


@functools.lru_cache(maxsize=None)
def tm_options():
    """The options numba creates its target machine with (CPU, features, optimisation level,
    relocation and code model), asked of numba's own codegen: the object code compiled with
    them has numba's bits. A tuple, sent to the compile worker, which then needs llvmlite
    only (no numba import on the way to tier 1)."""
    from numba.core import config
    from numba.core.registry import cpu_target

    opts = {"opt": int(config.OPT)}
    cpu_target.target_context.codegen()._customize_tm_options(opts)
    return tuple(sorted(opts.items()))


@functools.lru_cache(maxsize=None)
def _target(opts=None):
    """A target machine with numba's options (``tm_options``; given, in the worker)."""
    from llvmlite import binding as llb

    llb.initialize_native_target()
    llb.initialize_native_asmprinter()
    target = llb.Target.from_triple(llb.get_process_triple())
    return target.create_target_machine(**dict(opts or tm_options()))


def compile_ir(text, opts=None):
    """Object code of one IR module: numba's target machine options, O3 with loop
    vectorisation, as numba's final module pass (``numba.core.llvm_bindings``'s
    ``create_pass_builder``: its four lines here, as importing it imports numba)."""
    from llvmlite import binding as llb

    tm = _target(opts)
    mod = llb.parse_assembly(text)
    mod.verify()
    pto = llb.create_pipeline_tuning_options()
    pto.speed_level = 3
    pto.slp_vectorization = False
    pto.loop_vectorization = True
    pb = llb.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)
    return tm.emit_object(mod)


def _write(p, data):
    """Store object code atomically (an unwritable cache only costs a later compile)."""
    try:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = f"{p}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
        return True
    except OSError:
        return False


def write_object(path, lowering, opts):
    """The compile worker's side: lower (``Spec.lowering``, or IR text) and compile into
    ``path`` unless it is there (another process's). llvmlite only: no numba, no jitgrad
    package. True when it compiled. A kernel it cannot lower gets a marker beside (its
    reason: ``object_code`` raises ``Unsupported`` with it) and raises ``Unsupported``."""
    try:
        if os.path.getsize(path):
            return False
    except OSError:
        pass
    try:
        text = _text(lowering)
    except Unsupported as e:
        _write(_skip_path(path), str(e).encode())
        raise
    _write(path, compile_ir(text, opts))
    return True


def _path(key):
    from . import cache as _cache

    return os.path.join(_cache.entry_root(), f"{_cache.PREFIX}{key}.llvm.o")


def _skip_path(path):
    return path[: -len(".o")] + ".unsupported"


def object_code(key, lowering):
    """The object code of ``key`` from the disk cache, else compiled from ``lowering``
    (``Spec.lowering`` or IR text; stored: an unwritable cache only costs the next process
    the compile). (bytes, compiled?). Raises ``Unsupported`` when the worker found the
    kernel cannot be lowered (its marker)."""
    from . import cache as _cache

    p = _path(key)
    try:
        with open(p, "rb") as f:
            data = f.read()
        if data:
            _cache._touch(_cache.entry_root(), f"{_cache.PREFIX}{key}")
            return data, False
    except OSError:
        pass
    try:
        with open(_skip_path(p), "rb") as f:
            raise Unsupported(f.read().decode(errors="replace"))
    except OSError:
        pass
    data = compile_ir(_text(lowering))
    if _write(p, data):
        _cache._touch(_cache.entry_root(), f"{_cache.PREFIX}{key}")
    return data, True


def job(spec, fallback=None):
    """What the compile worker needs for ``spec`` (a ``Spec``): (key, lowering, object file,
    target options, fallback). ``fallback``: the numba job (module name, file, function,
    pickled signatures) the worker runs instead when the kernel cannot be lowered."""
    return (spec.key, spec.lowering, _path(spec.key), tm_options(), fallback)


def _engine():
    from llvmlite import binding as llb

    if not _ENGINE:
        _ENGINE.append(llb.create_mcjit_compiler(llb.parse_assembly(""), _target()))
    return _ENGINE[0]


def load(kernel, data):
    """The function address of ``kernel``'s object code in this process."""
    from llvmlite import binding as llb

    with _LOCK:
        if kernel.key in _LOADED:  # another graph's (one definition per symbol in the engine)
            return _LOADED[kernel.key]
        ee = _engine()
        ee.add_object_file(llb.ObjectFileRef.from_data(data))
        ee.finalize_object()
        addr = ee.get_function_address(kernel.py_name)
        if not addr:
            raise OSError(f"{kernel.py_name} not found in its object code")
        _LOADED[kernel.key] = addr
    return addr


class _MethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_METH_FASTCALL = 0x80
_NEW = ctypes.pythonapi.PyCFunction_NewEx
_NEW.restype = ctypes.py_object
_NEW.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]


class Kernel:
    """A fused kernel compiled by llvmlite, called like its numba dispatcher (the same
    arguments) through a builtin function (``_Kernel._py_wrapper``); arguments other than
    the ones it was compiled for go to ``fallback`` (the numba dispatcher)."""

    def __init__(self, k, addr, fallback, sig=None):
        self.name = k.name
        self.fallback = fallback
        self.sig = sig  # the numba signature it was lowered for
        self.py_func = getattr(fallback, "py_func", None)
        self._def = _MethodDef(self.name.encode(), addr, _METH_FASTCALL, None)  # kept alive
        self._f = _NEW(ctypes.addressof(self._def), None, None)

    def __call__(self, *args):
        if self._f(*args) is False:
            return self.fallback(*args)


def build(block, header, sig, fallback):
    """A ``Kernel`` for ``block`` (compiled here or found on disk), and the seconds and
    whether it compiled; raises ``Unsupported`` for what it cannot lower."""
    t = time.perf_counter()
    key, text, k = lower(block, header, sig)
    data, compiled = object_code(key, text)
    addr = load(k, data)
    return Kernel(k, addr, fallback), time.perf_counter() - t, compiled
