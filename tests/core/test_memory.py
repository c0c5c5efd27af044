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
