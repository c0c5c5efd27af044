# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from cmp import snip, run
import numpy as np


def F(L):
    return L.func


def setup(L):
    D = 4
    w = L.tensor(np.linspace(-1, 1, D * D).reshape(D, D))
    b = L.tensor(np.linspace(0, 1, D))
    x = L.tensor(np.linspace(-0.5, 0.7, D))

    def predict(weight, bias, x):
        return L.nn.functional.linear(x, weight, bias).tanh()

    return w, b, x, predict


@snip
def jac_tutorial(L):
    w, b, x, predict = setup(L)
    f = F(L)
    j1 = f.jacrev(predict, argnums=2)(w, b, x)
    j2 = f.jacfwd(predict, argnums=2)(w, b, x)
    jw, jb = f.jacrev(predict, argnums=(0, 1))(w, b, x)
    xs = L.tensor(np.linspace(-1, 1, 12).reshape(3, 4))
    bj = f.vmap(f.jacrev(predict, argnums=2), in_dims=(None, None, 0))(w, b, xs)
    bj2 = f.jacrev(predict, argnums=2)(w, b, xs).sum(2)  # tutorial's sum trick
    h = f.hessian(predict, argnums=2)(w, b, x)
    h2 = f.jacfwd(f.jacfwd(predict, argnums=2), argnums=2)(w, b, x)
    return [j1, j2, jw, jb, bj, bj2, h, h2]


@snip
def hvp_variants(L):
    f = F(L)

    def g(x):
        return x.sin().sum()

    x = L.tensor(np.linspace(-1, 1, 5))
    t = L.tensor(np.linspace(2, 3, 5))
    fwd_rev = f.jvp(f.grad(g), (x,), (t,))[1]
    _, vjp_fn = f.vjp(f.grad(g), x)
    rev_rev = vjp_fn(t)[0]
    return [fwd_rev, rev_rev]


@snip
def grad_of_vmap(L):
    f = F(L)
    x = L.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    return f.grad(lambda x: f.vmap(lambda r: (r**2).sum())(x).sum())(x)


@snip
def jac_model_params(L):
    f = F(L)
    L.manual_seed(0)
    m = L.nn.Linear(3, 2).double()
    with L.no_grad():
        m.weight.copy_(L.tensor(np.linspace(-1, 1, 6).reshape(2, 3)))
        m.bias.fill_(0.1)
    params = dict(m.named_parameters())
    x = L.tensor([[1.0, 2.0, 3.0]], dtype=L.float64)
    j = f.jacrev(lambda p, x: f.functional_call(m, p, (x,)))(params, x)
    return [j["weight"], j["bias"], float(j["weight"].requires_grad)]


@snip
def vmap_dict_in(L):
    f = F(L)
    d = {"a": L.tensor(np.arange(6.0).reshape(2, 3)), "b": L.tensor([1.0, 2.0])}
    return f.vmap(lambda d: d["a"] * d["b"])(d)


@snip
def vmap_in_dims_nested(L):
    f = F(L)
    a = L.tensor(np.arange(6.0).reshape(2, 3))
    b = L.tensor(np.arange(6.0).reshape(3, 2))
    return f.vmap(lambda t: t[0] + t[1], in_dims=((0, 1),))((a, b))


@snip
def vmap_neg_dims(L):
    f = F(L)
    a = L.tensor(np.arange(6.0).reshape(2, 3))
    return [
        f.vmap(lambda r: r * 2, in_dims=-1, out_dims=-1)(a),
        f.vmap(lambda r: r.sum(), in_dims=-1)(a),
    ]


@snip
def grad_nondiff_arg(L):
    f = F(L)
    x = L.tensor([1.0, 2.0])
    idx = L.tensor([1, 0])
    return f.grad(lambda x, i: (x[i] * L.tensor([1.0, 3.0])).sum())(x, idx)


@snip
def jvp_aux(L):
    f = F(L)
    x = L.tensor([1.0, 2.0])
    o, t, a = f.jvp(lambda x: (x.exp(), x.sum()), (x,), (L.ones(2),), has_aux=True)
    return [o, t, a]


@snip
def jacrev_aux(L):
    f = F(L)
    x = L.tensor([1.0, 2.0])
    j, a = f.jacrev(lambda x: (x.exp(), x * 2), has_aux=True)(x)
    return [j, a, float(a.requires_grad)]


@snip
def grad_kwargs(L):
    f = F(L)
    x = L.tensor([1.0, 2.0])
    return f.grad(lambda x, scale=1.0: (x * scale).sum())(x, scale=3.0)


@snip
def vmap_scalar_out_none(L):
    f = F(L)
    x = L.tensor([1.0, 2.0, 3.0])
    return f.vmap(lambda r: (r * 2, L.tensor(5.0)), out_dims=(0, None))(x)


@snip
def vmap_batchnorm_eval(L):
    f = F(L)
    bn = L.nn.BatchNorm1d(3).eval()
    x = L.tensor(np.linspace(-1, 1, 12).reshape(4, 3))
    return f.vmap(lambda r: bn(r.unsqueeze(0)))(x)


@snip
def per_sample_cnn(L):
    f = F(L)
    L.manual_seed(0)
    m = L.nn.Sequential(
        L.nn.Conv2d(1, 2, 3), L.nn.ReLU(), L.nn.Flatten(), L.nn.Linear(2 * 2 * 2, 3)
    )
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(np.sin(np.arange(p.numel()) + i).reshape(p.shape).astype(np.float32)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    x = L.tensor(np.cos(np.arange(3 * 16)).reshape(3, 1, 4, 4).astype(np.float32))
    y = L.tensor([0, 2, 1])

    def loss(p, xb, yb):
        return L.nn.functional.cross_entropy(
            f.functional_call(m, p, (xb.unsqueeze(0),)), yb.unsqueeze(0)
        )

    g = f.vmap(f.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return [g[k] for k in sorted(g)]

    run()


@snip
def hessian_dict(L):
    f = F(L)
    p = {"a": L.tensor([0.5, -1.0], dtype=L.float64), "b": L.tensor(2.0, dtype=L.float64)}
    h = f.hessian(lambda p: (p["a"].sin() * p["b"] ** 3).sum())(p)
    return [h["a"]["a"], h["a"]["b"], h["b"]["a"], h["b"]["b"]]


@snip
def jacrev_tuple_out(L):
    f = F(L)
    x = L.tensor([0.5, -1.0], dtype=L.float64)
    y = L.tensor([2.0, 3.0, 4.0], dtype=L.float64)
    j = f.jacrev(lambda x, y: (x.sum() * y, (x**2).prod()), argnums=(0, 1))(x, y)
    return [j[0][0], j[0][1], j[1][0], j[1][1]]


@snip
def grad_under_no_grad(L):
    f = F(L)
    x = L.tensor([0.5, -1.0])
    with L.no_grad():
        g = f.grad(lambda x: (x**3).sum())(x)
        o, fn = f.vjp(lambda x: x.exp(), x)
        v = fn(L.ones(2))[0]
    return [g, v, float(g.requires_grad)]


@snip
def vmap_grad_model_buffers(L):
    f = F(L)
    m = L.nn.Sequential(L.nn.Linear(3, 2), L.nn.BatchNorm1d(2)).double().eval()
    with L.no_grad():
        m[0].weight.copy_(L.tensor(np.linspace(-1, 1, 6).reshape(2, 3)))
        m[1].running_mean.fill_(0.3)
        m[0].bias.fill_(0.1)
    p = {k: v.detach() for k, v in m.named_parameters()}
    b = {k: v.detach() for k, v in m.named_buffers()}
    x = L.tensor(np.linspace(-1, 1, 12).reshape(4, 3))
    g = f.vmap(
        f.grad(lambda p, b, x: f.functional_call(m, (p, b), (x.unsqueeze(0),)).sum()),
        in_dims=(None, None, 0),
    )(p, b, x)
    return [g[k] for k in sorted(g)]


if __name__ == "__main__":
    run()
