"""Consumers of the background jobs of tests/_background.py (see there)."""

import pytest

from tests import _background


def _check(name, timeout):
    rc, out = _background.result(name, timeout)
    if out == "nothing selected":  # -k/-m left none of its tests
        pytest.skip(f"no test of background job {name} is selected")
    assert rc == 0, f"background job {name} failed ({rc}):\n{out[-8000:]}"
    last = out.strip().splitlines()[-1] if out.strip() else ""
    print(f"background job {name}: {last}")
    assert " passed" in last and "failed" not in last and "error" not in last, out[-3000:]


def test_op_parity_in_a_second_process():
    """tests/compile/test_op_parity.py (the op table traced on every CPU configuration)."""
    _check("op-parity", timeout=1500)


def test_compiled_model_steps_in_a_second_process():
    """tests/nn/test_conv_kernels.py, tests/compat/test_rnn.py, the traced conv autoencoder
    of test_surface_more (conv nets and RNNs traced) and the benchmark smoke test."""
    _check("compiled-models", timeout=1500)
