# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from cmp import compare_errors, run, snip
import numpy as np


def F(lib):
    return lib.func


@snip
def grad_basic(L):
    x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64)
    return F(L).grad(lambda x: (x.sin() * x).sum())(x)


@snip
def grad_grad(L):
    x = L.tensor(0.7, dtype=L.float64)
    f = lambda x: x.sin() * x**3
    g = F(L).grad
    return [g(g(f))(x), g(g(g(f)))(x)]


@snip
def grad_argnums(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    y = L.tensor([1.5, 2.0], dtype=L.float64)
    r = F(L).grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(x, y)
    return list(r)


@snip
def grad_aux(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    g, aux = F(L).grad(lambda x: ((x**2).sum(), x * 3), has_aux=True)(x)
    return [g, aux, float(aux.requires_grad), float(g.requires_grad)]


@snip
def grad_and_value_aux(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    g, (v, aux) = F(L).grad_and_value(lambda x: ((x**2).sum(), {"a": x * 3}), has_aux=True)(x)
    return [g, v, aux["a"]]


@snip
def grad_dict(L):
    p = {"w": L.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": L.tensor([0.5, -0.5])}
    x = L.tensor([1.0, -2.0])
    g = F(L).grad(lambda p, x: ((p["w"] @ x + p["b"]) ** 2).sum())(p, x)
    return [g["w"], g["b"]]


@snip
def grad_req(L):
    x = L.tensor([0.3, -1.2], requires_grad=True)
    g = F(L).grad(lambda x: (x**3).sum())(x)
    g.sum().backward()
    return [g, x.grad, float(g.requires_grad)]


@snip
def grad_unused(L):
    x = L.tensor([0.3, -1.2])
    y = L.tensor([1.0, 2.0])
    return F(L).grad(lambda x, y: (y**2).sum())(x, y)


@snip
def per_sample(L):
    L.manual_seed(0)
    model = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 2))
    w = [
        np.linspace(-1, 1, p.numel()).reshape(p.shape).astype(np.float32)
        for p in model.parameters()
    ]
    with L.no_grad():
        for p, v in zip(model.parameters(), w):
            p.copy_(L.tensor(v))
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    data = L.tensor(np.linspace(-2, 2, 15).reshape(5, 3).astype(np.float32))
    targets = L.tensor([0, 1, 1, 0, 1])

    def loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        t = target.unsqueeze(0)
        pred = F(L).functional_call(model, (params, buffers), (batch,))
        return L.nn.functional.cross_entropy(pred, t)

    g = F(L).vmap(F(L).grad(loss), in_dims=(None, None, 0, 0))(params, buffers, data, targets)
    return [g[k] for k in sorted(g)]


@snip
def ensemble(L):
    models = [L.nn.Linear(3, 2) for _ in range(4)]
    for i, m in enumerate(models):
        with L.no_grad():
            m.weight.copy_(L.tensor(np.full((2, 3), 0.1 * i, dtype=np.float32)))
            m.bias.fill_(i)
    params, buffers = F(L).stack_module_state(models)
    x = L.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))

    def f(p, b, x):
        return F(L).functional_call(models[0], (p, b), (x,))

    out = F(L).vmap(f, in_dims=(0, 0, None))(params, buffers, x)
    out2 = F(L).vmap(f)(params, buffers, x.expand(4, 2, 3))
    return [out, out2, float(params["weight"].requires_grad), float(params["weight"].is_leaf)]


@snip
def vjp_basic(L):
    x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64)
    out, fn = F(L).vjp(lambda x: x.sin() * 2, x)
    return [out, fn(L.ones(3, dtype=L.float64))[0]]


@snip
def vjp_multi(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    y = L.tensor([2.0, 3.0], dtype=L.float64)
    out, fn, aux = F(L).vjp(lambda x, y: ((x * y, x.exp()), y), x, y, has_aux=True)
    gx, gy = fn((L.ones(2, dtype=L.float64), L.tensor([1.0, 2.0], dtype=L.float64)))
    return [out[0], out[1], gx, gy, aux]


@snip
def jvp_basic(L):
    x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64)
    out, t = F(L).jvp(lambda x: x.sin() * x, (x,), (L.tensor([1.0, 0.5, -1.0], dtype=L.float64),))
    return [out, t]


@snip
def jvp_two(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    y = L.tensor([2.0, 3.0], dtype=L.float64)
    out, t = F(L).jvp(
        lambda x, y: (x * y).sum() + (x**2).sum(),
        (x, y),
        (L.ones(2, dtype=L.float64), L.ones(2, dtype=L.float64)),
    )
    return [out, t]


@snip
def jacrev_basic(L):
    x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64)
    W = L.tensor(np.arange(6.0).reshape(2, 3))
    return [F(L).jacrev(lambda x: (W @ x).tanh())(x), F(L).jacfwd(lambda x: (W @ x).tanh())(x)]


@snip
def jacrev_argnums(L):
    x = L.tensor([0.3, -1.2], dtype=L.float64)
    y = L.tensor([2.0, 3.0, 1.0], dtype=L.float64)
    j = F(L).jacrev(lambda x, y: (x[:, None] * y).sum(0), argnums=(0, 1))(x, y)
    j2 = F(L).jacfwd(lambda x, y: {"a": x * 2, "b": y.sum()}, argnums=1)(x, y)
    return [j[0], j[1], j2["a"], j2["b"]]


@snip
def hessian_basic(L):
    x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64)
    return [
        F(L).hessian(lambda x: (x.sin() * x.prod()).sum())(x),
        F(L).jacrev(F(L).jacrev(lambda x: (x**3).sum()))(x),
    ]


@snip
def hess_nn(L):
    L.manual_seed(0)
    W = L.tensor(np.linspace(-1, 1, 12).reshape(4, 3), dtype=L.float64)

    def f(x):
        return (W @ x).tanh().sum()

    x = L.tensor([0.1, 0.2, -0.3], dtype=L.float64)
    return [
        F(L).hessian(f)(x),
        F(L).vmap(F(L).jacrev(lambda x: (W @ x).tanh()))(
            x.expand(2, 3) * L.tensor([[1.0], [2.0]], dtype=L.float64)
        ),
    ]


@snip
def vmap_dims(L):
    x = L.tensor(np.arange(24.0).reshape(2, 3, 4))
    return [
        F(L).vmap(lambda a: a.sum(0), in_dims=1)(x),
        F(L).vmap(lambda a: a * 2, in_dims=2, out_dims=1)(x),
        F(L).vmap(lambda a, b: a @ b, in_dims=(0, None))(x, L.ones(4, 2, dtype=L.float64)),
        F(L).vmap(F(L).vmap(lambda a: a.sum()))(x),
    ]


@snip
def vmap_tuple_out(L):
    x = L.tensor(np.arange(6.0).reshape(2, 3))
    a, b = F(L).vmap(lambda a: (a * 2, a.sum()), out_dims=(1, 0))(x)
    c = F(L).vmap(lambda a: (a, 3), out_dims=(0, None))(x)
    return [a, b, c[0], float(c[1])]


@snip
def vmap_same(L):
    L.manual_seed(0)
    x = L.ones(3, 2)
    r = F(L).vmap(lambda a: a + L.rand(2), randomness="same")(x)
    return [float(bool((r[0] == r[1]).all())), float(r.shape[0])]


@snip
def vmap_kwargs(L):
    x = L.tensor(np.arange(6.0).reshape(2, 3))
    return F(L).vmap(lambda a, scale=1.0: a * scale)(x, scale=3.0)


@snip
def fcall_tie(L):
    class M(L.nn.Module):
        def __init__(s):
            super().__init__()
            s.a = L.nn.Linear(2, 2, bias=False)
            s.b = L.nn.Linear(2, 2, bias=False)
            s.b.weight = s.a.weight

        def forward(s, x):
            return s.b(s.a(x))

    m = M()
    x = L.ones(1, 2)
    w = L.tensor([[1.0, 2.0], [3.0, 4.0]])
    return [
        F(L).functional_call(m, {"a.weight": w}, x),
        F(L).functional_call(m, {"a.weight": w}, (x,), tie_weights=False).detach() * 0
        + F(L).functional_call(m, {"a.weight": w, "b.weight": w * 2}, (x,), tie_weights=False),
    ]


@snip
def fcall_grad_buffers(L):
    bn = L.nn.BatchNorm1d(3)
    x = L.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    rm = L.zeros(3)
    out = F(L).functional_call(bn, {"running_mean": rm}, (x,))
    return [out, rm, bn.running_mean]


@snip
def stateless_fc(L):
    m = L.nn.Linear(2, 1)
    return L.nn.utils.stateless.functional_call(
        m, {"weight": L.ones(1, 2), "bias": L.zeros(1)}, (L.tensor([[1.0, 2.0]]),)
    )


ERR = {
    "e_vec": lambda L: F(L).grad(lambda x: x)(L.randn(3)),
    "e_argnum": lambda L: F(L).grad(lambda x: x.sum(), argnums=1)(L.randn(3)),
    "e_tuple": lambda L: F(L).grad(lambda x: (x.sum(), 1))(L.randn(3)),
    "e_aux": lambda L: F(L).grad(lambda x: x.sum(), has_aux=True)(L.randn(3)),
    "e_int": lambda L: F(L).grad(lambda x: x.sum())(L.tensor(1)),
    "e_float": lambda L: F(L).grad(lambda x: x.sum())(3.0),
    "e_sizes": lambda L: F(L).vmap(lambda x, y: x + y)(L.randn(2), L.randn(3)),
    "e_indims_none": lambda L: F(L).vmap(lambda x: x, in_dims=None)(L.randn(3)),
    "e_ret_int": lambda L: F(L).vmap(lambda x: 1)(L.randn(3)),
    "e_indims_len": lambda L: F(L).vmap(lambda x: x, in_dims=(0, 0))(L.randn(3)),
    "e_indim_range": lambda L: F(L).vmap(lambda x: x, in_dims=2)(L.randn(3)),
    "e_outdim_range": lambda L: F(L).vmap(lambda x: x, out_dims=2)(L.randn(3)),
    "e_random": lambda L: F(L).vmap(lambda x: L.rand(1) + x)(L.randn(3)),
    "e_dropout": lambda L: F(L).vmap(lambda x: L.nn.functional.dropout(x, 0.5))(L.randn(3, 2)),
    "e_chunk": lambda L: F(L).vmap(lambda x: x, chunk_size=0)(L.randn(3)),
    "e_rand_flag": lambda L: F(L).vmap(lambda x: x, randomness="foo")(L.randn(3)),
    "e_0d": lambda L: F(L).vmap(lambda x: x)(L.tensor(1.0)),
    "e_allnone": lambda L: F(L).vmap(lambda x: x, in_dims=(None,))(L.randn(3)),
    "e_vjp_shape": lambda L: F(L).vjp(lambda x: x * 2, L.randn(3))[1](L.ones(2)),
    "e_vjp_struct": lambda L: F(L).vjp(lambda x: x * 2, L.randn(3))[1]((L.ones(3),)),
    "e_jvp_shape": lambda L: F(L).jvp(lambda x: x * 2, (L.randn(3),), (L.ones(2),)),
    "e_jvp_tuple": lambda L: F(L).jvp(lambda x: x * 2, L.randn(3), L.randn(3)),
    "e_jvp_struct": lambda L: F(L).jvp(lambda x: x * 2, (L.randn(3),), (L.ones(3), L.ones(3))),
    "e_vjp_int_out": lambda L: F(L).vjp(lambda x: (x * 2).long(), L.randn(3)),
    "e_vjp_none": lambda L: F(L).vjp(lambda x: None, L.randn(3)),
    "e_jacrev_chunk": lambda L: F(L).jacrev(lambda x: x, chunk_size=0)(L.randn(3)),
    "e_stack0": lambda L: F(L).stack_module_state([]),
    "e_stack_cls": lambda L: F(L).stack_module_state([L.nn.Linear(2, 3), L.nn.Tanh()]),
    "e_stack_mode": lambda L: F(L).stack_module_state(
        [L.nn.Linear(2, 3), L.nn.Linear(2, 3).eval()]
    ),
    "e_fc_strict": lambda L: F(L).functional_call(
        L.nn.Linear(2, 3), {"foo": L.ones(1)}, (L.ones(2),), strict=True
    ),
    "e_fc_strict2": lambda L: F(L).functional_call(
        L.nn.Linear(2, 3), {"weight": L.ones(3, 2)}, (L.ones(2),), strict=True
    ),
    "e_fc_dup": lambda L: F(L).functional_call(
        L.nn.Linear(2, 3), ({"weight": L.ones(3, 2)}, {"weight": L.ones(3, 2)}), (L.ones(2),)
    ),
    "e_fc_type": lambda L: F(L).functional_call(L.nn.Linear(2, 3), 3, (L.ones(2),)),
    "e_argnums_dup": lambda L: F(L).grad(lambda x, y: (x * y).sum(), argnums=(0, 0))(
        L.ones(2), L.ones(2)
    ),
    "e_argnums_empty": lambda L: F(L).grad(lambda x, y: (x * y).sum(), argnums=())(
        L.ones(2), L.ones(2)
    ),
    "e_argnums_float": lambda L: F(L).grad(lambda x, y: (x * y).sum(), argnums=0.5)(
        L.ones(2), L.ones(2)
    ),
    "e_item": lambda L: F(L).vmap(lambda x: x.item())(L.randn(3)),
    "e_nonT_indim": lambda L: F(L).vmap(lambda x, s: x * s)(L.randn(3), 2.0),
}
if __name__ == "__main__":
    import torch, jitgrad  # noqa: F401

    run()
    compare_errors(ERR)
