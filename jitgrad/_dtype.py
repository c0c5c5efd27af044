"""dtypes: PyTorch-named wrappers around NumPy dtypes, and PyTorch's type promotion."""

import numpy as np


class DType:
    """A tensor element type: ``jitgrad.float32`` prints like ``torch.float32``."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_cat")

    def __init__(self, name, npdtype, cat):
        self.name = name
        self.np = np.dtype(npdtype)
        self.is_floating_point = cat == 2
        self.is_signed = cat != 0
        self.itemsize = self.np.itemsize
        self._cat = cat  # 0 bool, 1 integer, 2 floating

    def __repr__(self):
        return f"jitgrad.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


bool_ = DType("bool", np.bool_, 0)
uint8 = DType("uint8", np.uint8, 1)
int8 = DType("int8", np.int8, 1)
int16 = DType("int16", np.int16, 1)
int32 = DType("int32", np.int32, 1)
int64 = DType("int64", np.int64, 1)
float16 = DType("float16", np.float16, 2)
float32 = DType("float32", np.float32, 2)
float64 = DType("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
_NAMES.update(
    {
        "float": float32,
        "double": float64,
        "long": int64,
        "int": int32,
        "half": float16,
        "short": int16,
    }
)


class UnsupportedDType:
    """A PyTorch dtype jitgrad does not have (complex, bfloat16, quantised): using it raises."""

    __slots__ = ("name", "why")
    is_floating_point = False
    is_complex = False

    def __init__(self, name, why):
        self.name, self.why = name, why

    def __repr__(self):
        return f"jitgrad.{self.name}"

    def fail(self):
        raise NotImplementedError(
            f"dtype jitgrad.{self.name}: {self.why} are out of jitgrad's scope"
        )


complex32 = UnsupportedDType("complex32", "complex dtypes")
complex64 = UnsupportedDType("complex64", "complex dtypes")
complex128 = UnsupportedDType("complex128", "complex dtypes")
bfloat16 = UnsupportedDType("bfloat16", "bfloat16 tensors (NumPy has no bfloat16)")
quint8 = UnsupportedDType("quint8", "quantised dtypes")
qint8 = UnsupportedDType("qint8", "quantised dtypes")
qint32 = UnsupportedDType("qint32", "quantised dtypes")
quint4x2 = UnsupportedDType("quint4x2", "quantised dtypes")


def _by_name(name):
    return _NAMES[name]


def from_np(npdtype):
    """The DType of a NumPy dtype; raises TypeError for unsupported ones."""
    try:
        return _FROM_NP[npdtype]
    except KeyError:
        try:
            return _FROM_NP[np.dtype(npdtype)]
        except (KeyError, TypeError):
            raise TypeError(
                f"jitgrad does not support the NumPy dtype {npdtype!r}; "
                "use one of float32, float64, int64, int32, bool"
            ) from None


def to_np(dtype):
    """NumPy dtype for a DType, a NumPy dtype, a Python type or a name."""
    if isinstance(dtype, DType):
        return dtype.np
    if isinstance(dtype, UnsupportedDType):
        dtype.fail()
    if dtype is float:  # Python's float is a double, as in torch (``dtype=float`` is float64)
        return float64.np
    if dtype is int:
        return int64.np
    if dtype is bool:
        return bool_.np
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype].np
    return from_np(dtype).np


def canon(dtype):
    """The DType for anything ``dtype=`` accepts."""
    return _FROM_NP[to_np(dtype)]


def default_float():
    return float32.np


# PyTorch promotion: three categories, and dimensioned tensors > 0-d tensors > Python scalars.
def _cat(npdt):
    k = npdt.kind
    return 2 if k == "f" else (0 if k == "b" else 1)


def _scalar_cat(v):
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return 1
    return 2


_INT_RANK = {
    np.dtype(np.uint8): 0,
    np.dtype(np.int8): 0,
    np.dtype(np.int16): 1,
    np.dtype(np.int32): 2,
    np.dtype(np.int64): 3,
}


def _join(a, b):
    """The larger of two NumPy dtypes in PyTorch's lattice."""
    if a == b:
        return a
    ca, cb = _cat(a), _cat(b)
    if ca != cb:
        return a if ca > cb else b
    if ca == 2:
        return a if a.itemsize >= b.itemsize else b
    if ca == 1:
        if {a, b} == {np.dtype(np.uint8), np.dtype(np.int8)}:
            return np.dtype(np.int16)
        return a if _INT_RANK[a] >= _INT_RANK[b] else b
    return a


def result_type(*operands):
    """PyTorch's result dtype for operands that are NumPy arrays or Python scalars."""
    dim_t = zero_t = None
    scal = -1
    for o in operands:
        if isinstance(o, np.ndarray):
            if o.ndim:
                dim_t = o.dtype if dim_t is None else _join(dim_t, o.dtype)
            else:
                zero_t = o.dtype if zero_t is None else _join(zero_t, o.dtype)
        else:
            scal = max(scal, _scalar_cat(o))
    res = dim_t
    if zero_t is not None:
        if res is None or _cat(zero_t) > _cat(res):
            res = zero_t
    if scal >= 0:
        if res is None:
            res = (bool_.np, int64.np, default_float())[scal]
        elif scal > _cat(res):
            res = int64.np if scal == 1 else default_float()
    return res
