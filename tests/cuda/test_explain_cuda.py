"""``step.explain()`` lists the CUDA backend's fallbacks as ``op: reason``, as on the CPU
(the body is tests/compile/test_explain.py's)."""

from ..compile.test_explain import explain_lists_fallbacks


def test_explain_lists_fallbacks_cuda():
    explain_lists_fallbacks("cuda")
