"""Value substitution shared by the passes that replace one value by another."""

from ..graph import GNode


def rename(n, sub):
    if not sub or not any(v in sub for v in n.ins):
        return n
    return GNode(n.op, [sub.get(v, v) for v in n.ins], n.params, n.out, n.where)


def resolve(sub, v):
    while v in sub:
        v = sub[v]
    return v
