"""Tensor: a NumPy array with autograd metadata (requires_grad, grad, grad_fn, version).

Arithmetic and math methods are attached by ``jitgrad.ops`` (one definition per op);
this file holds what belongs to the tensor itself.
"""

import warnings

import numpy as np

from . import _dtype
from ._grad_mode import STATE


class TraceError(RuntimeError):
    """Raised when a traced function does something a static graph cannot capture."""


def _wrap(arr):
    t = _new_tensor(Tensor)
    t._data = arr
    t._requires_grad = False
    t._grad_fn = None
    t._grad = None
    t._vc = [0]
    t._base = None
    t._x = None
    return t


class Tensor:
    """An n-dimensional array that records operations for automatic differentiation.

    >>> x = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "_grad_fn",
        "_grad",
        "_vc",
        "_base",
        "_x",
        "__weakref__",
    )
    __array_priority__ = 1000  # numpy scalars defer to Tensor's reflected operators

    def __new__(cls, *args, **kwargs):
        """The legacy constructor: ``Tensor(data)`` / ``Tensor(2, 3)`` / ``Tensor(size)``."""
        if not args and not kwargs:
            # ``Tensor()`` (filled by __init__), or internal code allocating a bare object
            # with ``Tensor.__new__(Tensor)`` and setting the slots itself
            return object.__new__(cls)
        return _legacy_new(cls, _dtype.float32.np, "Tensor", args, kwargs)

    def __init__(self, *args, **kwargs):
        if not args and not kwargs and not hasattr(self, "_data"):
            # ``Tensor()``: an empty float32 tensor, like torch
            t = _legacy_new(Tensor, _dtype.float32.np, "Tensor", (), {})
            for k in Tensor.__slots__[:-1]:
                setattr(self, k, getattr(t, k))

    # ---- metadata -------------------------------------------------------------------
    @property
    def dtype(self):
        return _dtype._FROM_NP[self._data.dtype]

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        """``t.size()`` is the shape; ``t.size(d)`` one extent."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def device(self):
        return _CPU

    @property
    def is_cuda(self):
        return False

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self):
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim, "stride")]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    @property
    def T(self):
        return self.permute(*reversed(range(self._data.ndim)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    # ---- autograd state ---------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self._grad_fn is not None:
            if not flag:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach()."
                )
            return
        if flag and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients "
                f"(got dtype {self.dtype}); convert first, e.g. t.float().requires_grad_()"
            )
        self._requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad in place (leaves only); returns self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self._grad_fn is None

    @property
    def grad_fn(self):
        n = self._grad_fn
        # ``expose``: the node takes its PyTorch class (``MulBackward0``) once a user sees it
        return n if n is None else n.expose()

    @property
    def grad(self):
        if self._grad_fn is not None and not self._extra().get("retains_grad"):
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got {type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: grad {tuple(value.shape)} "
                    f"vs tensor {tuple(self.shape)}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: {value.dtype} vs {self.dtype}"
                )
        tr = STATE.tracer
        if tr is not None:
            tr.set_grad(self, value)
        self._grad = value

    def _extra(self):
        if self._x is None:
            self._x = {}
        return self._x

    def retain_grad(self):
        """Keep ``.grad`` of a non-leaf tensor after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._extra().get("retains_grad"):
            return
        self._extra()["retains_grad"] = True
        import weakref

        ref = weakref.ref(self)

        def _retain(g):
            t = ref()
            if t is not None:  # tensor ops, so that a traced step records them
                gd = g.detach()
                t._grad = gd.clone() if t._grad is None else t._grad.detach() + gd
            return None

        _retain._r = 1  # retain_grad runs after every other hook, as in torch
        self._add_pre_hook(_retain, retain=True)

    @property
    def retains_grad(self):
        return bool(self._x and self._x.get("retains_grad"))

    def _add_pre_hook(self, fn, retain=False):
        node = self._grad_fn
        if node.pre_hooks is None:
            node.pre_hooks = []
        if retain:
            node.pre_hooks.append(fn)
        else:
            node.pre_hooks.insert(len([h for h in node.pre_hooks if not getattr(h, "_r", 0)]), fn)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new grad."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            self._add_pre_hook(hook)
            node, fn = self._grad_fn, hook
        else:
            self._extra().setdefault("hooks", []).append(hook)
            node, fn = self, hook
            _hooks_changed()
        return _RemovableHandle(node, fn)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``."""
        from .autograd.engine import backward

        backward(
            (self,),
            None if gradient is None else (gradient,),
            retain_graph,
            create_graph,
            inputs=inputs,
        )

    def detach(self):
        """A tensor sharing storage with this one, outside the graph."""
        t = _wrap(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        if self._base is not None and self._grad_fn is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self):
        t = _wrap(self._data)
        t._vc = [0]  # like torch: .data changes are invisible to autograd's version checks
        return t

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError("data must be a Tensor")
        self._data = value._data

    # ---- conversion to Python / NumPy ----------------------------------------------------
    def _check_concrete(self, what):
        tr = STATE.tracer
        if tr is not None and tr.is_traced(self):
            tr.fail(what)

    def item(self):
        """The single value as a Python number."""
        self._check_concrete(".item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar "
                f"(shape {tuple(self._data.shape)}); index one element first"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        self._check_concrete(".tolist()")
        return self._data.tolist()

    def numpy(self, force=False):
        """The NumPy array sharing memory with this tensor."""
        self._check_concrete(".numpy()")
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._data

    def __array__(self, dtype=None, copy=None):
        self._check_concrete("np.asarray(tensor)")
        return self._data if dtype is None else self._data.astype(dtype)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """A NumPy ufunc of a tensor (``np.exp(t)``, ``t * array``) gives a tensor, as in
        torch (which stores a bool result as uint8)."""
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        return _wrap(_coerce_np(np.asarray(array)))

    def _scalar_value(self, kind):
        self._check_concrete(f"{kind}(tensor)")
        if self._data.size != 1:
            from ._errors import ValueRuntimeError

            raise ValueRuntimeError(
                f"{kind}(): only one element tensors can be converted to Python scalars "
                f"(got shape {tuple(self._data.shape)})"
            )
        return self._data.reshape(()).item()

    def __float__(self):
        return float(self._scalar_value("float"))

    def __int__(self):
        return int(self._scalar_value("int"))

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._scalar_value("index"))

    def __bool__(self):
        tr = STATE.tracer
        if tr is not None and tr.is_traced(self):
            tr.fail("bool(tensor) (a Python `if`/`while`/`and`/`or` on a tensor)")
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {tuple(self._data.shape)}); use .any() or .all()"
            )
        return bool(self._data.reshape(()).item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, proto):
        raise TypeError("pickling jitgrad tensors is not supported; use jitgrad.save")

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment"
            )
        t = object.__new__(type(self))
        for s in Tensor.__slots__[:-1]:
            setattr(t, s, None)
        t._data = self._data.copy()
        t._requires_grad = self._requires_grad
        t._vc = [0]
        if self._grad is not None:
            t._grad = _wrap(self._grad._data.copy())
        memo[id(self)] = t
        return t

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self):
        from ._format import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__


class Size(tuple):
    """The shape of a tensor: a tuple that prints like ``jitgrad.Size([2, 3])``."""

    def __repr__(self):
        return f"jitgrad.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


_DEVICE_TYPES = (
    "cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, "
    "mps, meta, hpu, mtia, privateuseone"
)
_KNOWN_TYPES = frozenset(_DEVICE_TYPES.split(", "))


class device:
    """A device spec: ``jitgrad.device("cpu")``, ``device("cuda:0")``, ``device("cuda", 1)``.

    Any PyTorch device type constructs; eager tensors live on the CPU, so a factory or
    ``.to()`` given another type raises PyTorch's error for a machine without that device.
    """

    __slots__ = ("type", "index")
    __module__ = "jitgrad"

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(
                f"device() received an invalid combination of arguments - got "
                f"({_type_name(type)}), but expected one of: (str type, int index = -1)"
            )
        spec = type
        if ":" in spec:
            if index is not None:
                raise RuntimeError(
                    f"type (string) must not include an index because index was passed "
                    f"explicitly: {spec}"
                )
            spec, _, idx = spec.partition(":")
            if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if spec not in _KNOWN_TYPES:
            raise RuntimeError(
                f"Expected one of {_DEVICE_TYPES} device type at start of device string: {type}"
            )
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative (got {index})")
        self.type, self.index = spec, index

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if not isinstance(other, device):  # like torch: device("cpu") == "cpu" is False
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self):
        from . import _devices

        self._prev = _devices.get_default_device()
        _devices.set_default_device(self)
        return self

    def __exit__(self, *exc):
        from . import _devices

        _devices.set_default_device(self._prev)


def _type_name(v):
    return type(v).__name__


_CPU = device("cpu")


class _RemovableHandle:
    def __init__(self, owner, fn):
        self._owner, self._fn = owner, fn

    def remove(self):
        if isinstance(self._owner, Tensor):
            hooks = self._owner._extra().get("hooks", [])
        else:
            hooks = self._owner.pre_hooks or []
        if self._fn in hooks:
            hooks.remove(self._fn)
            _hooks_changed()


def _hooks_changed():
    from ._trace_hooks import hooks_changed

    hooks_changed()


def _wrap_dim(dim, ndim, op):
    if not isinstance(dim, int) or isinstance(dim, bool):
        if isinstance(dim, bool) or not hasattr(dim, "__index__"):
            raise TypeError(
                f"{op}(): argument 'dim' must be int, not {type(dim).__name__} ({dim!r})"
            )
        dim = dim.__index__()
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
            f"but got {dim})"
        )
    return dim + n if dim < 0 else dim


def _as_array(data, dtype=None):
    """A fresh NumPy array from lists/scalars/arrays/tensors with PyTorch's default dtypes."""
    npdt = None if dtype is None else _dtype.to_np(dtype)
    if isinstance(data, Tensor):
        arr = np.array(data._data, dtype=npdt)
    elif isinstance(data, np.ndarray):
        arr = np.array(data, dtype=npdt)
        if npdt is None:
            arr = _coerce_np(arr)
    elif isinstance(data, np.generic) and npdt is None:
        arr = _coerce_np(np.array(data))  # a NumPy scalar keeps its dtype, as in torch
    else:
        typed = None
        if isinstance(data, (list, tuple)):
            typed = []
            data = _unwrap_nested(data, typed)
        try:
            arr = np.array(data, dtype=npdt)
        except OverflowError:
            arr = _fit_ints(data, npdt)
        except (ValueError, TypeError) as e:
            if npdt is not None and npdt.kind in "iu" and "NaN" in str(e):
                raise RuntimeError(_overflow(npdt)) from None
            raise ValueError(
                f"jitgrad.tensor: could not build a tensor from {type(data).__name__}: {e}"
            ) from None
        if npdt is None:
            if arr.dtype == np.uint64 or (arr.dtype.kind == "O" and _has_int(arr)):
                raise ValueError("Overflow when unpacking long long")  # beyond int64
            lt = _list_dtype(data) if typed and arr.dtype.kind in "biuf" else None
            if lt is not None:
                arr = arr.astype(lt)
            elif arr.dtype.kind == "f":
                arr = arr.astype(_dtype.default_float())
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
            elif arr.dtype.kind == "O" or arr.dtype.kind in "USV":
                from ._errors import TypeRuntimeError, TypeValueRuntimeError

                el = arr.reshape(-1)[0] if arr.size else data
                # torch: a list of strings is a ValueError ("too many dimensions 'str'")
                cls = TypeValueRuntimeError if isinstance(el, (str, np.str_)) else TypeRuntimeError
                raise cls(
                    f"jitgrad.tensor: can't convert {type(data).__name__} of this content to a "
                    f"tensor: Could not infer dtype of {type(el).__name__} (a tensor holds "
                    "numbers or bools; nested lists must be rectangular)"
                )
    if arr.dtype not in _dtype._FROM_NP:
        arr = _coerce_np(arr)
    return arr


def _overflow(npdt):
    return f"value cannot be converted to type {np.dtype(npdt).name} without overflow"


def _has_int(arr):
    return any(isinstance(v, int) and not isinstance(v, bool) for v in arr.reshape(-1))


def _fit_ints(data, npdt):
    """``np.array(data, npdt)`` overflowed: torch's rules for Python numbers an integer dtype
    cannot hold (an error; a negative int into an unsigned dtype wraps: -1 -> 255)."""
    arr = np.array(data)
    if arr.dtype == np.uint64 or (arr.dtype.kind == "O" and _has_int(arr)):
        raise ValueError("Overflow when unpacking long long")  # beyond int64
    if npdt is None or npdt.kind not in "iu" or arr.dtype.kind not in "iufb":
        return np.array(data, dtype=npdt)  # NumPy's own error
    info = np.iinfo(npdt)
    a = arr.astype(np.float64)
    lo = info.min if info.min else -info.max
    if (~np.isfinite(a) | (a > info.max) | (a < lo)).any():
        raise RuntimeError(_overflow(npdt))
    return arr.astype(npdt)


def _coerce_np(arr):
    if arr.dtype in _dtype._FROM_NP:
        return arr
    k = arr.dtype.kind
    if k == "f":
        return arr.astype(np.float64)
    if k in "iu":
        return arr.astype(np.int64)
    raise TypeError(f"jitgrad does not support arrays of dtype {arr.dtype}")


def _unwrap_nested(data, typed):
    """Nested lists with Tensors as their scalars (torch reads each as a number: one element
    only); ``typed`` gets an entry when an element carries a dtype (a Tensor, NumPy value)."""
    out = []
    for d in data:
        if isinstance(d, Tensor):
            if d._data.size != 1:
                if d._data.dtype.kind in "iub":
                    raise TypeError(
                        "only integer tensors of a single element can be converted to an index"
                    )
                raise ValueError("only one element tensors can be converted to Python scalars")
            out.append(d._data.reshape(()))
            typed.append(1)
        elif isinstance(d, (list, tuple)):
            out.append(_unwrap_nested(d, typed))
        else:
            if isinstance(d, (np.generic, np.ndarray)):
                typed.append(1)
            out.append(d)
    return out


def _list_dtype(data):
    """torch's dtype for a nested list holding Tensors or NumPy values: each element's own
    dtype (a Python bool/int/float: bool/int64/the default float), joined by promotion."""
    res = None
    stack = [data]
    while stack:
        d = stack.pop()
        if isinstance(d, (list, tuple)):
            stack.extend(d)
            continue
        if isinstance(d, (np.ndarray, np.generic)):
            dt = d.dtype
        elif isinstance(d, (bool, np.bool_)):
            dt = np.dtype(np.bool_)
        elif isinstance(d, int):
            dt = np.dtype(np.int64)
        elif isinstance(d, float):
            dt = np.dtype(_dtype.default_float())
        else:
            return None
        if dt not in _dtype._FROM_NP:
            return None
        res = dt if res is None else _dtype._join(res, dt)
    return res


def _legacy_new(cls, npdt, name, args, kwargs):
    """``torch.Tensor(...)``'s rules: data (always of dtype ``npdt``), a size, or nothing."""
    bad = set(kwargs) - {"device"}
    if bad:
        raise TypeError(
            f"new() received an invalid combination of arguments - got unexpected keyword "
            f"argument(s) {', '.join(sorted(bad))}; {name}(data) always makes a "
            f"{_FROM_NP_NAME(npdt)} tensor: use jitgrad.tensor(data, dtype=...) for another dtype"
        )
    from ._devices import check_device

    check_device(kwargs.get("device"), name)
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)) or len(args) == 0:
        data = args[0] if args else []
        if isinstance(data, Size):
            arr = np.empty(tuple(data), dtype=npdt)
        elif isinstance(data, Tensor):
            if data._data.dtype != npdt:
                raise TypeError(
                    f"expected {name} with dtype {_FROM_NP_NAME(npdt)} (got {data.dtype}); "
                    f"convert with .to()"
                )
            arr = data._data  # shares storage, like torch.Tensor(t)
        else:
            arr = _as_array(data, npdt)
    else:
        for a in args:
            if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
                raise TypeError(
                    f"new(): argument 'size' must be tuple of ints, but found element of type "
                    f"{type(a).__name__} at pos {args.index(a)}"
                )
            if a < 0:
                raise RuntimeError(
                    f"Trying to create tensor with negative dimension {a}: {list(args)}"
                )
        arr = np.zeros(tuple(int(a) for a in args), dtype=npdt)  # "uninitialised": zeros
    t = object.__new__(cls) if cls is not Tensor else _new_tensor(Tensor)
    t._data = arr
    t._requires_grad = False
    t._grad_fn = None
    t._grad = None
    t._vc = data._vc if len(args) == 1 and isinstance(args[0], Tensor) else [0]
    t._base = None
    t._x = None
    tr = STATE.tracer
    if tr is not None:
        tr.constant(t)
    return t


def _FROM_NP_NAME(npdt):
    return _dtype._FROM_NP[np.dtype(npdt)]


_new_tensor = object.__new__
