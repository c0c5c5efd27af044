"""Collectives on tensors, in place, with PyTorch's names: all_reduce, broadcast, all_gather.

Every data collective is a nonblocking MPI call followed by a wait (``Iallreduce`` + ``Wait``),
in eager mode and in compiled code alike: MPI does not match a blocking collective with a
nonblocking one, and a rank running a compiled step must pair with a rank still running eagerly.

Before a user-level collective, one 10-integer ``Allreduce(MAX)`` compares (op, dtype, shape)
across ranks: a mismatch is a ``RuntimeError`` naming every rank's tensor on all ranks at once,
instead of MPI's "Message truncated" abort or a hang. DDP's gradient buckets skip it (their
layout is checked once, when the model is wrapped).

Under ``@jitgrad.trace`` each collective is a graph node (a ``Primitive`` whose implementation
calls MPI); nodes take and update a per-group token so passes keep them, in order. The guard in
``_guard`` makes every rank prove, at capture, that it traced the same graph.
"""

import enum
import zlib

import numpy as np

from .._grad_mode import STATE, no_grad
from ..ops.registry import apply, register
from ..tensor import Tensor, _wrap
from .process_group import _mpi, default_group


class RedOpType(enum.Enum):
    """Reduction operators of ``all_reduce`` (``ReduceOp.SUM`` is ``RedOpType.SUM``)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4

    def __repr__(self):
        return f"<RedOpType.{self.name}: {self.value}>"

    def __str__(self):
        return f"RedOpType.{self.name}"


class ReduceOp:
    """``dist.all_reduce(t, op=dist.ReduceOp.MAX)``."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX


_OPTYPE = {"all_reduce": 1, "broadcast": 2, "all_gather": 3, "barrier": 4}
_TORCH_DTYPE = {"float64": "Double", "float32": "Float", "int64": "Long", "int32": "Int"}


def _op_name(op, fn="all_reduce"):
    if not isinstance(op, RedOpType):
        raise TypeError(
            f"{fn}(): op must be a jitgrad.distributed.ReduceOp member such as ReduceOp.SUM, "
            f"got {op!r}"
        )
    return op.name.lower()


def _mpi_op(name):
    MPI = _mpi()
    return {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}[
        name
    ]


def _check_tensor(fn, t, name="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}(): {name} must be a jitgrad.Tensor, got {type(t).__name__}")
    if t._data.dtype.kind not in "fiu":
        raise TypeError(
            f"{fn}(): {name} has dtype {t.dtype}; MPI collectives here take float or int "
            "tensors (cast bool tensors with .int() first)"
        )


def _fingerprint_text(optype, shape, dtype, seq):
    dt = _TORCH_DTYPE.get(np.dtype(dtype).name, np.dtype(dtype).name)
    return (
        f"CollectiveFingerPrint(SequenceNumber={seq}, OpType={optype.replace('_', '').upper()}, "
        f"TensorShape={list(shape)}, TensorDtypes={dt})"
    )


def check_same(pg, optype, arr, extra=0):
    """Raise on every rank at once if ranks disagree on (op, dtype, shape, extra) (10 ints)."""
    MPI = _mpi()
    shape = tuple(arr.shape)
    meta = np.array(
        [
            _OPTYPE[optype],
            np.dtype(arr.dtype).num,
            len(shape),
            int(np.prod(shape, dtype=np.int64)),
            zlib.crc32(repr(shape).encode()) & 0x7FFFFFFF,
        ],
        dtype=np.int64,
    )
    meta[0] = meta[0] * 1024 + int(extra)
    buf = np.concatenate([meta, -meta])
    pg.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
    if np.array_equal(buf[:5], -buf[5:]):
        return
    seq = int(pg.token._data[0])
    descs = pg.comm.allgather((optype, shape, np.dtype(arr.dtype).name, int(extra)))
    me = descs[pg.rank()]
    other = next(r for r, d in enumerate(descs) if d != me)
    raise RuntimeError(
        "Detected mismatch between collectives on ranks. "
        f"Rank {pg.rank()} is running collective: {_fingerprint_text(*me[:3], seq)}"
        f"{'' if not me[3] else f' (src={me[3] - 1})'}, but Rank {other} is running collective: "
        f"{_fingerprint_text(*descs[other][:3], seq)}"
        f"{'' if not descs[other][3] else f' (src={descs[other][3] - 1})'}. "
        "Every rank must call the same collectives in the same order on tensors of the same "
        "shape and dtype."
    )


# ---------------------------------------------------------------- array-level collectives -------
def _contig_copy(x):
    return np.array(x, copy=True, order="C")


def allreduce_array(x, op="sum", check=True):
    """A new array: ``x`` reduced over all ranks (``op``: sum, avg, product, min, max)."""
    pg = default_group()
    if check:
        check_same(pg, "all_reduce", x)
    buf = _contig_copy(x)
    start_allreduce(pg, buf, op).Wait()
    if op == "avg":
        buf /= pg.size()
    return buf


def start_allreduce(pg, buf, op="sum"):
    """Start ``Iallreduce`` in place on a contiguous array; returns the MPI request."""
    return pg.comm.Iallreduce(_mpi().IN_PLACE, buf, op=_mpi_op(op))


def broadcast_array(x, src=0, check=True):
    """A new array holding rank ``src``'s ``x``."""
    pg = default_group()
    if check:
        check_same(pg, "broadcast", x, extra=src + 1)
    buf = _contig_copy(x)
    pg.comm.Ibcast(buf, root=src).Wait()
    return buf


def allgather_array(x, check=True):
    """An array of shape ``(world_size, *x.shape)``: every rank's ``x``."""
    pg = default_group()
    if check:
        check_same(pg, "all_gather", x)
    send = np.ascontiguousarray(x)
    out = np.empty((pg.size(),) + x.shape, dtype=x.dtype)
    pg.comm.Iallgather(send, out).Wait()
    return out


def bump(pg):
    """Count one eager collective (graph nodes count through ``dist_token`` instead)."""
    pg.token._data[0] += 1


# ---------------------------------------------------------------- graph nodes --------------------
def _all_reduce_impl(x, token, op, check, bucket=-1):
    return allreduce_array(x, op, check)


def _all_reduce_vjp(g, out, x, token, op, check, bucket=-1):
    if op not in ("sum", "avg"):
        raise RuntimeError(f"all_reduce with ReduceOp.{op.upper()} is not differentiable")
    if STATE.tracer is None:
        pg = default_group()
        r = _wrap(allreduce_array(g._data, op))
        bump(pg)
        return (r, None)
    return (traced_collective(all_reduce_p, g, {"op": op, "check": True}), None)


# a flag passes and table-driven tests can read: the op talks to other processes (never fold,
# merge, drop or call it outside a step; its order among collectives matters)
_COLLECTIVE = {"collective": True}

all_reduce_p = register(
    "all_reduce",
    "opaque",
    _all_reduce_impl,
    vjp=_all_reduce_vjp,
    saves=(),
    n_diff=1,
    doc="MPI Iallreduce of the first input; the second is the group's ordering token",
    extra=_COLLECTIVE,
)
broadcast_p = register(
    "broadcast",
    "opaque",
    lambda x, token, src, check, bucket=-1: broadcast_array(x, src, check),
    doc="MPI Ibcast from rank src; the second input is the group's ordering token",
    extra=_COLLECTIVE,
)
all_gather_p = register(
    "all_gather",
    "opaque",
    lambda x, token, check: allgather_array(x, check),
    doc="MPI Iallgather, stacked on a new first axis",
    extra=_COLLECTIVE,
)
# the token: counts the group's collectives; threading it through every collective node keeps
# dead-code elimination, constant folding and CSE from dropping, running early or merging them
dist_token_p = register(
    "dist_token",
    "opaque",
    lambda token, dep: token + 1,
    doc="token' = token + 1 after the collective that produced dep",
    extra=_COLLECTIVE,
)


def traced_collective(prim, x, params):
    """Run collective ``prim`` on Tensor ``x`` as a graph node (call only under a tracer)."""
    from ._guard import exchange

    pg = default_group()
    exchange(pg, STATE.tracer, prim.name, x, params)
    r = apply(prim, (x, pg.token), params)
    nt = apply(dist_token_p, (pg.token, r))
    with no_grad():
        pg.token.copy_(nt)
    return r


# ---------------------------------------------------------------- the public functions -----------
class Work:
    """The handle ``async_op=True`` returns: ``wait()`` finishes the collective."""

    def __init__(self, req=None, finish=None):
        self._req = req
        self._finish = finish
        self._done = req is None

    def wait(self, timeout=None):
        """Block until the collective is done and its result is in the tensor."""
        if not self._done:
            self._req.Wait()
            self._done = True
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self):
        """True once the collective has finished (and ``wait`` has stored the result)."""
        if not self._done and self._req.Test():
            self.wait()
        return self._done


def _store(t, arr):
    """Write ``arr`` into ``t`` in place (a collective is not an autograd op, as in torch)."""
    np.copyto(t._data, arr.reshape(t._data.shape))
    t._vc[0] += 1


def _traced_write(t, r):
    with no_grad():
        t.copy_(r.reshape(t.shape))


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: ``dist.all_reduce(t, op=ReduceOp.SUM)``."""
    name = _op_name(op)
    pg = default_group(group)
    _check_tensor("all_reduce", tensor)
    if STATE.tracer is not None:
        _traced_write(tensor, traced_collective(all_reduce_p, tensor, {"op": name, "check": True}))
        return Work() if async_op else None
    if not async_op:
        _store(tensor, allreduce_array(tensor._data, name))
        bump(pg)
        return None
    check_same(pg, "all_reduce", tensor._data)
    buf = _contig_copy(tensor._data)
    req = start_allreduce(pg, buf, name)
    bump(pg)

    def finish():
        if name == "avg":
            buf.__itruediv__(pg.size())
        _store(tensor, buf)

    return Work(req, finish)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank: ``dist.broadcast(t, 0)``."""
    pg = default_group(group)
    if src is None:
        src = group_src if group_src is not None else 0
    _check_tensor("broadcast", tensor)
    if not isinstance(src, (int, np.integer)) or not 0 <= src < pg.size():
        raise RuntimeError(
            f"broadcast: invalid root rank: {src} (the world size is {pg.size()}; "
            f"src must be in [0, {pg.size() - 1}])"
        )
    src = int(src)
    if STATE.tracer is not None:
        r = traced_collective(broadcast_p, tensor, {"src": src, "check": True})
        _traced_write(tensor, r)
        return Work() if async_op else None
    _store(tensor, broadcast_array(tensor._data, src))
    bump(pg)
    return Work() if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` on every rank."""
    pg = default_group(group)
    _check_tensor("all_gather", tensor)
    n = pg.size()
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != n:
        got = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list)
        raise RuntimeError(
            f"all_gather: invalid output tensor list at index 0 (expected length {n}, got {got})"
        )
    for i, o in enumerate(tensor_list):
        _check_tensor("all_gather", o, f"tensor_list[{i}]")
        if o._data.shape != tensor._data.shape or o._data.dtype != tensor._data.dtype:
            raise RuntimeError(
                f"all_gather: invalid tensor size at index {i} (expected "
                f"{tuple(tensor.shape)} {tensor.dtype}, got {tuple(o.shape)} {o.dtype})"
            )
    if STATE.tracer is not None:
        r = traced_collective(all_gather_p, tensor, {"check": True})
        for i, o in enumerate(tensor_list):
            _traced_write(o, r[i])
        return Work() if async_op else None
    out = allgather_array(tensor._data)
    bump(pg)
    for i, o in enumerate(tensor_list):
        _store(o, out[i])
    return Work() if async_op else None


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Wait until every rank has reached this call."""
    pg = default_group(group)
    if STATE.tracer is not None:
        from ..tensor import TraceError

        raise TraceError(
            "barrier() inside @jitgrad.trace: a compiled step keeps only collectives that "
            "produce tensors; call barrier() outside the traced step"
        )
    pg.comm.Ibarrier().Wait()
    bump(pg)
    return Work() if async_op else None
