# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

"""Run each snippet with torch and with jitgrad; compare results."""
import sys, traceback, warnings
import numpy as np

warnings.simplefilter("ignore")
import torch, jitgrad


def dtypes(x):
    """The dtype names of the tensors in a result (library prefix dropped)."""
    if isinstance(x, (list, tuple)):
        return [d for v in x for d in dtypes(v)]
    if isinstance(x, dict):
        return [d for k in sorted(x) for d in dtypes(x[k])]
    if hasattr(x, "dtype") and hasattr(x, "detach"):
        return [str(x.dtype).split(".")[-1]]
    return []


def flat(x):
    """Nested lists/tuples flattened to their leaves."""
    if isinstance(x, (list, tuple)):
        return [v for e in x for v in flat(e)]
    return [x]


def tonp(x):
    if isinstance(x, (list, tuple)):
        return [tonp(v) for v in flat(x)]
    if isinstance(x, str):
        return np.float64(hash(x) % 1000003)
    if isinstance(x, (list, tuple)):
        return [tonp(v) for v in x]
    if hasattr(x, "detach"):
        return np.asarray(x.detach().numpy())
    return np.asarray(x)


SNIPS = {}


def snip(f):
    SNIPS[f.__name__] = f
    return f


def run(names=None):
    bad = 0
    for name, f in SNIPS.items():
        if names and name not in names:
            continue
        res = {}
        for lib in (torch, jitgrad):
            try:
                lib.manual_seed(0)
                res[lib.__name__] = ("ok", f(lib))
            except Exception as e:
                res[lib.__name__] = ("err", f"{type(e).__name__}: {e}"[:300])
        a, b = res["torch"], res["jitgrad"]
        if a[0] == "err" and b[0] == "err":
            print(f"[both err] {name}: torch {a[1][:120]} | jg {b[1][:160]}")
            continue
        if a[0] != b[0]:
            bad += 1
            print(
                f"[MISMATCH] {name}: torch {a[0]} {str(a[1])[:150]} | jitgrad {b[0]} {str(b[1])[:250]}"
            )
            continue
        if dtypes(a[1]) != dtypes(b[1]):
            bad += 1
            print(f"[DTYPE] {name}: torch {dtypes(a[1])} | jitgrad {dtypes(b[1])}")
        try:
            ta, tb = tonp(a[1]), tonp(b[1])
            ok = all(
                np.allclose(
                    np.asarray(x, dtype=float),
                    np.asarray(y, dtype=float),
                    rtol=1e-4,
                    atol=1e-5,
                    equal_nan=True,
                )
                and np.shape(x) == np.shape(y)
                for x, y in zip(
                    ta if isinstance(ta, list) else [ta], tb if isinstance(tb, list) else [tb]
                )
            )
            if isinstance(ta, list) and len(ta) != len(tb):
                ok = False
        except Exception as e:
            ok = False
            print("   compare failed", e)
        if not ok:
            bad += 1
            if isinstance(ta, list):
                for i, (x, y) in enumerate(zip(ta, tb)):
                    try:
                        same = np.shape(x) == np.shape(y) and np.allclose(
                            np.asarray(x, dtype=float),
                            np.asarray(y, dtype=float),
                            rtol=1e-4,
                            atol=1e-5,
                            equal_nan=True,
                        )
                    except Exception:
                        same = False
                    if not same:
                        print(f"   item {i}: torch {x!r:.150} | jitgrad {y!r:.150}")
            print(f"[VALUES] {name}: torch {str(a[1])[:200]} | jitgrad {str(b[1])[:200]}")
    print("mismatches:", bad)


def compare_errors(err, after=None):
    """Run each ``err[name](L)`` with torch and jitgrad; print the pairs whose outcome
    (value, or exception type and message) differs. ``after(L)`` runs after each call."""
    import jitgrad
    import torch

    for k, f in err.items():
        out = []
        for L in (torch, jitgrad):
            try:
                out.append(f"OK {str(f(L))[:60]}")
            except Exception as e:
                out.append(f"{type(e).__name__}: {e}")
            if after is not None:
                try:
                    after(L)
                except Exception:
                    pass
        if out[0] != out[1]:
            same = out[0].split(":")[0] == out[1].split(":")[0]
            tag = "[msg]" if same else "[TYPE]"
            print(tag, k, "\n   torch:", out[0][:300], "\n   jg:   ", out[1][:300])


def fill_params(L, model, seed=0, scale=0.3):
    """Give ``model``'s parameters the same normal draws in both libraries (``L`` is torch or
    jitgrad): the side-by-side scripts start each run from equal weights."""
    import numpy as np

    r = np.random.default_rng(seed)
    with L.no_grad():
        for p in model.parameters():
            p.copy_(L.tensor((r.standard_normal(tuple(p.shape)) * scale).astype(np.float32)))
    return model
