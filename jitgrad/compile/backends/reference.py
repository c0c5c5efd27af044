"""The reference backend: runs each node's NumPy implementation in graph order (the oracle)."""

import numpy as np

from ..passes.fuse import FusedNode
from .core import Executable


class ReferenceExecutable(Executable):
    """Interprets the graph; the same ``run``/``deferred``/``commit`` contract as the
    compiled backends (it has no slow path, so ``fallbacks`` is always empty)."""

    name = "reference"

    def __init__(self, graph, options=None):
        super().__init__(graph, options)
        self.compile_seconds = 0.0

    def source(self):
        return "# reference backend: no generated source\n" + str(self.g)

    def run(self, arrays):
        g = self.g
        env = dict(g.consts)
        for inp, a in zip(g.inputs, arrays):
            env[inp.vid] = a
        for n in g.nodes:
            members = n.members if isinstance(n, FusedNode) else (n,)
            for m in members:
                # the NumPy reference (an op whose impl runs a numba kernel keeps it in extra)
                impl = m.op.extra.get("ref", m.op.impl)
                r = impl(*[env[v] for v in m.ins], **m.params)
                val = g.values[m.out]
                if not isinstance(r, np.ndarray) or r.dtype != val.dtype:
                    r = np.asarray(r, dtype=val.dtype)
                env[m.out] = r
        # outputs first (copies where they alias state that is about to be written)
        outs = {}
        targets = [arrays[i] for i, _ in g.state_writes]
        for v in g.live_outputs():
            a = env[v]
            alias = not a.flags.writeable or any(np.may_share_memory(a, t) for t in targets)
            outs[v] = a.copy() if alias else a
        if not self.deferred:
            for i, v in g.state_writes:
                np.copyto(arrays[i], env[v])
        return outs
