"""Exception classes for bad input that ``except`` clauses written for PyTorch still catch.

Where PyTorch raises one builtin class and jitgrad historically raised another, the error
derives from both, so code written for either keeps working (one home, no copies)."""


class IndexRuntimeError(IndexError, RuntimeError):
    """An index or dim out of range where PyTorch raises IndexError or RuntimeError."""


class ValueRuntimeError(ValueError, RuntimeError):
    """A bad value where PyTorch raises ValueError or RuntimeError."""


class NotImplementedDtypeError(NotImplementedError):
    """An op given a dtype it has no kernel for (PyTorch: NotImplementedError, a RuntimeError)."""


__all__ = ["IndexRuntimeError", "ValueRuntimeError", "NotImplementedDtypeError"]
