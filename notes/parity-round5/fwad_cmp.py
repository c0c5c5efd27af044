# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from cmp import compare_errors, run, snip
import numpy as np


def fw(L):
    import importlib

    return importlib.import_module(L.__name__ + ".autograd.forward_ad")


@snip
def basic(L):
    A = fw(L)
    p = L.tensor(np.linspace(-1, 1, 12).reshape(3, 4))
    t = L.tensor(np.linspace(0, 2, 12).reshape(3, 4))
    with A.dual_level():
        d = A.make_dual(p, t)
        same = A.unpack_dual(d).tangent is t
        out = d**2 + p.sin() * d.exp()
        r = A.unpack_dual(out)
        plain = A.unpack_dual(L.ones(2)).tangent is None
    after = A.unpack_dual(out).tangent is None
    return [r.primal, r.tangent, float(same), float(plain), float(after)]


@snip
def module(L):
    A = fw(L)
    L.manual_seed(0)
    model = L.nn.Linear(5, 3).double()
    with L.no_grad():
        model.weight.copy_(L.tensor(np.linspace(-1, 1, 15).reshape(3, 5)))
        model.bias.copy_(L.tensor([0.1, 0.2, 0.3]))
    x = L.tensor(np.linspace(-2, 2, 20).reshape(4, 5))
    params = {n: p for n, p in model.named_parameters()}
    tang = {n: L.ones_like(p) * 0.5 for n, p in params.items()}
    with A.dual_level():
        dp = {n: A.make_dual(p, tang[n]) for n, p in params.items()}
        out = L.func.functional_call(model, dp, (x,))
        j1 = A.unpack_dual(out).tangent
        for n, p in params.items():
            delattr(model, n)
            setattr(model, n, A.make_dual(p, tang[n]))
        j2 = A.unpack_dual(model(x).tanh()).tangent
    return [j1, j2]


ERR = {
    "nolevel": lambda L: fw(L).make_dual(L.ones(2), L.ones(2)),
    "shape": lambda L: [fw(L).make_dual(L.ones(2), L.ones(3)) for _ in [fw(L).enter_dual_level()]],
    "int": lambda L: [
        fw(L).make_dual(L.tensor([1, 2]), L.ones(2)) for _ in [fw(L).enter_dual_level()]
    ],
}
if __name__ == "__main__":
    import torch, jitgrad, torch.autograd.forward_ad  # noqa: F401

    run()
    compare_errors(ERR, after=lambda L: fw(L).exit_dual_level())
