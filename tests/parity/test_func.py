"""jitgrad.func (torch.func): grad/vjp/jvp/jacrev/jacfwd/hessian/vmap/functional_call against
closed-form NumPy derivatives and float64 finite differences; torch's error messages."""
# ruff: noqa: E501  (the error table keeps one case a line)

import numpy as np
import pytest

import jitgrad
from jitgrad import func as F
from jitgrad import nn


def t64(a):
    return jitgrad.tensor(np.asarray(a, dtype=np.float64))


def fd_jac(f, x, eps=1e-6):
    """Central finite-difference Jacobian of NumPy ``f`` at ``x``: out.shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for i in range(x.size):
        d = np.zeros(x.size)
        d[i] = eps
        d = d.reshape(x.shape)
        cols.append((np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps))
    out = np.stack(cols, -1)
    return out.reshape(np.shape(f(x)) + x.shape)


X = np.array([0.3, -1.2, 2.0])


def test_grad_matches_closed_form_and_nests():
    x = t64(X)
    g = F.grad(lambda x: (x.sin() * x).sum())(x)
    np.testing.assert_allclose(g.numpy(), np.cos(X) * X + np.sin(X), rtol=1e-12)
    assert not g.requires_grad
    s = t64(0.7)
    f = lambda x: x.sin() * x**3  # noqa: E731
    d2 = F.grad(F.grad(f))(s)
    d3 = F.grad(F.grad(F.grad(f)))(s)
    v = 0.7
    # d/dx (x^3 sin x) = 3x^2 sin + x^3 cos; second and third derivatives in closed form
    ref2 = 6 * v * np.sin(v) + 6 * v**2 * np.cos(v) - v**3 * np.sin(v)
    ref3 = 6 * np.sin(v) + 18 * v * np.cos(v) - 9 * v**2 * np.sin(v) - v**3 * np.cos(v)
    np.testing.assert_allclose(d2.item(), ref2, rtol=1e-10)
    np.testing.assert_allclose(d3.item(), ref3, rtol=1e-10)


def test_grad_argnums_has_aux_pytrees_and_outer_autograd():
    x, y = t64([0.3, -1.2]), t64([1.5, 2.0])
    gx, gy = F.grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx.numpy(), np.exp([1.5, 2.0]))
    np.testing.assert_allclose(gy.numpy(), np.array([0.3, -1.2]) * np.exp([1.5, 2.0]))
    g, (v, aux) = F.grad_and_value(lambda x: ((x**2).sum(), {"a": x * 3}), has_aux=True)(x)
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())
    assert v.item() == pytest.approx(0.09 + 1.44) and not aux["a"].requires_grad
    p = {"w": t64([[1.0, 2.0], [3.0, 4.0]]), "b": t64([0.5, -0.5])}
    xv = np.array([1.0, -2.0])
    gp = F.grad(lambda p, x: ((p["w"] @ x + p["b"]) ** 2).sum())(p, t64(xv))
    r = 2 * (p["w"].numpy() @ xv + p["b"].numpy())
    np.testing.assert_allclose(gp["w"].numpy(), np.outer(r, xv))
    np.testing.assert_allclose(gp["b"].numpy(), r)
    # an input that requires grad: the result is differentiable by ordinary autograd
    xr = t64([0.3, -1.2]).requires_grad_()
    g = F.grad(lambda x: (x**3).sum())(xr)
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), 6 * np.array([0.3, -1.2]))
    # unused input: zeros
    z = F.grad(lambda x, y: (y**2).sum())(x, y)
    assert np.array_equal(z.numpy(), np.zeros(2))


def test_per_sample_gradients_vmap_grad_functional_call():
    jitgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    data = jitgrad.randn(5, 3, dtype=jitgrad.float64)
    target = jitgrad.tensor([0, 1, 1, 0, 1])

    def loss(params, sample, t):
        pred = F.functional_call(model, params, (sample.unsqueeze(0),))
        return nn.functional.cross_entropy(pred, t.unsqueeze(0))

    per = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, data, target)
    for i in range(5):
        model.zero_grad()
        nn.functional.cross_entropy(model(data[i : i + 1]), target[i : i + 1]).backward()
        for k, p in model.named_parameters():
            assert per[k].shape == (5,) + tuple(p.shape)
            np.testing.assert_allclose(per[k][i].numpy(), p.grad.numpy(), rtol=1e-10)


def test_vjp_jvp_jacobians_hessian_against_finite_differences():
    W = np.linspace(-1, 1, 6).reshape(2, 3)

    def f_np(x):
        return np.tanh(W @ x) * x[0]

    def f(x):
        return (t64(W) @ x).tanh() * x[0]

    x = t64(X)
    J = fd_jac(f_np, X)
    out, fn = F.vjp(f, x)
    np.testing.assert_allclose(out.numpy(), f_np(X))
    (vj,) = fn(t64([1.0, -2.0]))
    np.testing.assert_allclose(vj.numpy(), np.array([1.0, -2.0]) @ J, rtol=1e-7)
    tan = np.array([0.5, 1.0, -1.0])
    o2, jv = F.jvp(f, (x,), (t64(tan),))
    np.testing.assert_allclose(jv.numpy(), J @ tan, rtol=1e-7)
    np.testing.assert_allclose(F.jacrev(f)(x).numpy(), J, rtol=1e-7)
    np.testing.assert_allclose(F.jacfwd(f)(x).numpy(), J, rtol=1e-7)

    def s_np(x):
        return np.sum(np.sin(x) * np.prod(x))

    H = fd_jac(lambda z: fd_jac(s_np, z, 1e-4), X, 1e-4)
    Hj = F.hessian(lambda x: (x.sin() * x.prod()).sum())(x)
    assert Hj.shape == (3, 3)
    np.testing.assert_allclose(Hj.numpy(), H, rtol=1e-5, atol=1e-6)
    # argnums tuple and dict outputs: jac[out][arg]
    y = t64([2.0, 3.0, 1.0])
    j = F.jacrev(lambda a, b: {"p": a * 2, "s": (a[:, None] * b).sum()}, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(j["p"][0].numpy(), 2 * np.eye(3))
    assert j["p"][1].shape == (3, 3) and not j["p"][1].numpy().any()
    np.testing.assert_allclose(j["s"][1].numpy(), np.full(3, X.sum()))


def test_vmap_dims_nesting_and_randomness():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = t64(a)
    np.testing.assert_array_equal(F.vmap(lambda v: v.sum(0), in_dims=1)(x).numpy(), a.sum(0))
    r = F.vmap(lambda v: v * 2, in_dims=2, out_dims=1)(x)
    np.testing.assert_array_equal(r.numpy(), np.moveaxis(a, 2, 1) * 2)
    m = F.vmap(lambda v, w: v @ w, in_dims=(0, None))(x, t64(np.ones((4, 2))))
    np.testing.assert_array_equal(m.numpy(), a @ np.ones((4, 2)))
    np.testing.assert_array_equal(F.vmap(F.vmap(lambda v: v.sum()))(x).numpy(), a.sum(2))
    p, s = F.vmap(lambda v: (v, 3), out_dims=(0, None))(x)
    assert s == 3 and p.shape == (2, 3, 4)
    empty = F.vmap(lambda v: v.sum(0), in_dims=1)(jitgrad.ones(2, 0, 3))
    assert empty.shape == (0, 3)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        F.vmap(lambda v: jitgrad.rand(4) + v)(x)
    assert jitgrad.rand(1).shape == (1,)  # the generator is back after the error
    state = F.vmap(lambda v: jitgrad.get_rng_state().float().sum() + v.sum() * 0)(x)
    assert state.shape == (2,)  # reading the state is not a draw
    same = F.vmap(lambda v: v + jitgrad.rand(4), randomness="same")(jitgrad.zeros(3, 4))
    assert np.array_equal(same[0].numpy(), same[2].numpy())
    diff = F.vmap(lambda v: v + jitgrad.rand(4), randomness="different")(jitgrad.zeros(3, 4))
    assert not np.array_equal(diff[0].numpy(), diff[2].numpy())


def test_ensemble_stack_module_state_and_functional_call():
    models = [nn.Linear(3, 2) for _ in range(4)]
    params, buffers = F.stack_module_state(models)
    assert params["weight"].shape == (4, 2, 3) and params["weight"].is_leaf
    assert params["weight"].requires_grad and buffers == {}
    xs = jitgrad.randn(5, 3)
    out = F.vmap(lambda p, b, x: F.functional_call(models[0], (p, b), (x,)), in_dims=(0, 0, None))(
        params, buffers, xs
    )
    for i, m in enumerate(models):
        np.testing.assert_allclose(out[i].detach().numpy(), m(xs).detach().numpy(), rtol=1e-6)
    # the base model is untouched; tied weights follow the given one unless tie_weights=False
    seq = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    seq[1].weight = seq[0].weight
    w = jitgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = jitgrad.tensor([[1.0, -1.0]])
    wn = w.numpy()
    tied = F.functional_call(seq, {"0.weight": w}, x)
    np.testing.assert_allclose(tied.numpy(), x.numpy() @ wn.T @ wn.T)
    untied = F.functional_call(seq, {"0.weight": w}, (x,), tie_weights=False)
    w0 = seq[0].weight.detach().numpy()
    np.testing.assert_allclose(untied.detach().numpy(), x.numpy() @ wn.T @ w0.T, rtol=1e-6)
    assert seq[0].weight is seq[1].weight and isinstance(seq[0].weight, nn.Parameter)
    with pytest.warns(FutureWarning, match="deprecated"):
        r = nn.utils.stateless.functional_call(
            nn.Linear(2, 1), {"weight": jitgrad.ones(1, 2), "bias": jitgrad.zeros(1)}, (x,)
        )
    assert r.item() == 0.0


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda: F.grad(lambda x: x)(jitgrad.ones(3)), RuntimeError, "got tensor with 1 dims"),
        (lambda: F.grad(lambda x: x.sum(), argnums=1)(jitgrad.ones(3)), RuntimeError, "Got argnum=1, but only 1 positional inputs"),
        (lambda: F.grad(lambda x: x.sum(), has_aux=True)(jitgrad.ones(3)), RuntimeError, r"should be a tuple: \(output, aux\)"),
        (lambda: F.grad(lambda x: x.sum())(jitgrad.tensor(1)), RuntimeError, "floating point dtype"),
        (lambda: F.grad(lambda x: x.sum())(3.0), ValueError, "must be Tensor, got <class 'float'>"),
        (lambda: F.grad(lambda x, y: x.sum(), argnums=(0, 0))(jitgrad.ones(1), jitgrad.ones(1)), RuntimeError, "must be unique"),
        (lambda: F.vmap(lambda x, y: x + y)(jitgrad.ones(2), jitgrad.ones(3)), ValueError, r"got sizes \[2, 3\]"),
        (lambda: F.vmap(lambda x: 1)(jitgrad.ones(3)), ValueError, "must only return Tensors"),
        (lambda: F.vmap(lambda x: x, in_dims=2)(jitgrad.ones(3)), ValueError, "expected in_dim to satisfy -1 <= in_dim < 1"),
        (lambda: F.vmap(lambda x: x, in_dims=(None,))(jitgrad.ones(3)), ValueError, "at least one Tensor"),
        (lambda: F.vmap(lambda x: x, chunk_size=0), ValueError, "chunk_size should be None or greater than 0"),
        (lambda: F.vmap(lambda x: x, randomness="foo"), RuntimeError, "Got foo"),
        (lambda: F.vjp(lambda x: x * 2, jitgrad.ones(3))[1]((jitgrad.ones(3),)), RuntimeError, r"cotangents: \(\*,\), primal output: \*"),
        (lambda: F.jvp(lambda x: x, jitgrad.ones(3), jitgrad.ones(3)), RuntimeError, "Expected primals to be a tuple"),
        (lambda: F.jvp(lambda x: x, (jitgrad.ones(3),), (jitgrad.ones(2),)), RuntimeError, r"size \[3\] while the given forward gradient is of size \[2\]"),
        (lambda: F.vmap(lambda x: x * 2, out_dims=None)(jitgrad.arange(3.0)), ValueError, "can not return a BatchedTensor when out_dim is None"),
        (lambda: F.vmap(lambda x: x, out_dims="a")(jitgrad.ones(3)), ValueError, "`out_dims` must be an int, None or a python collection"),
        (lambda: F.vmap(lambda: 1)(), ValueError, "got no inputs"),
        (lambda: F.stack_module_state([]), RuntimeError, "Expected at least one model"),
        (lambda: F.functional_call(nn.Linear(2, 3), {"foo": jitgrad.ones(1)}, jitgrad.ones(2), strict=True), RuntimeError, "Unexpected key\\(s\\): 'foo'.\n\tMissing key\\(s\\): 'bias', 'weight'."),
        (lambda: F.functional_call(nn.Linear(2, 3), ({"weight": jitgrad.ones(3, 2)}, {"weight": jitgrad.ones(3, 2)}), jitgrad.ones(2)), ValueError, "appeared in multiple dictionaries"),
    ],
)  # fmt: skip
def test_errors_as_torch(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_forward_ad_dual_tensors():
    fwad = jitgrad.autograd.forward_ad
    p, t = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0, 2, 6).reshape(2, 3)
    tan = t64(t)
    with fwad.dual_level():
        d = fwad.make_dual(t64(p), tan)
        assert fwad.unpack_dual(d).tangent is tan
        out = d**2 + t64(p).sin() * d.exp()
        r = fwad.unpack_dual(out)
        assert fwad.unpack_dual(jitgrad.ones(2)).tangent is None
        model = nn.Linear(3, 2).double()
        w = {k: fwad.make_dual(v, jitgrad.ones_like(v)) for k, v in model.named_parameters()}
        jm = fwad.unpack_dual(F.functional_call(model, w, (t64(p),))).tangent
        with pytest.raises(RuntimeError, match="Nested forward mode AD"):
            fwad.enter_dual_level()
    np.testing.assert_allclose(r.tangent.numpy(), (2 * p + np.sin(p) * np.exp(p)) * t)
    np.testing.assert_allclose(jm.numpy(), np.repeat(p.sum(1, keepdims=True) + 1, 2, 1))
    assert fwad.unpack_dual(out).tangent is None  # the level is closed
    with pytest.raises(RuntimeError, match="no level exists"):
        fwad.make_dual(t64(p), tan)


def test_linearize_functionalize_batch_norm_replacement():
    x = t64([0.5, 1.0])
    out, jvp_fn = F.linearize(lambda x: x.sin() * x, x)
    np.testing.assert_allclose(out.numpy(), np.sin([0.5, 1.0]) * [0.5, 1.0])
    v = np.array([1.0, 2.0])
    ref = (np.cos([0.5, 1.0]) * [0.5, 1.0] + np.sin([0.5, 1.0])) * v
    np.testing.assert_allclose(jvp_fn(t64(v)).numpy(), ref)
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert F.replace_all_batch_norm_modules_(m) is m
    assert m[1].running_mean is None and not m[1].track_running_stats
    assert sorted(m.state_dict()) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    m.eval()  # no running stats: batch statistics even in eval
    y = m(jitgrad.tensor([[1.0, 2.0], [3.0, -1.0]]))
    np.testing.assert_allclose(y.detach().numpy().mean(0), np.zeros(3), atol=1e-6)
    f = F.functionalize(lambda t: t.add_(1))
    assert f(jitgrad.ones(2)).numpy().tolist() == [2.0, 2.0]


def test_traced_per_sample_step_matches_eager():
    """vmap(grad(...)) + functional_call + jacrev inside @jitgrad.trace (reference backend)."""

    def run(traced):
        jitgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, x, y):
            out = F.functional_call(model, p, (x.unsqueeze(0),))
            return nn.functional.cross_entropy(out, y.unsqueeze(0))

        def step(params, x, y):
            g = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, x, y)
            new = {k: params[k] - 0.1 * g[k].clamp(-1, 1).mean(0) for k in params}
            return new, F.jacrev(lambda p: loss(p, x[0], y[0]))(params)["0.bias"]

        if traced:
            step = jitgrad.trace(step, backend="reference")
        rs = np.random.RandomState(0)
        out = []
        for _ in range(4):
            x = jitgrad.tensor(rs.randn(5, 3).astype(np.float32))
            y = jitgrad.tensor(rs.randint(0, 2, 5))
            params, j = step(params, x, y)
            out.append([params[k].numpy().copy() for k in sorted(params)] + [j.numpy().copy()])
        return out, step

    eager, _ = run(False)
    traced, st = run(True)
    assert st.stats["compiled_calls"] == 2
    for a, b in zip(eager, traced):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_forward_ad_custom_function_jvp():
    fwad = jitgrad.autograd.forward_ad

    class Exp(jitgrad.autograd.Function):  # the forward-AD tutorial's Fn: jvp, no backward
        @staticmethod
        def forward(ctx, x):
            ctx.result = x.exp()
            return ctx.result

        @staticmethod
        def jvp(ctx, t):
            return t * ctx.result

    class Sq(jitgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_forward(x)
            return x * x

        @staticmethod
        def jvp(ctx, t):
            (x,) = ctx.saved_tensors
            return 2 * x * t

    p, t = np.array([0.1, -0.4, 0.7]), np.array([1.0, 0.5, -2.0])
    with fwad.dual_level():
        d = fwad.make_dual(t64(p), t64(t))
        e = Exp.apply(d)
        z = Sq.apply(e) + d.sin()
        np.testing.assert_allclose(fwad.unpack_dual(e).tangent.numpy(), np.exp(p) * t)
        ref = 2 * np.exp(2 * p) * t + np.cos(p) * t
        np.testing.assert_allclose(fwad.unpack_dual(z).tangent.numpy(), ref)
