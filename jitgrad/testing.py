"""``jitgrad.testing.assert_close``: PyTorch's default tolerances per dtype."""

import numpy as np

from .tensor import Tensor

_TOL = {  # dtype -> (rtol, atol), PyTorch's defaults
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
}


def _arr(x):
    if isinstance(x, Tensor):
        return x.detach()._data
    return np.asarray(x)


def assert_close(
    actual,
    expected,
    *,
    allow_subclasses=True,
    rtol=None,
    atol=None,
    equal_nan=False,
    check_device=True,
    check_dtype=True,
    check_layout=True,
    check_stride=False,
    msg=None,
):
    """Raise AssertionError unless ``actual`` and ``expected`` agree within tolerance."""
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        if len(actual) != len(expected):
            raise AssertionError(
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}"
            )
        for a, e in zip(actual, expected):
            assert_close(
                a, e, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=check_dtype, msg=msg
            )
        return
    if isinstance(actual, dict) and isinstance(expected, dict):
        if set(actual) != set(expected):
            raise AssertionError("The keys of the mappings do not match")
        for k in actual:
            assert_close(
                actual[k],
                expected[k],
                rtol=rtol,
                atol=atol,
                equal_nan=equal_nan,
                check_dtype=check_dtype,
                msg=msg,
            )
        return
    a, e = _arr(actual), _arr(expected)
    if a.shape != e.shape:
        raise AssertionError(
            msg or f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}."
        )
    if (
        check_dtype
        and isinstance(actual, Tensor)
        and isinstance(expected, Tensor)
        and (a.dtype != e.dtype)
    ):
        raise AssertionError(
            msg
            or f"The values for attribute 'dtype' do not match: {actual.dtype} != {expected.dtype}."
        )
    if (rtol is None) != (atol is None):
        raise ValueError("Both 'rtol' and 'atol' must be either specified or omitted")
    if rtol is None:
        rtol, atol = _TOL.get(a.dtype, (0.0, 0.0))
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if not ok.all():
        bad = int((~ok).sum())
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        raise AssertionError(
            msg
            or f"Tensor-likes are not close!\n\nMismatched elements: {bad} / {a.size} "
            f"({100.0 * bad / max(a.size, 1):.1f}%)\nGreatest absolute difference: "
            f"{np.nanmax(diff) if diff.size else 0} (up to {atol} allowed)"
        )


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated alias of ``assert_close`` (without the dtype check)."""
    assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol,
        equal_nan=equal_nan,
        check_dtype=False,
        msg=msg or None,
    )
