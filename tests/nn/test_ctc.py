"""ctc_loss against a brute-force sum over every alignment, float64 finite differences and
torch's conventions (reductions, zero_infinity, gradient w.r.t. log_probs, errors)."""

import itertools

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn as nn
import jitgrad.nn.functional as F


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def _brute_nll(lp, tgt, blank):
    """-log of the summed probability of every length-T path that collapses to ``tgt``."""
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == list(tgt):
            total += np.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def _case(seed=0, T=4, N=3, C=3):
    r = np.random.default_rng(seed)
    x = r.standard_normal((T, N, C))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    targets = np.array([[1, 2, 0], [2, 2, 1], [1, 0, 0]])
    return x, lp, targets, np.array([4, 3, 4]), np.array([2, 2, 1])


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_nll_is_minus_log_of_the_summed_alignments(blank):
    _, lp, targets, il, tl = _case()
    if blank == 2:  # the labels must avoid the blank
        targets = np.where(targets == 2, 0, np.where(targets == 0, 2, targets))
    got = F.ctc_loss(
        jg.tensor(lp),
        jg.tensor(targets),
        jg.tensor(il),
        jg.tensor(tl),
        blank=blank,
        reduction="none",
    )
    want = [_brute_nll(lp[: il[n], n], targets[n, : tl[n]], blank) for n in range(3)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_ctc_gradient_matches_finite_differences_through_log_softmax():
    x0, _, targets, il, tl = _case(1)
    x = jg.tensor(x0, requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(2), jg.tensor(targets), jg.tensor(il), jg.tensor(tl))
    loss.backward()

    def f(xv):
        lp = xv - np.log(np.exp(xv).sum(-1, keepdims=True))
        nll = [_brute_nll(lp[: il[n], n], targets[n, : tl[n]], 0) for n in range(3)]
        return np.mean(np.array(nll) / np.maximum(tl, 1))

    eps, fd = 1e-6, np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        d = np.zeros_like(x0)
        d[i] = eps
        fd[i] = (f(x0 + d) - f(x0 - d)) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), fd, atol=1e-7)


def test_ctc_gradient_wrt_log_probs_is_torchs_formula():
    # torch returns exp(lp) - Q (Q: the alignment posterior), not the plain derivative -Q;
    # the two agree through log_softmax (test above). Times beyond input_lengths get 0.
    _, lp0, targets, il, tl = _case(2)
    lp = jg.tensor(lp0, requires_grad=True)
    F.ctc_loss(lp, jg.tensor(targets), jg.tensor(il), jg.tensor(tl), reduction="sum").backward()
    eps = 1e-6
    for n in range(3):
        for t in range(4):
            for c in range(3):
                d = np.zeros_like(lp0[: il[n], n])
                if t >= il[n]:
                    assert lp.grad.numpy()[t, n, c] == 0
                    continue
                d[t, c] = eps
                base = lp0[: il[n], n]
                tg = targets[n, : tl[n]]
                fd = (_brute_nll(base + d, tg, 0) - _brute_nll(base - d, tg, 0)) / (2 * eps)
                want = np.exp(lp0[t, n, c]) + fd
                np.testing.assert_allclose(lp.grad.numpy()[t, n, c], want, atol=1e-7)


def test_ctc_reductions_targets_layouts_and_zero_infinity():
    _, lp0, targets, il, _ = _case(3)
    tl = np.array([2, 2, 3])  # sample 2: 3 labels "1 0 0" need 4 frames... feasible
    il = np.array([4, 3, 2])  # sample 2 now has 2 frames for 3 labels: impossible
    lp = jg.tensor(lp0, requires_grad=True)
    args = (jg.tensor(targets), jg.tensor(il), jg.tensor(tl))
    none = F.ctc_loss(lp, *args, reduction="none").detach().numpy()
    assert np.isinf(none[2]) and np.isfinite(none[:2]).all()
    concat = np.concatenate([targets[n, : tl[n]] for n in range(3)])
    np.testing.assert_allclose(
        F.ctc_loss(lp, jg.tensor(concat), tuple(il), tuple(tl), reduction="none").detach().numpy(),
        none,
    )
    z = F.ctc_loss(lp, *args, zero_infinity=True)
    np.testing.assert_allclose(float(z), np.mean(np.where(np.isinf(none), 0, none) / tl))
    z.backward()
    g = lp.grad.numpy()
    assert np.isfinite(g).all() and (g[:, 2] == 0).all() and np.abs(g[:, :2]).sum() > 0
    s = F.ctc_loss(lp, *args, reduction="sum", zero_infinity=True)
    np.testing.assert_allclose(float(s), none[:2].sum())
    one = F.ctc_loss(jg.tensor(lp0[:, 0]), jg.tensor(targets[0, :2]), (4,), (2,), reduction="none")
    np.testing.assert_allclose(float(one), none[0])
    mod = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
    np.testing.assert_allclose(mod(lp, *args).detach().numpy(), np.where(np.isinf(none), 0, none))


def test_ctc_errors_name_the_problem():
    _, lp0, targets, il, tl = _case()
    lp = jg.tensor(lp0, requires_grad=True)
    t, i, n = jg.tensor(targets), jg.tensor(il), jg.tensor(tl)
    with pytest.raises(RuntimeError, match="input_lengths to have value at most 4"):
        F.ctc_loss(lp, t, jg.tensor([5, 3, 4]), n)
    with pytest.raises(RuntimeError, match="size at least 4 at dimension 1"):
        F.ctc_loss(lp, t, i, jg.tensor([4, 2, 1]))
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        F.ctc_loss(lp, t, i, n, blank=3)
    with pytest.raises(RuntimeError, match="batch_size"):
        F.ctc_loss(lp, t, i[:2], n)
    with pytest.raises(RuntimeError, match="integer class indices"):
        F.ctc_loss(lp, t.float(), i, n)
    (g,) = jg.autograd.grad(F.ctc_loss(lp, t, i, n), lp, create_graph=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        g.sum().backward()


def test_ctc_in_a_traced_step_equals_eager():
    x0, _, targets, il, tl = _case(4)

    def run(traced):
        w = jg.tensor(np.ones(3), requires_grad=True)

        def step(x, t):
            w.grad = None
            loss = F.ctc_loss((x * w).log_softmax(2), t, jg.tensor(il), jg.tensor(tl))
            loss.backward()
            return loss.detach()

        f = jg.trace(backend="reference")(step) if traced else step
        out = [float(f(jg.tensor(x0 + k), jg.tensor(targets))) for k in range(3)]
        return out, w.grad.numpy()

    (le, ge), (lt, gt) = run(False), run(True)
    np.testing.assert_allclose(lt, le, rtol=1e-12)
    np.testing.assert_allclose(gt, ge, rtol=1e-12)
