"""Constant folding and simple algebra: ops on constants run now; identities disappear."""

import numpy as np

from ..graph import GNode
from ._rename import rename
from .cse import _finish

_FOLD_LIMIT = 1 << 16  # elements: larger constant results stay as ops


def _const_value(g, v):
    c = g.consts.get(v)
    return None if c is None else c


def _is_scalar_const(g, v, value):
    c = g.consts.get(v)
    return c is not None and c.size == 1 and c.reshape(()).item() == value


def fold(g):
    sub = {}
    nodes = []
    out = g.copy_shell()
    live = set(g.live_outputs())
    producer = {}
    users = {}
    for n in g.nodes:
        for v in n.ins:
            users[v] = users.get(v, 0) + 1
    for n in g.nodes:
        n = rename(n, sub)
        val = g.values[n.out]
        consts = [out.consts.get(v) for v in n.ins]
        if (
            n.ins
            and all(c is not None for c in consts)
            and val.size <= _FOLD_LIMIT
            and n.op.impl is not None
            and n.out not in live
        ):
            r = np.asarray(n.op.impl(*consts, **n.params))
            out.consts[n.out] = np.array(r, dtype=val.dtype).reshape(val.shape)
            continue
        same = _identity_input(out, n, val)
        if same is not None and n.out not in live:
            sub[n.out] = same
            continue
        nodes.extend(_rewrite(out, n, producer, users))
        producer[n.out] = nodes[-1]
    out.nodes = nodes
    return _finish(out, sub)


def _identity_input(g, n, val):
    """The input ``n`` returns unchanged (x*1, x+0, x-0, x/1, same-dtype cast, same shape)."""
    name = n.op.name

    def same_as(v):
        x = g.values[v]
        return v if x.shape == val.shape and x.dtype == val.dtype else None

    if name in ("reshape", "expand", "cast", "copy") or (
        name == "permute" and n.params["dims"] == tuple(range(len(val.shape)))
    ):
        return same_as(n.ins[0]) if name != "copy" else None
    if name in ("mul", "div") and _is_scalar_const(g, n.ins[1], 1):
        return same_as(n.ins[0])
    if name == "mul" and _is_scalar_const(g, n.ins[0], 1):
        return same_as(n.ins[1])
    if name in ("add", "sub") and _is_scalar_const(g, n.ins[1], 0):
        return same_as(n.ins[0])
    if name == "add" and _is_scalar_const(g, n.ins[0], 0):
        return same_as(n.ins[1])
    return None


def _rewrite(g, n, producer, users):
    """Algebra on layouts: permute of permute composes; ``(a @ b).T`` becomes ``b.T @ a.T`` so
    the result is produced contiguous (the transposes are free views for BLAS)."""
    if n.op.name != "permute":
        return [n]
    p = producer.get(n.ins[0])
    if p is None or users.get(n.ins[0], 0) != 1:
        return [n]
    dims = n.params["dims"]
    if p.op.name == "permute":
        inner = p.params["dims"]
        comp = tuple(inner[d] for d in dims)
        return [GNode(n.op, [p.ins[0]], {"dims": comp}, n.out, n.where)]
    if p.op.name == "matmul" and dims == (1, 0) and len(g.values[n.out].shape) == 2:
        a, b = p.ins
        if len(g.values[a].shape) != 2 or len(g.values[b].shape) != 2:
            return [n]
        at = g.new_value(g.values[a].shape[::-1], g.values[a].dtype)
        bt = g.new_value(g.values[b].shape[::-1], g.values[b].dtype)
        return [
            GNode(n.op, [b], {"dims": (1, 0)}, bt, n.where),
            GNode(n.op, [a], {"dims": (1, 0)}, at, n.where),
            GNode(p.op, [bt, at], {}, n.out, n.where),
        ]
    return [n]
