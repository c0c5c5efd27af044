"""The conv/pool/pad/norm op-table rows (``conv_rows.py``): forward vs the NumPy loops,
first and second derivatives vs float64 finite differences, eager vs traced on the reference
and CPU backends (the CUDA run of the same rows is ``tests/cuda/test_conv_rows_cuda.py``)."""

import numpy as np
import pytest

import jitgrad as jg

from ..core.optable import run_traced
from ._fd import assert_close, check_grad, check_second_order
from .conv_rows import rows

ROWS = rows()
IDS = [c.id for c in ROWS]


def _call(case, arrays):
    return case.fn(*[jg.tensor(a) for a in arrays])


@pytest.mark.parametrize("case", ROWS, ids=IDS)
def test_forward_matches_numpy_loops(case):
    out = _call(case, case.args)
    ref = np.asarray(case.ref(*case.args))
    assert out.shape == ref.shape and out.dtype == jg.tensor(ref).dtype
    assert_close(out.detach().numpy(), ref, 1e-10, 1e-12, what=f"{case.id} float64")
    out32 = _call(case, [a.astype(np.float32) for a in case.args])
    assert out32.dtype == (jg.float32 if ref.dtype.kind == "f" else jg.int64)
    assert_close(out32.detach().numpy(), ref, 1e-4, 1e-4, what=f"{case.id} float32")


DIFF = [c for c in ROWS if c.grad]


@pytest.mark.parametrize("case", DIFF, ids=[c.id for c in DIFF])
def test_first_and_second_derivatives(case):
    check_grad(case.fn, *case.args, rtol=1e-5, atol=1e-6)
    # squared: the linear rows (pooling, padding, conv in each argument) get a second
    # derivative that depends on the input
    check_second_order(lambda *a: case.fn(*a) ** 2, *case.args, rtol=1e-4, atol=1e-5)


# the CPU backend compiles every loop of the batched step with numba (minutes for all rows
# on a loaded 2-core machine): there, a subset with each kernel op, gradient of gradient and
# BatchNorm fused with its neighbours; the reference backend runs every row
CPU_ROWS = ["max_pool2d_grad_of_grad_overlap", "conv_bn_residual_relu", "pad_constant"]


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_rows_traced_match_eager(backend):
    sel = ROWS if backend == "reference" else [c for c in ROWS if c.name in CPU_ROWS]
    bad, ts = run_traced(sel, backend)
    assert not bad, "\n".join(bad[:40])
    ops = {n.op.name for n in ts.traced_graph.nodes}
    need = {"conv2d_grad_input", "conv2d_grad_weight", "max_pool2d_grad", "max_pool2d_gather"}
    assert need <= ops, need - ops
    if backend == "cpu":  # the conv/pool/pad ops call their numba kernels from the step
        assert "constant_pad_nd" in ops
        assert ts.last.exe.fallbacks == []
