"""The tape holds no more than it needs: thousands of steps do not grow the process."""

import gc
import os
import weakref

import numpy as np
import pytest

import jitgrad as jg


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _step(x, w1, w2):
    h = (x @ w1).relu()
    loss = ((h @ w2) * 0.01).sum()
    loss.backward()
    return loss


def test_5000_steps_do_not_grow_memory():
    jg.manual_seed(0)
    x = jg.randn(32, 64)
    w1 = jg.randn(64, 64, requires_grad=True)
    w2 = jg.randn(64, 64, requires_grad=True)
    for _ in range(300):  # warm-up: allocator pools, caches
        _step(x, w1, w2)
    gc.collect()
    base = _rss_bytes()
    refs = []
    for i in range(5000):
        loss = _step(x, w1, w2)
        if i % 1000 == 0:
            refs.append(weakref.ref(loss.grad_fn))
        w1.grad = None
        w2.grad = None
    del loss
    grown = _rss_bytes() - base
    # one step's graph holds ~100 KB of arrays; 5000 leaked steps would be ~500 MB
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 5000 steps"
    assert all(r() is None for r in refs), "graph nodes outlived their step"
    assert np.isfinite(w1.detach().numpy()).all()


def test_graph_freed_without_backward_and_on_error():
    x = jg.randn(4, 4, requires_grad=True)
    y = (x * 2).exp().sum()
    r = weakref.ref(y.grad_fn)
    del y
    assert r() is None
    z = (x * 2).exp()
    r2 = weakref.ref(z.grad_fn)
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs") as ei:
        z.backward()  # non-scalar without gradient=
    assert "(4, 4)" in str(ei.value)
    del ei, z  # the traceback (engine frames) goes too

    gc.collect()
    assert r2() is None


def test_large_elementwise_results_reuse_only_free_buffers():
    """Large results of the arithmetic ops, relu and relu's gradient come from
    ``ops.buffers`` (a repeating eager step faults no fresh pages in: a small CNN step's
    bias adds and ReLUs faulted ~2,200 pages a step before), never an array a tensor, a view,
    a NumPy array the user took or a saved tensor still holds; values are NumPy's bits."""
    from jitgrad.ops import buffers

    buffers.clear()
    r = np.random.default_rng(0)
    shape = (8, 16, 24, 24)  # 288 KiB of float32: over MIN_BYTES
    xs = [r.standard_normal(shape).astype(np.float32) for _ in range(4)]
    b = jg.tensor(r.standard_normal((16, 1, 1)).astype(np.float32), requires_grad=True)

    def step(k):
        x = jg.tensor(xs[k], requires_grad=True)
        y = ((x + b).relu() * 2.0 - x / 3.0).relu()
        y.sum().backward()
        return x, y

    def reference(k):
        h = np.maximum(xs[k] + b._data, 0) * np.float32(2.0) - xs[k] / np.float32(3.0)
        return np.maximum(h, 0)

    x0, y0 = step(0)
    mine = y0.detach().numpy()  # a NumPy array of the result, the tensor dropped below
    kept = buffers.kept_bytes()
    assert kept >= 5 * xs[0].nbytes  # the adds, products, relus and gradients of one step
    b.grad = None
    x1, y1 = step(1)
    want0 = reference(0)
    np.testing.assert_array_equal(y0._data, want0)
    np.testing.assert_array_equal(y1._data, reference(1))
    assert not np.shares_memory(y0._data, y1._data)
    assert not np.shares_memory(x0.grad._data, x1.grad._data)
    g0 = x0.grad._data.copy()
    del y0
    for k in (2, 3, 2, 3):  # steady: the freed arrays of earlier steps, no new ones
        x1, y1 = step(k)
    assert buffers.kept_bytes() <= 3 * kept
    steady = buffers.kept_bytes()
    x1, y1 = step(3)
    assert buffers.kept_bytes() == steady
    np.testing.assert_array_equal(mine, want0)  # the user's array was never handed out
    np.testing.assert_array_equal(x0.grad._data, g0)  # nor a live gradient
    np.testing.assert_array_equal(y1._data, reference(3))
    held = [a for arrays in buffers._kept.values() for a in arrays]
    assert any(a is y1._data for a in held)  # the result came from the kept arrays
    # small results are ordinary arrays
    s = jg.ones(4, 4) + jg.ones(4, 4)
    assert not any(a is s._data for arrays in buffers._kept.values() for a in arrays)
    buffers.clear()
