"""Shape-generic compiled CPU code: one compiled step serves every batch size of a graph
structure. Sizes travel in the runtime vector ``_S`` (``exe.S``), so the generated source of
batch 6 is the text of batch 4, and the second size costs a capture and a guard, no numba
compile. Which dims are 1 is structure (batch 1 has its own code). Results match eager mode
at every size, and returned values never alias buffers a later call writes.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jitgrad as torch
import jitgrad.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mlp():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return m, step


def _batch(n, seed):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((n, 5)).astype(np.float32))
    return x, torch.tensor(rng.standard_normal((n, 3)).astype(np.float32))


def _kernels(exe):
    """The generated module's numba dispatchers (step and loop kernels)."""
    return {k: v for k, v in vars(exe.mod).items() if hasattr(v, "signatures") and k != "K"}


@pytest.fixture(scope="module")
def mlp_run():
    """The MLP step traced (foreground compile) at batch 4, then 6, then 1, beside an eager
    copy; per size the losses of both, and the executable."""
    m_eager, step_eager = _mlp()
    m, step = _mlp()
    traced = torch.trace(step, async_compile=False)
    out = {}
    for seed, n in enumerate((4, 6, 1)):
        x, y = _batch(n, seed)
        le = [float(step_eager(x, y).item()) for _ in range(4)]
        kept = [traced(x, y) for _ in range(4)]
        out[n] = dict(
            eager=le,
            traced=[float(t.item()) for t in kept],
            kept=kept,
            exe=traced.last.exe,
            compiled=traced.stats["compiled_calls"],
            explain=traced.explain(),
        )
    return traced, m, m_eager, out


def test_every_batch_size_matches_eager(mlp_run):
    traced, m, m_eager, out = mlp_run
    for n, r in out.items():
        np.testing.assert_allclose(r["traced"], r["eager"], rtol=2e-5, atol=1e-6, err_msg=n)
    for p, q in zip(m.parameters(), m_eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert out[1]["compiled"] == 6  # two compiled calls per size (after warm-up and capture)


def test_second_batch_size_compiles_nothing(mlp_run):
    _, _, _, out = mlp_run
    e4, e6, e1 = out[4]["exe"], out[6]["exe"], out[1]["exe"]
    assert e6.src == e4.src and e6.key == e4.key  # one source for both sizes
    assert list(e4.S) != list(e6.S) and 6 in list(e6.S)  # the sizes are arguments
    assert e6.fn is e4.fn and len(e4.fn.signatures) == 1  # one numba compile served both
    assert all(len(d.signatures) <= 1 for d in _kernels(e4).values())
    assert e6.reused_from == e4.key and e6.compile_seconds == 0.0
    assert e4.reused_from is None
    assert f"compiled code reused from {e4.key}" in out[6]["explain"]
    assert "0 kernels compiled" in out[6]["explain"]
    # batch 1 broadcasts differently: its own structure, correctly compiled (previous test)
    assert e1.key != e4.key and e1.reused_from is None


def test_no_literal_sizes_in_the_step(mlp_run):
    _, _, _, out = mlp_run
    src = out[6]["exe"].src
    step = src[src.index("def step(") :]
    # the hidden size 7 and the batch sizes appear only through _S
    for lit in ("(6,", "(7,", ", 7)", "6, 7", "(4,"):
        assert lit not in step, lit
    assert "def step(_S, " in step


def test_returned_values_are_not_overwritten_by_later_calls(mlp_run):
    _, _, _, out = mlp_run
    r = out[4]
    # every loss returned at batch 4 still holds its value after later calls (and sizes)
    np.testing.assert_allclose([float(t.item()) for t in r["kept"]], r["traced"], rtol=0)
    assert len({id(t._data) for t in r["kept"]}) == len(r["kept"])


def test_reshape_and_batch_reduction_reuse_compiled_code():
    torch.manual_seed(1)
    w = torch.randn(6, 2, requires_grad=True)

    def f(x):
        w.grad = None
        h = x.reshape(x.shape[0], -1) @ w  # flatten (B, 2, 3) -> (B, 6)
        loss = (h.sum(0) ** 2).sum() + h.mean() + x.flatten(1)[:, 2:5].sum()
        loss.backward()
        return loss, h

    traced = torch.trace(f, async_compile=False)
    exes, grads = [], []
    for n in (3, 5, 2):
        x = torch.tensor(np.linspace(-1, 1, n * 6, dtype=np.float32).reshape(n, 2, 3))
        le, he = f(x)
        ge = w.grad.numpy().copy()
        for _ in range(3):
            lt, ht = traced(x)
        np.testing.assert_allclose(lt.item(), le.item(), rtol=1e-5)
        np.testing.assert_allclose(ht.detach().numpy(), he.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w.grad.numpy(), ge, rtol=1e-5, atol=1e-6)
        grads.append((w.grad, w.grad.numpy().copy()))
        exes.append(traced.last.exe)
    assert traced.stats["compiled_calls"] == 3  # warm-up, capture, compiled per size
    assert exes[1].src == exes[0].src == exes[2].src
    assert exes[1].reused_from == exes[0].key and exes[2].reused_from == exes[0].key
    assert len(exes[0].fn.signatures) == 1
    # .grad tensors the user holds keep their values after later calls
    for g, val in grads:
        np.testing.assert_array_equal(g.numpy(), val)


def test_async_second_size_needs_no_worker(mlp_run):
    """Default async mode: the code compiled for batch 4 serves batch 6 straight after its
    capture; the compile worker is not asked again."""
    from jitgrad.compile import worker

    key = mlp_run[3][4]["exe"].key
    _, step = _mlp()  # same structure: the compiled code is in this process already
    traced = torch.trace(step, async_compile=True)
    x, y = _batch(6, 3)
    for _ in range(3):
        traced(x, y)
    exe = traced.last.exe
    assert exe.worker_info == {"worker": False, "reason": f"compiled code reused from {key}"}
    assert traced.stats == {"eager_calls": 1, "captures": 1, "compiled_calls": 1}
    assert not worker.busy()


_CHILD = r"""
import json
import jitgrad as torch
from tests.compile.test_shape_generic import _mlp, _batch
_, step = _mlp()
traced = torch.trace(step, async_compile=False)
x, y = _batch(9, 0)
for _ in range(3):
    traced(x, y)
exe = traced.last.exe
print(json.dumps(dict(key=exe.key, hit=bool(exe.cache_hit), misses=len(exe.fn.stats.cache_misses),
                      kernel_misses=sum(len(d.stats.cache_misses) for d in
                          [v for k, v in vars(exe.mod).items() if hasattr(v, "stats")]))))
"""


def test_new_process_new_batch_size_hits_the_disk_cache(mlp_run):
    key = mlp_run[3][4]["exe"].key
    env = dict(os.environ, PYTHONPATH=ROOT, JITGRAD_ASYNC_COMPILE="0")
    p = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep == dict(key=key, hit=True, misses=0, kernel_misses=0)


def test_gradient_buffers_recycled_only_when_nobody_holds_them():
    """Buffer reuse across calls: a gradient goes into the previous call's ``.grad`` memory
    when only the ``.grad`` slot holds it; a gradient the user keeps is never written."""
    rng = np.random.default_rng(0)
    xs = [torch.tensor(rng.standard_normal(50).astype(np.float32), requires_grad=True)]
    xs += [torch.tensor(rng.standard_normal(50).astype(np.float32), requires_grad=True)]

    def f(x, w):
        x.grad = w.grad = None
        loss = ((x * w + 0.5).relu() ** 2 * x).mean()
        loss.backward()
        return loss

    traced = torch.trace(f, async_compile=False)
    for _ in range(3):
        traced(*xs)
    exe = traced.last.exe
    assert sorted(exe.recyclable) and traced.stats["compiled_calls"] == 1
    ptr = xs[0].grad._data.ctypes.data  # an int: holds nothing
    traced(*xs)
    assert xs[0].grad._data.ctypes.data == ptr and exe.recycled_calls >= 1
    held, held_data = xs[0].grad, xs[1].grad.numpy()  # the user keeps a tensor and an array
    before = held.numpy().copy(), held_data.copy()
    with torch.no_grad():
        xs[0].mul_(1.5)  # another gradient at the next call
    loss = traced(*xs)
    np.testing.assert_array_equal(held.numpy(), before[0])
    np.testing.assert_array_equal(held_data, before[1])
    assert not np.shares_memory(xs[0].grad.numpy(), held.numpy())
    assert not np.shares_memory(xs[1].grad.numpy(), held_data)
    # the values are right (eager on copies)
    ce = [torch.tensor(t.detach().numpy().copy(), requires_grad=True) for t in xs]
    le = f(*ce)
    np.testing.assert_allclose(loss.item(), le.item(), rtol=1e-6)
    for t, e in zip(xs, ce):
        np.testing.assert_allclose(t.grad.numpy(), e.grad.numpy(), rtol=1e-6)


def test_returned_slice_of_a_temporary_is_a_copy():
    """A temporary lives in a buffer the executable reuses; a contiguous slice of it that
    the step returns must not alias it."""

    def f(x):
        h = (x * 2 + 1).exp()
        return h[1:3], h.sum()

    traced = torch.trace(f, async_compile=False)
    x1 = torch.tensor(np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3))
    x2 = torch.tensor(np.linspace(-1, 0, 12, dtype=np.float32).reshape(4, 3))
    for _ in range(3):
        first, _ = traced(x1)
    assert traced.stats["compiled_calls"] == 1
    kept = first.numpy().copy()
    second, _ = traced(x2)
    np.testing.assert_array_equal(first.numpy(), kept)
    np.testing.assert_allclose(second.numpy(), f(x2)[0].numpy(), rtol=1e-6)


def test_refused_call_leaves_the_old_grad_intact():
    """check_finite refuses a call whose results are not finite: the .grad of the call before
    stays as it was (so the step never writes gradients into the old .grad buffers)."""
    from jitgrad.compile import NonFiniteError

    x = torch.tensor(np.linspace(0.1, 1, 20, dtype=np.float32), requires_grad=True)
    w = torch.tensor(np.linspace(1, 2, 20, dtype=np.float32))

    def f(x, w):
        x.grad = None
        loss = (x * w).exp().sum()
        loss.backward()
        return loss

    traced = torch.trace(f, async_compile=False, check_finite=True)
    for _ in range(3):
        traced(x, w)
    assert traced.stats["compiled_calls"] == 1
    expected = x.grad.numpy().copy()
    with torch.no_grad():
        w[3] = float("inf")
    with pytest.raises(NonFiniteError):
        traced(x, w)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_cview_is_a_view_with_c_strides_and_other_layouts_reshape():
    import numba

    from jitgrad.compile.backends.views import cview

    @numba.njit
    def two(a, n, m):
        return cview(a, (n, m))

    x = np.arange(12.0)
    y = two(x, 3, 4)
    np.testing.assert_array_equal(y, x.reshape(3, 4))
    assert y.flags.c_contiguous and y.strides == (32, 8)
    y[1, 2] = -1.0  # the same memory
    assert x[6] == -1.0
    assert two(np.zeros(0, np.float32), 0, 5).shape == (0, 5)
    ro = np.arange(4.0)
    ro.flags.writeable = False
    assert not two(ro, 2, 2).flags.writeable  # read-only stays read-only
    # another layout (a transposed, F-ordered array) goes through numba's reshape, which
    # cannot view it in C order without a copy and says so
    with pytest.raises(NotImplementedError, match="incompatible shape"):
        two(np.ones((3, 2)).T, 3, 2)
