"""Guards and retracing, loud failures, check=True, inspection and the on-disk cache."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn
from jitgrad.compile.backends import cpu
from jitgrad.ops.registry import PRIMITIVES


def _toy():
    jg.manual_seed(0)
    model = nn.Linear(6, 3)
    opt = jg.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_new_batch_size_retraces_and_old_one_still_compiled():
    model, step = _toy()
    ts = jg.trace(step)
    a, b = jg.randn(4, 6), jg.randn(7, 6)
    for _ in range(3):
        ts(a)
    assert ts.stats == {"eager_calls": 1, "captures": 1, "compiled_calls": 1}
    for _ in range(3):
        ts(b)
    assert ts.stats["captures"] == 2
    ts(a)
    assert ts.stats["compiled_calls"] == 3
    assert len(ts._variants) == 2


def test_too_many_variants_warns_naming_the_field():
    model, step = _toy()
    ts = jg.trace(step, max_variants=2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for n in range(1, 6):
            for _ in range(2):
                ts(jg.randn(n, 6))
    msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
    assert msgs and "shape" in msgs[-1] and "max_variants" in msgs[-1]


@pytest.mark.parametrize(
    "body, what",
    [
        ("return float(loss.item())", ".item()"),
        ("return bool(loss > 0)", "bool(tensor)"),
        ("return float(loss)", "float(tensor)"),
        ("return int(loss)", "int(tensor)"),
        ("return loss.tolist()", ".tolist()"),
        ("return loss.detach().numpy()", ".numpy()"),
        ("return loss if loss > 0 else -loss", "bool(tensor)"),
    ],
)
def test_trace_errors_name_the_user_line(body, what, tmp_path):
    src = textwrap.dedent(f"""
        import jitgrad as jg
        w = jg.randn(3, requires_grad=True)
        def step(x):
            loss = (w * x).sum()
            {body}
    """)
    path = tmp_path / "user_step.py"
    path.write_text(src)
    ns = {}
    exec(compile(src, str(path), "exec"), ns)
    ts = jg.trace(ns["step"])
    ts(jg.randn(3))  # the eager warm-up call works
    with pytest.raises(jg.TraceError) as e:
        ts(jg.randn(3))
    msg = str(e.value)
    assert what in msg and "user_step.py:6" in msg and "remove @jitgrad.trace" in msg


def test_data_dependent_shapes_fail_loudly():
    @jg.trace
    def f(x):
        return x[x > 0].sum()

    f(jg.randn(5))
    with pytest.raises(jg.TraceError, match=r"boolean-mask indexing x\[mask\] has a data-dep"):
        f(jg.randn(5))
    # the error names the function the user called, not the primitive under it
    for fn, name in [
        (lambda x: jg.masked_select(x, x > 0), r"masked_select\(\) \(via nonzero\)"),
        (lambda x: jg.argwhere(x > 0), r"argwhere\(\) \(via nonzero\)"),
        (lambda x: x.nonzero(), r"nonzero\(\) has"),
    ]:
        g = jg.trace(fn, backend="reference")
        g(jg.randn(5))
        with pytest.raises(jg.TraceError, match=name):
            g(jg.randn(5))


def test_check_catches_a_wrong_kernel(monkeypatch):
    model, step = _toy()
    ts = jg.trace(step, check=True)
    x = jg.randn(4, 6)
    for _ in range(3):
        ts(x)  # correct kernels pass the check
    model2, step2 = _toy()
    monkeypatch.setitem(cpu.CPU.scalar, PRIMITIVES["pow_scalar"], "({0} * {0} * 1.001)")
    bad = jg.trace(step2, check=True, cache=False)
    bad(x)
    bad(x)
    with pytest.raises(jg.compile.TraceCheckError, match="differs between compiled and eager"):
        bad(x)


def test_inspection():
    model, step = _toy()
    ts = jg.trace(step)
    with pytest.raises(RuntimeError, match="nothing compiled yet"):
        ts.explain()
    x = jg.randn(4, 6)
    for _ in range(3):
        ts(x)
    g = str(ts.graph)
    assert "matmul" in g and "state" in g and "output[0]" in g
    assert "def step(" in ts.source() and "numba.njit" in ts.source()
    dot = ts.graph.to_dot()
    assert dot.startswith("digraph") and "->" in dot
    ex = ts.explain()
    assert "fusion:" in ex and "loop" in ex and "MFLOP" in ex and "cache hit" in ex


def test_second_process_hits_the_cache(fresh_cache):
    script = textwrap.dedent("""
        import jitgrad as jg
        from jitgrad import nn
        jg.manual_seed(0)
        model = nn.Linear(6, 3)
        opt = jg.optim.SGD(model.parameters(), lr=0.1)
        def step(x):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        ts = jg.trace(step)
        x = jg.randn(4, 6)
        for _ in range(3):
            ts(x)
        v = ts.last
        print("HIT", v.exe.cache_hit, "COMPILE", v.exe.compile_seconds)
    """)
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(fresh_cache))
    outs = []
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.split())
    assert outs[0][1] == "False" and outs[1][1] == "True"
    cold, warm = float(outs[0][3]), float(outs[1][3])
    assert warm < cold / 3  # a ratio: an absolute bound fails on a loaded machine


def test_unwritable_cache_dir_falls_back_to_memory(tmp_path, monkeypatch):
    bad = tmp_path / "file"
    bad.write_text("not a directory")
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(bad / "sub"))
    model, step = _toy()
    # a graph structure no other test compiles in this process (a new shape alone would
    # reuse the compiled code: the generated source does not depend on sizes)
    ts = jg.trace(lambda x: step(x.tanh().sin()))
    x = jg.randn(11, 6)
    with pytest.warns(RuntimeWarning, match="not writable"):
        for _ in range(3):
            ts(x)
    assert ts.stats["compiled_calls"] == 1


def test_forward_only_module_trace_gives_compiled_backward():
    jg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    tm = jg.trace(model)
    x = jg.randn(3, 5)
    grads = []
    for _ in range(3):
        model.zero_grad()
        out = tm(x)
        (out**2).sum().backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    for a, b in zip(grads[0], grads[2]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    with jg.no_grad():
        out = tm(x)
    assert out.grad_fn is None


def test_returned_state_and_args_keep_identity():
    w = jg.ones(3)

    @jg.trace
    def f(x):
        w.add_(x)
        return w, x, x * 2

    x = jg.ones(3)
    for _ in range(3):
        r = f(x)
    assert r[0] is w and r[1] is x
    np.testing.assert_array_equal(w.numpy(), [4.0, 4.0, 4.0])
