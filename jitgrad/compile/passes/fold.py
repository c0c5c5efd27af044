"""Constant folding and algebra: ops on constants run now; identities disappear.

Which identities hold is a fact of each op (``Primitive.identities``, ``Primitive.noop``),
read here. Outside ``fastmath=True`` only IEEE-exact ones apply: ``x * 1``, ``x / 1``,
``x + -0.0``, ``x - 0.0`` for floats; ``x * 0``, ``x - x``, ``x + 0`` also for integers.
``x * 0`` is NaN for x = inf or NaN and ``x + 0.0`` is +0.0 for x = -0.0, so those (and
``x / x``) need ``fastmath=True``.
"""

import math

import numpy as np

from ...ops.matmul import matmul_p
from ...ops.movement import permute_p
from ..graph import GNode
from .cse import finish, rename

_FOLD_LIMIT = 1 << 16  # elements: larger constant results stay as ops


def fold(g, fastmath=None):
    """Fold constants and identities; ``fastmath=True`` also uses the inexact identities."""
    fast = fastmath is True or fastmath == "fast"
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
        if n.out not in live:
            kind, x = _identity(out, n, val, fast)
            if kind == "value":
                sub[n.out] = x
                continue
            if kind == "const":
                out.consts[n.out] = np.full(val.shape, x, dtype=val.dtype)
                continue
        nodes.extend(_rewrite(out, n, producer, users))
        producer[n.out] = nodes[-1]
    out.nodes = nodes
    return finish(out, sub)


def _scalar_is(c, value, dtype):
    """Is constant ``c`` the scalar ``value`` (a float zero only with the same sign)?"""
    if c is None or c.size != 1:
        return False
    x = c.reshape(()).item()
    if x != value:
        return False
    if dtype.kind == "f" and x == 0:
        return math.copysign(1.0, x) == math.copysign(1.0, value)
    return True


def _identity(g, n, val, fast):
    """("value", vid) when ``n`` returns an input unchanged, ("const", number) when it is a
    constant, else (None, None)."""
    prim = n.op

    def same_as(v):
        x = g.values[v]
        return v if x.shape == val.shape and x.dtype == val.dtype else None

    if prim.noop is not None and n.ins:
        x = g.values[n.ins[0]]
        if prim.noop(n.params, x.shape, val.shape) and same_as(n.ins[0]) is not None:
            return "value", n.ins[0]
    for ident in prim.identities:
        if ident.exact == "fast" and not fast:
            continue
        if ident.exact == "int" and not fast and val.dtype.kind not in "biu":
            continue
        if ident.const_pos is None:
            if len(n.ins) != 2 or n.ins[0] != n.ins[1]:
                continue
            other = n.ins[0]
        else:
            if not _scalar_is(g.consts.get(n.ins[ident.const_pos]), ident.value, val.dtype):
                continue
            other = n.ins[1 - ident.const_pos]
        if ident.result == "x":
            if same_as(other) is not None:
                return "value", other
        elif val.size <= _FOLD_LIMIT and g.values[other].shape == val.shape:
            return "const", ident.result
    return None, None


def _rewrite(g, n, producer, users):
    """Algebra on layouts: permute of permute composes; ``(a @ b).T`` becomes ``b.T @ a.T`` so
    the result is produced contiguous (the transposes are free views for BLAS)."""
    if n.op is not permute_p:
        return [n]
    p = producer.get(n.ins[0])
    if p is None or users.get(n.ins[0], 0) != 1:
        return [n]
    dims = n.params["dims"]
    if p.op is permute_p:
        inner = p.params["dims"]
        comp = tuple(inner[d] for d in dims)
        return [GNode(n.op, [p.ins[0]], {"dims": comp}, n.out, n.where)]
    if p.op is matmul_p and dims == (1, 0) and len(g.values[n.out].shape) == 2:
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
