# ruff: noqa
"""Parity round 8 harness (imports torch; run by hand, never collected by pytest).

Each snippet `f(L)` runs with L=torch and L=jitgrad; results are canonicalised
(tensors -> dtype/shape/values/requires_grad, exceptions -> class + message,
strings compared with the library prefix dropped) and compared.
"""

import re, sys, warnings, math
import numpy as np

warnings.simplefilter("ignore")
import torch, jitgrad

SNIPS = {}


def snip(f):
    SNIPS[f.__name__] = f
    return f


def _norm_str(s):
    return s.replace("jitgrad", "torch")


def canon(x, lib):
    if (
        isinstance(x, (list, tuple))
        and not hasattr(x, "_fields")
        and type(x).__name__ not in ("Size",)
    ):
        return [type(x).__name__] + [canon(v, lib) for v in x]
    if type(x).__name__ == "Size":
        return ("Size", tuple(x))
    if hasattr(x, "_fields"):
        return [type(x).__name__] + [canon(v, lib) for v in x]
    if isinstance(x, dict):
        return {str(k): canon(v, lib) for k, v in x.items()}
    if isinstance(x, lib.Tensor):
        d = x.detach()
        return (
            "T",
            str(x.dtype).split(".")[-1],
            tuple(x.shape),
            np.asarray(d.numpy()).tolist(),
            bool(x.requires_grad),
        )
    if isinstance(x, lib.dtype):
        return ("dtype", str(x).split(".")[-1])
    if isinstance(x, str):
        return _norm_str(x)
    if isinstance(x, float):
        return ("f", round(x, 6) if math.isfinite(x) else str(x))
    if isinstance(x, (bool, int, type(None))):
        return (type(x).__name__, x)
    if isinstance(x, np.ndarray):
        return ("np", str(x.dtype), x.tolist())
    if isinstance(x, type):
        return ("type", x.__name__)
    return ("obj", type(x).__name__)


def close(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == "T" == b[0]:
        if a[1:3] != b[1:3] or a[4] != b[4]:
            return False
        try:
            return np.allclose(
                np.asarray(a[3], dtype=float),
                np.asarray(b[3], dtype=float),
                rtol=1e-4,
                atol=1e-5,
                equal_nan=True,
            )
        except Exception:
            return a[3] == b[3]
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == "f" == b[0]:
        return a[1] == b[1] or (
            isinstance(a[1], float)
            and isinstance(b[1], float)
            and abs(a[1] - b[1]) <= 1e-4 * max(1, abs(a[1]))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) == type(b) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b


def run(names=None):
    nbad = 0
    for name, f in SNIPS.items():
        if names and name not in names:
            continue
        res = {}
        for lib in (torch, jitgrad):
            try:
                lib.manual_seed(0)
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    out = f(lib)
                res[lib.__name__] = ("ok", canon(out, lib), [str(x.category.__name__) for x in w])
            except Exception as e:
                res[lib.__name__] = ("err", type(e).__name__, _norm_str(str(e)), type(e).__mro__)
        a, b = res["torch"], res["jitgrad"]
        if a[0] == "err" and b[0] == "err":
            tcls = (
                getattr(__builtins__, a[1], None)
                if not isinstance(__builtins__, dict)
                else __builtins__.get(a[1])
            )
            sub = any(c.__name__ == a[1] for c in b[3])
            if a[1] != b[1] and not sub:
                nbad += 1
                print(
                    f"[ERRTYPE] {name}: torch {a[1]}: {a[2][:200]}\n           jg    {b[1]}: {b[2][:200]}"
                )
            elif a[2].split("\n")[0].strip() != b[2].split("\n")[0].strip():
                print(f"[MSG] {name}: torch {a[1]}: {a[2][:200]}\n      jg    {b[1]}: {b[2][:200]}")
            continue
        if a[0] != b[0]:
            nbad += 1
            print(
                f"[MISMATCH] {name}: torch {str(a[1:3])[:300]}\n           jg    {str(b[1:3])[:300]}"
            )
            continue
        if not close(a[1], b[1]):
            nbad += 1
            print(f"[VALUES] {name}:\n   torch {str(a[1])[:600]}\n   jg    {str(b[1])[:600]}")
        elif a[2] != b[2]:
            print(f"[WARN] {name}: torch warnings {a[2]} | jg {b[2]}")
    print(f"--- {len(SNIPS)} snippets, {nbad} mismatches")


if __name__ == "__main__":
    pass
