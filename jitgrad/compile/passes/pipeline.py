"""The ordered list of passes every traced graph goes through."""

from .cse import cse
from .dce import dce
from .fold import fold
from .fuse import fuse

PIPELINE = [dce, fold, cse, dce]
FUSION = [fuse]


def optimize(g, fusion=True):
    """Run the pipeline; returns (graph, per-pass node counts for ``explain``)."""
    counts = [("traced", len(g.nodes))]
    for p in PIPELINE + (FUSION if fusion else []):
        g = p(g)
        counts.append((p.__name__, len(g.nodes)))
    return g, counts
