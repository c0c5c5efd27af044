"""SPEC section 3: the dynamic tape's semantics, error cases with PyTorch's messages."""

import threading
import warnings
import weakref

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.autograd import Function


def leaf(*vals, dtype=jg.float32):
    return jg.tensor(list(vals), dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------- requires_grad, leaves ---
def test_requires_grad_propagation_and_leaves():
    x = leaf(1.0, 2.0)
    c = jg.tensor([3.0, 4.0])
    y = x * c
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    assert x.is_leaf and x.grad_fn is None
    z = c * 2
    assert not z.requires_grad and z.is_leaf and z.grad_fn is None
    with jg.no_grad():
        w = x * 2
    assert not w.requires_grad and w.is_leaf
    assert (x > 1).requires_grad is False
    assert x.argmax().requires_grad is False


def test_next_functions():
    x = leaf(1.0, 2.0)
    y = (x * 2).exp()
    nf = y.grad_fn.next_functions
    assert len(nf) == 1 and nf[0][0].name() == "MulBackward0"
    inner = nf[0][0].next_functions
    assert inner[0][0].name() == "AccumulateGrad" and inner[0][0].variable is x
    assert inner[1][0] is None  # the constant 2


def test_only_float_can_require_grad():
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        jg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        jg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        jg.zeros(2, dtype=jg.int64, requires_grad=True)


def test_requires_grad_only_on_leaves():
    x = leaf(1.0)
    y = x * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf"):
        y.requires_grad_(False)
    y.requires_grad_(True)  # a no-op on a non-leaf that requires grad
    c = jg.tensor([1.0])
    assert c.requires_grad_() is c and c.requires_grad


# ---------------------------------------------------------------- backward ---------------
def test_backward_accumulates():
    x = leaf(1.0, 2.0)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_backward_diamond_and_reuse():
    x = leaf(2.0)
    a = x * x
    b = a + a * x  # x^2 + x^3
    b.backward()
    assert x.grad.item() == pytest.approx(2 * 2 + 3 * 4)


def test_non_scalar_backward_needs_gradient():
    x = leaf(1.0, 2.0)
    y = x * 2
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        y.backward()
    y.backward(gradient=jg.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(jg.tensor([1.0]))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        jg.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        with jg.no_grad():
            y = leaf(1.0) * 2
        y.sum().backward()


def test_backward_twice_needs_retain_graph():
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    x.grad = None
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(
        x.grad.numpy(), 2 * (np.exp([1, 2]) * ([1, 2] + np.ones(2))), rtol=1e-6
    )


def test_saved_arrays_released_after_backward():
    x = leaf(1.0, 2.0)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node.saved is None and node.out_data is None


def test_leaf_backward_on_itself():
    x = jg.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_nonleaf_grad_warning_and_retain_grad():
    x = leaf(1.0, 2.0)
    y = x * 2
    z = (y * y).sum()
    y.retain_grad()
    assert y.retains_grad
    z.backward()
    assert y.grad.tolist() == [4.0, 8.0]
    w = x * 3
    (w.sum()).backward()
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert w.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ = x.grad  # no warning on a leaf


def test_retain_grad_accumulates_over_two_paths():
    x = leaf(1.0)
    y = x * 2
    y.retain_grad()
    (y * 3 + y * 4).sum().backward()
    assert y.grad.item() == 7.0


def test_gradient_dtype_and_int_inputs():
    x = leaf(1.0, 2.0, dtype=jg.float64)
    i = jg.tensor([3, 4])
    (x * i).sum().backward()
    assert x.grad.dtype == jg.float64 and x.grad.tolist() == [3.0, 4.0]
    y = leaf(1.0)
    (y.double() * 2).sum().backward()
    assert y.grad.dtype == jg.float32 and y.grad.item() == 2.0


# ---------------------------------------------------------------- autograd.grad ----------
def test_autograd_grad_returns_tuple_and_leaves_grad_untouched():
    x = leaf(1.0, 2.0)
    y = leaf(3.0)
    out = (x * y).sum()
    gx, gy = jg.autograd.grad(out, (x, y))
    assert gx.tolist() == [3.0, 3.0] and gy.tolist() == [3.0]
    assert x.grad is None and y.grad is None
    (g,) = jg.autograd.grad((x * x).sum(), x)
    assert g.tolist() == [2.0, 4.0]


def test_autograd_grad_allow_unused():
    x, y = leaf(1.0), leaf(2.0)
    out = (x * 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        jg.autograd.grad(out, (x, y), retain_graph=True)
    gx, gy = jg.autograd.grad(out, (x, y), allow_unused=True)
    assert gx.item() == 2.0 and gy is None


def test_autograd_grad_grad_outputs_and_nonleaf_inputs():
    x = leaf(1.0, 2.0)
    h = x * x
    out = h * 3
    (gh,) = jg.autograd.grad(out, h, grad_outputs=jg.tensor([1.0, 2.0]), retain_graph=True)
    assert gh.tolist() == [3.0, 6.0]
    (gx,) = jg.autograd.grad(out, x, grad_outputs=jg.tensor([1.0, 1.0]))
    assert gx.tolist() == [6.0, 12.0]


def test_higher_order_to_third():
    x = jg.tensor(2.0, requires_grad=True)
    y = x**4
    (g1,) = jg.autograd.grad(y, x, create_graph=True)
    (g2,) = jg.autograd.grad(g1, x, create_graph=True)
    (g3,) = jg.autograd.grad(g2, x, create_graph=True)
    assert (g1.item(), g2.item(), g3.item()) == (32.0, 48.0, 48.0)
    assert g3.requires_grad
    (g4,) = jg.autograd.grad(g3, x)
    assert g4.item() == 24.0
    z = jg.tensor(3.0, requires_grad=True)
    (d,) = jg.autograd.grad(z * z, z, create_graph=True)
    (dd,) = jg.autograd.grad(d, z)
    assert dd.item() == 2.0


def test_backward_create_graph_makes_grad_differentiable():
    x = jg.tensor(3.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.item() == 27.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 18.0


def test_autograd_backward_function():
    x = leaf(1.0, 2.0)
    a, b = x * 2, x * 3
    jg.autograd.backward([a, b], [jg.tensor([1.0, 1.0]), jg.tensor([1.0, 0.0])])
    assert x.grad.tolist() == [5.0, 2.0]
    y = leaf(1.0)
    jg.autograd.backward((y * 4).sum())
    assert y.grad.item() == 4.0


def test_backward_inputs_argument():
    x, y = leaf(1.0), leaf(2.0)
    (x * y).sum().backward(inputs=[x])
    assert x.grad.item() == 2.0 and y.grad is None


# ---------------------------------------------------------------- grad mode --------------
def test_no_grad_enable_grad_set_grad_enabled():
    x = leaf(1.0)
    with jg.no_grad():
        assert not jg.is_grad_enabled()
        assert not (x * 2).requires_grad
        with jg.enable_grad():
            assert (x * 2).requires_grad
    assert jg.is_grad_enabled()

    @jg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with jg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert jg.is_grad_enabled()
    jg.set_grad_enabled(False)
    try:
        assert not jg.is_grad_enabled()
    finally:
        jg.set_grad_enabled(True)
    with jg.inference_mode():
        assert not (x * 2).requires_grad


def test_no_grad_is_thread_local():
    seen = {}
    started, release = threading.Event(), threading.Event()

    def worker():
        seen["enabled"] = jg.is_grad_enabled()
        seen["rg"] = (leaf(1.0) * 2).requires_grad
        started.set()
        release.wait(5)

    with jg.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        started.wait(5)
        assert not jg.is_grad_enabled()
        release.set()
        th.join()
    assert seen == {"enabled": True, "rg": True}


# ---------------------------------------------------------------- detach, data -----------
def test_detach_shares_storage():
    x = leaf(1.0, 2.0)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 10.0
    assert x[0].item() == 10.0
    y = x * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad


def test_data_for_manual_updates():
    w = leaf(1.0, 2.0)
    (w * w).sum().backward()
    w.data.sub_(0.5 * w.grad)
    assert w.tolist() == [0.0, 0.0]
    assert w.requires_grad and w.is_leaf
    with jg.no_grad():
        w -= 1.0
    assert w.tolist() == [-1.0, -1.0]
    w.data = jg.tensor([5.0, 6.0])
    assert w.tolist() == [5.0, 6.0] and w.requires_grad


# ---------------------------------------------------------------- in-place ---------------
def test_inplace_on_leaf_requiring_grad_raises():
    x = leaf(1.0)
    msg = "a leaf Variable that requires grad is being used in an in-place operation"
    for op in (
        lambda: x.add_(1),
        lambda: x.mul_(2),
        lambda: x.zero_(),
        lambda: x.fill_(1.0),
        lambda: x.copy_(jg.tensor([2.0])),
        lambda: x.clamp_(0, 1),
        lambda: x.__setitem__(0, 3.0),
        lambda: x.sub_(1),
        lambda: x.div_(2),
    ):
        with pytest.raises(RuntimeError, match=msg):
            op()
    with pytest.raises(RuntimeError, match=msg):
        x += 1
    with jg.no_grad():
        x.add_(1)
        x[0] = 7.0
    assert x.tolist() == [7.0]


def test_inplace_version_counter_and_saved_tensor_error():
    x = leaf(1.0, 2.0)
    a = x * 1
    v0 = a._vc[0]
    b = a.exp()  # saves its output
    c = a * a  # saves a
    a.add_(1)
    assert a._vc[0] == v0 + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_inplace_ops_track_gradients():
    x = leaf(1.0, 2.0)
    y = x * 2
    y.mul_(x)  # 2x^2
    y += 1
    y.sub_(x)  # 2x^2 + 1 - x
    assert y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 7.0]
    assert y.tolist() == [2.0, 7.0]


def test_inplace_through_basic_index_view_updates_base_gradient():
    x = leaf(1.0, 2.0, 3.0)
    y = x * 1
    v = y[1:]
    v.mul_(10)
    assert y.tolist() == [1.0, 20.0, 30.0]
    (y * jg.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 20.0, 30.0]


def test_setitem_with_grad():
    x = leaf(1.0, 2.0, 3.0)
    v = leaf(5.0)
    y = x * 1
    y[0] = v * 2
    y[jg.tensor([2])] = 0.0
    assert y.tolist() == [10.0, 2.0, 0.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0] and v.grad.tolist() == [2.0]
    t = jg.zeros(2, 3)
    t[:, 1] = jg.tensor([1.0, 2.0])
    t[t > 1.5] = -1.0
    assert t.tolist() == [[0, 1, 0], [0, -1, 0]]


def test_inplace_dtype_rules():
    i = jg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(0.5)
    f = jg.tensor([1.0, 2.0])
    f.add_(jg.tensor([1, 1]))
    assert f.tolist() == [2.0, 3.0] and f.dtype == jg.float32
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        jg.zeros(3).add_(jg.zeros(2, 3))


# ---------------------------------------------------------------- hooks ------------------
def test_register_hook_leaf_and_nonleaf():
    x = leaf(1.0, 2.0)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3
    y.register_hook(lambda g: g * 10)  # modifies the gradient flowing on
    y.sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [30.0, 30.0]
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert seen == [[30.0, 30.0]] and x.grad.tolist() == [1.0, 1.0]
    x.grad = None
    x.register_hook(lambda g: g * 2)
    x.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_register_hook_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        jg.zeros(1).register_hook(lambda g: g)


# ---------------------------------------------------------------- custom Function --------
class Cube(Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x**3 * k

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2 * ctx.k, None


def test_custom_function():
    x = leaf(1.0, 2.0)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    assert y.tolist() == [2.0, 16.0]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]
    with jg.no_grad():
        assert not Cube.apply(x, 1.0).requires_grad


def test_custom_function_second_order():
    x = jg.tensor(2.0, requires_grad=True)
    (g,) = jg.autograd.grad(Cube.apply(x, 1.0), x, create_graph=True)
    assert g.item() == 12.0
    (gg,) = jg.autograd.grad(g, x)
    assert gg.item() == 12.0  # d/dx 3x^2 = 6x


def test_custom_function_saved_tensor_modified():
    x = leaf(1.0)
    a = x * 1
    y = Cube.apply(a, 1.0)
    a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_custom_function_two_outputs():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = leaf(1.0)
    a, b = Split.apply(x)
    (a + b * 10).sum().backward()
    assert x.grad.item() == 32.0


# ---------------------------------------------------------------- graph lifetime ---------
def test_graph_nodes_freed():
    x = leaf(1.0, 2.0)
    y = (x * 2).exp().sum()
    ref = weakref.ref(y.grad_fn)
    y.backward()
    del y
    assert ref() is None
    z = (x * 2).sum()
    ref2 = weakref.ref(z.grad_fn)
    del z
    assert ref2() is None


def test_alpha_and_value_may_be_tensors():
    # optimizers pass 0-d tensors (scalar_input under a tracer); no bool(tensor) on them
    x = leaf(1.0, 2.0)
    a = jg.tensor(1.0)
    assert jg.add(x, x, alpha=a).tolist() == [2.0, 4.0]
    assert jg.sub(x, x, alpha=jg.tensor(0.5)).tolist() == [0.5, 1.0]
    assert jg.addcmul(x, x, x, value=jg.tensor(2.0)).tolist() == [3.0, 10.0]
    assert jg.addcdiv(x, x, x, value=jg.tensor(1.0)).tolist() == [2.0, 3.0]
    with jg.no_grad():
        y = x.detach().clone()
        y.add_(x, alpha=-jg.tensor(0.5))
        assert y.tolist() == [0.5, 1.0]


def test_add_alpha_under_trace():
    from jitgrad._trace_hooks import scalar_input

    w, g = jg.ones(3, requires_grad=True), {"lr": 0.1}

    def step(x):
        w.grad = None
        (w * x).sum().backward()
        with jg.no_grad():
            w.add_(w.grad, alpha=-scalar_input(g, "lr"))
        return w.sum()

    traced = jg.trace(step, backend="reference")
    traced(jg.ones(3))
    np.testing.assert_allclose(w.detach().numpy(), [0.9, 0.9, 0.9], rtol=1e-6)


def test_node_that_receives_no_gradient_is_skipped():
    x = leaf(1.0, 2.0)
    h = x * 2
    y = h * 3 + x  # h's node gets no gradient once h is detached in place
    h.detach_()
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_scalar_constants_are_not_shared_mutably():
    a = jg.ones(2) * 0.5
    b = jg.ones(2) * 0.5
    a.add_(1)
    assert b.tolist() == [0.5, 0.5]
    t = jg.zeros(3)
    t.fill_(2.5)
    t[0] = 7.0
    assert (jg.ones(1) * 2.5).item() == 2.5 and t.tolist() == [7.0, 2.5, 2.5]
    x = leaf(3.0)
    (x * 0.5).backward()
    (x * 0.5).backward()
    assert x.grad.item() == 1.0


def test_inplace_on_input_whose_data_no_gradient_needs():
    # like torch: `view * 3` reads only the constant for its gradient (core_bugs.md)
    x = jg.randn(3, 4, requires_grad=True)
    y = x * 1
    y[1:, 2] = y[1:, 1] * 3
    y.sum().backward()
    expected = np.ones((3, 4))
    expected[1:, 2] = 0
    expected[1:, 1] = 4
    np.testing.assert_allclose(x.grad.numpy(), expected)
    # but when the other operand needs a gradient, the modified data is still an error
    w = leaf(2.0)
    a = x * 1
    b = a * w
    a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()
