"""Backends: ``reference`` (NumPy interpreter, the oracle), ``cpu`` (numba), ``cuda``."""
