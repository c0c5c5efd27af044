"""Static-graph mode: capture (tracer), IR (graph), passes, backends, the trace decorator."""

# numba's OpenMP threads sleep, not spin, while BLAS runs (PERF-NOTES section 1): the wait
# policy is given to numba's runtime alone when its threads start (backends/calibrate.py),
# not put in os.environ here, where every OpenMP runtime loaded later would read it
from .errors import NonFiniteError, TraceCheckError, TraceError
from .trace import TracedFunction, trace

__all__ = ["trace", "TracedFunction", "TraceCheckError", "NonFiniteError", "TraceError"]
