"""The op table traced: every row of ``tests/core/optable.py`` that ``compiled_sample`` picks
(every primitive, and per op kind 0-d, empty, broadcast and strided inputs) runs eagerly and
traced on the reference backend, the CPU backend with serial loops and the CPU backend with
every loop a ``prange``; outputs and gradients must agree. The CUDA backend runs the same
rows on the simulator (``tests/cuda/test_optable_cuda.py``). Rows are batched into a few
traced steps, so each backend compiles ``PARTS`` graphs. The prange run takes only rows made
of loops (elementwise, reductions): its other lowerings are the serial ones.
"""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.compile.backends import cpu
from jitgrad.ops.registry import PRIMITIVES

from ..core.optable import (
    all_cases,
    chunks,
    compiled_sample,
    declared_slow,
    primitives_of,
    run_traced,
)

PARTS = {"reference": 2, "cpu": 2, "cpu_parallel": 1}
R = np.random.default_rng(0)


@pytest.mark.parametrize("backend, part", [(b, k) for b, n in PARTS.items() for k in range(n)])
def test_table_traced_matches_eager(backend, part, monkeypatch):
    if backend == "cpu_parallel":
        monkeypatch.setattr(cpu, "PAR_SMALL", 1)
    rows = chunks(compiled_sample(backend), PARTS[backend])[part]
    bad, ts = run_traced(rows, backend)
    assert not bad, "\n".join(bad[:40])
    exe = ts.last.exe
    assert exe.name == ("reference" if backend == "reference" else "cpu")
    if backend == "cpu_parallel":
        src = ts.source()
        assert "prange(" in src and "parallel=True" in src and "_par(" in src
    elif backend == "cpu":
        assert "prange(" not in ts.source()


def test_table_float32_on_cpu():
    rows = [c for c in compiled_sample("cpu") if _kinds(c) == {"elementwise"}][:12]
    bad, _ = run_traced(rows, "cpu", dtype=np.float32)
    assert not bad, "\n".join(bad[:40])


def test_run_traced_fails_on_an_eager_result_and_on_undeclared_slow_paths(monkeypatch):
    """A row that ran eagerly (the compiled step raised, the eager result came back) or took a
    slow path its row does not declare cannot pass as traced parity."""
    from types import SimpleNamespace

    from jitgrad.compile.backends.reference import ReferenceExecutable

    from ..core.optable import _slow_path_msgs

    row = next(c for c in all_cases() if c.id == "tanh[2x3]")
    assert run_traced([row], "reference")[0] == []

    def raises(self, arrays):
        raise IndexError("broken on purpose")

    monkeypatch.setattr(ReferenceExecutable, "run", raises)
    bad, _ = run_traced([row], "reference")
    assert any("did not run" in m for m in bad), bad
    assert any("returning the eager result" in m for m in bad), bad

    cumsum = next(c for c in all_cases() if c.name == "cumsum_d0")
    fake = SimpleNamespace(last=SimpleNamespace(exe=SimpleNamespace(fallbacks=["cumsum: why"])))
    assert _slow_path_msgs([cumsum], "cpu_parallel", fake, []) == []
    assert _slow_path_msgs([row], "cpu", fake, []) == [
        "cpu: cumsum: why (a slow path no row of this batch declares: see SLOW_PATHS)"
    ]
    warned = SimpleNamespace(message="jitgrad.trace(step): non-contiguous state x: ...")
    assert _slow_path_msgs([cumsum], "cpu", fake, [warned])[0].startswith("cpu: the traced")


def _kinds(case):
    return {PRIMITIVES[p].kind for p in primitives_of(case)}


# primitives no traced row can reach: data-dependent output shapes are refused by the tracer
EAGER_ONLY = {"nonzero"}
# collectives need several MPI ranks: tests/distributed runs them eagerly and traced
DISTRIBUTED = {"all_gather", "all_reduce", "broadcast", "dist_token"}


@pytest.mark.parametrize("backend", ["reference", "cpu", "cpu_parallel", "cuda"])
def test_table_covers_every_primitive(backend):
    covered = set()
    for c in compiled_sample(backend):
        covered |= primitives_of(c)
    ours = {n for n, p in PRIMITIVES.items() if not p.impl.__module__.startswith("tests.")}
    if backend == "cpu_parallel":
        # prange differs from the serial path only in loops: each reduction kernel and
        # fused loops with broadcasting, select and transcendental members
        ours = {"sum", "amax", "amin", "prod", "where", "add", "mul", "tanh", "exp"}
    # ops a backend runs only through its slow path are covered by a few rows (FALLBACK_ROWS)
    assert ours - covered - EAGER_ONLY - DISTRIBUTED - declared_slow(backend) == set()
    # the eager-only ones still have eager rows
    assert EAGER_ONLY <= {c.name for c in all_cases() if not c.backends}


def _any(*s):
    return R.uniform(-2.0, 2.0, s)


def _random_program(seed):
    """A random DAG of elementwise ops, broadcasts and reductions over shared inputs."""
    r = np.random.default_rng(seed)
    unary = [jg.sin, jg.tanh, jg.relu, jg.abs, jg.sigmoid, lambda t: t * 0.5, jg.neg]
    binary = [jg.add, jg.mul, jg.sub, jg.maximum, lambda a, b: jg.where(a > b, a, b)]
    plan = []
    for _ in range(14):
        k = r.integers(0, 4)
        plan.append(
            (
                k,
                int(r.integers(0, 1 << 30)),
                int(r.integers(0, 1 << 30)),
                int(r.integers(0, 1 << 30)),
            )
        )

    def prog(x, y):
        vals = [x, y, x * y]
        for k, a, b, c in plan:
            u, v = vals[a % len(vals)], vals[b % len(vals)]
            if k == 0:
                vals.append(unary[c % len(unary)](u))
            elif k == 1:
                vals.append(binary[c % len(binary)](u, v))
            elif k == 2:
                vals.append(u - u.sum(1, keepdim=True) * 0.1)
            else:
                vals.append(u * v.amax(0, keepdim=True))
        return vals[-1] + vals[-2] * vals[-3]

    return prog


def test_random_elementwise_dags_fuse_correctly():
    progs = [_random_program(s) for s in range(3)]
    x0, y0 = _any(5, 4), _any(5, 4)
    w = jg.tensor(_any(5, 4))

    def step(x, y):
        x.grad = None
        outs = [p(x, y) for p in progs]
        sum((o * w).sum() for o in outs).backward()
        return outs, x.grad

    args = lambda: (jg.tensor(x0, requires_grad=True), jg.tensor(y0))
    ref = step(*args())
    ts = jg.trace(step, parallel=False)
    for _ in range(3):
        got = ts(*args())
    assert ts.stats["compiled_calls"] == 1
    for a, b in zip(ref[0], got[0]):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1].numpy(), ref[1].numpy(), rtol=1e-10, atol=1e-12)
