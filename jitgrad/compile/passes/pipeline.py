"""The ordered list of passes every traced graph goes through."""

from .cse import cse
from .dce import dce
from .fold import fold
from .fuse import fuse
from .memory import memory

# fuse is skipped for the reference backend (it interprets nodes one by one); memory planning
# comes last: it annotates the final node list
PIPELINE = [dce, fold, cse, dce, fuse, memory]


def optimize(g, fusion=True, fastmath=None):
    """Run the pipeline; returns (graph, per-pass node counts for ``explain``).

    ``fastmath=True`` lets ``fold`` use identities that are not IEEE-exact (``x * 0 -> 0``).
    """
    counts = [("traced", len(g.nodes))]
    for p in PIPELINE:
        if p is fuse and not fusion:
            continue
        g = fold(g, fastmath=fastmath) if p is fold else p(g)
        counts.append((p.__name__, len(g.nodes)))
    return g, counts
