"""Whole training steps on the CUDA backend vs the CPU backend and eager, and the state sync
rule (device state is never read stale, host state is never stale after a call)."""

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn as nn
import jitgrad.nn.functional as F
import jitgrad.optim as optim


def _mlp():
    jg.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5))


def _cnn():
    jg.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 3 * 3, 4),
    )


def _train(make, opt_fn, x, y, device, steps):
    model = make()
    opt = opt_fn(model.parameters())

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fn = step if device is None else jg.trace(step, device=device)
    losses = [float(fn(x, y).item()) for _ in range(steps)]
    return losses, [p.detach()._data.copy() for p in model.parameters()], fn


@pytest.mark.parametrize("case", ["mlp_sgd_momentum", "cnn_adam"])
def test_training_steps_match(case):
    r = np.random.default_rng(1)
    if case == "mlp_sgd_momentum":
        make, x = _mlp, jg.tensor(r.normal(size=(4, 12)).astype(np.float32))
        opt_fn = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)
        y = jg.tensor(r.integers(0, 5, 4))
    else:
        make, x = _cnn, jg.tensor(r.normal(size=(2, 1, 6, 6)).astype(np.float32))
        opt_fn = lambda ps: optim.Adam(ps, lr=0.01)
        y = jg.tensor(r.integers(0, 4, 2))
    steps = 5
    le, pe, _ = _train(make, opt_fn, x, y, None, steps)
    lc, pc, ts = _train(make, opt_fn, x, y, "cuda", steps)
    lp, pp, _ = _train(make, opt_fn, x, y, "cpu", steps)
    assert ts.stats["compiled_calls"] == steps - 2
    assert ts.last.exe.name == "cuda"
    np.testing.assert_allclose(lc, le, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lc, lp, rtol=1e-5, atol=1e-6)
    for a, b, c in zip(pc, pe, pp):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)


def _manual_setup():
    r = np.random.default_rng(2)
    w = jg.tensor(r.normal(size=(6, 3)), requires_grad=True)
    buf = jg.zeros(6, 3, dtype=jg.float64)

    def step(x):
        w.grad = None
        loss = ((x @ w).tanh() ** 2).sum()
        loss.backward()
        with jg.no_grad():
            buf.mul_(0.9).add_(w.grad)
            w.sub_(buf * 0.05)
        return loss

    return w, buf, step, jg.tensor(r.normal(size=(4, 6)))


def _eager_reference(host_edit):
    w, buf, step, x = _manual_setup()
    out = []
    for k in range(6):
        if k == 4:
            host_edit(w, buf)
        out.append(step(x).item())
    return out, w._data.copy(), buf._data.copy()


@pytest.mark.parametrize("edit", ["inplace_op", "numpy_write", "new_array", "none"])
def test_state_sync_rule(edit):
    """Eager writes to state between compiled calls are seen; host state is current after
    every call; untouched state is not uploaded again."""

    def host_edit(w, buf):
        if edit == "inplace_op":
            with jg.no_grad():
                w.mul_(0.5)
        elif edit == "numpy_write":
            buf.numpy()[...] = 0.25  # bypasses every Tensor API: caught by the byte check
        elif edit == "new_array":
            w.data = jg.tensor(w._data * 2.0)

    ref, wr, br = _eager_reference(host_edit)
    w, buf, step, x = _manual_setup()
    ts = jg.trace(step, device="cuda")
    got = []
    for k in range(6):
        if k == 4:
            host_edit(w, buf)
        got.append(ts(x).item())
        if k == 3:
            exe = ts.last.exe
            uploads = exe.uploads
            # host copies are current right after a compiled call (no explicit sync needed)
            w2, b2, step2, x2 = _manual_setup()
            for _ in range(4):
                step2(x2)
            np.testing.assert_allclose(w._data, w2._data, rtol=1e-10)
            np.testing.assert_allclose(buf._data, b2._data, rtol=1e-10)
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    np.testing.assert_allclose(w._data, wr, rtol=1e-10)
    np.testing.assert_allclose(buf._data, br, rtol=1e-10)
    expected = {"none": 0, "inplace_op": 1, "numpy_write": 1, "new_array": 1}[edit]
    assert exe.uploads - uploads == expected


def test_source_explain_cache_and_launch_policy():
    from jitgrad.compile.backends.cuda import Launch

    w, buf, step, x = _manual_setup()
    ts = jg.trace(step, device="cuda")
    for _ in range(3):
        ts(x)
    src = ts.source()
    assert "@cuda.jit" in src and "def step(B, S, rt):" in src and "cuda.shared.array" in src
    assert "on cuda" in ts.explain()
    exe = ts.last.exe
    assert exe.loops > 0 and exe.compile_seconds is not None and not exe.fallback_ops
    w, buf, step, x = _manual_setup()
    ts2 = jg.trace(step, device="cuda")
    for _ in range(3):
        ts2(x)
    assert ts2.source() == src and ts2.last.exe.cache_hit
    gpu = Launch(False)
    assert gpu.flat(10) == (1, 32) and gpu.flat(1000) == (4, 256)
    assert gpu.flat(10**8) == (1024, 256)
    assert gpu.reduce_threads(5) == 32 and gpu.reduce_threads(10**6) == 256
