"""Anomaly detection: backward raises at the first op whose gradient is NaN/inf."""

import numpy as np

from .grad_mode import STATE


def check_grad(node, g):
    if g is not None and g._data.dtype.kind == "f" and not np.all(np.isfinite(g._data)):
        raise RuntimeError(
            f"Function '{node.prim.backward_name}' received a gradient with non-finite values "
            "(NaN or inf) during backward; check the forward op that created it"
        )


def set_detect_anomaly(mode):
    """Turn anomaly checks on or off: ``jitgrad.autograd.set_detect_anomaly(True)``."""
    STATE.anomaly = bool(mode)


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
