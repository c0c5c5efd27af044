"""Common-subexpression elimination (every primitive is a pure function of its inputs)."""

from ..graph import GNode


def rename(n, sub):
    """``n`` with its inputs substituted through ``sub`` (vid -> vid)."""
    if not sub or not any(v in sub for v in n.ins):
        return n
    return GNode(n.op, [sub.get(v, v) for v in n.ins], n.params, n.out, n.where)


def cse(g):
    seen = {}
    sub = {}
    nodes = []
    consts = {}
    for vid, c in list(g.consts.items()):
        if c.size <= 64:
            k = (c.shape, c.dtype.str, c.tobytes())
            if k in consts:
                sub[vid] = consts[k]
            else:
                consts[k] = vid
    for n in g.nodes:
        n = rename(n, sub)
        k = n.key()
        hit = seen.get(k)
        if hit is not None:
            sub[n.out] = hit
            continue
        seen[k] = n.out
        nodes.append(n)
    out = g.copy_shell()
    out.nodes = nodes
    return finish(out, sub)


def finish(g, sub):
    """Point outputs, state writes and ``.grad`` bindings at the substituted values."""
    g.outputs = [sub.get(v, v) for v in g.outputs]
    g.state_writes = [(i, sub.get(v, v)) for i, v in g.state_writes]
    g.grad_binds = [(t, None if v is None else sub.get(v, v)) for t, v in g.grad_binds]
    return g
