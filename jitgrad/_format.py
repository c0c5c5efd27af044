"""PyTorch-style printing of tensors: ``tensor([1., 2.], requires_grad=True)``."""

import math

import numpy as np

from . import _dtype

LINEWIDTH = 80
THRESHOLD = 1000
EDGEITEMS = 3
PRECISION = 4
SCI_MODE = None  # None: PyTorch's automatic choice; True/False force it
_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80}
_PROFILES = {
    "default": _DEFAULTS,
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
):
    """Change how tensors print (``jitgrad.set_printoptions`` documents the arguments)."""
    global PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH, SCI_MODE
    if profile is not None:
        p = _PROFILES[profile]
        PRECISION, THRESHOLD = p["precision"], p["threshold"]
        EDGEITEMS, LINEWIDTH = p["edgeitems"], p["linewidth"]
    if precision is not None:
        PRECISION = int(precision)
    if threshold is not None:
        THRESHOLD = threshold
    if edgeitems is not None:
        EDGEITEMS = int(edgeitems)
    if linewidth is not None:
        LINEWIDTH = int(linewidth)
    SCI_MODE = sci_mode


_DEFAULT_DTYPES = (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_))


def _summarized(a):
    return a.size > THRESHOLD


def _edge_values(a):
    """The values that will be printed (edges only when summarising)."""
    if not _summarized(a) or a.ndim == 0:
        return a.ravel()
    parts = []
    for idx in _edge_slices(a):
        parts.append(a[idx].ravel())
    return np.concatenate(parts)


def _edge_slices(a):
    sl = []
    for d in range(a.ndim):
        if a.shape[d] > 2 * EDGEITEMS:
            sl.append((slice(0, EDGEITEMS), slice(-EDGEITEMS, None)))
        else:
            sl.append((slice(None),))
    import itertools

    return list(itertools.product(*sl))


class _Formatter:
    """PyTorch's rules: widths, int mode and scientific mode come from nonzero finite values."""

    def __init__(self, a):
        self.kind = a.dtype.kind
        self.sci = False
        self.int_mode = True
        vals = _edge_values(a)
        self.width = 1
        if self.kind != "f":
            self.width = max([len(self._fmt(v)) for v in vals] or [1])
            return
        v64 = vals.astype(np.float64)
        nzf = v64[np.isfinite(v64) & (v64 != 0)]
        if not nzf.size:
            return
        self.int_mode = bool(np.all(nzf == np.ceil(nzf)))
        mx, mn = np.abs(nzf).max(), np.abs(nzf).min()
        if self.int_mode:
            self.sci = mx / mn > 1000.0 or mx > 1e8
        else:
            self.sci = mx / mn > 1000.0 or mx > 1e8 or mn < 1e-4
        if SCI_MODE is not None:
            self.sci = bool(SCI_MODE)
        self.width = max(len(self._fmt(v)) for v in nzf)

    def _fmt(self, v):
        if self.kind == "b":
            return str(bool(v))
        if self.kind in "iu":
            return str(int(v))
        v = float(v)
        if not math.isfinite(v):
            return "nan" if v != v else ("inf" if v > 0 else "-inf")
        if self.sci:
            return f"{v:.{PRECISION}e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.{PRECISION}f}"

    def format(self, v):
        return self._fmt(v).rjust(self.width)


def _tensor_str(a, indent, fmt):
    if a.ndim == 0:
        return fmt._fmt(a.item())
    if a.ndim == 1:
        n = a.shape[0]
        if _summarized_top(a) and n > 2 * EDGEITEMS:
            items = (
                [fmt.format(x) for x in a[:EDGEITEMS]]
                + [" ..."]
                + [fmt.format(x) for x in a[-EDGEITEMS:]]
            )
        else:
            items = [fmt.format(x) for x in a]
        per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    if _summarized_top(a) and n > 2 * EDGEITEMS:
        rows = (
            [_tensor_str(a[i], indent + 1, fmt) for i in range(EDGEITEMS)]
            + ["..."]
            + [_tensor_str(a[i], indent + 1, fmt) for i in range(n - EDGEITEMS, n)]
        )
    else:
        rows = [_tensor_str(a[i], indent + 1, fmt) for i in range(n)]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


_SUMMARIZE = [False]


def _summarized_top(a):
    return _SUMMARIZE[0]


def tensor_repr(t, prefix="tensor("):
    a = t._data
    indent = len(prefix)
    suffixes = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
    else:
        _SUMMARIZE[0] = _summarized(a)
        fmt = _Formatter(a)
        body = _tensor_str(a, indent, fmt)
    fdef = np.dtype(_dtype.default_float())  # set_default_dtype(float64) hides float64
    if (a.dtype != fdef and a.dtype not in _DEFAULT_DTYPES[1:]) or (
        a.size == 0 and a.dtype != fdef
    ):
        suffixes.append(f"dtype={_dtype._FROM_NP[a.dtype]!r}")
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    if suffixes:
        return prefix + body + ", " + ", ".join(suffixes) + ")"
    return prefix + body + ")"
