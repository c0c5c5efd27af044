# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round6.md.

nn.utils.parametrizations.orthogonal and linalg.householder_product side by side."""

import numpy as np, torch, jitgrad


def run(L, shape, omap, steps=2):
    rs = np.random.RandomState(0)
    lin = L.nn.Linear(shape[1], shape[0], bias=False)
    with L.no_grad():
        lin.weight.copy_(L.tensor(rs.randn(*shape)))
    L.nn.utils.parametrizations.orthogonal(lin, orthogonal_map=omap)
    w0 = lin.weight.detach().clone()
    opt = L.optim.SGD(lin.parameters(), lr=0.1)
    x = L.tensor(rs.randn(3, shape[1]))
    for i in range(steps):
        opt.zero_grad()
        lin(x).sin().sum().backward()
        opt.step()
    W = lin.weight
    n = min(shape)
    g = W @ W.mT if shape[0] <= shape[1] else W.mT @ W
    ok = bool(L.allclose(g, L.eye(n, dtype=L.float64), atol=1e-10))
    names = sorted(k for k, _ in lin.named_parameters()) + sorted(k for k, _ in lin.named_buffers())
    return w0.numpy(), W.detach().numpy(), ok, names


for L in (torch, jitgrad):
    L.set_default_dtype(L.float64)
for shape, omap in (
    ((3, 3), None),
    ((3, 3), "cayley"),
    ((3, 3), "householder"),
    ((4, 2), None),
    ((2, 4), "matrix_exp"),
):
    a, b = run(torch, shape, omap), run(jitgrad, shape, omap)
    same = [np.allclose(a[0], b[0]), np.allclose(a[1], b[1])]
    print(
        shape,
        omap,
        "w0/w same:",
        same,
        "orthogonal:",
        a[2],
        b[2],
        "names",
        a[3] == b[3],
        b[3] if a[3] != b[3] else "",
    )

rs = np.random.RandomState(1)
A = rs.randn(2, 4, 3)
tau = rs.rand(2, 3)
res = []
for L in (torch, jitgrad):
    a = L.tensor(A, requires_grad=True)
    t = L.tensor(tau, requires_grad=True)
    q = L.linalg.householder_product(a, t)
    (q * L.tensor(np.arange(24.0).reshape(2, 4, 3))).sum().backward()
    res.append([q.detach().numpy(), a.grad.numpy(), t.grad.numpy()])
print("householder_product", [np.allclose(x, y) for x, y in zip(*res)])
