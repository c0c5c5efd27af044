"""SPEC section 1: creation, dtypes, type promotion, conversion to Python and NumPy."""

import numpy as np
import pytest

import jitgrad as jg


# ---------------------------------------------------------------- creation ---------------
def test_tensor_from_lists_scalars_arrays_copies():
    assert jg.tensor([1.0, 2.0]).dtype == jg.float32
    assert jg.tensor([1, 2]).dtype == jg.int64
    assert jg.tensor([True, False]).dtype == jg.bool
    assert jg.tensor(3.5).shape == ()
    assert jg.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    assert jg.tensor([1, 2.5]).dtype == jg.float32
    a = np.array([1.0, 2.0])
    t = jg.tensor(a)
    assert t.dtype == jg.float64  # NumPy's dtype is kept
    a[0] = 100
    assert t[0].item() == 1.0  # a copy
    assert jg.tensor(np.array([1, 2], dtype=np.int32)).dtype == jg.int32
    assert jg.tensor([1, 2], dtype=jg.float64).dtype == jg.float64
    assert jg.tensor([jg.tensor(1.0), jg.tensor(2.0)]).tolist() == [1.0, 2.0]


def test_from_numpy_and_numpy_share_memory():
    a = np.zeros(3, dtype=np.float32)
    t = jg.from_numpy(a)
    a[1] = 5
    assert t.tolist() == [0, 5, 0]
    t.add_(1)
    assert a.tolist() == [1, 6, 1]
    n = t.numpy()
    n[0] = -1
    assert t[0].item() == -1
    assert np.shares_memory(n, a)


def test_numpy_refuses_requires_grad():
    t = jg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_size_varargs_or_tuple(fn):
    f = getattr(jg, fn)
    assert f(2, 3).shape == (2, 3)
    assert f((2, 3)).shape == (2, 3)
    assert f([4]).shape == (4,)
    assert f().shape == ()
    assert f(2, dtype=jg.float64).dtype == jg.float64
    assert f(2).dtype == jg.float32
    t = f(2, requires_grad=True)
    assert t.requires_grad and t.is_leaf


def test_factory_values():
    assert jg.zeros(2).tolist() == [0, 0]
    assert jg.ones(2, 2).sum().item() == 4
    assert jg.full((2,), 7).dtype == jg.int64
    assert jg.full((2,), 7.5).tolist() == [7.5, 7.5]
    assert jg.full((2,), 7.5).dtype == jg.float32
    assert jg.full((2, 2), True).dtype == jg.bool
    x = jg.tensor([[1, 2]], dtype=jg.int32)
    assert jg.zeros_like(x).dtype == jg.int32 and jg.zeros_like(x).shape == (1, 2)
    assert jg.ones_like(x, dtype=jg.float64).dtype == jg.float64
    assert jg.full_like(x, 3).tolist() == [[3, 3]]
    assert jg.empty_like(x).shape == (1, 2)
    assert jg.arange(5).tolist() == [0, 1, 2, 3, 4] and jg.arange(5).dtype == jg.int64
    assert jg.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert jg.arange(1, 2, 0.25).dtype == jg.float32
    assert jg.arange(5.0).dtype == jg.float32
    assert jg.arange(0, 10, 3, dtype=jg.float64).tolist() == [0, 3, 6, 9]
    np.testing.assert_allclose(jg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert jg.linspace(0, 1, 5).dtype == jg.float32
    np.testing.assert_allclose(jg.logspace(0, 2, 3).numpy(), [1, 10, 100])
    assert jg.eye(2).tolist() == [[1, 0], [0, 1]]
    assert jg.eye(2, 3).shape == (2, 3)


def test_random_ranges_and_dtypes():
    jg.manual_seed(0)
    r = jg.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    n = jg.randn(10000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    i = jg.randint(3, 7, (100,))
    assert i.dtype == jg.int64 and 3 <= i.min().item() and i.max().item() < 7
    assert jg.randint(5, (3, 2)).shape == (3, 2)
    p = jg.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == jg.int64
    b = jg.bernoulli(jg.full((1000,), 0.3))
    assert b.dtype == jg.float32 and set(b.tolist()) <= {0.0, 1.0}
    assert 0.2 < b.mean().item() < 0.4
    x = jg.zeros(2, 3, dtype=jg.float64)
    assert jg.rand_like(x).dtype == jg.float64 and jg.randn_like(x).shape == (2, 3)


def test_normal_all_four_forms():
    jg.manual_seed(1)
    assert jg.normal(2.0, 3.0, size=(4,)).shape == (4,)
    m = jg.zeros(500) + 10
    s = jg.ones(500) * 0.1
    a = jg.normal(m, 1.0)
    assert a.shape == (500,) and abs(a.mean().item() - 10) < 0.3
    b = jg.normal(0.0, s)
    assert b.shape == (500,) and b.std().item() < 0.2
    c = jg.normal(m, s)
    assert c.shape == (500,) and abs(c.mean().item() - 10) < 0.05


@pytest.mark.parametrize(
    "make",
    [
        lambda: jg.rand(5),
        lambda: jg.randn(2, 2),
        lambda: jg.randint(0, 100, (5,)),
        lambda: jg.randperm(8),
        lambda: jg.normal(0.0, 1.0, size=(3,)),
        lambda: jg.bernoulli(jg.full((6,), 0.5)),
        lambda: jg.rand_like(jg.zeros(3)),
        lambda: jg.randn_like(jg.zeros(3)),
        lambda: jg.normal(jg.zeros(3), jg.ones(3)),
        lambda: jg.empty(3).uniform_(-1, 1),
        lambda: jg.empty(3).normal_(),
    ],
)
def test_manual_seed_reproducible(make):
    jg.manual_seed(123)
    a = make().tolist()
    b = make().tolist()
    jg.manual_seed(123)
    assert make().tolist() == a
    assert make().tolist() == b
    assert a != b or len(set(map(str, a))) <= 1


# ---------------------------------------------------------------- dtypes -----------------
def test_dtype_aliases_and_metadata():
    assert jg.float is jg.float32 and jg.double is jg.float64
    assert jg.long is jg.int64 and jg.int is jg.int32
    t = jg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert repr(t.shape) == "jitgrad.Size([2, 3, 4])"
    assert str(t.device) == "cpu"
    assert t.float().dtype == jg.float32 and t.double().dtype == jg.float64
    assert t.long().dtype == jg.int64 and t.int().dtype == jg.int32 and t.bool().dtype == jg.bool
    assert t.to(jg.float64).dtype == jg.float64 and t.to("cpu") is t
    assert t.to(jg.float32) is t
    assert jg.tensor([1.7, -1.7]).long().tolist() == [1, -1]  # truncation like torch
    assert t.is_floating_point() and not t.long().is_floating_point()


def test_item_tolist_len_iter():
    t = jg.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t[0, 1].item() == 2.0 and isinstance(t[0, 1].item(), float)
    assert isinstance(jg.tensor(3).item(), int)
    assert isinstance(jg.tensor(True).item(), bool)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert jg.tensor(2.5).tolist() == 2.5
    assert len(t) == 2
    w0, w1 = t[0]
    assert (w0.item(), w1.item()) == (1.5, 2.0)
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    assert float(jg.tensor([2.5])) == 2.5 and int(jg.tensor(3.9)) == 3
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(TypeError):
        len(jg.tensor(1.0))


# ---------------------------------------------------------------- promotion --------------
F32, F64, I64, I32, B = jg.float32, jg.float64, jg.int64, jg.int32, jg.bool


def _t(dtype, dim=True):
    return jg.ones(2, dtype=dtype) if dim else jg.ones((), dtype=dtype)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (lambda: _t(I64), lambda: _t(F32), F32),  # int + float -> float32
        (lambda: _t(I32), lambda: _t(I64), I64),
        (lambda: _t(B), lambda: _t(I32), I32),
        (lambda: _t(F32), lambda: _t(F64), F64),
        (lambda: _t(F32), lambda: 2.5, F32),  # a Python float does not upcast float32
        (lambda: _t(F32), lambda: 2, F32),
        (lambda: _t(I32), lambda: 2, I32),  # a Python int keeps int32
        (lambda: _t(I64), lambda: 2.5, F32),  # int tensor + Python float -> default float
        (lambda: _t(B), lambda: 2, I64),
        (lambda: _t(B), lambda: True, B),
        (lambda: _t(F32), lambda: _t(F64, dim=False), F32),  # 0-d does not upcast same category
        (lambda: _t(I32), lambda: _t(I64, dim=False), I32),
        (lambda: _t(I64), lambda: _t(F64, dim=False), F64),  # 0-d of a higher category wins
        (lambda: _t(F32, dim=False), lambda: _t(F64, dim=False), F64),
        (lambda: _t(F64, dim=False), lambda: 2.5, F64),
        (lambda: _t(I64, dim=False), lambda: 2.5, F32),
    ],
)
def test_promotion(a, b, expected):
    x, y = a(), b()
    assert (x + y).dtype == expected
    assert (y + x).dtype == expected
    assert (x * y).dtype == expected
    assert jg.add(x, y).dtype == expected


def test_true_division_of_ints_is_float32():
    assert (jg.tensor([1, 2]) / jg.tensor([2, 2])).dtype == jg.float32
    assert (jg.tensor([1, 2]) / 2).tolist() == [0.5, 1.0]
    assert (3 / jg.tensor([2])).dtype == jg.float32
    assert (jg.tensor([7, -7]) // 2).tolist() == [3, -4]
    assert (jg.tensor([7, -7]) // 2).dtype == jg.int64
    assert jg.div(jg.tensor([7, -7]), 2, rounding_mode="trunc").tolist() == [3, -3]
    assert (jg.tensor([7, -7]) % 3).tolist() == [1, 2]


def test_comparisons_give_bool():
    x = jg.tensor([1.0, 5.0, 3.0])
    for r in (x == 3, x != 3, x < 3, x <= 3, x > 3, x >= 3, x.le(5), jg.eq(x, x), 2 < x):
        assert r.dtype == jg.bool
    assert (x > 2).tolist() == [False, True, True]
    assert (2 < x).tolist() == [False, True, True]
    assert x.le(3).tolist() == [True, False, True]
    assert (jg.tensor([1, 2]) == jg.tensor([1.0, 3.0])).tolist() == [True, False]
    assert ((x > 2) & (x < 4)).tolist() == [False, False, True]
    assert (~(x > 2)).tolist() == [True, False, False]


def test_int_ops_keep_int_and_math_on_ints_gives_float():
    i = jg.tensor([1, 2, 3])
    assert (i + i).dtype == jg.int64 and (-i).dtype == jg.int64 and i.abs().dtype == jg.int64
    assert i.sum().dtype == jg.int64
    assert jg.tensor([True, True]).sum().item() == 2
    assert i.exp().dtype == jg.float32 and i.sqrt().dtype == jg.float32
    assert (i**2).tolist() == [1, 4, 9] and (i**2).dtype == jg.int64
    assert (i**0.5).dtype == jg.float32
    assert i.float().mean().item() == 2.0
    with pytest.raises(RuntimeError, match="mean"):
        i.mean()


def test_global_settings_torch_scripts_call():
    """``torch.set_num_threads``/``use_deterministic_algorithms`` inside jitgrad's namespace,
    where ``int``/``bool`` are dtypes (as in torch): recorded, and checked like torch."""
    n = jg.get_num_threads()
    jg.set_num_threads(2)
    assert jg.get_num_threads() == 2
    for bad, msg in ((2.0, "expects an int, but got float"), (True, "got bool"), (0, "positive")):
        with pytest.raises(RuntimeError, match=msg):
            jg.set_num_threads(bad)
    jg.set_num_threads(n)
    jg.use_deterministic_algorithms(True)
    assert jg.are_deterministic_algorithms_enabled() is True
    jg.use_deterministic_algorithms(False)
    assert jg.are_deterministic_algorithms_enabled() is False
