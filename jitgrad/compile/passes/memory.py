"""Memory planning: which values a fused loop writes straight into state, which buffers a
later loop may reuse. The last pass of the pipeline; it annotates the graph (``g.memplan``)
and changes no node, so every backend reads the same plan.

Rules (views are followed through ``Primitive.view``: a view of a value is the value):
- direct write: the final value of a state/grad input, computed by a fused loop, goes into the
  state's own buffer when nothing reads the old value (or a view of it) later, the loop reads
  it only element-for-element, neither value is returned, and no node that may raise
  (``Primitive.may_raise``) comes after the loop: an error leaves every parameter untouched.
- reuse: a fused loop's output may take the buffer of a value the same loop reads for the
  last time (same shape and dtype, produced by another fused loop, never returned or viewed
  later); the loop reads each element before it writes it.
"""

from .fuse import FusedNode


class MemPlan:
    __slots__ = ("root", "direct", "reuse", "last_raise")

    def __init__(self, root, direct, reuse, last_raise):
        self.root = root  # vid -> the value it may be a view of
        self.direct = direct  # state value vid -> input index it is written into
        self.reuse = reuse  # vid -> donor vid whose buffer it takes
        self.last_raise = last_raise  # index of the last node that may raise (-1: none)

    def __repr__(self):
        return f"MemPlan(direct={self.direct}, reuse={self.reuse}, last_raise={self.last_raise})"


def _outs(n):
    return n.outs if isinstance(n, FusedNode) else (n.out,)


def plan(g):
    """The ``MemPlan`` of a graph (after fusion)."""
    root = {}
    for n in g.nodes:
        if not isinstance(n, FusedNode) and n.op.view and n.ins:
            root[n.out] = root.get(n.ins[0], n.ins[0])
    r = lambda v: root.get(v, v)  # noqa: E731
    pos = {}
    for i, n in enumerate(g.nodes):
        for o in _outs(n):
            pos[o] = i
    last_read = {}
    for i, n in enumerate(g.nodes):
        for v in n.ins:
            last_read[r(v)] = i
    exported = {r(v) for v in g.outputs}
    exported |= {r(v) for _, v in g.grad_binds if v is not None}
    state_vals = {v for _, v in g.state_writes}
    last_raise = max(
        [i for i, n in enumerate(g.nodes) if not isinstance(n, FusedNode) and n.op.may_raise] + [-1]
    )
    direct = {}
    seen = set()
    for idx, vid in g.state_writes:
        inp = g.inputs[idx]
        old = inp.vid
        p = pos.get(vid)
        if (
            p is None
            or not isinstance(g.nodes[p], FusedNode)
            or idx in seen
            or vid in direct
            or inp.kind not in ("state", "grad")
            or old in exported
            or vid in exported
            or g.values[vid].shape != g.values[old].shape
            or last_read.get(old, -1) > p
            or p < last_raise
            or any(r(v) == old and v != old for v in g.nodes[p].ins)
        ):
            continue
        seen.add(idx)
        direct[vid] = idx
    reuse = {}
    fused_out = {o for n in g.nodes if isinstance(n, FusedNode) for o in n.outs}
    inputs = {inp.vid for inp in g.inputs}
    taken = set()
    for i, n in enumerate(g.nodes):
        if not isinstance(n, FusedNode):
            continue
        donors = [
            v
            for v in n.ins
            if v in fused_out
            and v not in taken
            and v not in exported
            and v not in state_vals
            and v not in direct
            and v not in inputs
            and v not in root.values()
            and last_read.get(v) == i
            and g.values[v].shape == tuple(n.shape)
        ]
        for o in n.outs:
            if o in direct:
                continue
            for v in donors:
                if v not in taken and g.values[v].dtype == g.values[o].dtype:
                    # a chain of reuses shares one buffer: follow it to the first owner
                    reuse[o] = reuse.get(v, v)
                    taken.add(v)
                    break
    return MemPlan(root, direct, reuse, last_raise)


def memory(g):
    """``g`` with its memory plan attached (``.memplan``); nodes are unchanged."""
    out = g.copy_shell()
    out.nodes = list(g.nodes)
    out.memplan = plan(out)
    return out


def plan_of(g):
    """``g.memplan``, computed now for graphs that did not go through the pipeline."""
    mp = getattr(g, "memplan", None)
    return mp if mp is not None else plan(g)
