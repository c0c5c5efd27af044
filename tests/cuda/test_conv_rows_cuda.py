"""Convolution, pooling, padding and normalisation on the CUDA backend (simulator): the
conv/pool/norm op-table rows (``tests/nn/conv_rows.py``) traced vs eager, and a small CNN
training step, all without a host fallback."""

import warnings

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn as nn
import jitgrad.nn.functional as F

from ..core.optable import chunks, run_traced
from ..nn.conv_rows import rows

PARTS = 2
CONV_POOL_OPS = {
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "max_pool2d",
    "max_pool2d_indices",
    "max_pool2d_grad",
    "max_pool2d_gather",
    "constant_pad_nd",
}


@pytest.mark.parametrize("part", range(PARTS))
def test_conv_pool_norm_rows_on_cuda_without_fallback(part):
    part_rows = chunks(rows(), PARTS)[part]
    bad, ts = run_traced(part_rows, "cuda")
    assert not bad, "\n".join(bad[:40])
    exe = ts.last.exe
    assert exe.name == "cuda" and exe.fallbacks == [], exe.fallbacks
    assert "fallbacks: none" in ts.explain()


def test_all_conv_pool_primitives_have_a_cuda_lowering():
    from jitgrad.compile.backends.cuda import CUDA
    from jitgrad.ops.registry import PRIMITIVES

    missing = {p for p in CONV_POOL_OPS if PRIMITIVES[p] not in CUDA.lower}
    assert not missing


def _cnn():
    jg.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(4, 4, 3, padding=1, groups=4),  # depthwise
        nn.ReLU(),
        nn.AvgPool2d(2, 1, 1, count_include_pad=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def _train(device, x, y, steps=4):
    model = _cnn()
    opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fn = step if device is None else jg.trace(step, device=device)
    losses = [float(fn(x, y).item()) for _ in range(steps)]
    state = [t.detach().numpy().copy() for t in model.state_dict().values()]
    return losses, state, fn


def test_small_cnn_step_on_cuda_matches_eager_with_no_fallback():
    r = np.random.default_rng(5)
    x = jg.tensor(r.standard_normal((2, 1, 6, 6)).astype(np.float32))
    y = jg.tensor(r.integers(0, 3, 2))
    le, se, _ = _train(None, x, y)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lc, sc, ts = _train("cuda", x, y)
    slow = [str(w.message) for w in seen if "slower path" in str(w.message)]
    assert not slow, slow
    exe = ts.last.exe
    assert exe.name == "cuda" and exe.fallbacks == [] and ts.stats["compiled_calls"] == 2
    ops = {n.op.name for n in ts.traced_graph.nodes}
    assert {"conv2d", "conv2d_grad_input", "conv2d_grad_weight", "max_pool2d_grad"} <= ops
    np.testing.assert_allclose(lc, le, rtol=1e-5, atol=1e-6)
    for a, b in zip(sc, se):  # weights, BatchNorm running stats and its batch counter
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
