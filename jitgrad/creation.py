"""Tensor creation and random sampling (one global, seedable generator)."""

import numbers

import numpy as np

from . import _dtype
from ._devices import check_device
from ._grad_mode import STATE
from ._sizes import int_tuple
from ._trace_hooks import replayed
from .tensor import Tensor, _as_array, _legacy_new, _wrap


def _new(arr, requires_grad=False, constant=True):
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    tr = STATE.tracer
    if tr is not None and constant:
        tr.constant(t)
    obs = STATE.observer  # jitgrad.trace's eager calls: constants from Python data
    if obs is not None and constant:
        obs.append(arr)
    return t


def _size(op, size):
    size = int_tuple(op, "size", size)
    for s in size:
        if s < 0:
            raise RuntimeError(
                f"{op}(): Trying to create tensor with negative dimension {s}: {list(size)}"
            )
    return size


def _dt(dtype, default=None):
    if dtype is None:
        return default if default is not None else _dtype.default_float()
    return _dtype.to_np(dtype)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor copying ``data`` (lists, scalars, arrays, tensors)."""
    _check_device(device, "tensor")
    tr = STATE.tracer
    if tr is not None and _holds_traced(data, tr):
        if not isinstance(data, Tensor):
            from .compile.tracer import user_frame
            from .tensor import TraceError

            raise TraceError(
                f"jitgrad.tensor([...]) of traced tensors at {user_frame()} would freeze their "
                "values in the compiled step; build it with jitgrad.stack([...]) instead"
            )
        t = data.detach().clone()  # a graph op: the copy follows the traced value
        if dtype is not None:
            t = t.to(dtype)
        return t.requires_grad_() if requires_grad else t
    if isinstance(data, Tensor):
        import warnings

        warnings.warn(
            "To copy construct from a tensor, it is recommended to use "
            "sourceTensor.clone().detach() or sourceTensor.clone().detach().requires_grad_(True), "
            "rather than torch.tensor(sourceTensor).",
            UserWarning,
            stacklevel=2,
        )
    return _new(_as_array(data, dtype), requires_grad)


def _holds_traced(data, tr):
    if isinstance(data, Tensor):
        return tr.is_traced(data)
    if isinstance(data, (list, tuple)):
        return any(_holds_traced(d, tr) for d in data)
    return False


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory with a Tensor or NumPy array when the dtype fits."""
    _check_device(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or data._data.dtype == _dtype.to_np(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _dtype.to_np(dtype)):
        return from_numpy(data)
    if isinstance(data, Tensor):
        return data.to(dtype)  # a converted copy, keeping the graph (no copy-construct warning)
    return tensor(data, dtype)


def from_numpy(a):
    """A tensor sharing memory with the NumPy array ``a``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray (got {type(a).__name__})")
    _dtype.from_np(a.dtype)
    return _new(a)


def _check_device(device, op="factory"):
    check_device(device, op)


_CTYPES = {"int64": "int64_t", "int32": "int", "int16": "int16_t", "int8": "int8_t"}
_CTYPES.update(uint8="uint8_t", float32="float")


def check_fill_value(value, dtype):
    """``value`` as torch stores it in ``dtype``: torch's overflow error when it does not fit
    (NumPy would wrap it or turn -inf into the smallest integer); a negative integer in an
    unsigned dtype wraps around as in torch (-1 -> 255)."""
    dtype = np.dtype(dtype)
    if isinstance(value, (bool, np.bool_)) or dtype.kind not in "iuf":
        return value
    if dtype.kind == "f" and dtype.itemsize < 4:  # torch does not check half precision
        return value
    v = complex(value).real if isinstance(value, complex) else float(value)
    if dtype.kind == "f":
        bad = np.isfinite(v) and abs(v) > float(np.finfo(dtype).max)
    else:
        info = np.iinfo(dtype)
        hi = float(info.max)
        bad = not np.isfinite(v) or v > hi or (v < float(info.min) if info.min else -v > hi)
    if bad:
        name = _CTYPES.get(dtype.name, dtype.name)
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")
    if dtype.kind == "u" and v < 0:
        return int(v) % (1 << (8 * dtype.itemsize))
    return value


def _filled(op, size, value, dtype, requires_grad, device=None):
    _check_device(device, op)
    if op not in ("zeros", "ones"):  # 0 and 1 fit every dtype
        if isinstance(value, Tensor):
            value = value.item()
        elif not isinstance(value, (numbers.Number, np.generic)):
            raise TypeError(
                f"{op}(): argument 'fill_value' (position 2) must be Number, not "
                f"{type(value).__name__}"
            )
        value = check_fill_value(value, dtype)
    return _new(np.full(_size(op, size), value, dtype=dtype), requires_grad)


def zeros(
    *size,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
    memory_format=None,
):
    _check_layout(layout, "zeros")
    return _filled("zeros", size, 0, _dt(dtype), requires_grad, device)


def ones(
    *size,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
    memory_format=None,
):
    _check_layout(layout, "ones")
    return _filled("ones", size, 1, _dt(dtype), requires_grad, device)


def empty(
    *size,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
    memory_format=None,
):
    _check_layout(layout, "empty")
    return _filled("empty", size, 0, _dt(dtype), requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = _dtype.result_type(fill_value)
    return _filled(
        "full",
        (size,) if isinstance(size, int) else tuple(size),
        fill_value,
        _dt(dtype),
        requires_grad,
        device,
    )


def _like(x, dtype):
    return x._data.dtype if dtype is None else _dtype.to_np(dtype)


def zeros_like(
    input, dtype=None, requires_grad=False, device=None, memory_format=None, layout=None
):
    return _filled("zeros_like", input.shape, 0, _like(input, dtype), requires_grad, device)


def ones_like(input, dtype=None, requires_grad=False, device=None, memory_format=None, layout=None):
    return _filled("ones_like", input.shape, 1, _like(input, dtype), requires_grad, device)


def empty_like(
    input, dtype=None, requires_grad=False, device=None, memory_format=None, layout=None
):
    return _filled("empty_like", input.shape, 0, _like(input, dtype), requires_grad, device)


def full_like(
    input, fill_value, dtype=None, requires_grad=False, device=None, memory_format=None, layout=None
):
    return _filled("full_like", input.shape, fill_value, _like(input, dtype), requires_grad, device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless a float is given."""
    _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    if not all(np.isfinite(float(v)) for v in vals):
        raise RuntimeError(f"arange: unsupported range: {vals[0]} -> {vals[1]} (step {vals[2]})")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={vals[0]}, end={vals[1]}, step={vals[2]})"
        )
    dt = _dt(dtype, _dtype.result_type(*vals))
    return _new(
        np.arange(*vals, dtype=np.float64 if dt.kind == "f" else None).astype(dt), requires_grad
    )


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    _check_device(device, "linspace")
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative (got {steps})")
    return _new(np.linspace(start, end, int(steps)).astype(_dt(dtype)), requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """``base ** linspace(start, end, steps)``."""
    _check_device(device, "logspace")
    if steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative (got {steps})")
    return _new(np.logspace(start, end, int(steps), base=base).astype(_dt(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The identity matrix (n x m)."""
    _check_device(device, "eye")
    if n < 0 or (m is not None and m < 0):
        raise RuntimeError(f"eye: n and m must be non-negative (got n={n}, m={m})")
    return _new(np.eye(n, m, dtype=_dt(dtype)), requires_grad)


# ---------------------------------------------------------------- random ------------------
class Generator:
    """A seedable random generator; ``jitgrad.manual_seed`` reseeds the default one.

    Inside a traced step, reseeding is recorded and redone by every compiled call, in order
    with the step's random draws, so the compiled step draws what the eager one does."""

    def __init__(self, device="cpu"):
        self._rng = np.random.Generator(np.random.PCG64())
        self._seed = None

    @replayed
    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    @replayed
    def seed(self):
        s = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        if STATE.tracer is not None:
            from .compile.tracer import user_frame
            from .tensor import TraceError

            raise TraceError(
                f"get_rng_state() inside a traced step ({user_frame()}) would return the state "
                "from the capture at every call; save and restore the RNG state outside the "
                "traced function, or call jitgrad.manual_seed(...) inside it"
            )
        return _new(
            np.frombuffer(repr(self._rng.bit_generator.state).encode(), dtype=np.uint8).copy()
        )

    @replayed
    def set_state(self, state):
        import ast

        self._rng.bit_generator.state = ast.literal_eval(bytes(state._data).decode())


default_generator = Generator()


def manual_seed(seed):
    """Make every random function reproducible: ``jitgrad.manual_seed(0)``."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def draw(kind, shape, dtype, params, generator=None):
    """One random draw; the tracer replays draws through this same function."""
    rng = (generator or default_generator)._rng
    if kind in ("rand", "randn") and dtype.kind != "f":
        kernel = "check_uniform_bounds" if kind == "rand" else "normal_kernel_cpu"
        name = {"b": "Bool", "u": "Byte"}.get(dtype.kind) or {1: "Char", 2: "Short", 4: "Int"}.get(
            dtype.itemsize, "Long"
        )
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{name}' ({kind} draws floating point values; "
            "ask for a float dtype)"
        )
    if kind == "rand":
        if dtype.kind == "f":
            return rng.random(shape, dtype=dtype if dtype.itemsize >= 4 else np.float32).astype(
                dtype, copy=False
            )
    if kind == "randn":
        return rng.standard_normal(
            shape, dtype=dtype if dtype.itemsize >= 4 else np.float32
        ).astype(dtype, copy=False)
    if kind == "randint":
        return rng.integers(params[0], params[1], size=shape, dtype=np.int64).astype(dtype)
    if kind == "randperm":
        return rng.permutation(params[0]).astype(dtype)
    raise ValueError(f"unknown random kind {kind!r}")


def _random(kind, shape, dtype, params=(), requires_grad=False, generator=None):
    arr = draw(kind, shape, dtype, params, generator)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    tr = STATE.tracer
    if tr is not None:
        tr.random(t, kind, shape, dtype, params, generator)
    return t


def rand(*size, dtype=None, generator=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    _check_device(device, "rand")
    return _random("rand", _size("rand", size), _dt(dtype), (), requires_grad, generator)


def randn(*size, dtype=None, generator=None, device=None, requires_grad=False):
    """Standard normal samples."""
    _check_device(device, "randn")
    return _random("randn", _size("randn", size), _dt(dtype), (), requires_grad, generator)


def randint(
    low, high=None, size=None, dtype=None, generator=None, device=None, requires_grad=False
):
    """Integers in [low, high); ``randint(high, size)`` or ``randint(low, high, size)``."""
    _check_device(device, "randint")
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    return _random(
        "randint",
        _size("randint", tuple(size)),
        _dt(dtype, np.dtype(np.int64)),
        (int(low), int(high)),
        requires_grad,
        generator,
    )


def randperm(n, dtype=None, generator=None, device=None, requires_grad=False):
    """A random permutation of ``0 .. n-1``."""
    _check_device(device, "randperm")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    return _random(
        "randperm", (int(n),), _dt(dtype, np.dtype(np.int64)), (int(n),), requires_grad, generator
    )


def rand_like(input, dtype=None, requires_grad=False, device=None, memory_format=None):
    """Uniform samples shaped like ``input``."""
    _check_device(device, "rand_like")
    return rand(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad=False, device=None, memory_format=None):
    """Normal samples shaped like ``input``."""
    _check_device(device, "randn_like")
    return randn(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randint_like(input, low=0, high=None, dtype=None, device=None):
    """Random integers shaped like ``input``."""
    _check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=_like(input, dtype))


def normal(
    mean=0.0, std=1.0, size=None, generator=None, dtype=None, device=None, requires_grad=False
):
    """Normal samples; ``mean`` and ``std`` may each be a tensor or a number."""
    _check_device(device, "normal")
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError("normal(): with float mean and std, the `size` argument is required")
        r = randn(*_size("normal", (size,)), dtype=dtype, generator=generator)
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        r = r * std + mean
        return r.detach().requires_grad_(requires_grad) if requires_grad else r.detach()
    shape = np.broadcast_shapes(mean.shape if mt else (), std.shape if st else ())
    ref = mean if mt else std
    if st:
        from .ops.reduce import require as _require

        if (std._data < 0).any():
            raise RuntimeError("normal expects all elements of std >= 0.0")
        _require(std >= 0, "normal expects all elements of std >= 0.0")
    z = randn(*shape, dtype=ref.dtype, generator=generator)
    return mean + std * z


def bernoulli(input, p=None, generator=None):
    """1 with probability ``input`` (or ``p``), else 0, in ``input``'s dtype."""
    prob = input if p is None else p
    if isinstance(prob, Tensor):
        from .ops.reduce import require as _require

        msg = "bernoulli: all elements of input should be between 0 and 1"
        if prob._data.size and ((prob._data < 0).any() or (prob._data > 1).any()):
            raise RuntimeError(msg)
        if prob._data.size:
            _require((prob >= 0) & (prob <= 1), msg)
        u = rand(*prob.shape, dtype=prob.dtype, generator=generator)
        return (u < prob.detach()).to(input.dtype)
    if not 0 <= prob <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={prob}")
    u = rand(*input.shape, dtype=input.dtype, generator=generator)
    return (u < prob).to(input.dtype)


def multinomial(input, num_samples, replacement=False, generator=None):
    """``num_samples`` category indices per row of the weights ``input`` (1-D or 2-D).

    Drawn from uniforms with tensor ops (inverse CDF with replacement, the exponential race
    ``argmax(log(u) / p)`` without), so a traced step draws what the eager one does."""
    from .ops import reduce as R

    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim (got {input.ndim})")
    n = input.shape[-1]
    num_samples = int(num_samples)
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample {num_samples} (<= 0) samples")
    if not replacement and num_samples > n:
        raise RuntimeError(
            f"multinomial: cannot sample n_sample ({num_samples}) > prob_dist.size(-1) ({n}) "
            "samples without replacement"
        )
    w = input.detach()._data
    bad_value = "multinomial: probability tensor contains either `inf`, `nan` or element < 0"
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        raise RuntimeError(bad_value)
    rows = w.reshape(input.shape[0] if input.ndim == 2 else 1, n)  # n may be 0
    bad_sum = "multinomial: invalid multinomial distribution (sum of probabilities <= 0)"
    if (rows.sum(-1) <= 0).any():
        raise RuntimeError(bad_sum)
    few = (
        "multinomial: invalid multinomial distribution (with replacement=False, not enough "
        "non-negative category to sample)"
    )
    if not replacement and ((rows > 0).sum(-1) < num_samples).any():
        raise RuntimeError(few)
    if w.size:  # every compiled call checks them too
        t = input.detach()
        t2 = t.reshape(rows.shape)
        R.require(t.isfinite() & (t >= 0), bad_value)
        R.require(t2.sum(-1) > 0, bad_sum)
        if not replacement:
            R.require((t2 > 0).sum(-1) >= num_samples, few)
    p = input.detach().to(np.float64)
    p = p.reshape(1, n) if p.ndim == 1 else p
    r = p.shape[0]
    if replacement:
        u = rand(r, num_samples, dtype=np.float64, generator=generator)
        cdf = R.cumsum(p / p.sum(-1, keepdim=True), -1)
        idx = (cdf.unsqueeze(1) <= u.unsqueeze(2)).to(np.int64).sum(-1).clamp(max=n - 1)
    else:
        u = rand(r, n, dtype=np.float64, generator=generator)
        keys = (u.log() / p.clamp(min=1e-300)).masked_fill(p <= 0, -np.inf)
        cols = arange(n)
        picks = []
        for _ in range(num_samples):
            i = keys.argmax(-1)
            picks.append(i)
            keys = keys.masked_fill(cols == i.unsqueeze(-1), -np.inf)
        from .ops.movement import stack

        idx = stack(picks, -1)
    return idx.reshape(num_samples) if input.ndim == 1 else idx


def _check_layout(layout, op):
    if layout is not None and str(layout) != "jitgrad.strided":
        raise NotImplementedError(
            f"{op}(): layout={layout} is out of jitgrad's scope (sparse layouts are not "
            "supported; only jitgrad.strided)"
        )


class layout:
    """A memory layout; jitgrad has ``strided`` only (sparse layouts are out of scope)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"jitgrad.{self.name}"


strided = layout("strided")


class _LegacyType(type):
    """``jitgrad.FloatTensor`` & co: constructors of one dtype, and isinstance checks by dtype."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls.np_dtype

    def __repr__(cls):
        return f"<class 'jitgrad.{cls.__name__}'>"


def _legacy_type(name, npdt):
    def __new__(cls, *args, **kwargs):
        return _legacy_new(Tensor, np.dtype(npdt), name, args, kwargs)

    doc = f"Legacy constructor: ``{name}(data)`` or ``{name}(*size)``, always {np.dtype(npdt)}."
    return _LegacyType(
        name,
        (),
        {"__new__": __new__, "np_dtype": np.dtype(npdt), "__module__": "jitgrad", "__doc__": doc},
    )


FloatTensor = _legacy_type("FloatTensor", np.float32)
DoubleTensor = _legacy_type("DoubleTensor", np.float64)
HalfTensor = _legacy_type("HalfTensor", np.float16)
LongTensor = _legacy_type("LongTensor", np.int64)
IntTensor = _legacy_type("IntTensor", np.int32)
ShortTensor = _legacy_type("ShortTensor", np.int16)
CharTensor = _legacy_type("CharTensor", np.int8)
ByteTensor = _legacy_type("ByteTensor", np.uint8)
BoolTensor = _legacy_type("BoolTensor", np.bool_)
LEGACY_TYPES = {
    c.__name__: c
    for c in (
        FloatTensor,
        DoubleTensor,
        HalfTensor,
        LongTensor,
        IntTensor,
        ShortTensor,
        CharTensor,
        ByteTensor,
        BoolTensor,
    )
}
