"""Anomaly detection: backward raises at the first op whose gradient is NaN/inf."""

import os
import traceback
import weakref

import numpy as np

from .grad_mode import STATE

_SITES = weakref.WeakKeyDictionary()  # node -> "file:line" where its forward op ran
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def record_site(node):
    """Remember the user's line that created ``node`` (anomaly mode only)."""
    for fs in reversed(traceback.extract_stack()):
        if not os.path.abspath(fs.filename).startswith(_PKG):
            _SITES[node] = f"{fs.filename}:{fs.lineno}: {fs.line}"
            return


def _where(node):
    site = _SITES.get(node)
    return f"; the forward op was created at {site}" if site else ""


def _bad(t):
    return t is not None and t._data.dtype.kind == "f" and not np.all(np.isfinite(t._data))


def check_grad(node, g):
    if _bad(g):
        raise RuntimeError(
            f"Function '{node.prim.backward_name}' received a gradient with non-finite values "
            f"(NaN or inf) during backward{_where(node)}"
        )


def check_outputs(node, grads):
    """Like torch: raise when a backward function returns NaN/inf."""
    for i, gi in enumerate(grads):
        if _bad(gi):
            kind = "nan" if np.isnan(gi._data).any() else "inf"
            raise RuntimeError(
                f"Function '{node.prim.backward_name}' returned {kind} values in its {i}th "
                f"output (a non-finite gradient){_where(node)}"
            )


class set_detect_anomaly:  # noqa: N801 (torch's name; a function and a context manager)
    """Turn anomaly checks on or off: ``set_detect_anomaly(True)``, or ``with
    set_detect_anomaly(True): ...`` to restore the previous setting afterwards."""

    def __init__(self, mode, check_nan=True):
        self._prev = STATE.anomaly
        STATE.anomaly = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        STATE.anomaly = self._prev
        return False


def is_anomaly_enabled():
    return STATE.anomaly


class detect_anomaly:
    """Context manager enabling anomaly checks in backward."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = STATE.anomaly
        STATE.anomaly = self.check_nan

    def __exit__(self, *exc):
        STATE.anomaly = self._prev
        return False
