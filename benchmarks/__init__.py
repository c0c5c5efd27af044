"""jitgrad's benchmark suite: ``python -m benchmarks`` (see ``benchmarks/run.py``).

Nothing here imports NumPy at package import time: the runner must fix thread counts in the
environment before any BLAS or OpenMP library loads.
"""
