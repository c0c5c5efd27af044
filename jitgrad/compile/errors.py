"""The exceptions of static-graph mode (one home, so no module imports another for them)."""

from ..tensor import TraceError


class TraceCheckError(AssertionError):
    """``check=True`` found compiled results that differ from eager ones."""


class NonFiniteError(RuntimeError):
    """``check_finite=True``: a compiled step produced NaN or inf (nothing was updated)."""


__all__ = ["TraceError", "TraceCheckError", "NonFiniteError"]
