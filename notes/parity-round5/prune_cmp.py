# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import torch.nn.utils.prune
from cmp import compare_errors, run, snip
import numpy as np


def net(L):
    class LeNet(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = L.nn.Conv2d(1, 3, 3)
            self.fc1 = L.nn.Linear(12, 5)
            self.fc2 = L.nn.Linear(5, 2)

        def forward(self, x):
            x = L.nn.functional.relu(self.conv1(x))
            x = x.view(x.shape[0], -1)
            return self.fc2(L.nn.functional.relu(self.fc1(x)))

    m = LeNet()
    rs = np.random.RandomState(0)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    return m


@snip
def l1(L):
    m = net(L)
    P = L.nn.utils.prune
    P.l1_unstructured(m.conv1, "bias", amount=1)
    P.l1_unstructured(m.fc1, name="weight", amount=0.3)
    names = sorted(n for n, _ in m.fc1.named_parameters()) + sorted(
        n for n, _ in m.fc1.named_buffers()
    )
    x = L.tensor(np.random.RandomState(1).randn(2, 1, 4, 4).astype(np.float32))
    out = m(x)
    out.sum().backward()
    return [
        m.conv1.bias_mask,
        m.fc1.weight_mask,
        m.fc1.weight,
        out,
        m.fc1.weight_orig.grad,
        len(names),
        float(P.is_pruned(m)),
        float(len(m.fc1._forward_pre_hooks)),
    ]


@snip
def ln_iter(L):
    m = net(L)
    P = L.nn.utils.prune
    P.l1_unstructured(m.fc1, "weight", amount=0.25)
    P.ln_structured(m.fc1, name="weight", amount=0.5, n=2, dim=0)
    P.ln_structured(m.conv1, name="weight", amount=1, n=1, dim=0)
    h = [hh for hh in m.fc1._forward_pre_hooks.values()]
    h = h[0][0] if isinstance(h[0], tuple) else h[0]
    hist = [type(x).__name__ for x in h]
    return [
        m.fc1.weight_mask,
        m.conv1.weight_mask,
        float(len(hist)),
        float(hist == ["L1Unstructured", "LnStructured"]),
    ]


@snip
def remove_(L):
    m = net(L)
    P = L.nn.utils.prune
    P.l1_unstructured(m.fc1, "weight", amount=0.5)
    P.remove(m.fc1, "weight")
    names = sorted(n for n, _ in m.fc1.named_parameters())
    return [
        m.fc1.weight,
        float(names == ["bias", "weight"]),
        float(isinstance(m.fc1.weight, L.nn.Parameter)),
        float(P.is_pruned(m)),
        float(len(m.fc1._buffers)),
    ]


@snip
def global_(L):
    m = net(L)
    P = L.nn.utils.prune
    params = ((m.conv1, "weight"), (m.fc1, "weight"), (m.fc2, "weight"))
    P.global_unstructured(params, pruning_method=P.L1Unstructured, amount=0.2)
    tot = sum(float((mm.weight == 0).sum()) for mm, _ in params)
    sd = sorted(m.state_dict().keys())
    return [m.conv1.weight_mask, m.fc1.weight_mask, m.fc2.weight_mask, tot, float(len(sd))]


@snip
def custom(L):
    m = net(L)
    P = L.nn.utils.prune

    class FooBarPruningMethod(P.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    def foobar_unstructured(module, name):
        FooBarPruningMethod.apply(module, name)
        return module

    foobar_unstructured(m.fc1, name="bias")
    P.l1_unstructured(m.fc1, "bias", amount=1)
    return [m.fc1.bias_mask, m.fc1.bias]


@snip
def importance(L):
    m = net(L)
    P = L.nn.utils.prune
    sc = L.tensor(np.arange(60, dtype=np.float32).reshape(5, 12)[::-1].copy())
    P.l1_unstructured(m.fc1, "weight", amount=10, importance_scores=sc)
    P.custom_from_mask(m.fc2, "bias", mask=L.tensor([0.0, 1.0]))
    P.identity(m.fc2, "weight")
    return [m.fc1.weight_mask, m.fc2.bias, m.fc2.weight_mask]


@snip
def random_(L):
    m = net(L)
    P = L.nn.utils.prune
    P.random_unstructured(m.fc1, "weight", amount=0.3)
    P.random_structured(m.conv1, "weight", amount=2, dim=0)
    return [
        float((m.fc1.weight_mask == 0).sum()),
        float((m.conv1.weight_mask.sum((1, 2, 3)) == 0).sum()),
    ]


@snip
def state_dict_load(L):
    m = net(L)
    P = L.nn.utils.prune
    P.l1_unstructured(m.fc1, "weight", amount=0.3)
    m2 = net(L)
    P.identity(m2.fc1, "weight")
    m2.load_state_dict(m.state_dict())
    x = L.ones(1, 1, 4, 4)
    return [m2(x), m(x)]


ERR = {
    "amount_neg": lambda L: L.nn.utils.prune.l1_unstructured(
        L.nn.Linear(2, 2), "weight", amount=-1
    ),
    "amount_big": lambda L: L.nn.utils.prune.l1_unstructured(
        L.nn.Linear(2, 2), "weight", amount=1.5
    ),
    "amount_int_big": lambda L: L.nn.utils.prune.l1_unstructured(
        L.nn.Linear(2, 2), "weight", amount=5
    ),
    "amount_type": lambda L: L.nn.utils.prune.l1_unstructured(
        L.nn.Linear(2, 2), "weight", amount="a"
    ),
    "struct_1d": lambda L: L.nn.utils.prune.ln_structured(
        L.nn.Linear(2, 2), "bias", amount=1, n=2, dim=0
    ),
    "struct_dim": lambda L: L.nn.utils.prune.ln_structured(
        L.nn.Linear(2, 2), "weight", amount=1, n=2, dim=2
    ),
    "remove_unpruned": lambda L: L.nn.utils.prune.remove(L.nn.Linear(2, 2), "weight"),
    "global_type": lambda L: L.nn.utils.prune.global_unstructured(
        [(L.nn.Linear(2, 3), "weight")], pruning_method=L.nn.utils.prune.LnStructured, amount=1, n=1
    ),
    "scores_shape": lambda L: L.nn.utils.prune.l1_unstructured(
        L.nn.Linear(2, 2), "weight", amount=1, importance_scores=L.ones(3)
    ),
    "no_attr": lambda L: L.nn.utils.prune.l1_unstructured(L.nn.Linear(2, 2), "foo", amount=1),
}
if __name__ == "__main__":
    import torch, jitgrad, torch.nn.utils.prune  # noqa: F401

    run()
    compare_errors(ERR)
