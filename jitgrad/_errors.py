"""Exception classes for bad input that ``except`` clauses written for PyTorch still catch.

Where PyTorch raises one builtin class and jitgrad historically raised another, the error
derives from both, so code written for either keeps working (one home, no copies)."""


class IndexRuntimeError(IndexError, RuntimeError):
    """An index or dim out of range where PyTorch raises IndexError or RuntimeError."""


class ValueRuntimeError(ValueError, RuntimeError):
    """A bad value where PyTorch raises ValueError or RuntimeError."""


class TypeRuntimeError(TypeError, RuntimeError):
    """A wrong argument type or dtype where PyTorch raises RuntimeError (or TypeError)."""


class TypeValueRuntimeError(TypeRuntimeError, ValueError):
    """Strings as tensor data: PyTorch raises ValueError for a list of them, else TypeError."""


class ValueAssertionError(ValueError, AssertionError):
    """A bad value where PyTorch asserts (AssertionError) and jitgrad raised ValueError."""


class IndexTypeError(IndexError, TypeError):
    """An index of a wrong type where PyTorch raises TypeError (a str or bytes index)."""


class KeyAttributeError(KeyError, AttributeError):
    """A missing key where PyTorch raises AttributeError (its ParameterDict reads attributes)."""

    def __str__(self):  # KeyError's str() quotes its argument; AttributeError's does not
        return str(self.args[0]) if self.args else ""


class NotImplementedDtypeError(NotImplementedError):
    """An op given a dtype it has no kernel for (PyTorch: NotImplementedError, a RuntimeError)."""


__all__ = [
    "IndexRuntimeError",
    "ValueRuntimeError",
    "TypeRuntimeError",
    "TypeValueRuntimeError",
    "ValueAssertionError",
    "KeyAttributeError",
    "IndexTypeError",
    "NotImplementedDtypeError",
]
