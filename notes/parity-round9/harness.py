"""Round 8's comparison harness (notes/parity-round8/harness.py), loaded from there."""

import importlib.util
import os

_p = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity-round8", "harness.py")
_s = importlib.util.spec_from_file_location("_harness_round8", _p)
_m = importlib.util.module_from_spec(_s)
_s.loader.exec_module(_m)
globals().update({k: v for k, v in vars(_m).items() if not k.startswith("__")})
