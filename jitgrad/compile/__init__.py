"""Static-graph mode: capture (tracer), IR (graph), passes, backends, the trace decorator."""

import os

# numba's OpenMP threads must sleep, not spin, while BLAS runs (PERF-NOTES section 1)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import NonFiniteError, TraceCheckError, TraceError  # noqa: E402
from .trace import TracedFunction, trace  # noqa: E402

__all__ = ["trace", "TracedFunction", "TraceCheckError", "NonFiniteError", "TraceError"]
