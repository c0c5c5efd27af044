"""jitgrad: PyTorch-style autograd on NumPy (eager), and whole-step compilation with numba.

>>> import jitgrad as torch
>>> x = torch.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward(); x.grad
tensor([2., 4.])
"""

__version__ = "0.1.0"

from . import _dtype, autograd, cuda, return_types
from . import ops as _ops
from ._devices import get_default_device, set_default_device
from ._dtype import DType as dtype
from ._dtype import bool_ as bool
from ._dtype import float16, float32, float64, int8, int16, int32, int64, uint8
from ._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .creation import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    Generator,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    as_tensor,
    bernoulli,
    default_generator,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    initial_seed,
    layout,
    linspace,
    logspace,
    manual_seed,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
    strided,
    tensor,
    zeros,
    zeros_like,
)
from .ops.exports import *  # every op declared public(export=True): ops/registry.py
from .ops.linalg import cholesky as _cholesky
from .ops.linalg import qr as _qr
from .tensor import Size, Tensor, TraceError, device

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
char = int8
cfloat = complex64 = _dtype.complex64
cdouble = complex128 = _dtype.complex128
chalf = complex32 = _dtype.complex32
bfloat16 = _dtype.bfloat16
quint8, qint8, qint32, quint4x2 = _dtype.quint8, _dtype.qint8, _dtype.qint32, _dtype.quint4x2


def qr(input, some=True):
    """``torch.qr``: ``(Q, R)`` (reduced)."""
    return _qr(input)


def cholesky(input, upper=False):
    """``torch.cholesky``: the lower Cholesky factor (``upper=True``: its transpose)."""
    return _cholesky(input, upper=upper)


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """Out-of-place ``scatter``: ``input`` with ``src`` written at ``index`` along ``dim``."""
    return input.scatter(dim, index, src, value, reduce=reduce)


def dropout(input, p=0.5, train=True):
    """``nn.functional.dropout`` under its ``torch.dropout`` name."""
    from .nn.functional import dropout as _d

    return _d(input, p, train)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """``nn.functional.layer_norm``."""
    from .nn.functional import layer_norm as _ln

    return _ln(input, normalized_shape, weight, bias, eps)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``nn.functional.conv2d``."""
    from .nn.functional import conv2d as _c

    return _c(input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``nn.functional.conv1d``."""
    from .nn.functional import conv1d as _c

    return _c(input, weight, bias, stride, padding, dilation, groups)


Tensor.__module__ = "jitgrad"  # ``type(t)`` prints <class 'jitgrad.Tensor'>, as torch's does
Size.__module__ = "jitgrad"


def is_tensor(obj):
    """True for jitgrad tensors."""
    return isinstance(obj, Tensor)


def is_storage(obj):
    """Always False: jitgrad has no separate storage objects."""
    return False


def numel(input):
    """The number of elements of ``input``."""
    return input.numel()


def is_floating_point(input):
    """True for floating dtypes."""
    return input.is_floating_point()


def is_complex(input):
    """Always False: complex dtypes are out of jitgrad's scope."""
    return False


def is_nonzero(input):
    """``bool(input)`` for a one-element tensor."""
    return input.is_nonzero()


def typename(obj):
    """``'jitgrad.FloatTensor'`` for a float32 tensor, else the type's name."""
    if isinstance(obj, Tensor):
        return obj.type()
    return type(obj).__module__ + "." + type(obj).__qualname__


def get_default_dtype():
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _dtype._FROM_NP[_dtype.default_float()]


def set_default_dtype(d):
    """Make float32 or float64 the default floating dtype."""
    if d not in (float32, float64):
        raise TypeError("only floating-point types are supported as the default type")
    _dtype.default_float = lambda: d.np


def set_default_tensor_type(kind):
    """Legacy: ``set_default_tensor_type(jitgrad.DoubleTensor)`` sets the default dtype."""
    from .creation import LEGACY_TYPES

    if isinstance(kind, str):
        kind = LEGACY_TYPES[kind.split(".")[-1]]
    set_default_dtype(_dtype._FROM_NP[kind.np_dtype])


def broadcast_shapes(*shapes):
    """The shape that all ``shapes`` broadcast to."""
    from .ops._common import broadcast_shapes as _b

    return Size(_b("broadcast_shapes", *shapes))


def broadcast_tensors(*tensors):
    """Expanded views of ``tensors`` with one common shape."""
    shape = broadcast_shapes(*[x.shape for x in tensors])
    return tuple(x.expand(*shape) for x in tensors)


def block_diag(*tensors):
    """A block-diagonal matrix from 2-D (or smaller) tensors."""
    from .nn.functional import pad

    mats = [m.reshape(1, -1) if m.ndim < 2 else m for m in tensors]
    rows = builtins_sum(m.shape[0] for m in mats)
    cols = builtins_sum(m.shape[1] for m in mats)
    r = c = 0
    res = None
    for m in mats:
        h, w = m.shape
        p = pad(m, (c, cols - c - w, r, rows - r - h))
        res = p if res is None else res + p
        r += h
        c += w
    return res


def cartesian_prod(*tensors):
    """All combinations of the elements of 1-D tensors, one per row."""
    grids = meshgrid(*tensors, indexing="ij")
    if len(tensors) == 1:
        return tensors[0] * 1
    return stack([g.reshape(-1) for g in grids], 1)


def unravel_index(indices, shape):
    """The coordinates of flat ``indices`` in ``shape`` (a tuple of tensors)."""
    import numpy as _np

    idx = indices._data if isinstance(indices, Tensor) else _np.asarray(indices)
    return tuple(tensor(a) for a in _np.unravel_index(idx, tuple(shape)))


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
):
    """Printing options, as ``torch.set_printoptions`` (precision, threshold, ...)."""
    from . import _format

    _format.set_printoptions(precision, threshold, edgeitems, linewidth, profile, sci_mode)


class finfo:
    """Machine limits of a floating dtype: ``jitgrad.finfo(jitgrad.float32).eps``."""

    def __init__(self, type=None):
        import builtins as _b

        import numpy as _np

        d = _dtype.canon(type if type is not None else get_default_dtype())
        f = _np.finfo(d.np)
        fl = _b.float  # the module's ``float`` is jitgrad.float32
        self.bits, self.eps, self.max, self.min = f.bits, fl(f.eps), fl(f.max), fl(f.min)
        self.tiny = self.smallest_normal = fl(f.tiny)
        self.resolution = fl(f.resolution)
        self.dtype = d.name

    def __repr__(self):
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
            f"dtype={self.dtype})"
        )


class iinfo:
    """Limits of an integer dtype: ``jitgrad.iinfo(jitgrad.int64).max``."""

    def __init__(self, type):
        import builtins as _b

        import numpy as _np

        d = _dtype.canon(type)
        f = _np.iinfo(d.np)
        self.bits, self.max, self.min, self.dtype = f.bits, _b.int(f.max), _b.int(f.min), d.name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


_THREADS = [None]
_DETERMINISTIC = [False]
_MATMUL_PRECISION = ["highest"]


def set_num_threads(n):
    """Recorded only: NumPy's BLAS and numba choose their own thread counts."""
    import builtins as _b  # ``int`` here is jitgrad.int (int32), as in torch

    if not isinstance(n, _b.int) or isinstance(n, _b.bool):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer (got {n})")
    _THREADS[0] = n


def get_num_threads():
    """The value given to ``set_num_threads`` (else the number of CPUs)."""
    import os

    return _THREADS[0] or os.cpu_count() or 1


def use_deterministic_algorithms(mode, *, warn_only=False):  # noqa: F811 (torch's names)
    """Recorded only: jitgrad's eager ops are deterministic already."""
    import builtins as _b  # ``bool`` here is jitgrad.bool, as in torch

    _DETERMINISTIC[0] = _b.bool(mode)


def are_deterministic_algorithms_enabled():
    """The flag given to ``use_deterministic_algorithms``."""
    return _DETERMINISTIC[0]


def set_float32_matmul_precision(precision):
    """Recorded only: float32 matmuls always use full float32 precision."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}")
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision():
    """The value given to ``set_float32_matmul_precision``."""
    return _MATMUL_PRECISION[0]


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):  # noqa: F811
    """``as_tensor`` with NumPy's ``asarray`` spelling (shares memory unless ``copy``)."""
    r = as_tensor(obj, dtype, device)
    if copy:
        r = r.clone() if isinstance(obj, Tensor) and r is obj else tensor(r._data)
    return r.requires_grad_(True) if requires_grad else r


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):  # noqa: F811
    """A 1-D tensor sharing memory with a Python buffer."""
    import numpy as _np

    a = _np.frombuffer(buffer, dtype=_dtype.to_np(dtype), count=count, offset=offset)
    return from_numpy(a).requires_grad_(requires_grad)


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False):  # noqa: F811
    """``empty(size)`` (jitgrad tensors are contiguous; ``stride`` is not honoured)."""
    return empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def compile(model=None, **kwargs):
    """``torch.compile`` stand-in: returns ``model`` unchanged (eager) with a warning.

    jitgrad compiles whole training steps with ``jitgrad.trace``; see the README.
    """
    import warnings

    def wrap(m):
        warnings.warn(
            "jitgrad.compile returns the model/function unchanged (eager mode); compile a "
            "training step with @jitgrad.trace instead",
            UserWarning,
            stacklevel=3,
        )
        return m

    return wrap if model is None else wrap(model)


builtins_sum = __builtins__["sum"] if isinstance(__builtins__, dict) else __builtins__.sum


def trace(*args, **kwargs):
    """``@jitgrad.trace``: compile a step (see ``jitgrad.compile.trace``).

    ``jitgrad.trace(matrix)`` (a Tensor first argument) is ``torch.trace``: the sum of the
    main diagonal, so tutorials that call ``torch.trace(m)`` keep working.
    """
    if args and isinstance(args[0], Tensor):
        from .ops.composite import trace as _matrix_trace

        return _matrix_trace(*args, **kwargs)
    return _lazy("compile").trace(*args, **kwargs)


def _make_out_forms():
    # factories take out= (the ops that do are declared so: public(..., out=True))
    from ._out import with_out

    g = globals()
    factories = (
        "zeros ones empty full rand randn randint randperm arange linspace logspace eye"
    ).split()
    for n in factories:
        g[n] = with_out(g[n], n, factory=True)


_make_out_forms()


def _make_kw_aliases():
    # torch.zeros(size=(2, 3)); the ops' keyword spellings (torch.sum(x, axis=0),
    # torch.reshape(x, shape=...)) are declared on the ops: public(..., axis=, shape_kw=)
    from .ops import kw_alias

    g = globals()
    for n, kw in (
        ("zeros", "size"),
        ("ones", "size"),
        ("empty", "size"),
        ("rand", "size"),
        ("randn", "size"),
    ):
        g[n] = kw_alias(g[n], positional=kw)


_make_kw_aliases()


def _make_inplace_functions():
    # torch.sin_(x), torch.relu_(x), torch.zero_(x) ...: the Tensor in-place methods
    g = globals()
    for name in dir(Tensor):
        if not name.endswith("_") or name.startswith("_"):
            continue
        base = name[:-1]
        if name in g or (base not in g and base not in ("zero", "fill")):
            continue

        def f(input, *args, _m=name, **kwargs):
            return getattr(input, _m)(*args, **kwargs)

        f.__name__ = name
        f.__doc__ = f"``jitgrad.{name}(t, ...)`` is ``t.{name}(...)``."
        g[name] = f


_make_inplace_functions()

_OUT_OF_SCOPE = {
    "sparse": "sparse tensors",
    "sparse_coo_tensor": "sparse tensors",
    "sparse_csr_tensor": "sparse tensors",
    "sparse_coo": "sparse layouts",
    "sparse_csr": "sparse layouts",
    "quantization": "quantisation",
    "ao": "quantisation (torch.ao)",
    "quantize_per_tensor": "quantisation",
    "quantize_per_channel": "quantisation",
    "complex": "complex tensors",
    "view_as_complex": "complex tensors",
    "view_as_real": "complex tensors",
    "polar": "complex tensors",
    "stft": "the STFT (complex tensors)",
    "istft": "the STFT (complex tensors)",
    "jit": "TorchScript (use @jitgrad.trace to compile a training step)",
    "onnx": "ONNX export",
    "mps": "the MPS (Apple GPU) backend",
    "xpu": "the XPU backend",
    "export": "torch.export",
    "fx": "torch.fx graph capture (use jitgrad.trace and its graph printing)",
    "hub": "torch.hub (no network access; load weights with jitgrad.load)",
    "nested": "nested tensors",
    "masked": "masked tensors",
    "profiler": "torch.profiler (use jitgrad.autograd.profiler.profile)",
}


def _lazy(name):
    import importlib

    return importlib.import_module(f"jitgrad.{name}")


_LAZY = (
    "nn",
    "optim",
    "utils",
    "datasets",
    "linalg",
    "functional",
    "accelerator",
    "backends",
    "testing",
    "special",
    "distributions",
    "fft",
    "amp",
    "func",
)


class memory_format:  # noqa: N801
    """A memory format: accepted where torch takes ``memory_format=`` and ignored (jitgrad
    tensors are always C-contiguous)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"jitgrad.{self.name}"


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")


class random:  # noqa: N801 (``torch.random``)
    """``jitgrad.random.manual_seed`` & co, as ``torch.random``."""

    manual_seed = staticmethod(manual_seed)
    seed = staticmethod(seed)
    initial_seed = staticmethod(initial_seed)
    get_rng_state = staticmethod(get_rng_state)
    set_rng_state = staticmethod(set_rng_state)

    @staticmethod
    def fork_rng(devices=None, enabled=True, **kwargs):
        """Restore the generator's state when the block ends."""
        import contextlib

        @contextlib.contextmanager
        def ctx():
            state = get_rng_state()
            try:
                yield
            finally:
                if enabled:
                    set_rng_state(state)

        return ctx()


class version:  # noqa: N801 (``torch.version``)
    """``jitgrad.version.__version__``; ``cuda``/``hip`` are None (eager tensors are CPU-only)."""

    __version__ = __version__
    cuda = None
    hip = None
    git_version = "unknown"
    debug = False


def __getattr__(name):
    if name in _LAZY:
        return _lazy(name)
    if name == "autocast":
        return _lazy("amp").autocast
    if name == "vmap":
        return _lazy("func").vmap
    if name in ("save", "load"):
        mod = "serialization"
        return getattr(_lazy(mod), name)
    if name in _OUT_OF_SCOPE:
        from ._scope import out_of_scope

        return out_of_scope(f"jitgrad.{name}", _OUT_OF_SCOPE[name])
    raise AttributeError(f"module 'jitgrad' has no attribute {name!r}")


# ---------------------------------------------------------------- more torch.* names -----
def _tensor_method(name):
    def f(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``jitgrad.{name}(t, ...)`` is ``t.{name}(...)``."
    return f


for _n in (
    "index_add",
    "index_copy",
    "index_fill",
    "index_put",
    "masked_scatter",
    "nansum",
    "nanmean",
    "is_same_size",
    "is_signed",
    "tensor_split",
    "hsplit",
    "vsplit",
    "dsplit",
    "detach",
    "conj",
    "resolve_conj",
    "resolve_neg",
    "hardshrink",
    "split_with_sizes",
    "unsafe_chunk",
    "unsafe_split",
):
    if _n not in globals():
        globals()[_n] = _tensor_method(_n.replace("unsafe_", ""))


def _from_functional(name, fname=None):
    def f(*args, **kwargs):
        from .nn import functional as F

        return getattr(F, fname or name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``nn.functional.{fname or name}`` under its ``torch.{name}`` name."
    return f


for _n in (
    "selu",
    "celu",
    "threshold",
    "prelu",
    "rrelu",
    "pixel_shuffle",
    "pixel_unshuffle",
    "embedding",
    "embedding_bag",
    "bilinear",
    "cosine_similarity",
    "pairwise_distance",
    "kl_div",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "triplet_margin_loss",
    "poisson_nll_loss",
    "cosine_embedding_loss",
    "binary_cross_entropy_with_logits",
    "group_norm",
    "instance_norm",
    "batch_norm",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "conv3d",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "alpha_dropout",
    "feature_alpha_dropout",
):
    if _n not in globals():
        globals()[_n] = _from_functional(_n, {"feature_alpha_dropout": "alpha_dropout"}.get(_n))
for _n in ("selu_", "celu_", "threshold_", "rrelu_", "dropout_", "alpha_dropout_"):
    if _n not in globals():
        globals()[_n] = (
            lambda base: lambda input, *a, **k: _from_functional(base)(input, *a, inplace=True, **k)
        )(_n[:-1])
del _n


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """True where an element of ``elements`` is in ``test_elements``."""
    import numpy as _np

    from .ops.composite import isin_p
    from .ops.registry import apply as _apply

    e = elements if isinstance(elements, Tensor) else tensor(_np.asarray(elements))
    te = test_elements if isinstance(test_elements, Tensor) else tensor(_np.asarray(test_elements))
    return _apply(isin_p, (e, te), {"invert": invert is True or invert == 1})


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):  # noqa: F811
    """The (2, N) indices of the lower triangle of a row x col matrix."""
    import numpy as _np

    r, c = _np.tril_indices(row, offset, col)
    return tensor(_np.stack([r, c]), dtype=dtype or int64, device=device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):  # noqa: F811
    """The (2, N) indices of the upper triangle of a row x col matrix."""
    import numpy as _np

    r, c = _np.triu_indices(row, offset, col)
    return tensor(_np.stack([r, c]), dtype=dtype or int64, device=device)


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """Trapezoidal-rule integral of ``y`` along ``dim`` (spacing ``x`` or ``dx``)."""
    n = y.shape[dim]
    a, b = narrow(y, dim, 1, n - 1), narrow(y, dim, 0, n - 1)
    if x is not None:
        d = narrow(x, dim if x.ndim == y.ndim else -1, 1, n - 1) - narrow(
            x, dim if x.ndim == y.ndim else -1, 0, n - 1
        )
        return ((a + b) * d).sum(dim) / 2
    return (a + b).sum(dim) * ((1.0 if dx is None else dx) / 2)


trapz = trapezoid


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """Running trapezoidal integral of ``y`` along ``dim``."""
    n = y.shape[dim]
    a, b = narrow(y, dim, 1, n - 1), narrow(y, dim, 0, n - 1)
    if x is not None:
        d = narrow(x, -1, 1, n - 1) - narrow(x, -1, 0, n - 1)
        return cumsum((a + b) * d / 2, dim)
    return cumsum((a + b) * ((1.0 if dx is None else dx) / 2), dim)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of the 1-D ``x``."""
    n = x.shape[0] if N is None else N
    p = arange(n, dtype=x.dtype if x.is_floating_point() else int64)
    if not increasing:
        p = p.flip(0)
    return x.unsqueeze(-1) ** p


def combinations(input, r=2, with_replacement=False):
    """All length-``r`` combinations of the 1-D ``input``'s elements, one per row."""
    import itertools

    pick = itertools.combinations_with_replacement if with_replacement else (itertools.combinations)
    idx = list(pick(range(input.shape[0]), r))
    if not idx:
        return input.new_zeros(0, r)
    return input[tensor(idx)]


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):  # noqa: F811
    """A 0-d tensor (float32 by default)."""
    return tensor(s, dtype=dtype or get_default_dtype(), device=device, requires_grad=requires_grad)


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``."""
    return other - input * alpha if alpha != 1 else other - input


def fill(input, value):
    """A tensor shaped like ``input`` filled with ``value``."""
    return full_like(input, value)


def pdist(input, p=2):
    """Distances between all pairs of rows (upper triangle, row-major)."""
    n = input.shape[0]
    i, j = triu_indices(n, n, 1)
    d = input[i] - input[j]
    return norm(d, p, 1)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape``."""
    shape = (
        (normalized_shape,)
        if isinstance(normalized_shape, builtins_int)
        else tuple(normalized_shape)
    )
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    e = finfo(input.dtype).eps if eps is None else eps
    y = input * rsqrt((input * input).mean(dims, keepdim=True) + e)
    return y * weight if weight is not None else y


def nuclear_norm(input, keepdim=False):
    """The sum of the singular values."""
    from .linalg import matrix_norm

    return matrix_norm(input, "nuc", keepdim=keepdim)


def frobenius_norm(input, dim, keepdim=False):
    """The Frobenius norm."""
    from .linalg import matrix_norm

    return matrix_norm(input, "fro", dim, keepdim)


def ldexp(input, other):
    """``input * 2 ** other``."""
    return input * exp2(other.to(input.dtype) if isinstance(other, Tensor) else other)


def is_anomaly_enabled():
    """True while anomaly detection is on."""
    return autograd.is_anomaly_enabled()


def set_anomaly_enabled(enabled, check_nan=True):
    """Turn anomaly detection on or off."""
    autograd.set_detect_anomaly(enabled)


builtins_int = __builtins__["int"] if isinstance(__builtins__, dict) else __builtins__.int
