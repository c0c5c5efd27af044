"""nn.utils.prune as torch's pruning tutorial uses it: masks against NumPy rankings,
reparametrization (weight_orig, weight_mask, the forward pre-hook), iteration, remove, global."""
# ruff: noqa: E501  (the error table keeps one case a line)

import numpy as np
import pytest

import jitgrad
from jitgrad import nn
from jitgrad.nn.utils import prune


def _lin(o, i, seed=0):
    m = nn.Linear(i, o)
    rs = np.random.RandomState(seed)
    with jitgrad.no_grad():
        m.weight.copy_(jitgrad.tensor(rs.randn(o, i).astype(np.float32)))
        m.bias.copy_(jitgrad.tensor(rs.randn(o).astype(np.float32)))
    return m


def test_l1_unstructured_reparametrizes_and_masks_gradients():
    m = _lin(4, 5)
    w = m.weight.detach().numpy().copy()
    prune.l1_unstructured(m, "weight", amount=0.3)  # round(0.3 * 20) = 6 smallest |w|
    ref = np.ones(20)
    ref[np.argsort(np.abs(w).ravel())[:6]] = 0
    np.testing.assert_array_equal(m.weight_mask.numpy().ravel(), ref)
    assert sorted(n for n, _ in m.named_parameters()) == ["bias", "weight_orig"]
    assert [n for n, _ in m.named_buffers()] == ["weight_mask"]
    assert "weight" not in m._parameters and prune.is_pruned(m)
    np.testing.assert_array_equal(m.weight.detach().numpy(), w * ref.reshape(4, 5))
    x = jitgrad.ones(2, 5)
    m(x).sum().backward()
    np.testing.assert_array_equal(m.weight_orig.grad.numpy(), 2 * ref.reshape(4, 5))
    # the pre-hook recomputes weight from weight_orig before each call
    with jitgrad.no_grad():
        m.weight_orig.fill_(1.0)
    np.testing.assert_allclose(
        m(x).detach().numpy(),
        (ref.reshape(4, 5).sum(1) + m.bias.detach().numpy())[None].repeat(2, 0),
    )


def test_iterative_structured_then_remove():
    m = _lin(4, 6, seed=1)
    w = m.weight.detach().numpy().copy()
    prune.l1_unstructured(m, "weight", amount=4)
    prune.ln_structured(m, "weight", amount=0.5, n=2, dim=0)
    hook = [h[0] if isinstance(h, tuple) else h for h in m._forward_pre_hooks.values()]
    assert len(hook) == 1 and isinstance(hook[0], prune.PruningContainer)
    assert [type(h).__name__ for h in hook[0]] == ["L1Unstructured", "LnStructured"]
    first = np.ones(24)
    first[np.argsort(np.abs(w).ravel())[:4]] = 0
    first = first.reshape(4, 6)
    rows = np.argsort(-np.linalg.norm(w * first, axis=1))[:2]  # keep the 2 rows of largest norm
    ref = np.zeros((4, 6))
    ref[rows] = first[rows]
    np.testing.assert_array_equal(m.weight_mask.numpy(), ref)
    prune.remove(m, "weight")
    assert isinstance(m.weight, nn.Parameter) and not prune.is_pruned(m)
    assert sorted(n for n, _ in m.named_parameters()) == ["bias", "weight"]
    np.testing.assert_array_equal(m.weight.detach().numpy(), w * ref)
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(m, "weight")


def test_global_unstructured_and_custom_method():
    a, b = _lin(3, 4, seed=2), _lin(2, 3, seed=3)
    wa, wb = a.weight.detach().numpy().copy(), b.weight.detach().numpy().copy()
    prune.global_unstructured(
        [(a, "weight"), (b, "weight")], pruning_method=prune.L1Unstructured, amount=0.5
    )
    allw = np.concatenate([wa.ravel(), wb.ravel()])
    thr = np.sort(np.abs(allw))[9]  # the 9 smallest of 18 pruned globally
    np.testing.assert_array_equal(a.weight_mask.numpy(), (np.abs(wa) >= thr).astype(np.float32))
    np.testing.assert_array_equal(b.weight_mask.numpy(), (np.abs(wb) >= thr).astype(np.float32))

    class EveryOther(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    EveryOther.apply(a, "bias")
    np.testing.assert_array_equal(a.bias_mask.numpy(), [0, 1, 0])
    prune.l1_unstructured(a, "bias", amount=1)  # acts on the one unpruned entry
    np.testing.assert_array_equal(a.bias_mask.numpy(), [0, 0, 0])


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda m: prune.l1_unstructured(m, "weight", amount=-1), ValueError, "non-negative integer"),
        (lambda m: prune.l1_unstructured(m, "weight", amount=7), ValueError, "smaller than the number of parameters to prune=6"),
        (lambda m: prune.l1_unstructured(m, "weight", amount="a"), TypeError, "Invalid type for amount"),
        (lambda m: prune.ln_structured(m, "bias", amount=1, n=2, dim=0), ValueError, "multidimensional tensors"),
        (lambda m: prune.ln_structured(m, "weight", amount=1, n=2, dim=2), IndexError, "Invalid index 2"),
        (lambda m: prune.global_unstructured([(m, "weight")], pruning_method=prune.LnStructured, amount=1, n=1), TypeError, 'Only "unstructured"'),
    ],
)  # fmt: skip
def test_errors_as_torch(call, exc, msg):
    m = _lin(2, 3)
    with pytest.raises(exc, match=msg):
        call(m)
    assert not prune.is_pruned(m) and "weight" in m._parameters  # undone on failure
