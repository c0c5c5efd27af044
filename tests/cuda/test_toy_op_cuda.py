"""The toy op of tests/ops/toy_op.py on the CUDA backend: its registry template is pasted
into the generated CUDA kernel; eager and traced agree (forward and gradient)."""

from ..core.optable import run_traced
from ..ops.toy_op import ROW


def test_toy_op_on_cuda():
    bad, ts = run_traced([ROW], "cuda")
    assert not bad, bad
    assert ts.last.exe.fallbacks == []
    assert "(1.0 + abs(" in ts.source()
