"""Dead-code elimination: drop nodes whose values nothing needs (``Primitive.effect`` nodes,
the checks that raise, stay)."""


def dce(g):
    live = set(g.live_outputs())
    keep = []
    for n in reversed(g.nodes):
        if n.out in live or n.op.effect:
            keep.append(n)
            live.update(n.ins)
    out = g.copy_shell()
    out.nodes = keep[::-1]
    return out
