"""New differentiable ops against central differences in float64 (first and second order),
and autograd.functional / profiler behaviour."""

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.autograd import functional as AF

RNG = np.random.default_rng(15)


def _fd_check(f, x0, second=True, tol=1e-5):
    """Compare grad (and the Hessian-vector product) of scalar f with central differences."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=second)
    eps = 1e-6
    num = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (f(torch.tensor(xp)).item() - f(torch.tensor(xm)).item()) / (2 * eps)
    np.testing.assert_allclose(g.detach().numpy(), num, rtol=tol, atol=tol)
    if second:
        v = RNG.standard_normal(x0.shape)
        (hv,) = torch.autograd.grad((g * torch.tensor(v)).sum(), x)

        def gfun(a):
            xa = torch.tensor(a, requires_grad=True)
            return torch.autograd.grad(f(xa), xa)[0].numpy()

        hnum = (gfun(x0 + eps * v) - gfun(x0 - eps * v)) / (2 * eps)
        np.testing.assert_allclose(hv.numpy(), hnum, rtol=1e-4, atol=1e-4)


def _spd(n):
    a = RNG.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


W = RNG.standard_normal((3, 3))
CASES = {
    "inv": (lambda x: (torch.linalg.inv(x) * torch.tensor(W)).sum(), _spd(3)),
    "det": (lambda x: torch.linalg.det(x), RNG.standard_normal((3, 3))),
    "slogdet": (lambda x: torch.linalg.slogdet(x)[1], _spd(3)),
    "solve": (lambda x: (torch.linalg.solve(x, torch.tensor(W)) ** 2).sum(), _spd(3)),
    "cholesky": (
        lambda x: (
            torch.linalg.cholesky(x @ x.mT + torch.eye(3, dtype=torch.float64)) * torch.tensor(W)
        ).sum(),
        RNG.standard_normal((3, 3)),
    ),
    "qr": (
        lambda x: (
            (torch.linalg.qr(x).Q * torch.tensor(W[:, :2])).sum()
            + (torch.linalg.qr(x).R ** 2 * torch.tensor(W[:2, :2])).sum()
        ),
        RNG.standard_normal((3, 2)),
    ),
    "eigh": (
        lambda x: (
            (torch.linalg.eigh(x + x.mT).eigenvalues * torch.tensor([1.0, 2, 3])).sum()
            + (torch.linalg.eigh(x + x.mT).eigenvectors ** 2 * torch.tensor(W)).sum()
        ),
        RNG.standard_normal((3, 3)),
    ),
    "svd": (
        lambda x: (
            (torch.linalg.svd(x, full_matrices=False).S * torch.tensor([1.0, 2])).sum()
            + (torch.linalg.svd(x, full_matrices=False).U ** 2 * torch.tensor(W[:, :2])).sum()
            + (torch.linalg.svd(x, full_matrices=False).Vh ** 2 * torch.tensor(W[:2, :2])).sum()
        ),
        RNG.standard_normal((3, 2)),
    ),
    "norm_fro": (lambda x: torch.linalg.norm(x), RNG.standard_normal((2, 3))),
    "norm_nuc": (lambda x: torch.linalg.matrix_norm(x, "nuc"), RNG.standard_normal((3, 2))),
    "einsum": (
        lambda x: torch.einsum("ij,jk->ik", x, x.mT).sin().sum(),
        RNG.standard_normal((2, 3)),
    ),
    "cumprod": (lambda x: torch.cumprod(x, 0).sum(), np.array([0.5, 0.0, 2.0, -1.5])),
    "cross": (lambda x: (torch.cross(x, x.roll(1, 0), dim=0) ** 2).sum(), RNG.standard_normal(3)),
    "sort": (
        lambda x: (torch.sort(x).values * torch.arange(4.0, dtype=torch.float64)).pow(2).sum(),
        RNG.standard_normal(4),
    ),
    "logaddexp": (lambda x: torch.logaddexp(x, x * 2).sum(), RNG.standard_normal(3)),
    "lgamma": (lambda x: torch.lgamma(x).sum(), np.array([0.7, 1.5, 3.0])),
    "erfinv": (lambda x: torch.erfinv(x).sum(), np.array([-0.3, 0.1, 0.6])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences(name):
    f, x0 = CASES[name]
    second = name not in ("cumprod", "lgamma")  # their second derivatives say so (see below)
    _fd_check(f, np.array(x0, dtype=np.float64), second=second)


def test_linalg_values_match_numpy():
    a = _spd(3)
    t = torch.tensor(a)
    np.testing.assert_allclose(torch.linalg.inv(t).numpy(), np.linalg.inv(a))
    np.testing.assert_allclose(torch.det(t).item(), np.linalg.det(a))
    np.testing.assert_allclose(torch.linalg.cholesky(t).numpy(), np.linalg.cholesky(a))
    w, v = torch.linalg.eigh(t)
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(a))
    u, s, vh = torch.linalg.svd(t)
    np.testing.assert_allclose(((u * s) @ vh).numpy(), a, atol=1e-12)
    q, r = torch.linalg.qr(t)
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)
    b = RNG.standard_normal(3)
    np.testing.assert_allclose(
        torch.linalg.solve(t, torch.tensor(b)).numpy(), np.linalg.solve(a, b)
    )
    np.testing.assert_allclose(torch.linalg.norm(torch.tensor(b), 1).item(), np.abs(b).sum())
    with pytest.raises(RuntimeError, match="not positive-definite"):
        torch.linalg.cholesky(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))


def test_higher_order_limits_are_explicit():
    x = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.cumprod(x, 0).sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="cumprod"):
        torch.autograd.grad(g.sum(), x)


def test_autograd_functional():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)

    def f(v):
        return (v**3).sum()

    np.testing.assert_allclose(AF.jacobian(lambda v: v**2, x).numpy(), np.diag([2.0, 4.0]))
    np.testing.assert_allclose(AF.hessian(f, x).numpy(), np.diag([6.0, 12.0]))
    out, vj = AF.vjp(lambda v: v**2, x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert out.tolist() == [1.0, 4.0] and vj.tolist() == [2.0, 4.0]
    _, jv = AF.jvp(lambda v: v.sin(), x, torch.tensor([1.0, 0.0], dtype=torch.float64))
    np.testing.assert_allclose(jv.numpy(), [np.cos(1.0), 0.0])
    _, hv = AF.hvp(f, x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    _, vh = AF.vhp(f, x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert hv.tolist() == [6.0, 12.0] == vh.tolist()
    ja, jb = AF.jacobian(lambda a, b: a * b, (x, x * 3))
    np.testing.assert_allclose(ja.numpy(), np.diag([3.0, 6.0]))
    np.testing.assert_allclose(jb.numpy(), np.diag([1.0, 2.0]))
    assert torch.autograd.gradcheck(
        lambda a: (a.sin() * a).sum(), torch.randn(3, dtype=torch.float64, requires_grad=True)
    )
    with pytest.raises(torch.autograd.GradcheckError):
        torch.autograd.gradcheck(
            lambda a: a.detach() * a, torch.randn(3, dtype=torch.float64, requires_grad=True)
        )


def test_profiler_counts_ops_and_prints_table():
    with torch.autograd.profiler.profile() as prof:
        w = torch.randn(4, 4, requires_grad=True)
        for _ in range(3):
            (w @ w).relu().sum().backward()
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["aten::matmul"].count >= 3 and avg["MmBackward0"].count == 3
    assert avg["ReluBackward0"].count == 3
    for e in avg.values():
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total + 1e-6
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=5)
    head = table.splitlines()[1]
    for col in ("Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "# of Calls"):
        assert col in head
    assert len(table.splitlines()) == 5 + 5 and "Self CPU time total" in table
    # outside the profile nothing is wrapped any more
    from jitgrad.ops.registry import PRIMITIVES

    assert PRIMITIVES["matmul"].impl.__name__ != "timed_impl"


def test_new_ops_trace_and_replay_like_eager():
    """A step mixing new ops (einsum, sort, tril, inv, logaddexp, cross) and a new optimizer
    is captured whole and its replays give the eager numbers (reference backend)."""

    def run(traced):
        torch.manual_seed(0)
        w = torch.randn(3, 3, requires_grad=True)
        x = torch.randn(3, 3)
        opt = torch.optim.NAdam([w], lr=0.01)

        def step(x):
            opt.zero_grad()
            s = torch.sort(torch.einsum("ij,jk->ik", w, x), dim=1).values
            t = torch.tril(s) + torch.linalg.inv(w @ w.mT + 3 * torch.eye(3))
            loss = (t**2).sum() + torch.logaddexp(w, x).sum() + torch.cross(w, x, dim=1).sum()
            loss.backward()
            opt.step()
            return loss

        f = torch.trace(step, backend="reference") if traced else step
        return [f(x).item() for _ in range(4)], w.detach().numpy()

    (le, we), (lt, wt) = run(False), run(True)
    np.testing.assert_allclose(lt, le, rtol=1e-5)
    np.testing.assert_allclose(wt, we, rtol=1e-5, atol=1e-6)
