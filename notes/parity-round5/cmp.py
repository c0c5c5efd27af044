# ruff: noqa
"""Parity scratch helper (imports torch; run by hand): the round-6 harness, notes/parity-round6/cmp.py
(a superset of round 5's: it also flattens nested results), re-exported for round 5's scripts."""

import importlib.util as _u
import os as _os

_spec = _u.spec_from_file_location(
    "_cmp_round6",
    _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "parity-round6", "cmp.py"),
)
_mod = _u.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
