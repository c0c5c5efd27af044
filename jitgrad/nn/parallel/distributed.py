"""``DistributedDataParallel``: one model replica per rank, gradients averaged during backward.

How the gradients meet, step by step:

- At construction every rank checks it holds the same model (names, shapes, dtypes) and takes
  rank 0's parameters and buffers (one coalesced broadcast per dtype).
- Parameters that require grad are packed, in reverse order of ``parameters()``, into buckets
  of at most ``bucket_cap_mb`` (PyTorch's default: 1 MB for the first, 25 MB after).
- During a synced forward, every read of a parameter as a module attribute (``self.weight``)
  returns a view of it made at that moment. The tape runs nodes newest first, so the view's
  node runs right after the last op that used the parameter: its hook sees the parameter's
  finished gradient, copies it into the bucket, and once a bucket is full (and all before it
  have started, so every rank starts them in the same order) starts a nonblocking
  ``Iallreduce`` on it while the rest of the backward pass runs.
- When the tape reaches the parameters themselves, the first one waits for every bucket and
  each parameter's ``.grad`` becomes its averaged gradient: a view of its slot in that step's
  bucket buffer, which is new every step (so ``gradient_as_bucket_view`` holds either way, and
  last step's ``.grad`` tensors keep their values).

Under ``@jitgrad.trace`` the same hooks record the bucket packing, an ``all_reduce`` graph node
per bucket and the unpacking, so the compiled step calls MPI itself (objmode in the CPU
backend); the capture guard makes every rank prove it traced the same graph first.
"""

import contextlib
import warnings
from collections import OrderedDict

import numpy as np

from ... import _grad_mode
from ...distributed import collectives as C
from ...distributed.process_group import default_group
from ...ops.registry import Node, const
from ...tensor import Tensor, _wrap
from ..modules.module import Module

_STATE = _grad_mode.STATE
_FIRST_BUCKET_BYTES = 1024 * 1024

_UNUSED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing loss. "
    "You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `jitgrad.nn.parallel.DistributedDataParallel`, and by "
    "making sure all `forward` function outputs participate in calculating loss. "
    "Parameters which did not receive grad for rank {rank}: {names}"
)


class _Bucket:
    __slots__ = ("index", "members", "offsets", "numel", "dtype", "buf", "pending", "req", "parts")

    def __init__(self, index, members, params):
        self.index = index
        self.members = members  # parameter indices, in bucket order
        self.offsets = []
        n = 0
        for i in members:
            self.offsets.append(n)
            n += params[i]._data.size
        self.numel = n
        self.dtype = params[members[0]]._data.dtype
        self.buf = None
        self.pending = 0
        self.req = None
        self.parts = None


class _HookedParams(OrderedDict):
    """A module's ``_parameters`` during a synced forward: reads return the reducer's views."""

    def __init__(self, src, reducer):
        super().__init__(src)
        self._reducer = reducer

    def __getitem__(self, name):
        return self._reducer.view_for(OrderedDict.__getitem__(self, name))


def _warn_once(ddp, key, msg):
    if key not in ddp._warned:
        ddp._warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _meta(name, t):
    return (name, tuple(t._data.shape), t._data.dtype.name)


def _tensors_in(obj, out):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors_in(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors_in(o, out)
    return out


class DistributedDataParallel(Module):
    """Data parallelism over the default process group: ``model = DDP(model)``.

    >>> dist.init_process_group("mpi")
    >>> model = DistributedDataParallel(Net())      # same parameters on every rank
    >>> loss_fn(model(x), y).backward()            # .grad is the average over ranks
    """

    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        dim=0,
        broadcast_buffers=True,
        init_sync=True,
        process_group=None,
        bucket_cap_mb=None,
        find_unused_parameters=False,
        check_reduction=False,
        gradient_as_bucket_view=False,
        static_graph=False,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: module must be a jitgrad.nn.Module, got "
                f"{type(module).__name__}"
            )
        pg = default_group(process_group)
        if device_ids not in (None, [], ["cpu"]) or output_device not in (None, "cpu"):
            raise ValueError(
                "DistributedDataParallel: device_ids/output_device are for GPUs; jitgrad's "
                "replicas live on the CPU of each rank, leave them unset"
            )
        self.module = module
        self.process_group = pg
        self.broadcast_buffers = broadcast_buffers is None or bool(broadcast_buffers)
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 2**20)
        self._first_bucket_bytes = (
            _FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        )
        named = list(module.named_parameters())
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._verify_model()
        if init_sync and pg.size() > 1:
            self._broadcast_coalesced(self._params + [b for b in module.buffers()])
        self._hooked = set()
        self._build_buckets()
        self._reset()
        self._unused_error = None
        self._traced_modes = set()  # require_backward_grad_sync values seen by captures
        self._warned = set()
        self.launch_log = []  # (bucket index, parameters ready when it started) of the last step

    # ---- construction ---------------------------------------------------------------------
    def _verify_model(self):
        pg = self.process_group
        if pg.size() == 1:
            return
        mine = [
            (n, tuple(p._data.shape), p._data.dtype.name) for n, p in zip(self._names, self._params)
        ]
        bufs = [
            (n, tuple(b._data.shape), b._data.dtype.name) for n, b in self.module.named_buffers()
        ]
        every = pg.comm.allgather((mine, bufs))
        me = pg.rank()
        for r, (ps, bs) in enumerate(every):
            if len(ps) != len(mine):
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {me} has {len(mine)} "
                    f"params, while rank {r} has inconsistent {len(ps)} params."
                )
            for i, (a, b) in enumerate(zip(mine, ps)):
                if a != b:
                    raise RuntimeError(
                        f"DDP expects same model across all ranks: params[{i}] ({a[0]}) in this "
                        f"process (rank {me}) with sizes {list(a[1])} {a[2]} appears not to match "
                        f"the same param in process {r} ({b[0]}, sizes {list(b[1])} {b[2]})."
                    )
            if bs != bufs:
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but the buffers of rank {me} "
                    f"({bufs}) differ from those of rank {r} ({bs})."
                )

    def _broadcast_coalesced(self, tensors):
        """Rank 0's values into ``tensors``, one broadcast per dtype (eager or traced)."""
        groups = OrderedDict()
        for t in tensors:
            groups.setdefault(t._data.dtype, []).append(t)
        traced = _STATE.tracer is not None
        for ts in groups.values():
            if traced:
                from ...ops.movement import cat

                flat = cat([t.detach().reshape(-1) for t in ts])
                r = C.traced_collective(C.broadcast_p, flat, {"src": 0, "check": False})
                n = 0
                with _grad_mode.no_grad():
                    for t in ts:
                        k = t._data.size
                        t.copy_(r[n : n + k].reshape(t.shape))
                        n += k
                continue
            flat = np.concatenate([t._data.reshape(-1) for t in ts])
            out = C.broadcast_array(flat, 0, check=False)
            C.bump(self.process_group)
            n = 0
            for t in ts:
                k = t._data.size
                np.copyto(t._data, out[n : n + k].reshape(t._data.shape))
                t._vc[0] += 1
                n += k

    def _build_buckets(self):
        self._grad_flags = tuple(p._requires_grad for p in self._params)
        order = [i for i in reversed(range(len(self._params))) if self._params[i]._requires_grad]
        buckets, cur, size, cap = [], {}, {}, self._first_bucket_bytes
        for i in order:
            p = self._params[i]
            dt = p._data.dtype
            cur.setdefault(dt, []).append(i)
            size[dt] = size.get(dt, 0) + p._data.nbytes
            if size[dt] >= cap:
                buckets.append(cur.pop(dt))
                size[dt] = 0
                cap = self.bucket_bytes_cap
        buckets += [m for m in cur.values() if m]
        self._buckets = [_Bucket(k, m, self._params) for k, m in enumerate(buckets)]
        self._where = {}
        for b in self._buckets:
            extra = len(b.members) if self.find_unused_parameters else 0
            b.buf = np.zeros(b.numel + extra, dtype=b.dtype)
            for slot, i in enumerate(b.members):
                self._where[i] = (b, slot)
        self._index = {id(p): i for i, p in enumerate(self._params) if i in self._where}
        for i in self._where:
            if i not in self._hooked:
                self._hooked.add(i)
                self._params[i].register_hook(self._leaf_hook(i))

    # ---- one step -----------------------------------------------------------------------------
    def _reset(self):
        self._active = False
        self._finalized = False
        self._traced = False
        # emptied in place, not rebound: a traced step guards these objects' identity, and an
        # eager step run between compiled ones must not invalidate the compiled variant
        for name, new in (("_views", dict), ("_ready", dict), ("_filled", set)):
            d = self.__dict__.get(name)
            if d is None:
                setattr(self, name, new())
            else:
                d.clear()
        # _views: parameter index -> its view; _ready: parameter index -> gradient array seen
        # by its view's hook; _filled: parameters that got no gradient (slot holds .grad or 0)
        self._next_launch = 0
        self._results = None

    def _check_previous(self):
        if self._unused_error is not None:
            msg, self._unused_error = self._unused_error, None
            raise RuntimeError(msg)

    def _finish_previous(self):
        if self._active and not self._finalized:
            for b in self._buckets:  # a forward without backward: finish what was started
                if b.req is not None:
                    b.req.Wait()
                    b.req = None
        self._reset()

    def forward(self, *inputs, **kwargs):
        self._check_previous()
        if _STATE.tracer is not None:
            self._note_traced()
        if self.broadcast_buffers and self.process_group.size() > 1:
            bufs = [b for b in self.module.buffers()]
            if bufs:
                self._broadcast_coalesced(bufs)
        if not (_STATE.enabled and self.require_backward_grad_sync):
            return self.module(*inputs, **kwargs)
        # only a forward that will be reduced starts a new step: a no_grad or no_sync forward
        # between a forward and its backward leaves that step's reduction alone
        self._finish_previous()
        if tuple(p._requires_grad for p in self._params) != self._grad_flags:
            self._build_buckets()  # parameters were frozen or unfrozen (on every rank, please)
        if not self._buckets:
            return self.module(*inputs, **kwargs)
        self._active = True
        self._traced = _STATE.tracer is not None
        for b in self._buckets:
            b.pending = len(b.members)
            b.req = None
            b.parts = [None] * len(b.members) if self._traced else None
            if not self._traced:
                # a fresh buffer per step: the averaged .grad tensors are views of it, so no
                # copy out, and last step's gradients (views of the old buffer) stay as they were
                b.buf = np.empty_like(b.buf)
        self.launch_log = []
        mods = list(self.module.modules())
        saved = [m.__dict__["_parameters"] for m in mods]
        for m, ps in zip(mods, saved):
            m.__dict__["_parameters"] = _HookedParams(ps, self)
        try:
            out = self.module(*inputs, **kwargs)
        finally:
            for m, ps in zip(mods, saved):
                m.__dict__["_parameters"] = ps
        if self.find_unused_parameters:
            self._mark_unused(out)
        return out

    def view_for(self, p):
        """The view of parameter ``p`` this forward reads (made at its first read)."""
        if p is None:
            return p
        i = self._index.get(id(p))
        if i is None:
            return p
        v = self._views.get(i)
        if v is None:
            v = p.view(p._data.shape)
            v.register_hook(self._grad_hook(i))
            self._views[i] = v
        return v

    def _mark_unused(self, out):
        seen = set()
        stack = [t._grad_fn for t in _tensors_in(out, []) if t._grad_fn is not None]
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            for e in n.edges:
                if isinstance(e, Node) and id(e) not in seen:
                    stack.append(e)
        for i in self._where:
            if i not in self._views or id(self._views[i]._grad_fn) not in seen:
                b, slot = self._where[i]
                self._fill(b, slot, i)

    # ---- hooks ----------------------------------------------------------------------------
    def _grad_hook(self, i):
        def hook(g):
            self._on_grad(i, g)

        return hook

    def _on_grad(self, i, g):
        if not self._active or self._finalized or i in self._ready or i in self._filled:
            return
        b, slot = self._where[i]
        p = self._params[i]
        if self._traced:
            b.parts[slot] = g if p._grad is None else g + p._grad
        else:
            off = b.offsets[slot]
            # a view of the slot in the gradient's shape: one strided pass, no temporary copy
            # (weight gradients g.T @ x come out transposed, so reshape(-1) would copy)
            dst = b.buf[off : off + p._data.size].reshape(p._data.shape)
            if p._grad is None:
                np.copyto(dst, g._data)
            else:
                np.add(g._data, p._grad._data, out=dst)
        self._ready[i] = g._data
        b.pending -= 1
        if not self._traced:
            self._progress()
        self._launch_ready()

    def _progress(self):
        """Let MPI move the started buckets along: MPICH progresses a nonblocking collective
        only inside MPI calls, so without this poke the work would wait for ``Wait``."""
        for b in self._buckets[: self._next_launch]:
            if b.req is not None:
                b.req.Test()

    def _launch_ready(self):
        bs = self._buckets
        while self._next_launch < len(bs) and bs[self._next_launch].pending == 0:
            b = bs[self._next_launch]
            self._launch(b)
            self.launch_log.append((b.index, len(self._ready)))
            self._next_launch += 1

    def _launch(self, b):
        pg = self.process_group
        w = pg.size()
        if self.find_unused_parameters:
            flags = [1.0 if i in self._ready else 0.0 for i in b.members]
        if self._traced:
            parts = [t.reshape(-1) for t in b.parts]
            if self.find_unused_parameters:  # same layout as eager; ranks agree (graph guard)
                ft = _wrap(np.array(flags, dtype=b.dtype))
                _STATE.tracer.constant(ft)
                parts.append(ft)
            from ...ops.movement import cat

            flat = cat(parts) if len(parts) > 1 else parts[0]
            if w > 1:
                flat = flat / const(float(w), b.dtype)
            b.parts = C.traced_collective(
                C.all_reduce_p, flat, {"op": "sum", "check": False, "bucket": b.index}
            )
            return
        if self.find_unused_parameters:
            b.buf[b.numel :] = flags
        if w > 1:
            b.buf /= w
        b.req = C.start_allreduce(pg, b.buf, "sum")
        C.bump(pg)

    def _fill(self, b, slot, i):
        """Parameter ``i`` gets no gradient this step: it contributes its .grad (or zeros)."""
        if i in self._filled:
            return
        self._filled.add(i)
        p = self._params[i]
        if self._traced:
            g = p._grad
            b.parts[slot] = g if g is not None else const(0.0, b.dtype).expand(*p._data.shape)
        else:
            off = b.offsets[slot]
            dst = b.buf[off : off + p._data.size]
            if p._grad is None:
                dst[...] = 0
            else:
                np.copyto(dst, p._grad._data.reshape(-1))
        b.pending -= 1

    def _finalize(self):
        self._finalized = True
        missing = [i for i in self._where if i not in self._ready and i not in self._filled]
        if missing and not self.find_unused_parameters:
            # keep the ranks in step (every bucket is still reduced), fail at the next forward
            self._unused_error = _UNUSED.format(
                rank=self.process_group.rank(), names=", ".join(self._names[i] for i in missing)
            )
        for i in missing:
            b, slot = self._where[i]
            self._fill(b, slot, i)
        self._launch_ready()
        res = {}
        for b in self._buckets:
            if self._traced:
                flat = b.parts
            else:
                b.req.Wait()
                b.req = None
                flat = b.buf
                raw = memoryview(flat).cast("B")
            for slot, i in enumerate(b.members):
                p = self._params[i]
                off = b.offsets[slot]
                if self.find_unused_parameters and i in self._filled:
                    # unused on every rank: .grad stays as it was (a traced graph is the same on
                    # every rank, so there locally unused means unused everywhere)
                    if self._traced or flat[b.numel + slot] == 0:
                        continue
                n = p._data.size
                if self._traced:
                    res[i] = flat[off : off + n].reshape(p.shape)
                    continue
                # its own array object over the slot (base: a memoryview, not the bucket), so
                # the engine sees one gradient per parameter and stores it without a copy
                k = flat.itemsize
                own = np.frombuffer(raw[off * k : (off + n) * k], dtype=flat.dtype)
                res[i] = _wrap(own.reshape(p._data.shape))
        self._results = res
        for i in self._filled:  # no tape edge reaches these: set their .grad here
            if i in res:
                self._params[i].grad = res[i]

    def _leaf_hook(self, i):
        def hook(g):
            if not self._active or i not in self._ready:
                return None  # not a DDP backward (or this parameter's result was taken)
            if not self._finalized:
                self._finalize()
            if not np.may_share_memory(g._data, self._ready.pop(i)):
                raise RuntimeError(
                    f"DistributedDataParallel: parameter {self._names[i]} got part of its "
                    "gradient through a use DDP cannot see: the model ran forward more than "
                    "once before this backward (call backward after each forward, or sum the "
                    "losses of one forward), or forward read it through parameters() or "
                    "_parameters instead of as a module attribute (self.weight)"
                )
            r = self._results.get(i)
            if r is None:
                return None
            self._params[i].grad = None  # the bucket already holds any accumulated .grad
            return r

        return hook

    # ---- user API -------------------------------------------------------------------------
    def _note_traced(self):
        sync = self.require_backward_grad_sync
        self._traced_modes.add(sync)
        if not sync:
            _warn_once(
                self,
                "nosync",
                "DistributedDataParallel: a step traced inside no_sync() has no gradient "
                "all-reduce, and its compiled code does not look at no_sync() again: called "
                "outside the block it still does not sync. Trace the accumulation step and the "
                "synced step as two functions.",
            )

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally (no communication) for the steps inside the block."""
        if True in self._traced_modes:
            _warn_once(
                self,
                "sync",
                "DistributedDataParallel.no_sync(): this model is part of a step compiled by "
                "jitgrad.trace with gradient sync; that compiled step does not look at no_sync() "
                "and still all-reduces inside this block. Run the accumulation steps eagerly or "
                "trace them as a separate function.",
            )
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    @property
    def bucket_sizes(self):
        """Elements per gradient bucket, in launch order."""
        return [b.numel for b in self._buckets]

    def extra_repr(self):
        return ""
