"""The CPU backend: one generated numba function per graph (one call into numba per step).

Fused elementwise groups become loop kernels (``prange`` only when big enough to pay for
threads), reductions and index ops call the hand-written kernels in ``cpu_kernels``, matmul is
``K.gemm`` (NumPy's OpenBLAS; ``np.dot`` where that library is not found), and any op
without a native lowering runs its NumPy implementation in an
``objmode`` block (the core's fallback: warned once, listed in ``exe.fallbacks``), so every
graph compiles. State (parameters, optimizer buffers) is written in place at the end, or
directly by the loop that computes its final value when the memory plan allows it.

The lowering table ``CPU.lower`` maps each Primitive to a ``CPUGen`` method; ``CPU.scalar``
holds the few scalar templates that differ from the registry's.
"""

import hashlib
import os
import pickle
import re
import time
import warnings

import numpy as np

from ...ops import conv as _conv  # noqa: F401  (registers the kernel ops)
from ...ops import elementwise as _ew
from ...ops import matmul as _mm
from ...ops import movement as _mv
from ...ops import reduce as _red
from ...ops.movement import expand_spec as _expand_spec
from ...ops.registry import PRIMITIVES
from .. import worker as _worker
from ..passes.fuse import FusedNode
from ..vmath import IMPORT_LINE, vectorise_template
from . import cache as _cache
from . import cpu_kernels as _K
from .calibrate import (
    NEVER_GEMM,
    ThreadPlan,
    blas_plan,
    par_threshold,
    plan_mode,
    spin_matters,
    work_per_element,
)
from .calibrate import describe as describe_threads
from .codegen import cast_expr, objmode_type, pyobj
from .core import Backend, Executable, Generator, KernelSet, used_consts

# parallel=None: a loop runs its prange form from calibrate.par_threshold(work) elements
# (measured once per machine from elements x work per element; None = serial code only);
# parallel=True: from PAR_SMALL elements
PAR_SMALL = 4096  # elements: with parallel=True, loops from this size use prange (tests set 1)
# The generated code is shape-generic, so serial vs prange is decided at run time (the
# threshold travels in the size vector ``_S``). A loop gets a prange form only when it is
# within this factor of the threshold at capture: smaller loops stay serial-only (a parallel
# kernel costs compile time), a batch that grows past the factor is a new graph structure.
PAR_REACH = 4
# what numba raises when its on-disk cache entry is damaged
_CACHE_ERRORS = (
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    OSError,
    pickle.UnpicklingError,
)
# numba's cache of a generated step does not notice changes in the kernels it calls: key the
# generated modules on the kernels' source too
with open(os.path.join(os.path.dirname(__file__), "cpu_kernels.py"), "rb") as _f:
    _VERSION = "cpu-3-" + hashlib.sha1(_f.read()).hexdigest()[:12]


def _prod(s):
    n = 1
    for x in s:
        n *= x
    return n


def _cs(shape):
    return tuple(shape) if len(shape) else (1,)


def fastmath_flags(opt):
    if opt is None or opt == "default":
        return {"reassoc"}
    if opt is True or opt == "fast":
        return {"reassoc", "contract", "arcp", "nsz"}
    if opt is False or opt == "strict":
        return set()
    return set(opt)


def wide_vectors():
    """Whether fused loops that call vmath functions ask LLVM for 512-bit vectors
    (``K.wide_vectors``): ``JITGRAD_VECTOR_WIDTH`` = 512 (default) or 256 (LLVM's choice)."""
    v = os.environ.get("JITGRAD_VECTOR_WIDTH", "512").strip() or "512"
    if v not in ("256", "512"):
        raise ValueError(f"JITGRAD_VECTOR_WIDTH={v!r}: expected 512 or 256")
    return v == "512"


# an array access of a loop body (``o0[j0]``, ``a1[j0]``) as one of its chunk's slice
_CHUNKED = re.compile(r"\b([oa])(\d+)\[")


class CPUGen(Generator):
    """Source of one numba module: a ``step`` function and its loop kernels."""

    def rewrite_template(self, m):
        """libm calls become vectorisable ``vmath`` ones unless fastmath is off."""
        dt, fm = self.dtype(m.out), self.fm
        return lambda t: vectorise_template(t, dt, fm)

    def __init__(self, g, options):
        super().__init__(g, options)
        self.parallel = self.opt.get("parallel")
        self.fm = fastmath_flags(self.opt.get("fastmath"))
        self.lines = []
        self.kernels = KernelSet(
            lambda key: (
                f"@numba.njit(cache=CACHE, parallel={key[1]}, error_model='numpy', "
                "fastmath=set(_FM))"
            )
        )
        self.pyfuncs = []
        self.name = {}
        self.layout = {}
        self.const_args = []  # arrays passed after the inputs
        self.sizes = []  # the runtime size vector ``_S`` (first argument of ``step``)
        # slots of _S that are thread thresholds (``thread_slot``): of loops, of GEMMs
        self.thread_slots, self.gemm_slots = [], []
        self.idle_slots = []  # GEMM slots below their threshold at capture: no plan choice
        # buffers the caller passes (after the constants): ("temp", vid) are owned by the
        # executable and reused call to call (nothing that escapes lives in them); ("grad",
        # vid) are gradients bound to ``.grad``: the caller recycles the previous call's
        # buffer when nobody else holds it, else passes a fresh one
        self.buffers = []
        g = self.g
        exported = set(g.outputs) | {v for _, v in g.grad_binds if v is not None}
        if self.defer:
            exported |= {v for _, v in g.state_writes}
        self.exported = exported
        self.state_vals = {v for _, v in g.state_writes}  # written back into state/arguments
        self.escaping_roots = {self.reuse.get(v, v) for v in exported}
        self.grad_vals = {v for _, v in g.grad_binds if v is not None} - set(g.outputs)
        self.grad_vals -= {v for _, v in g.state_writes}
        self.views = set()  # values that may alias another buffer (reshape/permute views)
        # a loop output consumed only by a full sum is summed inside the loop (``fused``):
        # vid -> the name of its per-chunk float64 partials, which that sum combines
        self.fused_sums = {}
        self.uses = {}
        for node in g.nodes:
            for v in node.ins:
                self.uses.setdefault(v, []).append(node)

    # ---- helpers ------------------------------------------------------------------
    def v(self, vid):
        return self.name[vid]

    def c(self, vid):
        """Expression of value ``vid`` as a C-contiguous array."""
        return (
            self.v(vid) if self.layout.get(vid) == "C" else f"np.ascontiguousarray({self.v(vid)})"
        )

    def emit(self, s):
        self.lines.append("    " + s)

    def sz(self, n, literal=(0, 1)):
        """Source text of the size ``n``: a slot ``_S[k]`` of the runtime size vector, so the
        generated source is the same for every batch size; 0 and 1 stay literals (which dims
        are empty or broadcast is part of the code's structure)."""
        n = int(n)
        if n in literal:
            return str(n)
        self.sizes.append(n)
        return f"_S[{len(self.sizes) - 1}]"

    def shp(self, shape):
        """Source text of a shape tuple, its sizes through ``sz``."""
        return "(" + ", ".join(self.sz(d) for d in shape) + ",)"

    def cshp(self, shape):
        """``shp`` of the C-level shape (0-d values are stored as 1 element)."""
        return self.shp(_cs(shape))

    def view(self, expr, shape_txt):
        """Source of the C-contiguous array ``expr`` re-viewed with the shape ``shape_txt``
        (``views.cview``: far less to compile than ``reshape`` at every call site)."""
        return f"_cv({expr}, {shape_txt})"

    def par_threshold(self, work):
        """Elements from which a loop doing ``work`` units per element runs its prange form
        (decided at run time; ``calibrate.par_threshold``); None when loops stay serial."""
        if self.parallel is False:
            return None
        return par_threshold(work, PAR_SMALL if self.parallel is True else None)

    def par_slot(self, n, work):
        """``_S`` slot text of the prange threshold for a loop of ``n`` elements at capture
        doing ``work`` units per element, or None when the loop gets only its serial form."""
        t = self.par_threshold(work)
        if t is None or n * PAR_REACH < t:
            return None
        return self.thread_slot(t)

    def thread_slot(self, t, gemm=False, live=True):
        """``_S`` slot text of a thread threshold ``t`` (a prange threshold in elements or a
        GEMM's m*n*k): the executable may run the step with every such slot raised out of
        reach (the serial plans in ``CPUExecutable.S_plans``) when that measures faster.
        ``live=False``: a GEMM below ``t`` at capture, which runs on one thread under every
        plan (raised too, for other sizes, but no reason to time plans or settle for it)."""
        slots = self.thread_slots if not gemm else self.gemm_slots if live else self.idle_slots
        slots.append(len(self.sizes))
        return self.sz(t, literal=())

    # ---- the function ----------------------------------------------------------------
    def generate(self):
        g = self.g
        params = []
        for k, inp in enumerate(g.inputs):
            params.append(f"in{k}")
            self.name[inp.vid] = f"in{k}"
            self.layout[inp.vid] = "C"
        for vid, c in used_consts(g):
            nm = f"c{vid}"
            params.append(nm)
            self.name[vid] = nm
            self.layout[vid] = "C"
            self.const_args.append(np.ascontiguousarray(c.reshape(_cs(c.shape))))
        # integer arguments used as indices: checked before anything is written
        for k, size, msg in self.arg_checks:
            self.emit(f"K.check_range(in{k}, {size}, {msg!r})")
        self.lower_nodes()
        params += [f"b{vid}" for _, vid in self.buffers]
        # state writes that were not done directly by a loop
        for idx, vid in g.state_writes:
            if self.direct.get(vid) == idx or self.defer:
                continue
            self.emit(f"in{idx}.reshape(-1)[:] = {self.c(vid)}.reshape(-1)")
        exported = g.outputs + [v for _, v in g.grad_binds if v is not None]
        if self.defer:
            exported += [v for _, v in g.state_writes]
        outs = list(dict.fromkeys(exported))
        self.out_vids = outs
        rets = []
        inputs = {inp.vid for inp in g.inputs}
        for v in outs:
            expr = self.v(v)
            if self.layout.get(v) != "C":
                expr = f"np.ascontiguousarray({expr})"
            elif v in inputs or v in g.consts or v in self.views:
                expr = f"{expr}.copy()"
            rets.append(expr)
        self.emit("return (" + "".join(r + ", " for r in rets) + ")")
        head = [
            "# generated by jitgrad: do not edit",
            "import math",
            "import numba",
            "import numpy as np",
            "from numba import prange",
            "from jitgrad.compile.backends import cpu_kernels as K",
            "from jitgrad.ops import _conv_kernels as CK",
            "from jitgrad.compile.backends.cpu import py_op as _py_op",
            "from jitgrad.compile.backends.views import cview as _cv",
            IMPORT_LINE,
            f"_FM = {sorted(self.fm)!r}",
            "",
        ]
        body = [
            "@numba.njit(cache=CACHE, error_model='numpy', fastmath=set(_FM))",
            f"def step({', '.join(['_S'] + params)}):",
        ] + (self.lines or ["    pass"])
        src = "\n".join(head + self.kernels.src + self.pyfuncs + body) + "\n"
        self.S = np.array(self.sizes, dtype=np.int64)
        # the same sizes with every thread threshold out of reach: serial loops, 1-thread BLAS
        # plans (``ThreadPlan``): calibrated; serial; threaded GEMMs with serial loops
        serial = self.S.copy()
        serial[self.thread_slots + self.gemm_slots + self.idle_slots] = NEVER_GEMM
        self.S_plans = [self.S, serial]
        if self.thread_slots and self.gemm_slots:
            blas = self.S.copy()
            blas[self.thread_slots] = NEVER_GEMM
            self.S_plans.append(blas)
        return src

    # ---- fused elementwise loops -------------------------------------------------------
    def _out_buffer(self, vid, shape):
        """Name the buffer an output of a loop or a matmul goes into: the state it finally is
        (direct write), a dead input's buffer (reuse), a temporary the executable owns (when
        nothing that escapes the call lives in it), a recycled ``.grad`` buffer, or a new
        array."""
        tgt = self.direct.get(vid)
        donor = self.reuse.get(vid)
        if tgt is not None:
            self.name[vid] = f"in{tgt}"
        elif donor is not None and self.layout.get(donor) == "C" and donor in self.name:
            self.name[vid] = self.name[donor]
        elif vid not in self.escaping_roots:
            self.buffers.append(("temp", vid))
            self.name[vid] = f"b{vid}"
        elif (
            vid in self.grad_vals
            and sum(1 for _, v in self.g.grad_binds if v == vid) == 1
            # a failing call (or a check_finite refusal) leaves the old .grad intact
            and self.pos > self.plan.last_raise
            and not self.defer
        ):
            self.buffers.append(("grad", vid))
            self.name[vid] = f"b{vid}"
        else:
            self.emit(f"v{vid} = np.empty({self.shp(shape)}, dtype=np.{self.dtype(vid).name})")
            self.name[vid] = f"v{vid}"
        self.layout[vid] = "C"

    def fused_scalar(self, n, cS):
        """A one-element fused group (``[] <- div``) as straight-line code in ``step``: no
        kernel to compile, no call."""
        k = self.loops
        names = {}
        for j, vid in enumerate(n.ins):
            names[vid] = f"q{k}_i{j}"
            self.emit(f"q{k}_i{j} = {self.view(self.c(vid), '(1,)')}[0]")
        for mi, m in enumerate(n.members):
            expr = self.member(m, [names[v] for v in m.ins])
            self.emit(f"q{k}_t{mi} = {cast_expr(expr, self.dtype(m.out))}")
            names[m.out] = f"q{k}_t{mi}"
        for vid in n.outs:
            self._out_buffer(vid, cS)
            self.emit(f"{self.view(self.v(vid), '(1,)')}[0] = {names[vid]}")
        self.loops += 1

    def fused(self, n):
        S = n.shape
        cS = _cs(S)
        nd = len(cS)
        if _prod(cS) == 1:
            return self.fused_scalar(n, cS)
        ins = []  # (vid, aligned shape, broadcast mask) per input; constants included: their
        # values are arguments, so graphs that differ only in a constant share the code
        for vid in n.ins:
            sh = self.shape(vid)
            al = (1,) * (nd - len(sh)) + tuple(sh) if len(sh) <= nd else tuple(sh)
            mask = tuple(al[d] == 1 and cS[d] != 1 for d in range(nd))
            ins.append((vid, al, mask))
        # collapse adjacent dims with identical broadcast pattern for every input (only when
        # every input is C-contiguous: a transposed view is read in place, not copied)
        strided = any(self.layout.get(v) != "C" and len(self.shape(v)) == nd for v, _, _ in ins)
        groups = [[0]]
        for d in range(1, nd):
            if not strided and all(m[d] == m[d - 1] for _, _, m in ins):
                groups[-1].append(d)
            else:
                groups.append([d])
        cshape = tuple(_prod(cS[d] for d in grp) for grp in groups)
        cnd = len(cshape)
        scalars, arrays = [], []
        for vid, al, mask in ins:
            if all(mask) or _prod(al) == 1:
                scalars.append(vid)
            else:
                cm = tuple(mask[grp[0]] for grp in groups)
                arrays.append((vid, cm))
        red = self._summed_in_loop(n, cnd, arrays)
        outs = [v for v in n.outs if v != red]
        for vid in outs:
            self._out_buffer(vid, cS)
        # an input whose buffer the loop overwrites (in-place state updates, buffers reused
        # by the memory plan) is read through the output's argument: passed twice, LLVM
        # sees two pointers that overlap and runs the scalar loop (10x slower measured on an
        # SGD update); one pointer read then written at the same index vectorises
        same = {}
        for vid, cm in arrays:
            for j, ov in enumerate(outs):
                if (
                    not any(cm)
                    and self.v(vid) == self.v(ov)
                    and self.layout.get(vid) == "C"
                    and _prod(self.shape(vid)) == _prod(cS)
                ):
                    same[vid] = j
        arrays = [(vid, cm) for vid, cm in arrays if vid not in same]
        # kernel source: the serial loop nest, and a prange one chosen at run time when the
        # loop may be big enough to pay for threads (its work per element decides)
        inner = []  # the loop body, indented for the innermost loop of cnd levels
        idx_full = ", ".join(f"j{d}" for d in range(cnd))
        names, exprs = {}, []
        for vid, j in same.items():
            inner.append(f"x_o{j} = o{j}[{idx_full}]")
            names[vid] = f"x_o{j}"
        for k, (vid, cm) in enumerate(arrays):
            idx = ", ".join("0" if cm[d] else f"j{d}" for d in range(cnd))
            inner.append(f"x_a{k} = a{k}[{idx}]")
            names[vid] = f"x_a{k}"
        for k, vid in enumerate(scalars):
            names[vid] = f"x_s{k}"
        # members that depend only on scalar inputs are computed once, before the loop: LLVM's
        # loop vectoriser took minutes on loop-invariant chains of inlined vmath calls
        invariant, hoisted = set(scalars), []
        for mi, m in enumerate(n.members):
            expr = self.member(m, [names[v] for v in m.ins])
            t = f"t{mi}"
            line = f"{t} = {cast_expr(expr, self.dtype(m.out))}"
            if all(v in invariant for v in m.ins):
                invariant.add(m.out)
                hoisted.append(line)
            else:
                exprs.append(expr)
                inner.append(line)
            names[m.out] = t
        for k, vid in enumerate(outs):
            inner.append(f"o{k}[{idx_full}] = {names[vid]}")
        if cnd == 1 and wide_vectors() and any("_vm." in e for e in exprs):
            # compute-bound: 512-bit vectors where the CPU has them; one-dimensional loops
            # only (a whole array: a short inner dimension, softmax's 10 columns, ran 7-10%
            # slower with 16 lanes)
            inner.insert(0, "K.wide_vectors()")
        if red is not None:  # into the chunk's scratch, summed after it like K.sum3
            inner.append(f"r0[j0] = {names[red]}")
        par = self.par_slot(_prod(cS), work_per_element(exprs, len(arrays) + len(same) + len(outs)))
        a_names = (
            [f"o{k}" for k in range(len(outs))]
            + [f"a{k}" for k in range(len(arrays))]
            + [f"s{k}" for k in range(len(scalars))]
            + (["p0"] if red is not None else [])
            + (["par_t"] if par else [])
        )
        head = [f"def KERNEL({', '.join(a_names)}):"]
        for d in range(cnd):
            head.append(f"    n{d} = {'o0' if outs else 'a0'}.shape[{d}]")
        for k in range(len(scalars)):
            head.append(f"    x_s{k} = s{k}[0]")
        head += ["    " + line for line in hoisted]

        def nest(ind, first):
            if red is not None:  # one dim (cnd == 1): chunks of CHUNK, a partial sum each
                # The loop runs over slices of the arrays from 0 (indexed from c * CHUNK, LLVM
                # kept it scalar: 3x slower than the unfused loop) and writes the summed value
                # into a chunk-sized scratch that stays in L1, summed in float64 after it
                # (accumulated in the loop, the float64 sum narrowed the vectors of a GELU
                # chain: 1.45x slower than unfused; this way 1.1x faster, arith 1.4-1.6x).
                ch = _K.CHUNK
                views = [f"o{k}" for k in range(len(outs))] + [f"a{k}" for k in range(len(arrays))]
                dt = self.dtype(red).name
                return (
                    [
                        f"{ind}for c in {first}(p0.shape[1]):",
                        f"{ind}    lo = c * {ch}",
                        f"{ind}    hi = min(n0, lo + {ch})",
                    ]
                    + [f"{ind}    {a}c = {a}[lo:hi]" for a in views]
                    + [f"{ind}    r0 = np.empty(hi - lo, dtype=np.{dt})"]
                    + [f"{ind}    for j0 in range(hi - lo):"]
                    + [ind + "        " + _CHUNKED.sub(r"\1\2c[", line) for line in inner]
                    + [f"{ind}    acc = 0.0", f"{ind}    for j0 in range(hi - lo):"]
                    + [f"{ind}        acc += r0[j0]", f"{ind}    p0[0, c] = acc"]
                )
            out = []
            for d in range(cnd):
                out.append(f"{ind}for j{d} in {first if d == 0 else 'range'}(n{d}):")
                ind += "    "
            return out + [ind + line for line in inner]

        if par:
            total = " * ".join(f"n{d}" for d in range(cnd))
            body = head + [f"    if {total} >= par_t:"] + nest("        ", "prange")
            body += ["    else:"] + nest("        ", "range")
        else:
            body = head + nest("    ", "range")
        ksrc = "\n".join(body)
        kname = self.kernels.add(ksrc, (ksrc, bool(par)))
        cs_txt = self.shp(cshape)
        args = [self.view(self.v(v), cs_txt) for v in outs]
        for vid, _ in arrays:
            al = [s for s in ((1,) * (nd - len(self.shape(vid))) + tuple(self.shape(vid)))]
            csh = tuple(_prod(al[d] for d in grp) for grp in groups)
            if csh == tuple(self.shape(vid)) and self.layout.get(vid) != "C":
                args.append(self.v(vid))
            else:
                args.append(self.view(self.c(vid), self.shp(csh)))
        for vid in scalars:
            args.append(self.view(self.c(vid), "(1,)"))
        if red is not None:
            ch = _K.CHUNK
            nch = f"({self.sz(cshape[0])} + {ch - 1}) // {ch}"
            self.emit(f"p{red} = np.empty((1, {nch}), dtype=np.float64)")
            self.fused_sums[red] = f"p{red}"
            args.append(f"p{red}")
        if par:
            args.append(par)
        self.emit(f"{kname}({', '.join(args)})")
        self.loops += 1

    def _summed_in_loop(self, n, cnd, arrays):
        """The output of fused loop ``n`` to sum inside the loop, or None: one used only by a
        sum over all its elements and nowhere else (not returned, not state, not a .grad),
        of a float dtype, in a one-dimensional loop that has another array to size it by.
        The loop then never writes it: a pass over memory (and the buffer) fewer."""
        if cnd != 1 or not (arrays or len(n.outs) > 1):
            return None
        for vid in n.outs:
            uses = self.uses.get(vid, [])
            if (
                len(uses) == 1
                and not isinstance(uses[0], FusedNode)
                and uses[0].op.name == "sum"
                and tuple(uses[0].params.get("dims", ())) == tuple(range(len(self.shape(vid))))
                and self.dtype(vid).kind == "f"
                and vid not in self.exported
                and vid not in self.escaping_roots
                and vid not in self.direct
                and vid not in self.state_vals
            ):
                return vid
        return None

    # ---- native lowerings ------------------------------------------------------------
    def _new(self, vid, expr, layout="C"):
        self.name[vid] = f"v{vid}"
        self.layout[vid] = layout
        self.emit(f"v{vid} = {expr}")

    def lower_matmul(self, n):
        a, b = n.ins
        sa, sb = self.shape(a), self.shape(b)
        if self.dtype(a).kind != "f" or self.dtype(a) != self.dtype(b):
            return self.fallback(n, f"{self.dtype(a)} x {self.dtype(b)} has no BLAS kernel")
        if len(sa) == 2 and len(sb) == 2:
            ea = self.v(a) if self.layout.get(a) in ("C", "F") else self.c(a)
            eb = self.v(b) if self.layout.get(b) in ("C", "F") else self.c(b)
            # into a buffer: the executable's own temporary, a recycled .grad, or a new array
            self._out_buffer(n.out, _cs(self.shape(n.out)))
            # BLAS threads for the GEMMs big enough to pay (run time); parallel=False: one
            plan = blas_plan(serial=self.parallel is False)
            if plan is None:
                self.emit(f"np.dot({ea}, {eb}, {self.v(n.out)})")
            else:  # K.gemm: NumPy's OpenBLAS (one pool with eager code); K.dot: scipy's
                fn = "K.gemm" if _K.NUMPY_BLAS is not None else "K.dot"
                live = sa[0] * sa[1] * sb[1] >= plan[0]  # threaded at the capture's shapes
                mnk = self.thread_slot(plan[0], True, live) if 0 < plan[0] < NEVER_GEMM else plan[0]
                self.emit(f"{fn}({ea}, {eb}, {self.v(n.out)}, {mnk}, {plan[1]})")
            return
        if len(sa) == 3 and len(sb) == 3 and sa[0] == sb[0]:
            self._out_buffer(n.out, _cs(self.shape(n.out)))
            self.emit(f"K.bmm({self.v(a)}, {self.v(b)}, {self.v(n.out)})")
            return
        return self.fallback(n, f"shapes {list(sa)} @ {list(sb)} (only 2-D and equal-batch 3-D)")

    def lower_reshape(self, n):
        x = n.ins[0]
        self._new(n.out, self.view(self.c(x), self.cshp(self.shape(n.out))))
        self.views.add(n.out)

    def lower_permute(self, n):
        x = n.ins[0]
        dims = n.params["dims"]
        self.views.add(n.out)
        if len(dims) == 2 and dims == (1, 0):
            lay = {"C": "F", "F": "C"}.get(self.layout.get(x), "A")
            return self._new(n.out, f"{self.v(x)}.T", lay)
        if len(dims) <= 1 or dims == tuple(range(len(dims))):
            return self._new(n.out, self.v(x), self.layout.get(x, "A"))
        self._new(n.out, f"np.ascontiguousarray(np.transpose({self.v(x)}, {dims!r}))")

    def lower_expand(self, n):
        x = n.ins[0]
        S = self.shape(n.out)
        sh = self.shape(x)
        al = (1,) * (len(S) - len(sh)) + tuple(sh)
        self._new(
            n.out,
            f"np.ascontiguousarray(np.broadcast_to({self.c(x)}.reshape({self.cshp(al)}), "
            f"{self.cshp(S)}))",
        )
        self.views.add(n.out)  # no copy when nothing is broadcast

    def _as3(self, x, dims):
        """(source of ``x`` as a C-contiguous array, A, R, B): ``x`` seen as (A, R, B) with the
        reduced ``dims`` in R (transposed there when they are not adjacent)."""
        sh = self.shape(x)
        src = self.c(x)
        if dims == tuple(range(dims[0], dims[-1] + 1)):
            A = _prod(sh[: dims[0]])
            R = _prod(sh[dims[0] : dims[-1] + 1])
            B = _prod(sh[dims[-1] + 1 :])
        else:
            kept = tuple(d for d in range(len(sh)) if d not in dims)
            src = f"np.ascontiguousarray(np.transpose({self.v(x)}, {kept + dims!r}))"
            A, R, B = _prod(sh[d] for d in kept), _prod(sh[d] for d in dims), 1
        return src, A, R, B

    def _reduce3(self, n, dims, call):
        """Emit ``call(x3, out)`` (a source format with ``{x}`` and ``{out}``) for a reduction
        of ``n.ins[0]`` over ``dims`` into an (A, B) result given the node's shape."""
        src, A, R, B = self._as3(n.ins[0], dims)
        A, R, B = self.sz(A), self.sz(R), self.sz(B)
        self._new(n.out, f"np.empty(({A}, {B}), dtype=np.{self.dtype(n.out).name})")
        self.emit(call.format(x=self.view(src, f"({A}, {R}, {B})"), out=f"v{n.out}"))
        self._reshape_out(n)
        self.loops += 1

    def _reduce(self, n, kern):
        x = n.ins[0]
        sh = self.shape(x)
        dt = self.dtype(x)
        # the kernels accumulate in float64: exact for sums of bool and <= 32-bit integers
        # (counts such as ``(pred == y).sum()``) up to 2**53
        exact = kern == "SUM" and (dt.kind == "b" or (dt.kind in "iu" and dt.itemsize <= 4))
        if (dt.kind != "f" and not exact) or not sh:
            return self.fallback(n, f"{dt} input of shape {list(sh)}")
        dims = tuple(n.params["dims"])
        if not dims:
            return self.fallback(n, "no reduced dims")
        if kern == "SUM" and x in self.fused_sums:  # summed by its loop: combine its partials
            self._new(n.out, f"np.empty((1, 1), dtype=np.{self.dtype(n.out).name})")
            self.emit(f"K.combine(K.SUM, {self.fused_sums[x]}, v{n.out})")
            self._reshape_out(n)
            return
        par = self.par_slot(_prod(sh), work_per_element(["x"], 1))
        # the parallel kernel only from the threshold (same bits either way): entering its
        # prange region at all, even for no parallel blocks, waited for numba's threads, 3-17 ms
        # per call with the compile worker on the other core (the MNIST CNN's tier-1 step: 44
        # instead of 13 ms while tier 2 compiled)
        call = f"K.{kern.lower()}3({{x}}, {{out}})"
        if par is not None:
            call = (
                f"(K.{kern.lower()}3_par({{x}}, {{out}}, {par}) if {{x}}.size >= {par} else {call})"
            )
        if kern != "PROD" and self._reduce_in_two(n, dims, call):
            return
        self._reduce3(n, dims, call)

    def _reduce_in_two(self, n, dims, call):
        """Dims in two runs (a conv bias gradient: (0, 2, 3) of NCHW): the later run first, then
        the earlier on that result, instead of a transposed copy of the input (H12: 2 copies
        of 1-3 MB per CNN step). True when emitted."""
        x = n.ins[0]
        if self.dtype(x) != self.dtype(n.out) or self.dtype(x).kind != "f":
            return False  # (an exact integer sum would add a kernel signature)
        runs = [[dims[0]]]
        for d in dims[1:]:
            if d == runs[-1][-1] + 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        if len(runs) != 2:
            return False
        sh = self.shape(x)
        (a0, a1), (b0, b1) = (runs[0][0], runs[0][-1] + 1), (runs[1][0], runs[1][-1] + 1)
        mid = _prod(sh[a1:b0])
        first = (_prod(sh[:b0]), _prod(sh[b0:b1]), _prod(sh[b1:]))  # (A, R, B) of run 2
        second = (_prod(sh[:a0]), _prod(sh[a0:a1]), mid * first[2])  # run 1 on its result
        dt = self.dtype(n.out).name
        A, R, B = (self.sz(v) for v in first)
        self.emit(f"t{n.out} = np.empty(({A}, {B}), dtype=np.{dt})")
        self.emit(call.format(x=self.view(self.c(x), f"({A}, {R}, {B})"), out=f"t{n.out}"))
        A, R, B = (self.sz(v) for v in second)
        self._new(n.out, f"np.empty(({A}, {B}), dtype=np.{dt})")
        self.emit(call.format(x=self.view(f"t{n.out}", f"({A}, {R}, {B})"), out=f"v{n.out}"))
        self._reshape_out(n)
        self.loops += 2
        return True

    def _arg(self, n, is_max):
        x = n.ins[0]
        sh = self.shape(x)
        if self.dtype(x).kind not in "fiu" or not sh or _prod(sh) == 0:
            return self.fallback(n, f"{self.dtype(x)} input of shape {list(sh)}")
        self._reduce3(n, (n.params["dim"],), f"K.arg3({is_max}, {{x}}, {{out}})")

    def lower_argmax(self, n):
        self._arg(n, True)

    def lower_argmin(self, n):
        self._arg(n, False)

    def _anyall(self, n, is_any):
        sh = self.shape(n.ins[0])
        dims = tuple(n.params["dims"])
        if not sh or not dims:
            return self.fallback(n, f"input of shape {list(sh)} over dims {list(dims)}")
        self._reduce3(n, dims, f"K.anyall3({is_any}, {{x}}, {{out}})")

    def lower_check(self, n):
        """``require``: raise in the compiled code (nothing is written before it: may_raise)."""
        x = n.ins[0]
        self.name[n.out] = self.v(x)
        self.layout[n.out] = self.layout.get(x, "A")
        self.emit(f"if not np.all({self.v(x)}):")
        self.emit(f"    raise {n.params['error']}({n.params['message']!r})")

    def lower_any(self, n):
        self._anyall(n, True)

    def lower_all(self, n):
        self._anyall(n, False)

    def lower_sum(self, n):
        self._reduce(n, "SUM")

    def lower_amax(self, n):
        self._reduce(n, "MAX")

    def lower_amin(self, n):
        self._reduce(n, "MIN")

    def lower_prod(self, n):
        self._reduce(n, "PROD")

    def _split3(self, shape, dim):
        """(A, N, B) around ``dim``, as ``_S`` source text."""
        return tuple(self.sz(x) for x in (_prod(shape[:dim]), shape[dim], _prod(shape[dim + 1 :])))

    def lower_gather(self, n):
        x, idx = n.ins
        d = n.params["dim"]
        sx, si = self.shape(x), self.shape(idx)
        if not sx or any(a != b for k, (a, b) in enumerate(zip(sx, si)) if k != d):
            return self.fallback(n, f"index shape {list(si)} differs from input {list(sx)}")
        A, N, B = self._split3(sx, d)
        I = self.sz(si[d])
        self._new(n.out, f"np.empty(({A}, {I}, {B}), dtype=np.{self.dtype(n.out).name})")
        self.emit(
            f"K.gather3({self.view(self.c(x), f'({A}, {N}, {B})')}, "
            f"{self.view(self.c(idx), f'({A}, {I}, {B})')}, v{n.out})"
        )
        self._reshape_out(n)

    def lower_scatter_add(self, n):
        base, idx, src = n.ins
        d = n.params["dim"]
        sb, si, ss = self.shape(base), self.shape(idx), self.shape(src)
        if not sb or si != ss or any(a != b for k, (a, b) in enumerate(zip(sb, si)) if k != d):
            return self.fallback(n, f"index {list(si)} / source {list(ss)} / base {list(sb)}")
        A, N, B = self._split3(sb, d)
        I = self.sz(si[d])
        self._new(n.out, f"{self.c(base)}.copy().reshape(({A}, {N}, {B}))")
        self.emit(
            f"K.scatter_add3(v{n.out}, {self.view(self.c(idx), f'({A}, {I}, {B})')}, "
            f"{self.view(self.c(src), f'({A}, {I}, {B})')})"
        )
        self._reshape_out(n)

    def _take_pattern(self, spec, ndim):
        """(dim, k) when the index is full slices plus one 1-D integer tensor, else None."""
        full = ("s", None, None, None)
        ex = _expand_spec(spec, ndim)
        if ex is None:
            return None
        ts = [(d, s) for d, s in enumerate(ex) if s[0] == "t"]
        if len(ts) != 1 or any(s != full for d, s in enumerate(ex) if s[0] != "t"):
            return None
        return ts[0][0], ts[0][1][1]

    def _take_dims(self, n, shape):
        """(A, N, B, I) when ``n`` indexes ``shape`` with one 1-D integer tensor, else None."""
        pat = self._take_pattern(n.params["spec"], len(shape))
        if pat is None or len(n.ins) != 2 or len(self.shape(n.ins[1])) != 1:
            return None
        return self._split3(shape, pat[0]) + (self.sz(self.shape(n.ins[1])[0]),)

    def _reshape_out(self, n):
        """Give a kernel's 3-D/2-D result the node's own shape."""
        self.emit(f"v{n.out} = {self.view(f'v{n.out}', self.cshp(self.shape(n.out)))}")

    def lower_getitem(self, n):
        x = n.ins[0]
        sx = self.shape(x)
        take = self._take_dims(n, sx)
        if take is not None:
            A, N, B, I = take
            self._new(n.out, f"np.empty(({A}, {I}, {B}), dtype=np.{self.dtype(n.out).name})")
            x3 = self.view(self.c(x), f"({A}, {N}, {B})")
            self.emit(f"K.take3({x3}, {self.v(n.ins[1])}, v{n.out})")
            return self._reshape_out(n)
        if len(n.ins) == 1:
            sl = _basic_slices(n.params["spec"], len(sx), self.sz)
            if sl is not None and sx:
                self.views.add(n.out)  # a contiguous slice is not copied
                return self._new(
                    n.out,
                    f"np.ascontiguousarray({self.v(x)}[{sl}]).reshape"
                    f"({self.cshp(self.shape(n.out))})",
                )
        return self.fallback(n, "index is not basic or one 1-D integer tensor")

    def lower_getitem_grad(self, n):
        shape = n.params["shape"]
        spec = n.params["spec"]
        gv = n.ins[0]
        dt = self.dtype(n.out).name
        take = self._take_dims(n, shape)
        if take is not None:
            A, N, B, I = take
            self._new(n.out, f"np.zeros(({A}, {N}, {B}), dtype=np.{dt})")
            self.emit(
                f"K.put_add3(v{n.out}, {self.v(n.ins[1])}, "
                f"{self.view(self.c(gv), f'({A}, {I}, {B})')})"
            )
            return self._reshape_out(n)
        if len(n.ins) == 1 and shape:
            sl = _basic_slices(spec, len(shape), self.sz)
            if sl is not None:
                self._new(n.out, f"np.zeros({self.cshp(shape)}, dtype=np.{dt})")
                sub = self.shp(_sliced_shape(spec, shape))
                self.emit(f"v{n.out}[{sl}] = {self.c(gv)}.reshape({sub})")
                return
        return self.fallback(n, "index is not basic or one 1-D integer tensor")

    def lower_cat(self, n):
        d = n.params["dim"]
        arrs = ", ".join(self.c(v) for v in n.ins)
        self._new(n.out, f"np.concatenate(({arrs},), axis={d})")

    def lower_kernel(self, n):
        """An op with a numba kernel (``extra["kernel"]``: convolution, pooling) called from the
        step: ``kernel(*inputs, out, *static)`` into a fresh ``out``."""
        index_inputs = n.op.extra.get("kernel_index_inputs", ())  # int64 operands
        dts = {self.dtype(v) for i, v in enumerate(n.ins) if i not in index_inputs}
        ok = n.op.extra.get("kernel_dtypes", _KERNEL_DTYPES)
        if len(dts) != 1 or next(iter(dts)) not in ok:
            names = ", ".join(sorted(d.name for d in dts))
            return self.fallback(n, f"{names} inputs have no kernel (see ops/_conv_kernels.py)")
        kernel = n.op.extra["kernel"]
        static = ", ".join(_literal(a) for a in n.op.extra["kernel_static"](**n.params))
        self._new(
            n.out, f"np.empty({self.cshp(self.shape(n.out))}, dtype=np.{self.dtype(n.out).name})"
        )
        ins = [self.c(v) for v in n.ins]
        tail = f"v{n.out}{', ' + static if static else ''})"
        call = f"({', '.join(ins)}, {tail}"
        threads = n.op.extra.get("kernel_threads")  # Python threads over the same kernel's pieces
        if threads is not None and self.par_threshold(1) is not None:
            from ...ops._conv_kernels import PAR_MIN

            work = n.op.extra["kernel_work"]([self.shape(v) for v in n.ins], self.shape(n.out),
                                             n.params)  # fmt: skip
            if work * PAR_REACH >= PAR_MIN:  # a serial-plan slot: ThreadPlan times both
                # one objmode block, not one in a branch (numba then emitted invalid IR:
                # "Instruction does not dominate all uses")
                k = f"k{n.out}"
                self.emit(f"{k}t = {self.sz(work)} >= {self.thread_slot(PAR_MIN)}")
                self.emit(f"{k} = ({', '.join(ins)},)")
                self.emit("with numba.objmode():")
                fns = f"CK.{threads.__name__} if {k}t else CK.{kernel.__name__}"
                self.emit(f"    ({fns})(*{k}, {tail}")
                return
        self.emit(f"CK.{kernel.__name__}{call}")

    # ---- the fallback: the op's NumPy implementation in object mode -------------------------
    def emit_fallback(self, n):
        k = len(self.pyfuncs)
        shapes = tuple(self.shape(v) for v in n.ins)
        out = n.out
        dt = self.dtype(out)
        cs = _cs(self.shape(out))
        try:
            params = pyobj(dict(n.params))
        except TypeError:
            raise NotImplementedError(
                f"cpu backend: cannot embed the parameters of {n.op.name}"
            ) from None
        self.pyfuncs.append(
            f"def _py{k}(*arrays):\n"
            f"    return _py_op({n.op.name!r}, arrays, {shapes!r}, {params}, "
            f"np.dtype({dt.name!r}), {cs!r})\n\n"
        )
        args = ", ".join(self.v(v) for v in n.ins)
        self.name[out] = f"v{out}"
        self.layout[out] = "C"
        self.emit(f"with numba.objmode(v{out}={objmode_type(dt, len(cs))!r}):")
        self.emit(f"    v{out} = _py{k}({args}{',' if len(n.ins) == 1 else ''})")


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _literal(a):
    """Source text of a kernel's static argument: an int, or a float (pad values)."""
    if isinstance(a, float):
        return repr(a) if np.isfinite(a) else ("np.nan" if a != a else f"{'-' * (a < 0)}np.inf")
    # typed int64, not a literal: numba would compile the kernel again for every literal value
    # (a copy per conv configuration) instead of reusing the one eager calls compiled
    return f"np.int64({int(a)})"


def py_op(name, arrays, shapes, params, dtype, cshape):
    """Run a primitive's NumPy implementation for generated code (object mode)."""
    arrays = [a.reshape(s) for a, s in zip(arrays, shapes)]
    r = PRIMITIVES[name].impl(*arrays, **params)
    return np.ascontiguousarray(np.asarray(r, dtype=dtype)).reshape(cshape)


def _basic_slices(spec, ndim, sz=str):
    """numba slicing text for a spec of ints/slices (None handled by the caller's reshape);
    ``sz`` renders each integer (the generator's ``_S`` slots)."""
    ex = _expand_spec(spec, ndim)
    parts = []
    for s in ex:
        if s[0] == "i":
            parts.append(sz(s[1]))
        elif s[0] == "s":
            a, b, c = s[1], s[2], s[3]
            parts.append(
                f"{'' if a is None else sz(a)}:{'' if b is None else sz(b)}"
                f"{'' if c is None else ':' + sz(c)}"
            )
        else:
            return None
    return ", ".join(parts)


def _sliced_shape(spec, shape):
    ex = _expand_spec(spec, len(shape))
    out = []
    for d, s in enumerate(ex):
        if s[0] == "s":
            out.append(len(range(*slice(s[1], s[2], s[3]).indices(shape[d]))))
    return tuple(out) or (1,)


# ---------------------------------------------------------------- the tables ----------------
# Only what differs from the registry: these read better or behave better in numba code
CPU_SCALAR = {
    _ew._round.prim: "np.rint({0})",
    _ew.floor.prim: "np.floor({0})",
    _ew.ceil.prim: "np.ceil({0})",
    _ew.trunc.prim: "np.trunc({0})",
    # numba has no math.fmod and its integer np.fmod is wrong (fmod(7, -3) gives 7): exact in
    # float64 for float32 and for integers below 2**53
    _ew.fmod.prim: "np.fmod(np.float64({0}), np.float64({1}))",
}
CPU_LOWER = {
    _mm.matmul_p: CPUGen.lower_matmul,
    _mv.reshape_p: CPUGen.lower_reshape,
    _mv.permute_p: CPUGen.lower_permute,
    _mv.expand_p: CPUGen.lower_expand,
    _mv.getitem_p: CPUGen.lower_getitem,
    _mv.getitem_grad_p: CPUGen.lower_getitem_grad,
    _mv.cat_p: CPUGen.lower_cat,
    _mv.gather_p: CPUGen.lower_gather,
    _mv.scatter_add_p: CPUGen.lower_scatter_add,
    _red.sum_p: CPUGen.lower_sum,
    _red.amax_p: CPUGen.lower_amax,
    _red.amin_p: CPUGen.lower_amin,
    _red.prod_p: CPUGen.lower_prod,
    _red.argmax_p: CPUGen.lower_argmax,
    _red.argmin_p: CPUGen.lower_argmin,
    _red.any_p: CPUGen.lower_any,
    _red.all_p: CPUGen.lower_all,
    _red.check_p: CPUGen.lower_check,
}
# ops that carry a numba kernel (ops/conv.py) are called directly
CPU_LOWER.update({p: CPUGen.lower_kernel for p in PRIMITIVES.values() if "kernel" in p.extra})
CPU = Backend("cpu", CPU_LOWER, CPU_SCALAR, CPUGen)
CPUGen.backend = CPU


class CPUExecutable(Executable):
    """A graph compiled to one numba function; ``run(arrays)`` calls it."""

    name = "cpu"
    fallback_kind = "NumPy in numba object mode"

    def __init__(self, graph, options):
        super().__init__(graph, options)
        gen = CPUGen(graph, self.options)
        self.src = gen.generate()
        self.out_vids = gen.out_vids
        self.const_args = gen.const_args
        self.S = gen.S  # this graph's sizes: the source itself is the same for every batch size
        # the same sizes, every thread threshold out of reach; which of the two a call gets is
        # the thread plan's choice (None: the step has no thread choice to make)
        self.S_plans = gen.S_plans  # [calibrated, serial(, threaded GEMMs, serial loops)]
        self.thread_plan = None
        if (gen.thread_slots or gen.gemm_slots) and gen.parallel is None:
            # the serial plan's trial blocks wait for threaded GEMMs' spinning BLAS workers,
            # where they slow serial code on this machine (calibrated)
            settle = (1,) if gen.gemm_slots and spin_matters() else ()
            # the calibrated plan's twin with serial loops and the same GEMM threads
            lean = {0: 2} if len(self.S_plans) == 3 else {} if gen.gemm_slots else {0: 1}
            self.thread_plan = ThreadPlan(plan_mode(), len(self.S_plans), settle, lean)
        vals = graph.values
        # (kind, vid, shape, dtype) of the buffers passed after the constants (CPUGen.buffers)
        self.buffers = [(k, v, _cs(vals[v].shape), vals[v].dtype) for k, v in gen.buffers]
        self.recyclable = {v: (sh, dt) for k, v, sh, dt in self.buffers if k == "grad"}
        self._temps = None  # allocated at the first call, reused by every later one
        self._tail = None  # constants + temporaries of every call, where nothing else varies
        self.recycled_calls = 0  # calls that wrote a gradient into the previous call's buffer
        self.loops = gen.loops
        self.fallbacks = gen.fallbacks
        self.n_kernels = len(gen.kernels)
        self.state_idx = [i for i, inp in enumerate(graph.inputs) if inp.kind in ("state", "grad")]
        self.written = {i for i, _ in graph.state_writes}
        self.zero_d = [i for i, inp in enumerate(graph.inputs) if graph.values[inp.vid].shape == ()]
        self.noncontig_calls = 0  # calls that got C-contiguous copies of strided state
        self.warn_fallbacks()
        key = self.key = hashlib.sha256((_VERSION + self.src).encode()).hexdigest()[:24]
        t0 = time.perf_counter()
        self.mod, self.cache_hit = _cache.load_module(
            key, self.src, self.options.get("cache", True)
        )
        self.fn = self.mod.step
        self.import_seconds = time.perf_counter() - t0
        # the same source (same graph structure, other sizes) already compiled in this process
        self.reused_from = None

    def _sig(self, arrays):
        import numba

        return tuple(numba.typeof(np.ascontiguousarray(a)) for a in self._args(arrays))

    def _reuse(self, sig):
        """True (and say so) when this process already holds the step compiled for ``sig``:
        another variant with the same source, i.e. the same graph at other sizes."""
        if sig not in self.fn.overloads:
            return False
        self.reused_from = self.key
        self.compile_seconds = 0.0
        self.cache_hit = True
        return True

    def source(self):
        return self.src

    @property
    def threads(self):
        """The thread choices in force (calibration, BLAS) and the run-time plan's state."""
        tp = self.thread_plan
        return f"{describe_threads()}; " + (
            tp.describe()
            if tp
            else "no run-time thread plan (parallel= given or nothing to thread)"
        )

    def _buffers(self, recycled=None):
        """The buffer arguments of one call: the executable's own temporaries (the same at
        every call) and a buffer per gradient, recycled (``{vid: array}``) or fresh."""
        if self._temps is None:
            self._temps = {v: np.empty(sh, dt) for k, v, sh, dt in self.buffers if k == "temp"}
            if not self.recyclable:  # temporaries only: one list for every call
                self._tail = list(self.const_args) + [self._temps[v] for _, v, _, _ in self.buffers]
        out = []
        for k, v, sh, dt in self.buffers:
            if k == "temp":
                out.append(self._temps[v])
            else:
                r = recycled.get(v) if recycled else None
                out.append(np.empty(sh, dt) if r is None else r)
        return out

    def _args(self, arrays):
        args = list(arrays)
        for i in self.zero_d:
            args[i] = args[i].reshape(1)
        return [self.S] + args + list(self.const_args) + self._buffers()

    def _reload_without_cache(self, err):
        if not _cache.drop_numba_cache(self.mod, err):
            return False
        # the damaged entry is gone: recompile with the cache on, so the next process hits
        self.mod, self.cache_hit = _cache.load_module(self.key, self.src)
        self.fn = self.mod.step
        return True

    uses_worker = True  # the async compile goes to the compile worker process

    def precompile(self, arrays):
        """Compile for these argument types without running the step: a compile worker
        process compiles into the disk cache (this thread waits without the interpreter
        lock), then the code is loaded from disk; any worker failure falls back to an
        in-process compile with a warning (``worker.compile_in_worker``)."""
        import numba

        args = [np.ascontiguousarray(a) for a in self._args(arrays)]
        sig = tuple(numba.typeof(a) for a in args)
        if self._reuse(sig):
            self.worker_info = {"worker": False, "reason": f"compiled code reused from {self.key}"}
            return
        sigs = _worker.kernel_signatures(self.mod, args) if _worker.n_workers() > 1 else {}
        sigs["step"] = [sig]
        self.worker_info = _worker.compile_in_worker(self.mod, self.key, self.src, sigs)
        t0 = time.perf_counter()
        self._precompile_in_process(arrays)  # loads from disk when the worker compiled it
        self.worker_info["load_seconds"] = time.perf_counter() - t0
        self.cache_hit = _cache.loaded_from_disk(self.fn, sig)

    def on_disk(self, arrays):
        """Whether the step for these arrays is compiled already: in this process (another
        variant with the same source) or in numba's disk cache (cheap either way)."""
        sig = self._sig(arrays)
        return sig in self.fn.overloads or _cache.has_compiled(self.fn, sig)

    def _precompile_in_process(self, arrays):
        import numba

        t0 = time.perf_counter()
        sig = self._sig(arrays)
        if self._reuse(sig):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaWarning)  # jitgrad's own warnings pass
            try:
                self.fn.compile(sig)
            except _CACHE_ERRORS as e:
                if not self._reload_without_cache(e):
                    raise
                self.fn.compile(sig)
        self.compile_seconds = time.perf_counter() - t0

    def run(self, arrays, recycled=None):
        """Run the step; ``recycled`` maps gradient vids to the previous call's buffers that
        nobody else holds (``Variant`` checks), written instead of fresh arrays."""
        args = list(arrays)
        back = None
        for i in self.state_idx:
            if not args[i].flags.c_contiguous:
                # strided state (a transposed parameter): the step runs on a C copy, written
                # back afterwards (only if the step succeeded, so failures stay atomic)
                args[i] = np.ascontiguousarray(args[i])
                if i in self.written:
                    back = (back or []) + [i]
        if back:
            self.noncontig_calls += 1
        for i in self.zero_d:
            args[i] = args[i].reshape(1)
        tp = self.thread_plan
        held = _worker.blas_held()  # a compile in flight holds NumPy's BLAS at 1 thread: serial
        plan = 1 if held else (0 if tp is None else tp.pick())
        if self._tail is not None:  # no gradient buffers: constants and temporaries, reused
            args = [self.S_plans[plan]] + args + self._tail
        else:
            args = [self.S_plans[plan]] + args + list(self.const_args)
            args += self._buffers(recycled)
        if recycled:
            self.recycled_calls += 1
        if self.compile_seconds is None and not self._reuse(self._sig(arrays)):
            t0 = time.perf_counter()
            import numba

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)  # jitgrad's own pass
                try:
                    res = self.fn(*args)
                except _CACHE_ERRORS as e:
                    if not self._reload_without_cache(e):
                        raise
                    res = self.fn(*args)
            self.compile_seconds = time.perf_counter() - t0
        elif tp is None or held:
            res = self.fn(*args)
        else:
            t0 = time.perf_counter()
            res = self.fn(*args)
            tp.record(plan, time.perf_counter() - t0)
        if back and not self.deferred:
            for i in back:
                np.copyto(arrays[i], args[i + 1].reshape(arrays[i].shape))
        return dict(zip(self.out_vids, res))


CPU.executable = CPUExecutable
