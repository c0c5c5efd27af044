"""Every kernel kind of the CUDA backend vs eager and vs the CPU backend (tiny shapes).

Op coverage is the op table's job (tests/cuda/test_optable_cuda.py); these tests pick the
kernel variants: reduction strategies, matmul tiles and transposes, views, index errors.
"""

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn.functional as F

from ..core.optable import compiled_sample, run_traced
from .conftest import parity

R = np.random.default_rng(0)


def _any(*s, dt=np.float64):
    return R.uniform(-2.0, 2.0, s).astype(dt)


def _pos(*s, dt=np.float64):
    return R.uniform(0.5, 2.0, s).astype(dt)


# ---- fused elementwise: the op-table rows (tests/cuda/test_optable_cuda.py) in float64;
# here a few of them in float32 (the casts between members keep eager's precision)
def test_elementwise_float32_rows():
    rows = [c for c in compiled_sample("cuda") if c.name in ("exp", "tanh", "add", "where_gt")]
    bad, _ = run_traced(rows, "cuda", dtype=np.float32)
    assert not bad, "\n".join(bad)


def test_rounding_and_ieee_edges():
    x = np.array(
        [0.5, 1.5, 2.5, -0.5, -1.5, -2.7, 2.7, np.inf, -np.inf, np.nan, 0.0, 1e20], np.float32
    )
    parity(
        lambda a: a.round() + a.floor() * 10 + a.ceil() * 100 + a.trunc() * 1000, [x], grad=False
    )
    # sign(nan) is nan in eager and on cuda; the CPU backend gives 0 (reported), so no cpu check
    parity(lambda a: a.sign(), [x], grad=False, cpu=False)
    # log(0) = -inf, exp(big) = inf, 0/0 = nan: IEEE results, no exception
    parity(
        lambda a: a.log() + (a * 100.0).exp() + a / a,
        [np.array([0.0, 1.0, 10.0], np.float32)],
        grad=False,
    )


def test_int_and_bool_elementwise():
    parity(
        lambda a, b: (a * 3 + b) % 5 + (a > b).to(jg.int64),
        [R.integers(-5, 5, (3, 4)), R.integers(1, 5, (4,))],
        grad=False,
    )


# ---- reductions --------------------------------------------------------------------
RED = {
    "sum_all": lambda x: x.sum(),  # one block, shared-memory tree
    "sum_dim1": lambda x: x.sum(1),  # small R: a thread per output
    "sum_nontrailing_keep": lambda x: x.sum((0, 2), keepdim=True),  # R=20: block per output
    "mean_last": lambda x: x.mean(-1),
    "amax_dim": lambda x: x.amax(-1),
    "amax_multi": lambda x: x.amax((0, 2)),
    "amin_dim0": lambda x: x.amin(0),
    "max_all": lambda x: x.max(),
    "logsumexp": lambda x: x.logsumexp(1),
    "softmax": lambda x: x.softmax(2),
    "transposed_sum": lambda x: x.permute(2, 0, 1).sum((1, 2)),
}


@pytest.mark.parametrize("name", sorted(RED))
def test_reductions(name):
    parity(RED[name], [_any(4, 3, 5)])


def test_reduction_float32_and_bool_count():
    parity(lambda x: x.sum(0) + x.amax(1).sum(), [_any(5, 4, dt=np.float32)])
    parity(lambda x: (x > 0).sum(), [_any(4, 5)], grad=False)


def test_reduction_nan_propagates():
    x = _any(3, 4)
    x[1, 2] = np.nan
    parity(lambda a: a.amax(1) * 10 + a.amin(1) + a.sum(1) * 100, [x], grad=False)


# ---- matmul -------------------------------------------------------------------------
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_transposes(ta, tb):
    # 5x7 @ 7x3: not multiples of the tile (4 on the simulator, 8/16 on a GPU)
    a = _any(7, 5) if ta else _any(5, 7)
    b = _any(3, 7) if tb else _any(7, 3)
    parity(lambda x, y: (x.t() if ta else x) @ (y.t() if tb else y), [a, b])


@pytest.mark.parametrize("case", ["batched", "bcast_batch", "vec_mat", "mat_vec", "f32"])
def test_matmul_shapes(case):
    if case == "batched":
        parity(lambda x, y: x @ y.transpose(1, 2), [_any(2, 3, 4), _any(2, 5, 4)])
    elif case == "bcast_batch":
        parity(lambda x, y: x @ y, [_any(2, 3, 4), _any(4, 5)])
    elif case == "vec_mat":
        parity(lambda x, y: x @ y, [_any(4), _any(4, 3)])
    elif case == "mat_vec":
        parity(lambda x, y: x @ y, [_any(3, 4), _any(4)])
    else:
        parity(lambda x, y: (x @ y).relu(), [_any(6, 5, dt=np.float32), _any(5, 9, dt=np.float32)])


# ---- index ops and views -----------------------------------------------------------
def test_gather_and_scatter_add():
    idx = jg.tensor(np.array([[0, 2], [1, 1], [3, 0]]))
    exe = parity(lambda x: x.gather(1, idx) * 2.0, [_any(3, 4)])
    assert "gather" not in exe.fallback_ops and "scatter_add" not in exe.fallback_ops
    idx0 = jg.tensor(np.array([[2, 0, 1, 1], [2, 0, 0, 2]]))  # gather rejects negatives
    parity(lambda x: x.gather(0, idx0).exp(), [_any(3, 4)])
    src = _any(2, 4)
    parity(lambda base, s: base.scatter_add(0, idx0.abs(), s), [_any(3, 4), src])


def test_gather_index_error_before_state_changes():
    p = jg.tensor(_any(3, 4), requires_grad=True)
    before = p._data.copy()

    def step(i):
        p.grad = None
        p.gather(1, i).sum().backward()
        with jg.no_grad():
            p.sub_(p.grad * 0.1)

    ts = jg.trace(step, device="cuda")
    good = jg.tensor(np.array([[0], [1], [2]]))
    for _ in range(3):
        ts(good)
    snap = p._data.copy()
    assert not np.array_equal(snap, before)
    # the compiled step raises, then re-runs eagerly so the error is eager mode's own
    with pytest.raises(RuntimeError, match="gather.*index 9 is out of bounds"):
        ts(jg.tensor(np.array([[0], [9], [2]])))
    np.testing.assert_array_equal(p._data, snap)


def test_views_slices_permute_reshape_cat():
    parity(lambda x: x[1:, ::2] * 3.0 + x[:2, -1:], [_any(3, 4)])
    parity(lambda x: x[:, 1].exp() + x[0, 1:], [_any(3, 4)])
    parity(lambda x: x.permute(1, 0, 2).reshape(3, 8).sum(0), [_any(2, 3, 4)])
    parity(lambda x, y: jg.cat([x, y * 2.0, x], 1).tanh(), [_any(2, 3), _any(2, 1)])
    parity(lambda x: x.unsqueeze(0).expand(3, 2, 4) * x, [_any(2, 4)])


# ---- convolution and pooling (direct kernels; more rows in test_conv_rows_cuda.py) ----
def test_conv2d_and_pool():
    exe = parity(
        lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1).relu(), 2),
        [_any(1, 2, 4, 4), _any(2, 2, 3, 3)],
    )
    assert exe.fallback_ops == []


def test_fmod_of_integers_matches_numpy():
    # computed in float64 like the CPU backend: C's fmod sign rule on integers too
    a = np.array([7, -7, 7, -7, 5, 0], dtype=np.int64)
    b = np.array([-3, 3, 3, -3, 2, 4], dtype=np.int64)
    exe = parity(lambda a, b: jg.fmod(a, b), [a, b], grad=False)
    assert exe.fallback_ops == []
