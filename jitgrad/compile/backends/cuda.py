"""The CUDA backend: numba.cuda kernels generated from the same IR, state kept on the device.

Generated source (``source()``) is one module: a ``@cuda.jit`` kernel per fused elementwise
group, reduction, matmul and index op, and a host function ``step(B, S, rt)`` that launches
them in graph order. Shapes are static, so every size, stride and offset is a literal in the
kernel source.

Device values are *views*: (buffer, offset, strides) in elements. ``permute``, ``expand``,
contiguous ``reshape`` and basic ``getitem`` only change the view; kernels read any view by
index arithmetic, so a transposed matmul operand is never copied.

Kernels:
- fused elementwise group: one grid-stride loop over the flattened output; members are pasted
  from the registry's scalar templates (``CUDA.scalar`` for the few that differ);
  broadcasting is stride 0.
- sum/prod/amax/amin over any dims: one block per output element (shared-memory tree,
  float64 accumulation like the CPU backend), or one thread per output when the reduced
  extent is small and there are many outputs.
- matmul (any batch broadcasting, float32/float64): shared-memory tiles, bounds-checked
  edges, operands read through their strides.
- gather / scatter_add (atomic adds) with bounds checks; ``cat`` as strided copies.
- conv2d and its input/weight gradients, max pooling (values, indices, backward by atomic
  adds at the argmax, gather) and constant padding: direct kernels, one thread per output
  element (the weight gradient is a reduction per weight element); average/adaptive pooling
  and the norms are built from the ops above.
- anything else: the core's fallback, here the primitive's NumPy implementation on the host
  (inputs copied down, result copied up): warned once, listed in ``exe.fallbacks``.

The lowering table ``CUDA.lower`` maps each Primitive to a ``CUDAGen`` method.

State sync rule (exact; no stale read is possible in either direction):
1. Host -> device. Inputs of kind 'state'/'grad' have a persistent device buffer per input
   slot. Before a call, the buffer is reused iff the host array handed in is the same object
   as the one synced last time *and* its bytes equal the snapshot taken at that sync;
   otherwise it is uploaded. So eager writes between calls (``p.data.mul_()``,
   ``load_state_dict``, ``a[...] = b``) are always seen. Set ``CHECK_HOST_WRITES = False``
   (module attribute, or ``exe.check_host_writes``) to skip the byte comparison if nothing
   writes state outside the traced step; then only identity is checked.
2. Device -> host. Before ``run`` returns, every state the step wrote is copied back into its
   host array in place, and every returned value / new ``.grad`` is copied into a fresh host
   array. The host is therefore current whenever user code can run.
Cost per call: one device->host copy of the written state (parameters, buffers), one host
copy + one host comparison of the same bytes. Arguments (the batch), random draws and
scalar hyperparameters go up each call; constants once.
"""

import builtins
import hashlib
import time
import warnings

import numpy as np

from ...ops import conv as _cv
from ...ops import elementwise as _ew
from ...ops import matmul as _mm
from ...ops import movement as _mv
from ...ops import reduce as _red
from ...ops.registry import PRIMITIVES
from . import cache as _cache
from .codegen import cast_expr, lit
from .core import Backend, Executable, Generator, KernelSet, used_consts

_VERSION = "cuda-1"
CHECK_HOST_WRITES = True


def _prod(s):
    n = 1
    for x in s:
        n *= x
    return n


def _cstrides(shape):
    st = [0] * len(shape)
    acc = 1
    for d in range(len(shape) - 1, -1, -1):
        st[d] = acc
        acc *= shape[d]
    return tuple(st)


def _is_c(shape, strides):
    return all(n == 1 or s == c for n, s, c in zip(shape, strides, _cstrides(shape)))


def _np(dt):
    dt = np.dtype(dt)
    return "np.bool_" if dt == np.bool_ else f"np.{dt.name}"


def _nb(dt):
    dt = np.dtype(dt)
    return "numba.boolean" if dt == np.bool_ else f"numba.{dt.name}"


class Launch:
    """Launch-size policy. On a GPU: 256 threads per block (warp multiples down to 32 for
    small work), at most 1024 blocks (grid-stride loops cover the rest). On the simulator each
    CUDA thread is a Python thread, so blocks are tiny; the kernel source is the same."""

    def __init__(self, simulated):
        self.sim = simulated
        self.threads = 8 if simulated else 256
        self.warp = 1 if simulated else 32
        self.max_blocks = 2 if simulated else 1024
        self.tile = 4 if simulated else 16
        self.red_blocks = 2 if simulated else 65535

    def flat(self, n):
        t = min(self.threads, max(self.warp, -(-n // self.warp) * self.warp))
        return max(1, min(self.max_blocks, -(-n // t))), t

    def reduce_threads(self, r):
        t = 1
        while t < min(r, self.threads):
            t *= 2
        return max(t, min(self.warp, self.threads))

    def mm_tile(self, m, n):
        if self.sim:
            return self.tile
        return 16 if max(m, n) > 8 else 8


# ---------------------------------------------------------------- views ----------------
class View:
    __slots__ = ("buf", "off", "shape", "strides")

    def __init__(self, buf, off, shape, strides):
        self.buf, self.off, self.shape, self.strides = buf, off, tuple(shape), tuple(strides)

    def contiguous(self):
        return _is_c(self.shape, self.strides)

    def aligned(self, shape):
        """Strides of this view broadcast to ``shape`` (NumPy's trailing alignment)."""
        k = len(shape) - len(self.shape)
        out = [0] * k
        for d, (n, s) in enumerate(zip(self.shape, self.strides)):
            out.append(0 if (n == 1 and shape[k + d] != 1) else s)
        return tuple(out)


def _off_expr(base, coords, strides):
    terms = [f"{c} * {s}" if s != 1 else c for c, s in zip(coords, strides) if s != 0]
    if base or not terms:
        terms.insert(0, str(base))
    return " + ".join(terms)


def _decompose(lines, ind, var, shape, prefix):
    """Lines that split flat index ``var`` over ``shape`` (C order) into ``prefix{d}``."""
    nd = len(shape)
    if nd == 0:
        return []
    if nd == 1:
        lines.append(f"{ind}{prefix}0 = {var}")
        return [f"{prefix}0"]
    lines.append(f"{ind}q = {var}")
    for d in range(nd - 1, 0, -1):
        lines.append(f"{ind}{prefix}{d} = q % {shape[d]}")
        lines.append(f"{ind}q = q // {shape[d]}")
    lines.append(f"{ind}{prefix}0 = q")
    return [f"{prefix}{d}" for d in range(nd)]


def _collapse(shape, stride_lists):
    """Drop size-1 dims and merge dims that every view walks contiguously."""
    keep = [d for d in range(len(shape)) if shape[d] != 1]
    shp = [shape[d] for d in keep]
    sts = [[s[d] for d in keep] for s in stride_lists]
    d = len(shp) - 1
    while d > 0:
        if all(s[d - 1] == s[d] * shp[d] for s in sts):
            shp[d - 1] *= shp[d]
            for s in sts:
                s[d - 1] = s[d]
                del s[d]
            del shp[d]
        d -= 1
    return tuple(shp), [tuple(s) for s in sts]


# ---------------------------------------------------------------- generator ------------
class CUDAGen(Generator):
    """Source of one module: ``@cuda.jit`` kernels and a host ``step`` that launches them."""

    def __init__(self, g, options, launch):
        super().__init__(g, options)
        self.L = launch
        self.view = {}
        self.bufs = []  # (size, dtype, role) role: ("in", k) | ("const", vid) | ("tmp",) | ("err",)
        fm = self.opt.get("fastmath") in (True, "fast")
        self.kernels = KernelSet(lambda key: f"@cuda.jit(cache=CACHE{', fastmath=True' * fm})")
        self.launchers = {}  # (name, grid, block) -> launcher name
        self.launch_src = []
        self.lines = []
        self.host_nodes = []
        self.scalar_in = {}  # vid -> input index, for 'scalar' inputs (passed by value)
        self.err = None

    # ---- helpers ------------------------------------------------------------------
    def emit(self, s):
        self.lines.append("    " + s)

    def new_buf(self, size, dtype, role=("tmp",)):
        self.bufs.append((max(1, size), np.dtype(dtype), role))
        return len(self.bufs) - 1

    def new_value(self, vid):
        sh = self.shape(vid)
        b = self.new_buf(_prod(sh), self.dtype(vid))
        self.view[vid] = View(b, 0, sh, _cstrides(sh))
        return self.view[vid]

    def kernel(self, src):
        return self.kernels.add(src)

    def launch(self, name, grid, block, args):
        key = (name, grid, block)
        ln = self.launchers.get(key)
        if ln is None:
            ln = f"L{len(self.launchers)}"
            self.launchers[key] = ln
            self.launch_src.append(f"{ln} = {name}[{grid!r}, {block!r}]")
        self.emit(f"{ln}({', '.join(args)})")
        self.loops += 1

    def err_buf(self):
        if self.err is None:
            self.err = self.new_buf(1, np.int32, ("err",))
        return f"B[{self.err}]"

    # ---- the module ----------------------------------------------------------------
    def generate(self):
        g = self.g
        for k, inp in enumerate(g.inputs):
            sh = self.shape(inp.vid)
            b = self.new_buf(_prod(sh), self.dtype(inp.vid), ("in", k))
            self.view[inp.vid] = View(b, 0, sh, _cstrides(sh))
            if inp.kind == "scalar":
                self.scalar_in[inp.vid] = k
        for vid, c in used_consts(g):
            b = self.new_buf(c.size, c.dtype, ("const", vid))
            self.view[vid] = View(b, 0, c.shape, _cstrides(c.shape))
        self.lower_nodes()
        # indices computed inside the step are checked in the kernels (error flag)
        self.err_checked = self.err is not None and bool(self.computed_checks)
        self.finish()
        import re

        self.used_bufs = {int(m) for m in re.findall(r"B\[(\d+)\]", "\n".join(self.lines))}
        head = [
            "# generated by jitgrad (cuda backend): do not edit",
            "import math",
            "import numba",
            "import numpy as np",
            "from numba import cuda",
            "from jitgrad.compile.backends.cuda_kernels import d_ceil, d_floor, d_rint, d_trunc",
            "",
        ]
        body = ["def step(B, S, rt):"] + (self.lines or ["    pass"])
        return "\n".join(head + self.kernels.src + self.launch_src + [""] + body) + "\n"

    def finish(self):
        """Outputs into own contiguous buffers, then the state writes (in that order, so an
        output that reads old state sees the old value)."""
        g = self.g
        in_bufs = {self.view[inp.vid].buf for inp in g.inputs}
        self.out_slots = {}
        outs = list(dict.fromkeys(g.outputs + [v for _, v in g.grad_binds if v is not None]))
        if self.defer:  # check_finite: state values come back as outputs, the caller commits
            outs = list(dict.fromkeys(outs + [v for _, v in g.state_writes]))
        for v in outs:
            vw = self.view[v]
            if vw.buf in in_bufs or not self._whole(vw, v):
                vw = self.copy_to_new(v)
            self.out_slots[v] = vw.buf
        self.out_vids = outs
        if self.defer:
            return
        targets = {self.view[g.inputs[i].vid].buf for i, _ in g.state_writes}
        srcs = []
        for idx, v in g.state_writes:
            vw = self.view[v]
            dst = self.view[g.inputs[idx].vid]
            if vw.buf == dst.buf and vw.off == 0 and vw.contiguous() and vw.shape == dst.shape:
                srcs.append(None)
                continue
            if vw.buf in targets:  # reads a buffer that another write overwrites
                vw = self.copy_to_new(v)
            srcs.append(vw)
        for (idx, v), vw in zip(g.state_writes, srcs):
            if vw is not None:
                dst = self.view[g.inputs[idx].vid]
                self.copy(vw, View(dst.buf, 0, vw.shape, _cstrides(vw.shape)), self.dtype(v))

    def _whole(self, vw, v):
        return vw.off == 0 and vw.contiguous() and self.bufs[vw.buf][0] == max(1, _prod(vw.shape))

    # ---- elementwise kernels ---------------------------------------------------------
    def ew(self, shape, outs, ins, body):
        """Launch a grid-stride kernel over ``shape``.

        outs: [(View, dtype)], ins: [(key, View | ("S", k) | ("lit", text))];
        body(names) -> (lines, [expr per out]) with names[key] the loaded scalar."""
        n = _prod(shape)
        if n == 0:
            return
        views = [o for o, _ in outs] + [v for _, v in ins if isinstance(v, View)]
        cshape, cstr = _collapse(shape, [v.aligned(shape) for v in views])
        st_of = dict(zip(map(id, views), cstr))
        params, args = [], []
        for k, (o, _) in enumerate(outs):
            params.append(f"o{k}")
            args.append(f"B[{o.buf}]")
        names = {}
        loads = []
        for k, (key, v) in enumerate(ins):
            if isinstance(v, View):
                params.append(f"a{k}")
                args.append(f"B[{v.buf}]")
                names[key] = f"x{k}"
                loads.append((f"x{k}", f"a{k}", v))
            elif v[0] == "S":
                params.append(f"s{k}")
                args.append(f"S[{v[1]}]")
                names[key] = f"s{k}"
            else:
                names[key] = v[1]
        lines = [
            f"def KERNEL({', '.join(params)}):",
            "    i = cuda.grid(1)",
            "    stride = cuda.gridsize(1)",
            f"    while i < {n}:",
        ]
        ind = "        "
        coords = _decompose(lines, ind, "i", cshape, "j")
        for var, arr, v in loads:
            lines.append(f"{ind}{var} = {arr}[{_off_expr(v.off, coords, st_of[id(v)])}]")
        blines, exprs = body(names)
        lines += [ind + b for b in blines]
        for k, ((o, dt), e) in enumerate(zip(outs, exprs)):
            lines.append(
                f"{ind}o{k}[{_off_expr(o.off, coords, st_of[id(o)])}] = {cast_expr(e, dt)}"
            )
        lines.append(f"{ind}i += stride")
        name = self.kernel("\n".join(lines))
        grid, block = self.L.flat(n)
        self.launch(name, grid, block, args)

    def copy(self, src, dst, dtype):
        self.ew(dst.shape, [(dst, dtype)], [("x", src)], lambda nm: ([], [nm["x"]]))

    def copy_to_new(self, vid):
        src = self.view[vid]
        dst = self.new_value(vid)
        self.copy(src, dst, self.dtype(vid))
        return dst

    def contig(self, vid):
        vw = self.view[vid]
        return vw if vw.contiguous() else self.copy_to_new(vid)

    def operand(self, vid):
        sc = self.scalar_const(vid)
        if sc is not None:
            return ("lit", sc)
        if vid in self.scalar_in:
            return ("S", self.scalar_in[vid])
        return self.view[vid]

    def fused(self, n):
        S = n.shape
        ins = [(vid, self.operand(vid)) for vid in n.ins]
        outs = []
        for vid in n.outs:
            idx = self.direct.get(vid)
            donor = self.view.get(self.reuse.get(vid))
            if idx is not None:
                self.view[vid] = self.view[self.g.inputs[idx].vid]
            elif donor is not None and self._whole(donor, vid):
                self.view[vid] = View(donor.buf, 0, self.shape(vid), _cstrides(self.shape(vid)))
            else:
                self.new_value(vid)
            outs.append((self.view[vid], self.dtype(vid)))

        def body(names):
            lines = []
            for mi, m in enumerate(n.members):
                e = self.member(m, [names[v] for v in m.ins])
                lines.append(f"t{mi} = {cast_expr(e, self.dtype(m.out))}")
                names[m.out] = f"t{mi}"
            return lines, [names[v] for v in n.outs]

        self.ew(S, outs, ins, body)

    # ---- movement: views --------------------------------------------------------------
    def lower_expand(self, n):
        x = self.view[n.ins[0]]
        S = self.shape(n.out)
        self.view[n.out] = View(x.buf, x.off, S, x.aligned(S))

    def lower_permute(self, n):
        x = self.view[n.ins[0]]
        dims = n.params["dims"]
        self.view[n.out] = View(
            x.buf, x.off, [x.shape[d] for d in dims], [x.strides[d] for d in dims]
        )

    def lower_reshape(self, n):
        x = self.contig(n.ins[0])
        S = self.shape(n.out)
        self.view[n.out] = View(x.buf, x.off, S, _cstrides(S))

    def _spec_view(self, x, spec):
        """The view that a basic index (ints, slices, None, ...) selects, or None."""
        used = sum(1 for s in spec if s[0] in "ist")
        off, shp, sts = x.off, [], []
        d = 0
        for s in spec:
            if s[0] == "e":
                for _ in range(len(x.shape) - used):
                    shp.append(x.shape[d])
                    sts.append(x.strides[d])
                    d += 1
            elif s[0] == "n":
                shp.append(1)
                sts.append(0)
            elif s[0] == "i":
                i = s[1] + x.shape[d] if s[1] < 0 else s[1]
                off += i * x.strides[d]
                d += 1
            elif s[0] == "s":
                rng = range(*slice(s[1], s[2], s[3]).indices(x.shape[d]))
                if len(rng):
                    off += rng.start * x.strides[d]
                shp.append(len(rng))
                sts.append(x.strides[d] * rng.step)
                d += 1
            else:
                return None
        while d < len(x.shape):
            shp.append(x.shape[d])
            sts.append(x.strides[d])
            d += 1
        return View(x.buf, off, shp, sts)

    def lower_getitem(self, n):
        vw = self._spec_view(self.view[n.ins[0]], n.params["spec"]) if len(n.ins) == 1 else None
        if vw is None or vw.shape != tuple(self.shape(n.out)):
            return self.fallback(n, "index is not basic (ints, slices, None)")
        self.view[n.out] = vw

    def lower_getitem_grad(self, n):
        """Zeros, then the incoming gradient copied into the indexed view (basic index)."""
        if len(n.ins) != 1:
            return self.fallback(n, "index is not basic (ints, slices, None)")
        S = self.shape(n.out)
        dt = self.dtype(n.out)
        base = View(None, 0, S, _cstrides(S))
        vw = self._spec_view(base, n.params["spec"])
        g = self.view[n.ins[0]]
        if vw is None or _prod(vw.shape) != _prod(g.shape):
            return self.fallback(n, "index is not basic (ints, slices, None)")
        out = self.new_value(n.out)
        self.ew(S, [(out, dt)], [], lambda nm: ([], [lit(0, dt)]))
        dst = View(out.buf, vw.off, vw.shape, vw.strides)
        src = g if g.shape == vw.shape else View(g.buf, g.off, vw.shape, _cstrides(vw.shape))
        if src is not g and not g.contiguous():
            src = View(self.copy_to_new(n.ins[0]).buf, 0, vw.shape, _cstrides(vw.shape))
        self.copy(src, dst, dt)

    def lower_cat(self, n):
        d = n.params["dim"]
        out = self.new_value(n.out)
        pos = 0
        for v in n.ins:
            sh = self.shape(v)
            dst = View(out.buf, pos * out.strides[d], sh, out.strides)
            self.copy(self.view[v], dst, self.dtype(n.out))
            pos += sh[d]

    # ---- reductions -------------------------------------------------------------------
    # per reduction primitive: initial value and combine step
    _RED = {
        _red.sum_p: ("0", "acc + v"),
        _red.prod_p: ("1", "acc * v"),
        _red.amax_p: ("-np.inf", "v if (v > acc or v != v) and acc == acc else acc"),
        _red.amin_p: ("np.inf", "v if (v < acc or v != v) and acc == acc else acc"),
    }

    def lower_reduce(self, n):
        xv = n.ins[0]
        x = self.view[xv]
        dt = self.dtype(xv)
        sh = x.shape
        dims = tuple(sorted(d % len(sh) for d in n.params["dims"])) if sh else ()
        R = _prod(sh[d] for d in dims)
        if not sh or not dims or R == 0 or _prod(sh) == 0:
            return self.fallback(n, f"shape {list(sh)} over dims {list(dims)} (empty or 0-d)")
        if dt.kind == "f":
            acc_t = "np.float64"
        elif n.op in (_red.sum_p, _red.prod_p) and dt.kind in "biu":
            acc_t = "np.int64"
        else:
            return self.fallback(n, f"{dt} input (float or integer sum/prod only)")
        init, comb = self._RED[n.op]
        init = f"{acc_t}({init})"
        kept = [d for d in range(len(sh)) if d not in dims]
        kshape, (kst,) = _collapse([sh[d] for d in kept], [[x.strides[d] for d in kept]])
        rshape, (rst,) = _collapse([sh[d] for d in dims], [[x.strides[d] for d in dims]])
        nout = _prod(kshape)
        out = self.new_value(n.out)

        def per_out(lines, ind):
            kc = _decompose(lines, ind, "ob", kshape, "p")
            lines.append(f"{ind}base = {_off_expr(x.off, kc, kst)}")

        def per_r(lines, ind):
            rc = _decompose(lines, ind, "r", rshape, "u")
            lines.append(f"{ind}v = x[base + {_off_expr(0, rc, rst)}]")

        self.reduction(out, [("x", x)], nout, R, per_out, per_r, init, comb, acc_t)

    def reduction(self, out, ins, nout, R, per_out, per_r, init, comb, acc_t):
        """Launch a kernel computing ``out[ob] = combine(v over r < R)`` for ``ob < nout``.

        ``ins``: [(param name, View)] after the output ``o``; ``per_out(lines, ind)`` emits
        what is computed once per output index ``ob``, ``per_r(lines, ind)`` the lines that set
        ``v`` for reduced index ``r``. ``init``/``comb`` are the accumulator's start value and
        combine step (of ``acc`` and ``v``), ``acc_t`` "np.float64" or "np.int64". One thread
        per output when R is small and outputs are many, else one block per output
        (shared-memory tree)."""
        ot = self.bufs[out.buf][1]
        serial = R <= 16 or (nout >= 1024 and R <= 256)
        lines = [f"def KERNEL({', '.join(['o'] + [k for k, _ in ins])}):"]
        if serial:
            lines += ["    ob = cuda.grid(1)", f"    while ob < {nout}:"]
            ind = "        "
            per_out(lines, ind)
            lines.append(f"{ind}acc = {init}")
            lines.append(f"{ind}for r in range({R}):")
            per_r(lines, ind + "    ")
            lines.append(f"{ind}    acc = {comb}")
            lines.append(f"{ind}o[ob] = {cast_expr('acc', ot)}")
            lines.append(f"{ind}ob += cuda.gridsize(1)")
            grid, block = self.L.flat(nout)
        else:
            T = self.L.reduce_threads(R)
            sdt = "numba.float64" if acc_t == "np.float64" else "numba.int64"
            lines += [
                f"    sh = cuda.shared.array({T}, {sdt})",
                "    tid = cuda.threadIdx.x",
                "    ob = cuda.blockIdx.x",
                f"    while ob < {nout}:",
            ]
            ind = "        "
            per_out(lines, ind)
            lines.append(f"{ind}acc = {init}")
            lines.append(f"{ind}r = tid")
            lines.append(f"{ind}while r < {R}:")
            per_r(lines, ind + "    ")
            lines.append(f"{ind}    acc = {comb}")
            lines.append(f"{ind}    r += {T}")
            lines.append(f"{ind}sh[tid] = acc")
            lines.append(f"{ind}cuda.syncthreads()")
            lines.append(f"{ind}s = {T // 2}")
            lines.append(f"{ind}while s > 0:")
            lines.append(f"{ind}    if tid < s:")
            lines.append(f"{ind}        acc = sh[tid]")
            lines.append(f"{ind}        v = sh[tid + s]")
            lines.append(f"{ind}        sh[tid] = {comb}")
            lines.append(f"{ind}    cuda.syncthreads()")
            lines.append(f"{ind}    s //= 2")
            lines.append(f"{ind}if tid == 0:")
            lines.append(f"{ind}    o[ob] = {cast_expr('sh[0]', ot)}")
            lines.append(f"{ind}cuda.syncthreads()")
            lines.append(f"{ind}ob += cuda.gridDim.x")
            grid, block = min(nout, self.L.red_blocks), T
        name = self.kernel("\n".join(lines))
        self.launch(name, grid, block, [f"B[{out.buf}]"] + [f"B[{v.buf}]" for _, v in ins])

    # ---- matmul -----------------------------------------------------------------------
    def lower_matmul(self, n):
        a, b = n.ins
        sa, sb, so = self.shape(a), self.shape(b), self.shape(n.out)
        dt = self.dtype(n.out)
        if (
            dt.kind != "f"
            or self.dtype(a) != dt
            or self.dtype(b) != dt
            or not sa
            or not sb
            or _prod(so) == 0
        ):
            return self.fallback(n, f"{dt} operands of shapes {list(sa)} @ {list(sb)}")
        va, vb = self.view[a], self.view[b]
        if len(sa) == 1:
            va = View(va.buf, va.off, (1,) + sa, (0,) + va.strides)
        if len(sb) == 1:
            vb = View(vb.buf, vb.off, sb + (1,), vb.strides + (0,))
        M, K = va.shape[-2:]
        N = vb.shape[-1]
        batch = tuple(np.broadcast_shapes(va.shape[:-2], vb.shape[:-2]))
        if K == 0:
            return self.fallback(n, "inner dimension 0")
        ast = va.aligned(batch + (M, K))
        bst = vb.aligned(batch + (K, N))
        nb = _prod(batch)
        bshape, (abst, bbst) = _collapse(batch, [ast[:-2], bst[:-2]])
        out = self.new_value(n.out)
        T = self.L.mm_tile(M, N)
        nbt = _nb(dt)
        zero = lit(0.0, dt)
        L = [
            "def KERNEL(o, a, b):",
            f"    sa = cuda.shared.array(({T}, {T}), {nbt})",
            f"    sb = cuda.shared.array(({T}, {T}), {nbt})",
            "    tx = cuda.threadIdx.x",
            "    ty = cuda.threadIdx.y",
            f"    row = cuda.blockIdx.y * {T} + ty",
            f"    col = cuda.blockIdx.x * {T} + tx",
            "    bz = cuda.blockIdx.z",
            f"    while bz < {nb}:",
        ]
        ind = "        "
        bc = _decompose(L, ind, "bz", bshape, "z")
        L.append(f"{ind}abase = {_off_expr(va.off, bc, abst)}")
        L.append(f"{ind}bbase = {_off_expr(vb.off, bc, bbst)}")
        L.append(f"{ind}acc = {zero}")
        L.append(f"{ind}for t in range({-(-K // T)}):")
        L.append(f"{ind}    k = t * {T} + tx")
        L.append(f"{ind}    if row < {M} and k < {K}:")
        L.append(f"{ind}        sa[ty, tx] = a[abase + {_off_expr(0, ['row', 'k'], ast[-2:])}]")
        L.append(f"{ind}    else:")
        L.append(f"{ind}        sa[ty, tx] = {zero}")
        L.append(f"{ind}    k = t * {T} + ty")
        L.append(f"{ind}    if k < {K} and col < {N}:")
        L.append(f"{ind}        sb[ty, tx] = b[bbase + {_off_expr(0, ['k', 'col'], bst[-2:])}]")
        L.append(f"{ind}    else:")
        L.append(f"{ind}        sb[ty, tx] = {zero}")
        L.append(f"{ind}    cuda.syncthreads()")
        L.append(f"{ind}    for kk in range({T}):")
        L.append(f"{ind}        acc += sa[ty, kk] * sb[kk, tx]")
        L.append(f"{ind}    cuda.syncthreads()")
        L.append(f"{ind}if row < {M} and col < {N}:")
        L.append(f"{ind}    o[bz * {M * N} + row * {N} + col] = acc")
        L.append(f"{ind}bz += cuda.gridDim.z")
        name = self.kernel("\n".join(L))
        grid = (-(-N // T), -(-M // T), min(nb, 65535))
        self.launch(name, grid, (T, T), [f"B[{out.buf}]", f"B[{va.buf}]", f"B[{vb.buf}]"])

    # ---- index ops --------------------------------------------------------------------
    def _index_kernel(self, n, x, out_view, mode):
        """gather: out[p] = x[p with dim := idx[p]]; scatter: out[...] += src[p] (atomic)."""
        d = n.params["dim"]
        ish = self.shape(n.ins[1])
        xs = x.shape
        ni = _prod(ish)
        iv = self.view[n.ins[1]]
        L = ["def KERNEL(o, x, ix, err):", "    i = cuda.grid(1)", f"    while i < {ni}:"]
        ind = "        "
        cs = _decompose(L, ind, "i", ish, "j")
        L.append(f"{ind}jj = ix[{_off_expr(iv.off, cs, iv.strides)}]")
        L.append(f"{ind}if jj < 0:")
        L.append(f"{ind}    jj += {xs[d]}")
        L.append(f"{ind}if jj < 0 or jj >= {xs[d]}:")
        L.append(f"{ind}    err[0] = 1")
        cj = [c if k != d else "jj" for k, c in enumerate(cs)]
        if mode == "gather":
            L.append(f"{ind}    o[i] = {lit(0, self.dtype(n.out))}")
            L.append(f"{ind}else:")
            L.append(f"{ind}    o[i] = x[{_off_expr(x.off, cj, x.strides)}]")
        else:
            sv = self.view[n.ins[2]]
            L.append(f"{ind}else:")
            L.append(
                f"{ind}    cuda.atomic.add(o, {_off_expr(0, cj, out_view.strides)}, "
                f"x[{_off_expr(sv.off, cs, sv.strides)}])"
            )
        L.append(f"{ind}i += cuda.gridsize(1)")
        name = self.kernel("\n".join(L))
        grid, block = self.L.flat(ni)
        src = x if mode == "gather" else self.view[n.ins[2]]
        self.launch(
            name,
            grid,
            block,
            [f"B[{out_view.buf}]", f"B[{src.buf}]", f"B[{iv.buf}]", self.err_buf()],
        )

    def lower_gather(self, n):
        x = self.view[n.ins[0]]
        if not x.shape or self.dtype(n.ins[1]).kind not in "iu" or _prod(self.shape(n.out)) == 0:
            return self.fallback(n, "0-d input, non-integer index or empty result")
        out = self.new_value(n.out)
        self._index_kernel(n, x, out, "gather")

    def lower_scatter_add(self, n):
        base, idx, src = n.ins
        dt = self.dtype(n.out)
        if (
            not self.shape(base)
            or self.dtype(idx).kind not in "iu"
            or dt.name not in ("float32", "float64", "int32", "int64")
            or self.shape(idx) != self.shape(src)
            or self.dtype(src) != dt
        ):
            return self.fallback(
                n, f"{dt} base, index {list(self.shape(idx))}, source {list(self.shape(src))}"
            )
        # a fresh buffer for the result: ``base`` may be read by other nodes (a shared zeros
        # constant after CSE), so it must not be the buffer the atomic adds go into
        out = self.new_value(n.out)
        self.copy(self.view[base], out, dt)
        if _prod(self.shape(idx)):
            self._index_kernel(n, out, out, "scatter")

    # ---- convolution and pooling: direct kernels ----------------------------------------
    # Every one is a grid-stride loop with one thread per output element (the weight gradient
    # is a reduction per weight element, see ``reduction``); sizes, strides, padding and
    # dilation are literals. Inputs are read through their views (no copies).
    def _float_inputs(self, n):
        """True when every input (but the int64 index operands, ``kernel_index_inputs``) is
        float32/float64 of one dtype; else the fallback."""
        skip = n.op.extra.get("kernel_index_inputs", ())
        dts = [self.dtype(v) for i, v in enumerate(n.ins) if i not in skip]
        if dts[0].name in ("float32", "float64") and all(d == dts[0] for d in dts):
            return True
        self.fallback(n, f"{'/'.join(d.name for d in dts)} inputs (float32/float64 only)")
        return False

    def _per_output(self, params, shape):
        """Kernel head looping ``i`` over the flat output: (lines, indent, coordinate names)."""
        L = [f"def KERNEL({params}):", "    i = cuda.grid(1)", f"    while i < {_prod(shape)}:"]
        ind = "        "
        return L, ind, _decompose(L, ind, "i", shape, "j")

    def _launch_per_output(self, L, ind, shape, views):
        L.append(f"{ind}i += cuda.gridsize(1)")
        name = self.kernel("\n".join(L))
        grid, block = self.L.flat(_prod(shape))
        self.launch(name, grid, block, [f"B[{v.buf}]" for v in views])

    @staticmethod
    def _taps(L, ind, k, n, pos, base, step, lim):
        """``for k < n: pos = base + k * step``, kept when ``0 <= pos < lim``: the body's indent
        (forward direction: output position -> the input positions its window reads)."""
        L.append(f"{ind}for {k} in range({n}):")
        L.append(f"{ind}    {pos} = {base} + {k} * {step}")
        L.append(f"{ind}    if {pos} >= 0 and {pos} < {lim}:")
        return ind + "        "

    @staticmethod
    def _taps_t(L, ind, k, n, pos, base, step, stride, lim):
        """The transposed direction: for ``k < n`` the output position ``pos`` whose window
        tap ``k`` reads input position ``base`` (``base - k * step == pos * stride``), kept
        when ``0 <= pos < lim``."""
        t = f"t_{pos}"
        L.append(f"{ind}for {k} in range({n}):")
        L.append(f"{ind}    {t} = {base} - {k} * {step}")
        if stride == 1:
            L.append(f"{ind}    if {t} >= 0 and {t} < {lim}:")
            L.append(f"{ind}        {pos} = {t}")
        else:
            L.append(f"{ind}    if {t} >= 0 and {t} % {stride} == 0 and {t} // {stride} < {lim}:")
            L.append(f"{ind}        {pos} = {t} // {stride}")
        return ind + "        "

    @staticmethod
    def _at(v, coords):
        """Element ``coords`` (source expressions) of view ``v``."""
        return _off_expr(v.off, [f"({c})" for c in coords], v.strides)

    def _conv_setup(self, n):
        """(input view, weight view, the 7 static conv values, output) of a conv node, or
        None when it has non-float inputs (fallback taken) or an empty output."""
        if not self._float_inputs(n):
            return None
        a, w = (self.view[v] for v in n.ins)
        static = n.op.extra["kernel_static"](**n.params)[:7]
        out = self.new_value(n.out)
        return (a, w, static, out) if _prod(self.shape(n.out)) else None

    def lower_conv2d(self, n):
        setup = self._conv_setup(n)
        if setup is None:
            return
        x, w, (sh, sw, pt, pl, dh, dw, G), out = setup
        H, W = x.shape[2:]
        O, CG, KH, KW = w.shape
        self._window_sum(
            n,
            ("x", x, w, out),
            lambda b, oc, oh, ow: [
                f"c0 = {oc} // {O // G} * {CG}",
                f"h0 = {oh} * {sh} - {pt}",
                f"w0 = {ow} * {sw} - {pl}",
            ],
            ("c", CG),
            [
                lambda L, i: self._taps(L, i, "ki", KH, "hi", "h0", dh, H),
                lambda L, i: self._taps(L, i, "kj", KW, "wi", "w0", dw, W),
            ],
            lambda b, oc, oh, ow: ([b, "c0 + c", "hi", "wi"], [oc, "c", "ki", "kj"]),
        )

    def _window_sum(self, n, arrays, prologue, loop, taps, coords):
        """One thread per output element of ``n``: ``acc`` sums ``a[...] * w[...]`` over
        ``loop`` (variable, count) channels and the kernel taps the ``taps`` emitters open
        (``_taps``, or ``_taps_t`` for the transposed walk); ``prologue`` and ``coords`` map the
        output index to setup lines and to the (a, w) element coordinates. The convolution
        and its input gradient differ only in those."""
        name, a, w, out = arrays
        S = self.shape(n.out)
        L, ind, idx = self._per_output(f"o, {name}, w", S)
        L += [ind + line for line in prologue(*idx)]
        L.append(f"{ind}acc = {lit(0.0, self.dtype(n.out))}")
        L.append(f"{ind}for {loop[0]} in range({loop[1]}):")
        i = ind + "    "
        for emit in taps:
            i = emit(L, i)
        ac, wc = coords(*idx)
        L.append(f"{i}acc += {name}[{self._at(a, ac)}] * w[{self._at(w, wc)}]")
        L.append(f"{ind}o[i] = acc")
        self._launch_per_output(L, ind, S, [out, a, w])

    def lower_conv2d_grad_input(self, n):
        setup = self._conv_setup(n)
        if setup is None:
            return
        g, w, (sh, sw, pt, pl, dh, dw, G), out = setup
        HO, WO = g.shape[2:]
        O, CG, KH, KW = w.shape
        OG = O // G
        self._window_sum(
            n,
            ("g", g, w, out),
            lambda b, ci, h, wx: [
                f"o0 = {ci} // {CG} * {OG}",
                f"cc = {ci} % {CG}",
                f"hp = {h} + {pt}",
                f"wp = {wx} + {pl}",
            ],
            ("oo", OG),
            [
                lambda L, i: self._taps_t(L, i, "ki", KH, "qh", "hp", dh, sh, HO),
                lambda L, i: self._taps_t(L, i, "kj", KW, "qw", "wp", dw, sw, WO),
            ],
            lambda b, ci, h, wx: ([b, "o0 + oo", "qh", "qw"], ["o0 + oo", "cc", "ki", "kj"]),
        )

    def lower_conv2d_grad_weight(self, n):
        if not self._float_inputs(n):
            return
        x, g = (self.view[v] for v in n.ins)
        H, W = x.shape[2:]
        N, O, HO, WO = g.shape
        sh, sw, pt, pl, dh, dw, G = n.op.extra["kernel_static"](**n.params)[:7]
        S = self.shape(n.out)  # (O, C/groups, kh, kw)
        CG = S[1]
        dt = self.dtype(n.out)
        out = self.new_value(n.out)
        R = N * HO * WO
        if not _prod(S):
            return
        if not R:
            self.ew(S, [(out, dt)], [], lambda nm: ([], [lit(0, dt)]))
            return

        def per_out(L, ind):
            oc, cc, ki, kj = _decompose(L, ind, "ob", S, "p")
            L.append(f"{ind}oc = {oc}")
            L.append(f"{ind}ci = {oc} // {O // G} * {CG} + {cc}")
            L.append(f"{ind}hk = {ki} * {dh} - {pt}")
            L.append(f"{ind}wk = {kj} * {dw} - {pl}")

        def per_r(L, ind):
            b, oh, ow = _decompose(L, ind, "r", (N, HO, WO), "u")
            L.append(f"{ind}hi = hk + {oh} * {sh}")
            L.append(f"{ind}wi = wk + {ow} * {sw}")
            L.append(f"{ind}v = 0.0")
            L.append(f"{ind}if hi >= 0 and hi < {H} and wi >= 0 and wi < {W}:")
            L.append(
                f"{ind}    v = x[{self._at(x, [b, 'ci', 'hi', 'wi'])}]"
                f" * g[{self._at(g, [b, 'oc', oh, ow])}]"
            )

        self.reduction(
            out,
            [("x", x), ("g", g)],
            _prod(S),
            R,
            per_out,
            per_r,
            "np.float64(0)",
            "acc + v",
            "np.float64",
        )

    def _argmax(self, L, ind, x, b, c, oh, ow, n):
        """Lines leaving ``best``, ``bh``, ``bw``: the maximum of window (oh, ow) of x[b, c]
        and its position: the first maximum, or the last NaN (the CPU kernels' rule, torch's
        ``val > max || isnan(val)``); ``bh`` stays -1 for a window with no input element."""
        kh, kw, sh, sw, pt, pl, dh, dw = n.op.extra["kernel_static"](**n.params)
        H, W = x.shape[2:]
        L.append(f"{ind}h0 = {oh} * {sh} - {pt}")
        L.append(f"{ind}w0 = {ow} * {sw} - {pl}")
        L.append(f"{ind}best = -np.inf")
        L.append(f"{ind}bh = -1")
        L.append(f"{ind}bw = -1")
        i2 = self._taps(L, ind, "ki", kh, "hi", "h0", dh, H)
        i3 = self._taps(L, i2, "kj", kw, "wi", "w0", dw, W)
        L.append(f"{i3}v = x[{self._at(x, [b, c, 'hi', 'wi'])}]")
        L.append(f"{i3}if v > best or v != v or bh < 0:")
        L.append(f"{i3}    best = v")
        L.append(f"{i3}    bh = hi")
        L.append(f"{i3}    bw = wi")

    def _pool(self, n, what):
        """max_pool2d (``what`` "value") and its indices ("index"): one thread per window."""
        if not self._float_inputs(n):
            return
        x = self.view[n.ins[-1]]
        S = self.shape(n.out)
        out = self.new_value(n.out)
        if not _prod(S):
            return
        L, ind, (b, c, oh, ow) = self._per_output("o, x", S)
        self._argmax(L, ind, x, b, c, oh, ow, n)
        val = "best" if what == "value" else f"bh * {x.shape[3]} + bw"
        L.append(f"{ind}o[i] = {cast_expr(val, self.dtype(n.out))}")
        self._launch_per_output(L, ind, S, [out, x])

    def lower_max_pool2d(self, n):
        self._pool(n, "value")

    def lower_max_pool2d_indices(self, n):
        self._pool(n, "index")

    def lower_max_pool2d_gather(self, n):
        """x read at the flat argmax indices (max_pool2d_indices): one thread per window."""
        if not self._float_inputs(n):
            return
        x, ix = (self.view[v] for v in n.ins)
        S = self.shape(n.out)
        out = self.new_value(n.out)
        if not _prod(S):
            return
        L, ind, (b, c, oh, ow) = self._per_output("o, x, ix", S)
        W = x.shape[3]
        L.append(f"{ind}fi = ix[{self._at(ix, [b, c, oh, ow])}]")
        L.append(f"{ind}o[i] = x[{self._at(x, [b, c, f'fi // {W}', f'fi % {W}'])}]")
        self._launch_per_output(L, ind, S, [out, x, ix])

    def lower_max_pool2d_grad(self, n):
        """Zeros, then each window's gradient added at its flat argmax index (atomic: windows
        overlap)."""
        if not self._float_inputs(n):
            return
        g, ix = (self.view[v] for v in n.ins)
        S = self.shape(n.out)
        dt = self.dtype(n.out)
        out = self.new_value(n.out)
        if not _prod(S):
            return
        self.ew(S, [(out, dt)], [], lambda nm: ([], [lit(0, dt)]))
        G = g.shape
        if not _prod(G):
            return
        L, ind, (b, c, oh, ow) = self._per_output("o, g, ix", G)
        W = S[3]
        L.append(f"{ind}fi = ix[{self._at(ix, [b, c, oh, ow])}]")
        L.append(
            f"{ind}cuda.atomic.add(o, {self._at(out, [b, c, f'fi // {W}', f'fi % {W}'])}, "
            f"g[{self._at(g, [b, c, oh, ow])}])"
        )
        self._launch_per_output(L, ind, G, [out, g, ix])

    def lower_pad(self, n):
        """Constant padding: each output element reads its input element or is the value."""
        x = self.view[n.ins[0]]
        S = self.shape(n.out)
        dt = self.dtype(n.out)
        out = self.new_value(n.out)
        if not _prod(S):
            return
        if not _prod(x.shape):
            self.ew(S, [(out, dt)], [], lambda nm: ([], [lit(n.params["value"], dt)]))
            return
        pads = n.params["pads"]
        L, ind, js = self._per_output("o, x", S)
        src = [f"{j} - {b}" if b else j for j, (b, _) in zip(js, pads)]
        inside = [
            f"{j} >= {b} and {j} < {b + m}" for j, (b, a), m in zip(js, pads, x.shape) if b or a
        ]
        val = f"x[{self._at(x, src)}]"
        if inside:
            val = f"{val} if {' and '.join(inside)} else {lit(n.params['value'], dt)}"
        L.append(f"{ind}o[i] = {cast_expr(val, dt)}")
        self._launch_per_output(L, ind, S, [out, x])

    def lower_check(self, n):
        """``require``: the host reads the check's value and raises (before any state is
        copied back)."""
        x = self.view[n.ins[0]]
        if not x.contiguous():
            return self.fallback(n, "a strided view to check")
        self.view[n.out] = x
        p = n.params
        self.emit(
            f"rt.check(B[{x.buf}], {x.off}, {_prod(x.shape)}, {p['error']!r}, {p['message']!r})"
        )

    # ---- the fallback: NumPy on the host ----------------------------------------------
    def emit_fallback(self, n):
        k = len(self.host_nodes)
        ins = [self.view[v] for v in n.ins]
        out = self.new_value(n.out)
        self.host_nodes.append(
            (
                n.op.name,
                dict(n.params),
                [(v.off, v.shape, v.strides) for v in ins],
                self.shape(n.out),
                self.dtype(n.out),
            )
        )
        args = ", ".join([f"B[{out.buf}]"] + [f"B[{v.buf}]" for v in ins])
        self.emit(f"rt.host({k}, {args})  # {n.op.name}: NumPy on the host")


# ---------------------------------------------------------------- runtime --------------
class _Runtime:
    def __init__(self, exe):
        self.exe = exe

    def check(self, buf, off, size, error, message):
        if not buf.copy_to_host()[off : off + size].all():
            raise getattr(builtins, error)(message)

    def host(self, k, out, *bufs):
        name, params, views, oshape, odt = self.exe.host_nodes[k]
        arrays = []
        for b, (off, shape, strides) in zip(bufs, views):
            h = b.copy_to_host()
            if _prod(shape) == 0:
                arrays.append(np.empty(shape, h.dtype))
                continue
            arrays.append(
                np.lib.stride_tricks.as_strided(
                    h[off:], shape, [s * h.itemsize for s in strides]
                ).copy()
            )
        r = PRIMITIVES[name].impl(*arrays, **params)
        r = np.ascontiguousarray(np.asarray(r, dtype=odt)).reshape(-1)
        if r.size:
            out.copy_to_device(r)


def _same(a, s):
    if a.shape != s.shape or a.dtype != s.dtype:
        return False
    if a.flags.c_contiguous and a.dtype.itemsize in (1, 2, 4, 8):
        u = np.dtype(f"u{a.dtype.itemsize}")
        return np.array_equal(a.view(u), s.view(u))
    return np.array_equal(a, s, equal_nan=True)


# ---------------------------------------------------------------- the tables ----------------
# numba.cuda: rounding through device helpers (``math.floor`` & co. return integers in numba,
# ``np.rint`` is not available on the device); ``sign`` without bool arithmetic
CUDA_SCALAR = {
    _ew._round.prim: "d_rint({0})",
    _ew.floor.prim: "d_floor({0})",
    _ew.ceil.prim: "d_ceil({0})",
    _ew.trunc.prim: "d_trunc({0})",
    _ew.sign.prim: "(1 if {0} > 0 else (-1 if {0} < 0 else 0))",  # NaN and -0.0 give 0, as torch
    # in float64 like the CPU backend (integer operands: fmod(7, -3) is 1, exact below 2**53)
    _ew.fmod.prim: "math.fmod(np.float64({0}), np.float64({1}))",
}
CUDA_LOWER = {
    _mm.matmul_p: CUDAGen.lower_matmul,
    _mv.reshape_p: CUDAGen.lower_reshape,
    _mv.permute_p: CUDAGen.lower_permute,
    _mv.expand_p: CUDAGen.lower_expand,
    _mv.getitem_p: CUDAGen.lower_getitem,
    _mv.getitem_grad_p: CUDAGen.lower_getitem_grad,
    _mv.cat_p: CUDAGen.lower_cat,
    _mv.gather_p: CUDAGen.lower_gather,
    _mv.scatter_add_p: CUDAGen.lower_scatter_add,
    _red.sum_p: CUDAGen.lower_reduce,
    _red.amax_p: CUDAGen.lower_reduce,
    _red.amin_p: CUDAGen.lower_reduce,
    _red.prod_p: CUDAGen.lower_reduce,
    _cv.conv2d_p: CUDAGen.lower_conv2d,
    _cv.conv2d_grad_input_p: CUDAGen.lower_conv2d_grad_input,
    _cv.conv2d_grad_weight_p: CUDAGen.lower_conv2d_grad_weight,
    _cv.max_pool2d_p: CUDAGen.lower_max_pool2d,
    _cv.max_pool2d_indices_p: CUDAGen.lower_max_pool2d_indices,
    _cv.max_pool2d_grad_p: CUDAGen.lower_max_pool2d_grad,
    _cv.max_pool2d_gather_p: CUDAGen.lower_max_pool2d_gather,
    _cv.pad_p: CUDAGen.lower_pad,
    _red.check_p: CUDAGen.lower_check,
}
CUDA = Backend("cuda", CUDA_LOWER, CUDA_SCALAR, CUDAGen)
CUDAGen.backend = CUDA


class CUDAExecutable(Executable):
    """A graph compiled to numba.cuda kernels; ``run(arrays)`` like the other backends."""

    name = "cuda"
    fallback_kind = "NumPy on the host, copies both ways"

    def __init__(self, graph, options):
        from numba import cuda as _nbcuda

        from ... import cuda as jcuda

        super().__init__(graph, options)
        jcuda.require()
        self._cuda = _nbcuda
        self.sim = jcuda.simulated()
        gen = CUDAGen(graph, self.options, Launch(self.sim))
        self.src = gen.generate()
        self.bufspec = gen.bufs
        self.host_nodes = gen.host_nodes
        self.fallbacks = gen.fallbacks
        self.loops = gen.loops
        self.n_kernels = len(gen.kernels)
        self.out_vids = gen.out_vids
        self.out_slots = gen.out_slots
        self.scalar_on_device = {
            k for k, b in enumerate(self.in_slot_of(gen)) if b in gen.used_bufs
        }
        self.arg_checks = gen.arg_checks
        self.err_slot = gen.err
        self.err_checked = gen.err_checked
        self.check_host_writes = CHECK_HOST_WRITES
        self.warn_fallbacks()
        key = hashlib.sha256((_VERSION + self.src).encode()).hexdigest()[:24]
        self.mod, self.cache_hit = _cache.load_module(
            key, self.src, self.options.get("cache", True)
        )
        if self.sim:
            from .cuda_kernels import SimMath

            self.mod.math = SimMath()
        self.rt = _Runtime(self)
        self.B = None
        self.S = [None] * len(graph.inputs)
        self._host = [None] * len(graph.inputs)  # last synced host array per state slot
        self._snap = [None] * len(graph.inputs)
        self.in_slot = [None] * len(graph.inputs)
        for b, (_, _, role) in enumerate(self.bufspec):
            if role[0] == "in":
                self.in_slot[role[1]] = b
        self.grad_slot = {}  # id(tensor) -> input index of its 'grad' input
        for k, inp in enumerate(graph.inputs):
            if inp.kind == "grad":
                self.grad_slot[id(inp.ref)] = k
        self.uploads = 0  # state uploads (for tests of the sync rule)

    @staticmethod
    def in_slot_of(gen):
        slots = [None] * len(gen.g.inputs)
        for b, (_, _, role) in enumerate(gen.bufs):
            if role[0] == "in":
                slots[role[1]] = b
        return slots

    def source(self):
        return self.src

    # ---- device memory --------------------------------------------------------------
    def _alloc(self):
        cuda = self._cuda
        self.B = [cuda.device_array(size, dtype=dt) for size, dt, _ in self.bufspec]
        for b, (_, _, role) in enumerate(self.bufspec):
            if role[0] == "const":
                c = np.ascontiguousarray(self.g.consts[role[1]]).reshape(-1)
                if c.size:
                    self.B[b].copy_to_device(c)
        if self.err_slot is not None:
            self.B[self.err_slot].copy_to_device(np.zeros(1, np.int32))

    def _up(self, k, a):
        if a.size:
            self.B[self.in_slot[k]].copy_to_device(np.ascontiguousarray(a).reshape(-1))

    def _sync_in(self, arrays):
        g = self.g
        for k, inp in enumerate(g.inputs):
            a = arrays[k]
            kind = inp.kind
            if kind == "scalar":
                self.S[k] = a.item()
                if k in self.scalar_on_device:
                    self._up(k, a)
            elif kind in ("state", "grad"):
                if self._host[k] is a and (not self.check_host_writes or _same(a, self._snap[k])):
                    continue
                self._up(k, a)
                self.uploads += 1
                self._host[k] = a
                self._snap[k] = a.copy() if self.check_host_writes else None
            else:
                self._up(k, a)

    def _down(self, slot, host):
        if host.size == 0:
            return
        if host.flags.c_contiguous:
            self.B[slot].copy_to_host(host.reshape(-1))
        else:
            np.copyto(host, self.B[slot].copy_to_host().reshape(host.shape))

    # ---- a call ---------------------------------------------------------------------
    def run(self, arrays):
        g = self.g
        for k, size, msg in self.arg_checks:
            a = arrays[k]
            if a.size and (a.min() < -size or a.max() >= size):
                raise IndexError(msg)
        t0 = time.perf_counter()
        if self.B is None:
            self._alloc()
        self._sync_in(arrays)
        try:
            if self.sim:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self.mod.step(self.B, self.S, self.rt)
            else:
                self.mod.step(self.B, self.S, self.rt)
            if self.err_checked:
                e = self.B[self.err_slot].copy_to_host()
                if e[0]:
                    self.B[self.err_slot].copy_to_device(np.zeros(1, np.int32))
                    raise IndexError(
                        "gather/scatter_add on cuda: an index computed inside the step "
                        "is out of range (nothing was updated)"
                    )
        except BaseException:
            # device state may be half-written: the host copy is still the truth, so every
            # state buffer is uploaded again next call
            self._host = [None] * len(g.inputs)
            raise
        outs = {}
        for v in self.out_vids:
            val = g.values[v]
            h = np.empty(val.shape, val.dtype)
            self._down(self.out_slots[v], h)
            outs[v] = h
        for idx, _ in g.state_writes:
            if self.deferred:  # check_finite: the caller commits; upload it again next call
                self._host[idx] = None
                continue
            h = arrays[idx]
            self._down(self.in_slot[idx], h)
            if g.inputs[idx].kind in ("state", "grad"):
                self._host[idx] = h
                self._snap[idx] = h.copy() if self.check_host_writes else None
        for t, v in g.grad_binds:
            k = self.grad_slot.get(id(t))
            if k is None or v is None:
                continue
            h = outs[v]
            if h.size:
                self.B[self.in_slot[k]].copy_to_device(self.B[self.out_slots[v]])
            self._host[k] = h
            self._snap[k] = h.copy() if self.check_host_writes else None
        if self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - t0
        return outs


CUDA.executable = CUDAExecutable
