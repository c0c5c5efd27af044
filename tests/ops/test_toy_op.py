"""The toy op of ``toy_op.py`` through the standard op-table checks: forward vs NumPy, first
and second derivatives vs finite differences, and eager vs traced on the reference and CPU
backends (the CUDA run is tests/cuda/test_toy_op_cuda.py)."""

from ..core import test_optable as table
from ..core.optable import run_traced
from .toy_op import ROW


def test_toy_op_eager_forward_and_derivatives():
    table.test_forward_matches_numpy(ROW)
    table.test_first_derivative(ROW)
    table.test_second_derivative(ROW)


def test_toy_op_traced_reference_and_cpu():
    for backend in ("reference", "cpu"):
        bad, ts = run_traced([ROW], backend)
        assert not bad, bad
        assert ts.last.exe.fallbacks == []
    assert "(1.0 + abs(" in ts.source()  # its template is in the compiled loop
