"""Bad input thrown at public eager ops and layers (property-based).

Each call must compute PyTorch's answer (checked against NumPy) or raise one of
RuntimeError/ValueError/IndexError/TypeError whose message names the op and the offending
shapes/values. Never a crash, never a silent wrong answer.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jitgrad as torch
import jitgrad.nn as nn
import jitgrad.nn.functional as F

from ._util import PROPS, USER_ERRORS, check_error

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
small_shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


def _arr(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _view(a, how):
    """The same values as ``a``, as a contiguous, transposed (non-contiguous) or expanded view."""
    if how == "contiguous" or a.ndim < 2:
        return torch.tensor(a)
    if how == "transposed":
        return torch.tensor(np.ascontiguousarray(a.swapaxes(0, -1))).transpose(0, -1)
    # expanded: a broadcast view of the first row along dim 0
    a[...] = a[:1]
    return torch.tensor(a[:1]).expand(*a.shape)


VIEWS = st.sampled_from(["contiguous", "transposed", "expanded"])

BINARY = {
    "add": (torch.add, np.add),
    "sub": (torch.sub, np.subtract),
    "mul": (torch.mul, np.multiply),
    "div": (torch.div, np.divide),
    "maximum": (torch.maximum, np.maximum),
    "minimum": (torch.minimum, np.minimum),
    "atan2": (torch.atan2, np.arctan2),
}


@PROPS
@given(st.sampled_from(sorted(BINARY)), shapes, shapes, VIEWS, VIEWS)
def test_binary_broadcasting(name, sa, sb, va, vb):
    f, ref = BINARY[name]
    a, b = _arr(sa, 1), _arr(sb, 2)
    ta, tb = _view(a, va), _view(b, vb)
    try:
        want_shape = np.broadcast_shapes(sa, sb)
    except ValueError:
        with pytest.raises(USER_ERRORS) as ei:
            f(ta, tb)
        check_error(ei.value, name, sa, sb)
        return
    with np.errstate(all="ignore"):
        want = ref(a, b)
    got = f(ta, tb)
    assert tuple(got.shape) == want_shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)


@PROPS
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    VIEWS,
)
def test_matmul_shapes(sa, sb, view):
    a, b = _arr(tuple(sa), 1), _arr(tuple(sb), 2)
    ta, tb = _view(a, view), torch.tensor(b)
    try:
        want = np.matmul(a, b)
    except ValueError:
        with pytest.raises(USER_ERRORS) as ei:
            torch.matmul(ta, tb)
        check_error(ei.value, "matmul|mm|dot|mv")
        return
    np.testing.assert_allclose(torch.matmul(ta, tb).numpy(), want, rtol=1e-5, atol=1e-5)


DIM_OPS = {
    "sum": lambda t, d: t.sum(d),
    "mean": lambda t, d: t.mean(d),
    "amax": lambda t, d: t.amax(d),
    "softmax": lambda t, d: t.softmax(d),
    "log_softmax": lambda t, d: t.log_softmax(d),
    "logsumexp": lambda t, d: t.logsumexp(d),
    "argmax": lambda t, d: t.argmax(d),
    "squeeze": lambda t, d: t.squeeze(d),
    "transpose": lambda t, d: t.transpose(0, d),
    "flatten": lambda t, d: t.flatten(d),
    "cat": lambda t, d: torch.cat([t, t], d),
    "chunk": lambda t, d: t.chunk(2, d),
    "narrow": lambda t, d: t.narrow(d, 0, 1),
    "index_select": lambda t, d: t.index_select(d, torch.tensor([0])),
    "unsqueeze": lambda t, d: t.unsqueeze(d),
    "stack": lambda t, d: torch.stack([t, t], d),
}


@PROPS
@given(st.sampled_from(sorted(DIM_OPS)), small_shapes, st.integers(-6, 6))
def test_dim_out_of_range(name, shape, dim):
    t = torch.tensor(_arr(shape))
    nd = len(shape) + (1 if name in ("unsqueeze", "stack") else 0)
    if -nd <= dim < nd:
        DIM_OPS[name](t, dim)  # valid: must not raise
        return
    with pytest.raises(IndexError) as ei:
        DIM_OPS[name](t, dim)
    check_error(ei.value, "range", str(dim))


CREATORS = {
    "zeros": lambda s: torch.zeros(*s),
    "ones": lambda s: torch.ones(s),
    "empty": lambda s: torch.empty(*s),
    "full": lambda s: torch.full(s, 1.5),
    "rand": lambda s: torch.rand(*s),
    "randn": lambda s: torch.randn(s),
    "randint": lambda s: torch.randint(0, 5, s),
}


@PROPS
@given(st.sampled_from(sorted(CREATORS)), st.lists(st.integers(-3, 3), min_size=1, max_size=3))
def test_negative_sizes(name, size):
    size = tuple(size)
    if min(size) >= 0:
        assert tuple(CREATORS[name](size).shape) == size
        return
    with pytest.raises(RuntimeError) as ei:
        CREATORS[name](size)
    check_error(ei.value, "negative dimension", min(size))


@pytest.mark.parametrize("name", sorted(CREATORS))
@pytest.mark.parametrize("bad", [2.0, True, "2"])
def test_non_integer_sizes(name, bad):
    """A float, bool or string size is a TypeError naming the op and the element (PyTorch's
    type), also as a shape of view/reshape; integer tensors and NumPy ints are sizes."""
    with pytest.raises(TypeError) as ei:
        CREATORS[name]((2, bad))
    check_error(ei.value, name, "element 1", type(bad).__name__)
    with pytest.raises(TypeError) as ei:
        torch.ones(4).view(bad, -1)
    check_error(ei.value, "view", "shape", "element 0")
    assert torch.ones(6).reshape(torch.tensor(2), np.int64(3)).shape == (2, 3)
    assert tuple(CREATORS[name]((torch.tensor(2), np.int32(1))).shape) == (2, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda t, d: t.sum(d),
        lambda t, d: t.sum((0, d)),
        lambda t, d: t.softmax(d),
        lambda t, d: t.transpose(0, d),
        lambda t, d: t.unsqueeze(d),
        lambda t, d: t.cumsum(d),
        lambda t, d: t.flatten(d),
    ],
)
def test_non_integer_dims(call):
    """A float or bool dim is a TypeError naming the argument (not Python's own message);
    NumPy ints and 0-d integer tensors are dims."""
    t = torch.ones(2, 3)
    for bad in (1.0, True):
        with pytest.raises(TypeError) as ei:
            call(t, bad)
        check_error(ei.value, "dim", type(bad).__name__)
    ref = call(t, 1).shape
    assert call(t, np.int64(1)).shape == ref and call(t, torch.tensor(1)).shape == ref


@PROPS
@given(shapes, st.integers(-8, 8))
def test_reshape_sizes(shape, k):
    t = torch.tensor(_arr(shape))
    n = int(np.prod(shape))
    target = (k, -1) if k not in (0, -1) and n % max(abs(k), 1) == 0 and k > 0 else (k,)
    try:
        want = np.reshape(np.zeros(shape), target).shape
        if any(s < -1 for s in target):
            raise ValueError
    except ValueError:
        with pytest.raises(RuntimeError) as ei:
            t.reshape(*target)
        check_error(ei.value, "reshape|shape")
        return
    assert tuple(t.reshape(*target).shape) == want


UNARY = {
    "exp": (torch.exp, np.exp),
    "log": (torch.log, np.log),
    "sqrt": (torch.sqrt, np.sqrt),
    "tanh": (torch.tanh, np.tanh),
    "abs": (torch.abs, np.abs),
    "relu": (torch.relu, lambda a: np.maximum(a, 0)),  # relu(nan) is nan in torch
    "sigmoid": (torch.sigmoid, lambda a: 1 / (1 + np.exp(-a.astype(np.float64)))),
    "clamp": (lambda t: t.clamp(-1, 1), lambda a: np.clip(a, -1, 1)),
    "floor": (torch.floor, np.floor),
}


@PROPS
@given(st.sampled_from(sorted(UNARY)), st.lists(FLOATS, min_size=0, max_size=6))
def test_nan_inf_propagate(name, vals):
    f, ref = UNARY[name]
    a = np.array(vals, dtype=np.float32)
    with np.errstate(all="ignore"):
        want = ref(a).astype(np.float32)
    np.testing.assert_allclose(f(torch.tensor(a)).numpy(), want, rtol=1e-5, atol=1e-6)


@PROPS
@given(st.lists(FLOATS, min_size=1, max_size=6))
def test_nan_inf_reductions(vals):
    a = np.array(vals, dtype=np.float32)
    t = torch.tensor(a)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(t.sum().item(), a.sum(dtype=np.float32), rtol=1e-4)
        np.testing.assert_equal(np.isnan(t.max().item()), np.isnan(a).any())
        sm = t.softmax(0).numpy()
        # a NaN or +inf input makes every softmax output NaN (torch: exp(inf - inf))
        if np.isnan(a).any() or np.isposinf(a).any():
            assert np.isnan(sm).all()
        elif np.isfinite(a).any():
            np.testing.assert_allclose(sm.sum(), 1.0, rtol=1e-5)


# ---- class indices / index tensors out of range ---------------------------------------
BIG = st.one_of(
    st.integers(-(10**6), 10**6), st.sampled_from([-(10**6), -4, -3, -1, 0, 2, 3, 10**6])
)


@PROPS
@given(st.sampled_from(["cross_entropy", "nll_loss"]), BIG)
def test_class_target_out_of_range(op, bad):
    x = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([0, 1, 2, bad])
    f = getattr(F, op)
    if 0 <= bad < 3 or bad == -100:
        f(x, y).backward()
        return
    with pytest.raises(IndexError) as ei:
        f(x, y)
    check_error(ei.value, op, bad)


@PROPS
@given(BIG)
def test_embedding_id_out_of_range(bad):
    emb = nn.Embedding(3, 2)
    ids = torch.tensor([[0, bad]])
    if 0 <= bad < 3:
        assert emb(ids).shape == (1, 2, 2)
        return
    with pytest.raises(IndexError) as ei:
        emb(ids)
    check_error(ei.value, "embedding", bad)


@PROPS
@given(st.sampled_from(["index_select", "gather", "getitem"]), BIG)
def test_index_out_of_range(op, bad):
    w = torch.randn(3, 3)
    call = {
        "index_select": lambda i: w.index_select(0, torch.tensor([0, i])),
        "gather": lambda i: w.gather(1, torch.tensor([[0], [i], [1]])),
        "getitem": lambda i: w[torch.tensor([0, i])],
    }[op]
    if 0 <= bad < 3 or (op == "getitem" and -3 <= bad < 0):  # valid, like torch
        call(bad)
        return
    with pytest.raises((IndexError, RuntimeError)) as ei:
        call(bad)
    check_error(ei.value, op.replace("getitem", "index"), bad)


@pytest.mark.parametrize("op", ["index_select", "gather"])
def test_negative_index_like_torch(op):
    w = torch.randn(3, 3)
    with pytest.raises((IndexError, RuntimeError)):
        if op == "index_select":
            w.index_select(0, torch.tensor([-1]))
        else:
            w.gather(1, torch.tensor([[-1], [0], [0]]))


# ---- wrong dtypes --------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: torch.randn(3).index_select(0, torch.tensor([0.0])), "index_select"),
        (lambda: torch.randn(2, 3).gather(1, torch.tensor([[0.0]])), "gather"),
        (lambda: F.embedding(torch.tensor([0.0]), torch.randn(3, 2)), "embedding"),
        (lambda: nn.Embedding(3, 2)(torch.tensor([1.0])), "embedding"),
        (lambda: F.cross_entropy(torch.randn(2, 3), torch.tensor([0.0, 1.0])), "cross_entropy"),
        (lambda: F.nll_loss(torch.randn(2, 3), torch.tensor([0.0, 1.0])), "nll_loss"),
        (lambda: torch.tensor([1, 2], requires_grad=True), "floating point"),
        (lambda: torch.tensor([2]) ** -1, "pow"),
        (lambda: nn.Linear(3, 2)(torch.tensor([[1, 2, 3]])), "linear|mat|dtype|Float|Long"),
    ],
)
def test_wrong_dtypes(call, op):
    with pytest.raises(USER_ERRORS) as ei:
        call()
    check_error(ei.value, op)


# ---- layers given wrong shapes / sizes --------------------------------------------------
@pytest.mark.parametrize(
    "call, op, mentions",
    [
        (lambda: nn.Linear(4, 2)(torch.randn(2, 3)), "linear", ("2x3", "4")),
        (lambda: nn.Conv2d(3, 2, 3)(torch.randn(1, 2, 5, 5)), "channels", ("[1, 2, 5, 5]",)),
        (lambda: nn.Conv2d(3, 2, 3)(torch.randn(3, 5)), "conv2d", ("[3, 5]",)),
        (lambda: nn.Conv2d(3, 2, 7)(torch.randn(1, 3, 5, 5)), "conv2d", ("7 x 7",)),
        (lambda: nn.MaxPool2d(7)(torch.randn(1, 3, 5, 5)), "max_pool2d", ("5x5",)),
        (lambda: nn.AvgPool2d(9)(torch.randn(1, 1, 3, 3)), "avg_pool2d", ("3x3",)),
        (lambda: nn.BatchNorm1d(4)(torch.randn(2, 3)), "BatchNorm1d", ("[2, 3]",)),
        (lambda: nn.BatchNorm2d(4)(torch.randn(2, 3, 2, 2)), "BatchNorm2d", ("4",)),
        (lambda: nn.AdaptiveAvgPool2d(2)(torch.randn(3)), "adaptive_avg_pool2d", ("[3]",)),
        (
            lambda: F.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1, 2])),
            "cross_entropy",
            ("2", "3"),
        ),
        (lambda: F.mse_loss(torch.randn(2, 3), torch.randn(4, 3)), "mse_loss|sub", ("(2, 3)",)),
        (
            lambda: F.binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0])),
            "binary_cross_entropy",
            ("1.5",),
        ),
        (
            lambda: F.binary_cross_entropy(torch.tensor([float("nan")]), torch.tensor([1.0])),
            "binary_cross_entropy",
            ("nan",),
        ),
        (
            lambda: F.conv2d(torch.randn(1, 1, 3, 3), torch.randn(1, 1, 2, 2), stride=0),
            "conv2d",
            ("stride",),
        ),
        (lambda: nn.Embedding(-1, 2), "negative dimension", ("-1",)),
        (lambda: nn.Dropout(1.5), "dropout", ("1.5",)),
        (
            lambda: torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=-1),
            "learning rate",
            ("-1",),
        ),
        (lambda: torch.utils.data.DataLoader([1, 2], batch_size=0), "batch_size", ("0",)),
        (
            lambda: nn.Linear(2, 2).load_state_dict(
                {"weight": torch.zeros(3, 3), "bias": torch.zeros(2)}
            ),
            "size mismatch",
            ("weight",),
        ),
    ],
)
def test_layer_errors(call, op, mentions):
    with pytest.raises(USER_ERRORS) as ei:
        call()
    check_error(ei.value, op, *mentions)


# ---- empty tensors: same shapes and values as torch -------------------------------------
def test_empty_tensors():
    z = torch.zeros(0, 3)
    assert z.sum(0).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(torch.zeros(0).mean().item())
    assert z.softmax(1).shape == (0, 3)
    assert (z @ torch.zeros(3, 2)).shape == (0, 2)
    assert nn.Linear(3, 2)(z).shape == (0, 2)
    assert nn.Conv2d(1, 2, 3)(torch.zeros(0, 1, 5, 5)).shape == (0, 2, 3, 3)
    assert np.isnan(F.cross_entropy(z, torch.zeros(0, dtype=torch.long)).item())
    assert F.cross_entropy(z, torch.zeros(0, dtype=torch.long), reduction="sum").item() == 0.0
    w = torch.zeros(0, 3, requires_grad=True)
    (w * 2).sum().backward()
    assert w.grad.shape == (0, 3)
    for bad in (lambda: torch.zeros(0).max(), lambda: torch.zeros(0).argmax()):
        with pytest.raises(RuntimeError) as ei:
            bad()
        check_error(ei.value, "numel\\(\\) == 0")


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: torch.zeros(10**13), "zeros"),
        (lambda: torch.randn(10**7, 10**7), "randn"),
    ],
)
def test_huge_sizes_raise_runtime_error(call, op):
    """torch raises RuntimeError ("can't allocate memory"); jitgrad must at least not crash."""
    with pytest.raises((RuntimeError, MemoryError, ValueError)) as ei:
        call()
    if not isinstance(ei.value, RuntimeError):
        pytest.xfail(
            "core bug: huge allocations raise NumPy's MemoryError/ValueError without "
            "naming the op; notes/core_bugs.md 'reliability: huge sizes'"
        )
    check_error(ei.value, op)


def test_masked_select_shape_error_names_op():
    with pytest.raises(USER_ERRORS) as ei:
        torch.randn(2, 3).masked_select(torch.ones(4, dtype=torch.bool))
    if "masked_select" not in str(ei.value):
        pytest.xfail(
            "core bug: masked_select shape mismatch is NumPy's message; "
            "notes/core_bugs.md 'reliability: masked_select'"
        )
    check_error(ei.value, "masked_select", "(2, 3)")


def test_inplace_on_expanded_view_refused():
    t = torch.zeros(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError) as ei:
        t.add_(1.0)
    check_error(ei.value, "add_", "[2, 3]")
