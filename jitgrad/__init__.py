"""jitgrad: PyTorch-style autograd on NumPy (eager), and whole-step compilation with numba.

>>> import jitgrad as torch
>>> x = torch.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward(); x.grad
tensor([2., 4.])
"""

__version__ = "0.1.0"

from . import _dtype, autograd, cuda
from . import ops as _ops
from ._dtype import DType as dtype
from ._dtype import bool_ as bool
from ._dtype import float16, float32, float64, int8, int16, int32, int64, uint8
from ._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    Generator,
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
    tensor,
    zeros,
    zeros_like,
)
from .ops import add, addcdiv, addcmul, div, divide, mul, multiply, sub, subtract, true_divide
from .ops.elementwise import (
    abs,
    acos,
    asin,
    atan,
    atan2,
    ceil,
    clamp,
    clip,
    clone,
    cos,
    cosh,
    eq,
    erf,
    exp,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    lerp,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    ne,
    neg,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    tan,
    tanh,
    trunc,
    where,
)
from .ops.matmul import addmm, bmm, dot, matmul, mm, mv, outer
from .ops.movement import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand_as,
    flatten,
    flip,
    gather,
    index_select,
    masked_fill,
    masked_select,
    movedim,
    narrow,
    nonzero,
    permute,
    repeat,
    reshape,
    scatter_add,
    select,
    split,
    squeeze,
    stack,
    swapaxes,
    t,
    take_along_dim,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
)
from .ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from .tensor import Size, Tensor, TraceError

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
negative = neg
absolute = abs
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def is_tensor(obj):
    """True for jitgrad tensors."""
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def is_floating_point(input):
    return input.is_floating_point()


def get_default_dtype():
    return float32


def set_default_dtype(d):
    if d not in (float32, float64):
        raise TypeError("only floating-point types are supported as the default type")
    _dtype.default_float = lambda: d.np


def broadcast_shapes(*shapes):
    from .ops._common import broadcast_shapes as _b

    return Size(_b("broadcast_shapes", *shapes))


def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*[x.shape for x in tensors])
    return tuple(x.expand(*shape) for x in tensors)


def device(spec="cpu"):
    from .tensor import _CPU

    if str(spec).split(":")[0] != "cpu":
        raise RuntimeError(f"jitgrad eager tensors live on the CPU (got device {spec!r})")
    return _CPU


def _lazy(name):
    import importlib

    return importlib.import_module(f"jitgrad.{name}")


def __getattr__(name):
    if name in ("nn", "optim", "utils", "datasets"):
        return _lazy(name)
    if name in ("trace", "save", "load"):
        mod = {"trace": "compile", "save": "serialization", "load": "serialization"}[name]
        return getattr(_lazy(mod), name)
    raise AttributeError(f"module 'jitgrad' has no attribute {name!r}")
