"""Parity round 8 (notes/parity-round8/): behaviours found by running the same programs
under torch and jitgrad side by side. Expectations are torch's rules restated (wrapping
arithmetic, error classes and messages, NumPy references); no torch import."""

import numpy as np
import pytest

import jitgrad


# ---- Python ints meeting small integer dtypes ----------------------------------------------
def test_python_int_operand_wraps_into_the_tensor_dtype():
    # torch casts the scalar to the tensor's dtype modulo 2**bits (no error, no upcast)
    r = jitgrad.tensor([1], dtype=jitgrad.int8) + 200
    assert r.dtype == jitgrad.int8 and r.tolist() == [-55]
    u = jitgrad.tensor([1], dtype=jitgrad.uint8)
    assert (u + 300).tolist() == [45] and (u - 2).tolist() == [255]
    assert (jitgrad.tensor([1], dtype=jitgrad.int8) * 1000).tolist() == [-24]
    assert (jitgrad.tensor([0], dtype=jitgrad.uint8) == 256).tolist() == [True]
    assert (jitgrad.tensor([1, 2]) + 2**63).tolist() == [-(2**63) + 1, -(2**63) + 2]
    a = jitgrad.tensor([1], dtype=jitgrad.int8)
    a.add_(200)
    assert a.tolist() == [-55]
    with pytest.raises(OverflowError, match="int too big to convert"):
        jitgrad.tensor([0], dtype=jitgrad.uint8) + 2**64


def test_where_clamp_masked_fill_refuse_an_int_the_dtype_cannot_hold():
    t = jitgrad.tensor([1], dtype=jitgrad.int8)
    c = jitgrad.tensor([True])
    msg = "value cannot be converted to type int8_t without overflow"
    for f in (
        lambda: jitgrad.where(c, t, 200),
        lambda: t.masked_fill(c, 200),
        lambda: t.clamp(max=200),
        lambda: t.clamp(-200, 5),
    ):
        with pytest.raises(RuntimeError, match=msg):
            f()
    u = jitgrad.tensor([3], dtype=jitgrad.uint8)
    assert jitgrad.where(~c, u, -1).tolist() == [255]  # -1 wraps in an unsigned dtype
    assert u.masked_fill(c, -1).tolist() == [255]
    assert t.masked_fill(c, 100).tolist() == [100]


def test_tensor_of_out_of_range_python_numbers():
    for data in (2**63, [1, 2**64], -(2**63) - 1):
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            jitgrad.tensor(data)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        jitgrad.tensor([2**63], dtype=jitgrad.int64)
    for data, dt in (
        (300, jitgrad.uint8),
        (-300, jitgrad.uint8),
        ([200], jitgrad.int8),
        ([2**40], jitgrad.int32),
        ([1e40], jitgrad.int32),
        (float("nan"), jitgrad.int64),
        ([True, 300], jitgrad.uint8),
    ):
        name = str(dt).split(".")[-1]
        with pytest.raises(RuntimeError, match=f"value cannot be converted to type {name} "):
            jitgrad.tensor(data, dtype=dt)
    assert jitgrad.tensor([[1, 2], [3, -4]], dtype=jitgrad.uint8).tolist() == [[1, 2], [3, 252]]
    assert jitgrad.tensor(-1, dtype=jitgrad.uint8).item() == 255
    assert jitgrad.tensor([1, 2**63 - 1]).tolist() == [1, 2**63 - 1]


# ---- version counter, storage offset, 0-d indexing -----------------------------------------
def test_version_counter_counts_in_place_writes_shared_by_views():
    a = jitgrad.ones(3)
    assert a._version == 0
    a.add_(1)
    a[0] = 3
    b = a.view(3)
    b.mul_(2)
    assert (a._version, b._version) == (3, 3)
    assert (a * 1)._version == 0
    w = jitgrad.ones(2, requires_grad=True)
    opt = jitgrad.optim.SGD([w], lr=0.1)
    w.sum().backward()
    opt.step()
    assert w._version == 1


def test_storage_offset_of_views():
    x = jitgrad.arange(12.0).reshape(3, 4)
    assert x.storage_offset() == 0
    assert x[1:, 2:].storage_offset() == 6
    assert x[2].storage_offset() == 8
    assert x.t()[1].storage_offset() == 1
    assert x.narrow(1, 1, 2).storage_offset() == 1
    assert x[:, 1:].reshape(-1).storage_offset() == 0  # a copy


def test_indexing_a_0d_tensor_and_a_zero_step():
    t = jitgrad.tensor(1.0)
    with pytest.raises(IndexError, match=r"invalid index of a 0-dim tensor. Use `tensor.item\(\)`"):
        t[0]
    with pytest.raises(IndexError, match=r"slice\(\) cannot be applied to a 0-dim tensor."):
        t[:]
    assert t[None].shape == (1,)
    with pytest.raises(ValueError, match="^slice step cannot be zero$"):
        jitgrad.arange(5.0)[::0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        jitgrad.arange(5.0)[::-1]


# ---- autograd ------------------------------------------------------------------------------
def test_integer_or_bool_cast_of_a_tensor_that_requires_grad_has_no_grad():
    x = jitgrad.ones(3, requires_grad=True)
    for y in ((x * 2).long(), x.to(jitgrad.int32), x.bool(), x.type(jitgrad.uint8)):
        assert not y.requires_grad and y.grad_fn is None
    h = x.half()
    assert h.requires_grad and type(h.grad_fn).__name__ == "ToCopyBackward0"
    idx = (x * 0).long()  # usable as an index into a differentiable tensor
    w = jitgrad.arange(4.0, requires_grad=True)
    w[idx].sum().backward()
    assert w.grad.tolist() == [3.0, 0.0, 0.0, 0.0]


def test_autograd_grad_is_grads_batched_stacks_one_vjp_per_row():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    x = jitgrad.tensor([0.5, -1.0], requires_grad=True)
    y = jitgrad.tensor(a) @ x  # Jacobian is a
    (jac,) = jitgrad.autograd.grad(y, x, grad_outputs=jitgrad.eye(3), is_grads_batched=True)
    assert jac.shape == (3, 2) and np.allclose(jac.numpy(), a)
    z = jitgrad.ones(2, requires_grad=True)
    y = jitgrad.tensor(a) @ x
    r = jitgrad.autograd.grad(
        y, (x, z), grad_outputs=jitgrad.eye(3), is_grads_batched=True, allow_unused=True
    )
    assert r[1] is None and np.allclose(r[0].numpy(), a)


def test_autograd_grad_error_messages():
    x = jitgrad.ones(3, requires_grad=True)
    z = jitgrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="The differentiated Tensor at index 1 appears to not"):
        jitgrad.autograd.grad((x**2).sum(), [x, z])
    c = jitgrad.ones(3)
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        jitgrad.autograd.grad(c.sum(), c)  # torch checks the outputs first
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require"):
        jitgrad.autograd.grad((x * c).sum(), c)


def test_function_with_setup_context_and_once_differentiable():
    from jitgrad.autograd.function import once_differentiable

    class Scale(jitgrad.autograd.Function):
        @staticmethod
        def forward(x, k):  # torch 2 style: no ctx in forward
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]

    class Sq(jitgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    (g,) = jitgrad.autograd.grad(Sq.apply(x).sum(), x, create_graph=True)
    assert g.tolist() == [2.0, 4.0] and not g.requires_grad


# ---- losses, schedulers, data --------------------------------------------------------------
def test_class_index_targets_must_be_long_or_byte():
    F = jitgrad.nn.functional
    x = jitgrad.zeros(5, 4)
    for dt, name in ((jitgrad.int32, "Int"), (jitgrad.int16, "Short")):
        t = jitgrad.tensor([0, 1, 2, 3, 0], dtype=dt)
        for f in (F.cross_entropy, F.nll_loss):
            with pytest.raises(
                RuntimeError, match=f"expected target dtype to be Long or Byte, but got {name}"
            ):
                f(x, t)
    u = F.cross_entropy(x, jitgrad.tensor([0, 1, 2, 3, 0], dtype=jitgrad.uint8))
    assert np.isclose(u.item(), np.log(4.0))


def test_sequential_lr_after_optimizer_step_does_not_warn():
    import warnings

    S = jitgrad.optim.lr_scheduler
    w = jitgrad.nn.Parameter(jitgrad.ones(2))
    opt = jitgrad.optim.SGD([w], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = S.SequentialLR(
            opt, [S.LinearLR(opt, 0.1, total_iters=3), S.ExponentialLR(opt, 0.9)], milestones=[3]
        )
        lrs = [s.get_last_lr()[0]]
        for _ in range(5):
            opt.step()
            s.step()
            lrs.append(s.get_last_lr()[0])
    want = [0.01, 0.04, 0.07, 0.1, 0.09, 0.081]
    assert np.allclose(lrs, want)


def test_dataloader_iterator_has_len():
    dl = jitgrad.utils.data.DataLoader(list(range(10)), batch_size=4)
    it = iter(dl)
    assert len(it) == 3 and iter(it) is it
    assert next(it).tolist() == [0, 1, 2, 3]
    assert [b.tolist() for b in it] == [[4, 5, 6, 7], [8, 9]]
    with pytest.raises(StopIteration):
        next(it)


# ---- factories and everyday ops ------------------------------------------------------------
def test_tensor_dtype_of_numpy_scalars_and_lists_holding_dtyped_values():
    cases = [
        (np.float64(1.0), jitgrad.float64),
        ([np.float64(1.0)], jitgrad.float64),
        ([np.float64(1.0), 2.0], jitgrad.float64),
        (np.int32(3), jitgrad.int32),
        ([np.int32(3)], jitgrad.int32),
        ([np.int32(3), 2], jitgrad.int64),
        (np.float16(1), jitgrad.float16),
        ([np.float16(1), 2.0], jitgrad.float32),  # with a Python float: the default float
        ([np.float16(1), 2], jitgrad.float16),  # an int never upcasts a float
        ([np.uint8(1), np.int8(2)], jitgrad.int16),
        ([jitgrad.tensor(1.0, dtype=jitgrad.float64), 2.0], jitgrad.float64),
        ([1.0, 2.0], jitgrad.float32),
        ([1, 2], jitgrad.int64),
    ]
    for data, want in cases:
        assert jitgrad.tensor(data).dtype == want, data
    assert jitgrad.tensor([jitgrad.tensor([[1.0]]), 2.0]).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        jitgrad.tensor([jitgrad.tensor([1, 2])])
    with pytest.raises(ValueError, match="only one element tensors can be converted"):
        jitgrad.tensor([jitgrad.tensor([1.0, 2.0])])


def test_meshgrid_xy_indexing():
    a, b, c = jitgrad.arange(2), jitgrad.arange(3), jitgrad.arange(4)
    for ts in ((a, b), (a, b, c)):
        got = jitgrad.meshgrid(*ts, indexing="xy")
        want = np.meshgrid(*[t.numpy() for t in ts], indexing="xy")
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and (g.numpy() == w).all()


def test_clamp_mixing_tensor_and_number_bounds_is_a_type_error():
    x = jitgrad.tensor([1.0, 5.0, -2.0])
    with pytest.raises(TypeError, match="clamp\\(\\) received an invalid combination of arguments"):
        jitgrad.clamp(x, min=jitgrad.zeros(3), max=4)
    assert jitgrad.clamp(x, min=jitgrad.zeros(3)).tolist() == [1.0, 5.0, 0.0]
    assert x.clamp(jitgrad.zeros(3), jitgrad.full((3,), 4.0)).tolist() == [1.0, 4.0, 0.0]
    with pytest.raises(RuntimeError, match="upper bound and lower bound inconsistent"):
        jitgrad.arange(0, 10, -1)


# ---- gradients and values at corner points -------------------------------------------------
def test_cosine_similarity_clamps_each_norm_like_torch():
    F = jitgrad.nn.functional
    a = jitgrad.tensor([[1e-5, 0.0]])
    assert np.isclose(F.cosine_similarity(a, a).item(), 1.0)  # was |a|^2 / eps = 0.01
    v = F.cosine_similarity(jitgrad.tensor([[1e-9, 0.0]]), jitgrad.tensor([[1.0, 1.0]])).item()
    assert np.isclose(v, (1e-9 / 1e-8) / np.sqrt(2), rtol=1e-5)
    x1 = jitgrad.tensor([0.0, 0.0], requires_grad=True)
    x2 = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    F.cosine_similarity(x1, x2, dim=0).backward()
    # d/dx1 (x1 / max(|x1|, eps)) . x2/|x2| at x1 = 0: x2 / |x2| / eps
    assert np.allclose(x1.grad.numpy(), np.array([1.0, 2.0]) / np.sqrt(5) / 1e-8, rtol=1e-5)
    assert x2.grad.tolist() == [0.0, 0.0]
    assert F.cosine_similarity(jitgrad.ones(3, 1, 4), jitgrad.ones(2, 4), dim=-1).shape == (3, 2)
    rs = np.random.RandomState(0)
    p, q = rs.randn(3, 5), rs.randn(3, 5)
    want = (p * q).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(q, axis=1)
    got = F.cosine_similarity(jitgrad.tensor(p), jitgrad.tensor(q)).numpy()
    assert np.allclose(got, want)


def test_clamp_with_tensor_bounds_gives_a_tie_to_the_input():
    x = jitgrad.tensor([1.0, 5.0, 0.5, 2.0], requires_grad=True)
    lo = jitgrad.tensor([1.0, 0.0, 0.0, 3.0], requires_grad=True)
    hi = jitgrad.tensor([4.0, 5.0, 1.0, 2.5], requires_grad=True)
    y = jitgrad.clamp(x, lo, hi)
    y.sum().backward()
    assert y.tolist() == [1.0, 5.0, 0.5, 2.5]
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]  # ties (x == lo, x == hi) go to x
    assert lo.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert hi.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    r = jitgrad.clamp(jitgrad.tensor([1.0, 5.0]), min=jitgrad.tensor([float("nan"), 0.0]))
    assert np.isnan(r[0].item()) and r[1].item() == 5.0
    assert jitgrad.clamp(jitgrad.tensor([1, 5]), min=jitgrad.tensor([2.5, 0.0])).tolist() == [
        2.5,
        5.0,
    ]


def test_var_and_std_warn_when_degrees_of_freedom_are_not_positive():
    with pytest.warns(UserWarning, match=r"std\(\): degrees of freedom is <= 0"):
        s = jitgrad.ones(1).std()
    assert np.isnan(s.item())
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
        jitgrad.ones(1, 2).var(0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jitgrad.ones(1).var(correction=0)
        jitgrad.ones(3).std()


# ---- NumPy operands, softmax without dim ---------------------------------------------------
def test_numpy_arrays_as_operands_behave_like_torch():
    t = jitgrad.ones(2)
    r = t * np.ones(2)  # NumPy computes, the result comes back a tensor (float64 here)
    assert isinstance(r, jitgrad.Tensor) and r.dtype == jitgrad.float64
    assert (t + np.ones(2, dtype=np.float32)).dtype == jitgrad.float32
    e = np.exp(jitgrad.tensor([0.0, 1.0]))
    assert isinstance(e, jitgrad.Tensor) and np.allclose(e.numpy(), [1.0, np.e])
    m = np.isnan(t)
    assert isinstance(m, jitgrad.Tensor) and m.dtype == jitgrad.uint8  # torch stores bool as uint8
    eq = t == np.array([1.0, 0.0])
    assert eq.dtype == jitgrad.bool and eq.tolist() == [True, False]
    assert (t != np.array([1.0, 0.0])).tolist() == [False, True]
    a = jitgrad.ones(2)
    b = a
    a += np.ones(2)  # not in place in torch: a new float64 tensor
    assert a is not b and a.dtype == jitgrad.float64 and b.dtype == jitgrad.float32
    with pytest.raises(TypeError):
        np.ones(2) * jitgrad.ones(2)


def test_softmax_needs_dim_except_in_functional():
    x = jitgrad.tensor([1.0, 2.0])
    for f in (lambda: x.softmax(), lambda: jitgrad.softmax(x), lambda: x.log_softmax()):
        with pytest.raises(TypeError, match='missing 1 required positional arguments: "dim"'):
            f()
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = jitgrad.nn.functional.softmax(x)
    assert np.allclose(y.numpy(), np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum())
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        z = jitgrad.nn.functional.log_softmax(jitgrad.ones(2, 3))
    assert np.allclose(z.numpy(), -np.log(3.0))
