"""Source generation shared by the numba backends: literals, scalar expressions, loop bodies.

A fused elementwise group becomes one loop nest whose body pastes each member's scalar
template (from the op registry). Backends override only the templates that differ (their
``scalar`` table in ``core.Backend``).
"""

import math

import numpy as np

_NP_NAMES = {
    "float32": "np.float32",
    "float64": "np.float64",
    "int64": "np.int64",
    "int32": "np.int32",
    "int16": "np.int16",
    "int8": "np.int8",
    "uint8": "np.uint8",
    "float16": "np.float16",
}


def lit(v, dtype=None):
    """A Python/numba source literal for a scalar, typed with ``dtype`` when given."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, bool) or (dtype is not None and np.dtype(dtype) == np.bool_):
        return "True" if v else "False"
    if isinstance(v, float):
        if math.isnan(v):
            s = "np.nan"
        elif math.isinf(v):
            s = "np.inf" if v > 0 else "-np.inf"
        else:
            s = repr(v)
    else:
        s = repr(v)
    if dtype is not None:
        name = _NP_NAMES.get(np.dtype(dtype).name)
        if name:
            return f"{name}({s})"
    return s


def pyobj(v):
    """Source text for a node parameter (tuples, dtypes, numbers, None, strings)."""
    if isinstance(v, np.dtype):
        return f"np.dtype({v.name!r})"
    if isinstance(v, tuple):
        inner = ", ".join(pyobj(x) for x in v)
        return f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, list):
        return "[" + ", ".join(pyobj(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {pyobj(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return lit(v)
    if v is None or isinstance(v, (bool, int, str)):
        return repr(v)
    if isinstance(v, np.generic):
        return lit(v.item())
    raise TypeError(f"cannot embed parameter {v!r} in generated source")


def cast_expr(expr, dtype):
    """``expr`` converted to ``dtype`` (keeps eager float32 precision between members)."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return f"({expr})"
    return f"{_NP_NAMES[dt.name]}({expr})"


def member_expr(node, operands, scalar, rewrite=None):
    """The scalar expression of one elementwise member, operands already rendered.

    ``scalar`` is the backend's template table (Primitive -> template); ops not in it use
    their registry template. A template is a format string or a function of the params.
    ``rewrite(template)`` lets a backend substitute calls (the CPU's vectorisable math).
    """
    t = scalar.get(node.op) or node.op.scalar
    if callable(t):
        t = t(**node.params)
    if rewrite is not None:
        t = rewrite(t)
    return t.format(*operands)


def objmode_type(dtype, ndim):
    dt = np.dtype(dtype)
    name = "boolean" if dt == np.bool_ else dt.name
    dims = ", ".join([":"] * (ndim - 1) + ["::1"])
    return f"{name}[{dims}]"
