"""Elementwise fusion: connected elementwise ops of one output shape become one loop nest.

A ``FusedNode`` holds its member nodes in order, the values it reads from outside (any shape
that broadcasts to the group's shape) and the values other nodes or the caller need.
A view op that is fusible (``expand``) joins a group as a broadcast read. A node joins a
producer's group only if that cannot create a cycle (no path from the group to the node
through a non-member).
"""

import heapq


class _FusedOp:
    name = "fused"
    kind = "fused"
    impl = None
    effect = False


FUSED = _FusedOp()


class FusedNode:
    __slots__ = ("members", "ins", "outs", "shape", "where")

    def __init__(self, members, ins, outs, shape):
        self.members = members
        self.ins = tuple(ins)
        self.outs = tuple(outs)
        self.shape = tuple(shape)
        self.where = None

    op = FUSED
    params = {}

    @property
    def out(self):
        return self.outs[0]

    @property
    def name(self):
        return "fused[" + ",".join(m.op.name for m in self.members) + "]"


def fusible(g, n):
    """Can ``n`` join a fused loop? (``Primitive.fusible``: elementwise ops with a scalar
    template, and ``expand``, which inside a loop is a broadcast read)."""
    return n.op.fusible


def fuse(g):
    groups = []  # list of lists of node indices
    group_of = {}  # node index -> group id
    producer = {}  # vid -> node index
    unit = {}  # node index -> unit key: ("g", group id) or ("n", node index)
    deps = {}  # unit key -> set of unit keys it reads from directly

    def reaches(a, b):
        """Does unit ``a`` (transitively) read from unit ``b``?"""
        stack, seen = [a], set()
        while stack:
            u = stack.pop()
            if u == b:
                return True
            if u in seen:
                continue
            seen.add(u)
            stack.extend(deps.get(u, ()))
        return False

    for i, n in enumerate(g.nodes):
        shape = g.values[n.out].shape
        in_units = {unit[producer[v]] for v in n.ins if v in producer}
        chosen = None
        if fusible(g, n):
            for v in n.ins:
                p = producer.get(v)
                if p is None or p not in group_of:
                    continue
                gid = group_of[p]
                if g.values[g.nodes[groups[gid][0]].out].shape != shape:
                    continue
                key = ("g", gid)
                # joining is safe unless another input's producer already depends on this group
                if all(u == key or not reaches(u, key) for u in in_units):
                    chosen = gid
                    break
            if chosen is None:
                chosen = len(groups)
                groups.append([])
            groups[chosen].append(i)
            group_of[i] = chosen
            key = ("g", chosen)
            deps.setdefault(key, set()).update(u for u in in_units if u != key)
            # pull the other same-shape groups this node reads into its group when no path
            # between the two runs through a node outside them (fewer loops, fewer buffers)
            for u in sorted(in_units):
                if u[0] != "g" or u == key or not groups[u[1]]:
                    continue
                h = u[1]
                if g.values[g.nodes[groups[h][0]].out].shape != shape:
                    continue
                if any(d != u and reaches(d, u) for d in deps.get(key, ())) or any(
                    d != key and reaches(d, key) for d in deps.get(u, ())
                ):
                    continue
                for j in groups[h]:
                    group_of[j] = chosen
                    unit[j] = key
                groups[chosen] = sorted(groups[chosen] + groups[h])
                groups[h] = []
                merged = deps.pop(u, set())
                deps.setdefault(key, set()).update(d for d in merged if d != key)
                for ds in deps.values():
                    if u in ds:
                        ds.discard(u)
                        ds.add(key)
                deps[key].discard(key)
                in_units = {key if x == u else x for x in in_units}
        else:
            key = ("n", i)
        unit[i] = key
        deps.setdefault(key, set()).update(u for u in in_units if u != key)
        producer[n.out] = i

    # condense: one unit per group, then order units topologically (original order breaks ties)
    users = {}
    for i, n in enumerate(g.nodes):
        for v in n.ins:
            users.setdefault(v, set()).add(i)
    live = set(g.live_outputs())
    units = []
    unit_of = {}
    for i, n in enumerate(g.nodes):
        gid = group_of.get(i)
        if gid is None:
            unit_of[i] = len(units)
            units.append(n)
        elif groups[gid][0] == i:
            members = [g.nodes[j] for j in groups[gid]]
            uid = len(units)
            for j in groups[gid]:
                unit_of[j] = uid
            if len(members) == 1 and members[0].op.view:  # a lone expand stays a view
                units.append(members[0])
                continue
            mset = set(groups[gid])
            produced = {m.out for m in members}
            ins = []
            for m in members:
                for v in m.ins:
                    if v not in produced and v not in ins:
                        ins.append(v)
            outs = [
                m.out
                for m in members
                if m.out in live or any(u not in mset for u in users.get(m.out, ()))
            ]
            units.append(FusedNode(members, ins, outs, g.values[members[-1].out].shape))
    prod_unit = {}
    for i, n in enumerate(g.nodes):
        prod_unit[n.out] = unit_of[i]
    deps = [set() for _ in units]
    for uid, u in enumerate(units):
        for v in u.ins:
            p = prod_unit.get(v)
            if p is not None and p != uid:
                deps[uid].add(p)
    rdeps = [[] for _ in units]
    for uid, ds in enumerate(deps):
        for d in ds:
            rdeps[d].append(uid)
    count = [len(d) for d in deps]
    ready = [u for u in range(len(units)) if count[u] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(units[u])
        for w in rdeps[u]:
            count[w] -= 1
            if count[w] == 0:
                heapq.heappush(ready, w)
    if len(order) != len(units):
        raise RuntimeError("internal: fusion created a cycle")
    res = g.copy_shell()
    res.nodes = order
    return res
