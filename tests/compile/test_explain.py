"""``step.explain()`` lists every fallback as ``op: reason`` (exe.fallbacks), on the CPU
backend here and on the CUDA simulator in tests/cuda/test_explain_cuda.py (same body)."""

import warnings

import numpy as np

import jitgrad as jg


def explain_lists_fallbacks(device):
    """A step with one op that has no lowering (cumsum) and one that has (exp)."""
    x0 = np.linspace(0.1, 1.0, 6).reshape(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the once-per-step fallback warning
        ts = jg.trace(lambda x: x.cumsum(1).exp() * 2.0, device=device)
        for _ in range(2):
            out = ts(jg.tensor(x0))
    np.testing.assert_allclose(out.numpy(), np.exp(np.cumsum(x0, 1)) * 2.0)
    assert ts.last.exe.fallbacks == [f"cumsum: no {device} lowering"]
    lines = ts.explain().splitlines()
    at = lines.index("fallbacks (1 op(s) on a slower path, op: reason):")
    assert lines[at + 1] == f"  cumsum: no {device} lowering"
    assert not any("objmode" in line for line in lines)  # the reason, not just the names

    ts2 = jg.trace(lambda x: x.exp() * 2.0, device=device)
    ts2(jg.tensor(x0))
    ts2(jg.tensor(x0))
    assert ts2.last.exe.fallbacks == []
    assert "fallbacks: none" in ts2.explain().splitlines()


def test_explain_lists_fallbacks_cpu():
    explain_lists_fallbacks("cpu")
