"""jitgrad.distributions beyond Normal/Categorical: values against scipy.stats, KL against
numerical integration and closed forms written in NumPy, samples against the laws (KS test,
pmf), reparameterised gradients against finite differences of the sampler, validation
errors, and a traced VAE-style rsample + KL step."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

import jitgrad as jg
import jitgrad.distributions as D
from jitgrad.autograd import gradcheck


def _t(x, grad=False):
    return jg.tensor(np.asarray(x, np.float64), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


A = np.array([0.7, 2.5])
B = np.array([1.5, 0.4])
X_POS = np.array([0.3, 1.7])
X_UNIT = np.array([0.25, 0.8])

# (jitgrad distribution, the frozen scipy law, points inside the support)
CONT = [
    (lambda: D.Exponential(_t(B)), stats.expon(scale=1 / B), X_POS),
    (lambda: D.Laplace(_t(A), _t(B)), stats.laplace(A, B), np.array([-0.3, 2.9])),
    (lambda: D.LogNormal(_t(A), _t(B)), stats.lognorm(B, scale=np.exp(A)), X_POS),
    (lambda: D.Gamma(_t(A), _t(B)), stats.gamma(A, scale=1 / B), X_POS),
    (lambda: D.Beta(_t(A), _t(B)), stats.beta(A, B), X_UNIT),
    (lambda: D.Normal(_t(A), _t(B)), stats.norm(A, B), np.array([-0.3, 2.9])),
    (
        lambda: D.Uniform(_t([0.0, 1.0]), _t([1.0, 3.0])),
        stats.uniform([0, 1], [1, 2]),
        np.array([0.25, 2.5]),
    ),
]


@pytest.mark.parametrize(
    "make,ref,x",
    CONT,
    ids=["Exponential", "Laplace", "LogNormal", "Gamma", "Beta", "Normal", "Uniform"],
)
def test_continuous_values_match_scipy(make, ref, x):
    d = make()
    assert d.batch_shape == (2,) and d.event_shape == ()
    np.testing.assert_allclose(_np(d.log_prob(_t(x))), ref.logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(_np(d.mean), ref.mean(), rtol=1e-10)
    np.testing.assert_allclose(_np(d.variance), ref.var(), rtol=1e-10)
    np.testing.assert_allclose(_np(d.stddev), ref.std(), rtol=1e-10)
    np.testing.assert_allclose(_np(d.entropy()), ref.entropy(), rtol=1e-10)
    if type(d).__name__ != "Beta":  # PyTorch's Beta has no cdf/icdf either
        np.testing.assert_allclose(_np(d.cdf(_t(x))), ref.cdf(x), rtol=1e-9)
    if type(d).__name__ not in ("Beta", "Gamma"):
        np.testing.assert_allclose(_np(d.icdf(_t([0.2, 0.9]))), ref.ppf([0.2, 0.9]), rtol=1e-9)


def test_discrete_values_match_scipy():
    k = np.array([0.0, 3.0])
    cases = [
        (D.Poisson(_t([0.5, 3.0])), stats.poisson([0.5, 3.0])),
        (D.Binomial(5, _t([0.3, 0.6])), stats.binom(5, [0.3, 0.6])),
        (D.Binomial(5, logits=_t([-0.5, 1.0])), stats.binom(5, 1 / (1 + np.exp([0.5, -1.0])))),
        (D.Geometric(_t([0.3, 0.8])), stats.geom([0.3, 0.8], loc=-1)),
        (D.Geometric(logits=_t([0.2, -1.0])), stats.geom(1 / (1 + np.exp([-0.2, 1.0])), loc=-1)),
    ]
    for d, ref in cases:
        np.testing.assert_allclose(_np(d.log_prob(_t(k))), ref.logpmf(k), rtol=1e-10)
        np.testing.assert_allclose(_np(d.mean), ref.mean(), rtol=1e-10)
        np.testing.assert_allclose(_np(d.variance), ref.var(), rtol=1e-10)
        if not isinstance(d, D.Poisson):  # PyTorch's Poisson has no entropy
            np.testing.assert_allclose(_np(d.entropy()), ref.entropy(), rtol=1e-9)
    np.testing.assert_allclose(_np(D.Binomial(5, _t([0.3, 0.6])).mode), [1.0, 3.0])
    oh = D.OneHotCategorical(_t([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    assert oh.batch_shape == (2,) and oh.event_shape == (3,)
    lp = oh.log_prob(_t([[0, 0, 1], [0, 1, 0]]))
    np.testing.assert_allclose(_np(lp), np.log([0.5, 0.3]), rtol=1e-12)
    np.testing.assert_allclose(_np(oh.variance)[0], [0.16, 0.21, 0.25], rtol=1e-12)


def test_dirichlet_and_mvn_match_scipy():
    c = np.array([0.5, 1.5, 2.0])
    d = D.Dirichlet(_t(c))
    v = np.array([0.2, 0.3, 0.5])
    ref = stats.dirichlet(c)
    np.testing.assert_allclose(d.log_prob(_t(v)).item(), ref.logpdf(v), rtol=1e-10)
    np.testing.assert_allclose(d.entropy().item(), ref.entropy(), rtol=1e-10)
    np.testing.assert_allclose(_np(d.mean), ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(_np(d.variance), ref.var(), rtol=1e-12)
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    loc = np.array([[0.0, 1.0], [1.0, -1.0]])
    x = np.array([0.3, 0.2])
    ref = [stats.multivariate_normal(m, cov) for m in loc]
    for kw in (
        {"covariance_matrix": cov},
        {"precision_matrix": np.linalg.inv(cov)},
        {"scale_tril": np.linalg.cholesky(cov)},
    ):
        m = D.MultivariateNormal(_t(loc), **{k: _t(v) for k, v in kw.items()})
        assert m.batch_shape == (2,) and m.event_shape == (2,)
        np.testing.assert_allclose(_np(m.log_prob(_t(x))), [r.logpdf(x) for r in ref], rtol=1e-10)
        np.testing.assert_allclose(_np(m.entropy()), [r.entropy() for r in ref], rtol=1e-10)
        np.testing.assert_allclose(_np(m.covariance_matrix)[1], cov, rtol=1e-12)
        np.testing.assert_allclose(_np(m.precision_matrix)[0], np.linalg.inv(cov), rtol=1e-10)
        np.testing.assert_allclose(_np(m.variance), np.diag(cov)[None].repeat(2, 0), rtol=1e-12)
    ind = D.Independent(D.Normal(_t(loc), _t(np.ones((2, 2)))), 1)
    assert ind.batch_shape == (2,) and ind.event_shape == (2,)
    np.testing.assert_allclose(
        _np(ind.log_prob(_t(x))), stats.norm(loc).logpdf(x).sum(-1), rtol=1e-12
    )
    assert (
        repr(ind)
        == "Independent(Normal(loc: jitgrad.Size([2, 2]), scale: jitgrad.Size([2, 2])), 1)"
    )


def _kl_quad(p, q, lo, hi):
    """KL(p || q) by Simpson's rule on a fine grid (the integrand is 0 where p is)."""
    lo, hi = max(lo, -40.0), min(hi, 400.0)
    x = np.linspace(lo, hi, 400001)
    with np.errstate(all="ignore"):
        lp = p.logpdf(x)
        f = np.where(np.isfinite(lp), np.exp(lp) * (lp - q.logpdf(x)), 0.0)
    return integrate.simpson(f, x=x)


def test_kl_divergence_against_integration_and_closed_forms():
    kl = D.kl_divergence
    pairs = [
        (
            D.Exponential(_t(1.5)),
            D.Exponential(_t(0.4)),
            stats.expon(scale=1 / 1.5),
            stats.expon(scale=2.5),
            0,
            np.inf,
        ),
        (
            D.Laplace(_t(0.2), _t(1.1)),
            D.Laplace(_t(-0.5), _t(0.7)),
            stats.laplace(0.2, 1.1),
            stats.laplace(-0.5, 0.7),
            -60,
            60,
        ),
        (
            D.Gamma(_t(2.0), _t(1.5)),
            D.Gamma(_t(0.8), _t(0.5)),
            stats.gamma(2.0, scale=1 / 1.5),
            stats.gamma(0.8, scale=2.0),
            0,
            np.inf,
        ),
        (
            D.Beta(_t(2.0), _t(3.0)),
            D.Beta(_t(0.9), _t(1.2)),
            stats.beta(2.0, 3.0),
            stats.beta(0.9, 1.2),
            0,
            1,
        ),
        (
            D.Normal(_t(0.3), _t(0.8)),
            D.Normal(_t(-1.0), _t(1.7)),
            stats.norm(0.3, 0.8),
            stats.norm(-1.0, 1.7),
            -np.inf,
            np.inf,
        ),
        (
            D.LogNormal(_t(0.3), _t(0.8)),
            D.LogNormal(_t(-1.0), _t(1.7)),
            stats.lognorm(0.8, scale=np.exp(0.3)),
            stats.lognorm(1.7, scale=np.exp(-1.0)),
            0,
            np.inf,
        ),
    ]
    for p, q, sp, sq, lo, hi in pairs:
        np.testing.assert_allclose(kl(p, q).item(), _kl_quad(sp, sq, lo, hi), rtol=1e-5)
    k = np.arange(200.0)
    for p, q, sp, sq in [
        (D.Poisson(_t(3.0)), D.Poisson(_t(1.2)), stats.poisson(3.0), stats.poisson(1.2)),
        (
            D.Geometric(_t(0.3)),
            D.Geometric(_t(0.6)),
            stats.geom(0.3, loc=-1),
            stats.geom(0.6, loc=-1),
        ),
        (D.Bernoulli(_t(0.3)), D.Bernoulli(_t(0.6)), stats.bernoulli(0.3), stats.bernoulli(0.6)),
    ]:
        m = sp.pmf(k) > 0
        want = (sp.pmf(k[m]) * (sp.logpmf(k[m]) - sq.logpmf(k[m]))).sum()
        np.testing.assert_allclose(kl(p, q).item(), want, rtol=1e-9)
    pc, qc = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.1, 0.3])
    want = (pc * np.log(pc / qc)).sum()
    np.testing.assert_allclose(kl(D.Categorical(_t(pc)), D.Categorical(_t(qc))).item(), want)
    np.testing.assert_allclose(
        kl(D.OneHotCategorical(_t(pc)), D.OneHotCategorical(_t(qc))).item(), want
    )
    # a zero in q where p has mass: infinite, as in PyTorch
    assert kl(D.Bernoulli(_t(0.3)), D.Bernoulli(_t(0.0))).item() == math.inf
    # MVN: 0.5 (tr(Sq^-1 Sp) + dm^T Sq^-1 dm - k + log det Sq / det Sp)
    sp_, sq_ = np.array([[2.0, 0.3], [0.3, 1.0]]), np.array([[1.0, -0.2], [-0.2, 0.5]])
    mp, mq = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    iq = np.linalg.inv(sq_)
    want = 0.5 * (
        np.trace(iq @ sp_)
        + (mq - mp) @ iq @ (mq - mp)
        - 2
        + np.log(np.linalg.det(sq_) / np.linalg.det(sp_))
    )
    got = kl(
        D.MultivariateNormal(_t(mp), covariance_matrix=_t(sp_)),
        D.MultivariateNormal(_t(mq), scale_tril=_t(np.linalg.cholesky(sq_))),
    )
    np.testing.assert_allclose(got.item(), want, rtol=1e-10)
    # Independent sums the reinterpreted dims; Dirichlet against scipy's entropy identity
    pi = D.Independent(D.Normal(_t([[0.0, 1.0]]), _t([[1.0, 2.0]])), 1)
    qi = D.Independent(D.Normal(_t([[1.0, 0.0]]), _t([[0.5, 1.0]])), 1)
    ref = kl(D.Normal(_t([0.0, 1.0]), _t([1.0, 2.0])), D.Normal(_t([1.0, 0.0]), _t([0.5, 1.0])))
    np.testing.assert_allclose(_np(kl(pi, qi)), [_np(ref).sum()], rtol=1e-12)
    cp, cq = np.array([0.5, 1.5, 2.0]), np.array([1.0, 1.0, 3.0])
    dp, dq = stats.dirichlet(cp), stats.dirichlet(cq)
    v = stats.dirichlet(cp).rvs(40000, random_state=0)
    mc = (dp.logpdf(v.T) - dq.logpdf(v.T)).mean()
    got = kl(D.Dirichlet(_t(cp)), D.Dirichlet(_t(cq))).item()
    assert abs(got - mc) < 0.02
    with pytest.raises(
        NotImplementedError,
        match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type Gamma",
    ):
        kl(D.Normal(0.0, 1.0), D.Gamma(1.0, 1.0))  # fmt: skip


def test_register_kl_most_specific_pair():
    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return p.loc * 0 + 42.0

    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 42.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), MyNormal(0.0, 1.0)).item() == 0.0
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)


def test_samples_follow_the_laws():
    jg.manual_seed(0)
    for d, ref in [
        (D.Gamma(_t(0.6), _t(2.0)), stats.gamma(0.6, scale=0.5)),
        (D.Beta(_t(0.5), _t(2.0)), stats.beta(0.5, 2.0)),
        (D.Exponential(_t(2.0)), stats.expon(scale=0.5)),
        (D.Laplace(_t(1.0), _t(2.0)), stats.laplace(1, 2)),
        (D.LogNormal(_t(0.2), _t(0.5)), stats.lognorm(0.5, scale=np.exp(0.2))),
    ]:
        s = d.sample((2000,))
        assert s.shape == (2000,) and not s.requires_grad
        assert stats.kstest(_np(s), ref.cdf).pvalue > 1e-3, type(d).__name__
    k = np.arange(15)
    for d, ref in [
        (D.Poisson(_t(3.5)), stats.poisson(3.5)),
        (D.Binomial(10, _t(0.3)), stats.binom(10, 0.3)),
        (D.Geometric(_t(0.3)), stats.geom(0.3, loc=-1)),
    ]:
        s = _np(d.sample((4000,)))
        assert s.dtype == np.float64 and (s == np.round(s)).all()
        freq = np.array([(s == i).mean() for i in k])
        assert np.abs(freq - ref.pmf(k)).max() < 0.025, type(d).__name__
    s = D.Dirichlet(_t([0.5, 1.0, 3.0])).sample((3000,))
    assert s.shape == (3000, 3)
    np.testing.assert_allclose(_np(s).sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(_np(s).mean(0), [0.5 / 4.5, 1 / 4.5, 3 / 4.5], atol=0.015)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    s = _np(D.MultivariateNormal(_t([1.0, -1.0]), _t(cov)).sample((6000,)))
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.1)
    oh = _np(D.OneHotCategorical(_t([0.2, 0.8])).sample((3000,)))
    assert set(oh.sum(-1).tolist()) == {1.0} and abs(oh[:, 1].mean() - 0.8) < 0.03


@pytest.mark.parametrize(
    "make,params",
    [
        (D.Gamma, [0.4, 1.5]),
        (D.Gamma, [7.0, 0.5]),
        (D.Beta, [0.7, 2.0]),
        (lambda c: D.Dirichlet(c), [[0.5, 1.0, 2.0]]),
        (D.Exponential, [1.3]),
        (D.Laplace, [0.2, 0.9]),
        (D.LogNormal, [0.2, 0.9]),
        (D.StudentT, [4.0, 0.3, 1.2]),
        (D.Cauchy, [0.3, 1.2]),
        (
            lambda m, s: D.MultivariateNormal(m, scale_tril=s, validate_args=False),
            [[0.1, -0.2], [[1.0, 0.0], [0.5, 0.8]]],
        ),
    ],
)
def test_rsample_gradients_match_finite_differences(make, params):
    """d(weighted sum of samples)/d param at fixed uniforms (same seed), central differences."""

    def value(ps, grad=False):
        ts = [_t(v, grad) for v in ps]
        jg.manual_seed(3)
        s = make(*ts).rsample((5,))
        w = _t(np.linspace(0.5, 1.5, s.numel()).reshape(tuple(s.shape)))
        return (s * w).sum(), ts

    out, ts = value(params, True)
    out.backward()
    for i, p in enumerate(params):
        flat = np.array(p, np.float64).ravel()
        want = np.zeros_like(flat)
        for j in range(flat.size):
            vals = []
            for h in (1e-6, -1e-6):
                q = list(params)
                q[i] = (flat + h * np.eye(flat.size)[j]).reshape(np.shape(p))
                vals.append(value(q)[0].item())
            want[j] = (vals[0] - vals[1]) / 2e-6
        np.testing.assert_allclose(_np(ts[i].grad).ravel(), want, rtol=1e-4, atol=1e-7)


def test_log_prob_entropy_kl_gradcheck():
    x = _t([0.3, 0.7])
    gradcheck(lambda c, r: D.Gamma(c, r).log_prob(x), (_t([0.7, 2.0], 1), _t([1.2, 0.5], 1)))
    gradcheck(lambda a, b: D.Beta(a, b).entropy(), (_t([0.7, 2.0], 1), _t([1.2, 0.5], 1)))
    gradcheck(lambda c: D.Dirichlet(c).log_prob(_t([0.2, 0.3, 0.5])), (_t([0.7, 2.0, 1.1], 1),))
    gradcheck(lambda lg: D.Binomial(5, logits=lg).log_prob(_t([1.0, 4.0])), (_t([0.3, -1.0], 1),))
    gradcheck(lambda r: D.Gamma(_t([0.7, 2.0]), r).cdf(x), (_t([1.2, 0.5], 1),))
    gradcheck(  # covariance a @ a.T + I: perturbing one entry keeps it symmetric
        lambda m, a: D.kl_divergence(
            D.MultivariateNormal(m, a @ a.T + _t(np.eye(2))),
            D.MultivariateNormal(_t([0.0, 0.0]), precision_matrix=_t([[2.0, 0.5], [0.5, 1.0]])),
        ),
        (_t([0.5, -0.2], 1), _t([[1.0, 0.3], [-0.2, 0.8]], 1)),
    )


def test_validation_errors_name_the_parameter_and_constraint():
    with pytest.raises(
        ValueError,
        match=r"Expected parameter scale \(Tensor of shape \(\)\) of distribution "
        r"Normal\(loc: 0.0, scale: -1.0\) to satisfy the constraint GreaterThan\(lower_bound=0.0\)",
    ):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match=r"parameter rate .* constraint GreaterThan"):
        D.Exponential(_t([1.0, 0.0]))
    with pytest.raises(
        ValueError, match=r"constraint IndependentConstraint\(GreaterThan\(lower_bound=0.0\), 1\)"
    ):
        D.Dirichlet(_t([1.0, -1.0]))  # fmt: skip
    with pytest.raises(ValueError, match="constraint PositiveDefinite"):
        D.MultivariateNormal(_t([0.0, 0.0]), _t([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix"):
        D.MultivariateNormal(_t([0.0]), _t([[1.0]]), scale_tril=_t([[1.0]]))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        D.Geometric()
    with pytest.raises(ValueError, match="to be positive but found invalid values"):
        D.Geometric(_t([0.0, 0.5]))
    with pytest.raises(
        ValueError,
        match=r"Expected value argument \(Tensor of shape \(1,\)\) to be within the support "
        r"\(GreaterThanEq\(lower_bound=0.0\)\) of the distribution Exponential",
    ):
        D.Exponential(_t(1.0)).log_prob(_t([-1.0]))
    with pytest.raises(ValueError, match="support \\(IntegerGreaterThan"):
        D.Poisson(_t(1.0)).log_prob(_t([1.5]))
    with pytest.raises(ValueError, match="Value is not broadcastable with batch_shape"):
        D.Normal(_t([0.0, 1.0]), 1.0).log_prob(_t([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims <= len"):
        D.Independent(D.Normal(0.0, 1.0), 1)
    # validate_args=False skips the checks (and the NaN they would have caught comes out)
    assert math.isnan(D.Normal(0.0, -1.0, validate_args=False).entropy().item())
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        D.Binomial(_t([2.0, 3.0]), _t([0.5, 0.5])).entropy()
    with pytest.raises(NotImplementedError, match="Poisson has no rsample"):
        D.Poisson(_t(1.0)).rsample()


def test_traced_vae_step_with_rsample_and_kl():
    from jitgrad import nn

    def make():
        jg.manual_seed(0)
        return nn.Linear(3, 4), nn.Linear(2, 3)

    def run(enc, dec, steps, traced):
        opt = jg.optim.SGD(list(enc.parameters()) + list(dec.parameters()), lr=0.1)

        def step(x):
            opt.zero_grad()
            h = enc(x)
            q = D.Normal(h[:, :2], h[:, 2:].exp())
            z = q.rsample()
            prior = D.Normal(jg.zeros(2), jg.ones(2))
            kl = D.kl_divergence(q, prior).sum(-1).mean()
            g = D.Gamma(h[:, :1].exp(), 2.0).rsample()  # an implicit-gradient sample too
            rec = D.Independent(D.Normal(dec(z), 1.0), 1).log_prob(x).mean()
            loss = kl - rec + g.mean()
            loss.backward()
            opt.step()
            return loss

        f = jg.trace(step, backend="reference") if traced else step
        x = jg.tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
        jg.manual_seed(7)
        return [f(x).item() for _ in range(steps)], f

    eager, _ = run(*make(), 4, False)
    traced, f = run(*make(), 4, True)
    assert f.stats["compiled_calls"] >= 2
    np.testing.assert_allclose(traced, eager, rtol=1e-5)


def test_transformed_distribution_change_of_variables():
    T = D.transforms
    mu, sd = np.array([0.3, -0.5]), np.array([0.8, 1.5])
    # SAC's squashed Gaussian: log p(tanh x) = log N(x) - log(1 - tanh(x)^2)
    d = D.TransformedDistribution(D.Normal(_t(mu), _t(sd)), [T.TanhTransform(cache_size=1)])
    x = np.array([0.4, -1.2])
    want = stats.norm(mu, sd).logpdf(x) - np.log(1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(_np(d.log_prob(_t(np.tanh(x)))), want, rtol=1e-10)
    jg.manual_seed(0)
    y = d.rsample((3,))
    assert d.transforms[0].inv(y) is d.transforms[0]._cached_x_y[0]  # the cache gives x back
    # sigmoid(a + b x): a logit-normal law
    a, b = np.array([1.0, 2.0]), np.array([0.5, -2.0])
    d = D.TransformedDistribution(
        D.Normal(_t(mu), _t(sd)), [T.AffineTransform(_t(a), _t(b)), T.SigmoidTransform()]
    )
    v = np.array([0.3, 0.9])
    lg = np.log(v / (1 - v))
    want = stats.norm(mu, sd).logpdf((lg - a) / b) - np.log(np.abs(b)) - np.log(v * (1 - v))
    np.testing.assert_allclose(_np(d.log_prob(_t(v))), want, rtol=1e-10)
    # exp(x) ** 2 = exp(2 x): LogNormal(2 mu, 2 sd), a decreasing map included via its cdf
    d = D.TransformedDistribution(
        D.Normal(_t(mu), _t(sd)), [T.ExpTransform(), T.PowerTransform(_t(2.0))]
    )
    ref = stats.lognorm(2 * sd, scale=np.exp(2 * mu))
    np.testing.assert_allclose(_np(d.log_prob(_t(X_POS))), ref.logpdf(X_POS), rtol=1e-10)
    np.testing.assert_allclose(_np(d.cdf(_t(X_POS))), ref.cdf(X_POS), rtol=1e-10)
    np.testing.assert_allclose(_np(d.icdf(_t([0.2, 0.7]))), ref.ppf([0.2, 0.7]), rtol=1e-10)
    d = D.TransformedDistribution(D.Normal(_t(mu), _t(sd)), T.AffineTransform(0.0, -2.0))
    np.testing.assert_allclose(
        _np(d.cdf(_t([0.1, 0.2]))), stats.norm(-2 * mu, 2 * sd).cdf([0.1, 0.2]), rtol=1e-10
    )
    with pytest.raises(ValueError, match="transforms must be a Transform or a list"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [1])


def test_more_families_match_scipy():
    x = np.array([0.3, 1.7])
    for d, ref in [
        (D.HalfNormal(_t(B)), stats.halfnorm(scale=B)),
        (D.Cauchy(_t(A), _t(B)), stats.cauchy(A, B)),
        (D.Chi2(_t(A * 2)), stats.chi2(A * 2)),
        (D.StudentT(_t([3.0, 5.5]), _t(A), _t(B)), stats.t([3.0, 5.5], A, B)),
    ]:
        np.testing.assert_allclose(_np(d.log_prob(_t(x))), ref.logpdf(x), rtol=1e-10)
        np.testing.assert_allclose(_np(d.entropy()), ref.entropy(), rtol=1e-10)
        if not isinstance(d, D.Cauchy):
            np.testing.assert_allclose(_np(d.mean), ref.mean(), rtol=1e-10)
            np.testing.assert_allclose(_np(d.variance), ref.var(), rtol=1e-10)
        if isinstance(d, (D.HalfNormal, D.Cauchy)):
            np.testing.assert_allclose(_np(d.cdf(_t(x))), ref.cdf(x), rtol=1e-10)
            np.testing.assert_allclose(_np(d.icdf(_t([0.2, 0.7]))), ref.ppf([0.2, 0.7]), rtol=1e-10)
    t = D.StudentT(_t([1.0, 1.5]))
    assert np.isnan(_np(t.mean)[0]) and _np(t.variance)[1] == math.inf
    jg.manual_seed(0)
    s = _np(D.StudentT(_t(4.0), _t(1.0), _t(2.0)).sample((2000,)))
    assert stats.kstest(s, stats.t(4.0, 1.0, 2.0).cdf).pvalue > 1e-3
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    m = D.Multinomial(5, _t(p))
    assert m.batch_shape == (2,) and m.event_shape == (3,)
    v = np.array([[1.0, 2.0, 2.0], [5.0, 0.0, 0.0]])
    want = [stats.multinomial(5, p[i]).logpmf(v[i]) for i in range(2)]
    np.testing.assert_allclose(_np(m.log_prob(_t(v))), want, rtol=1e-10)
    np.testing.assert_allclose(
        _np(m.entropy()), [stats.multinomial(5, p[i]).entropy() for i in range(2)], rtol=1e-10
    )
    s = _np(m.sample((3000,)))
    assert s.shape == (3000, 2, 3) and (s.sum(-1) == 5).all()
    np.testing.assert_allclose(s.mean(0), 5 * p, atol=0.1)


def test_mixture_same_family():
    w, mu, sd = np.array([0.3, 0.7]), np.array([-1.0, 2.0]), np.array([0.5, 1.0])
    mix = D.MixtureSameFamily(D.Categorical(_t(w)), D.Normal(_t(mu), _t(sd)))
    x = np.array([0.3, 1.0, -2.0])
    want = np.log((w * stats.norm(mu, sd).pdf(x[:, None])).sum(-1))
    np.testing.assert_allclose(_np(mix.log_prob(_t(x))), want, rtol=1e-12)
    np.testing.assert_allclose(mix.mean.item(), (w * mu).sum(), rtol=1e-12)
    var = (w * (sd**2 + mu**2)).sum() - (w * mu).sum() ** 2
    np.testing.assert_allclose(mix.variance.item(), var, rtol=1e-12)
    np.testing.assert_allclose(
        _np(mix.cdf(_t(x))), (w * stats.norm(mu, sd).cdf(x[:, None])).sum(-1), rtol=1e-12
    )
    jg.manual_seed(0)
    s = _np(mix.sample((4000,)))
    assert s.shape == (4000,) and abs(s.mean() - (w * mu).sum()) < 0.08
    # batched 4-D Gaussian components (a GMM over vectors): log_prob's gradient reaches the logits
    logits = _t(np.zeros((3, 2)), True)
    comp = D.Independent(D.Normal(_t(np.zeros((3, 2, 4))), _t(np.ones((3, 2, 4)))), 1)
    g = D.MixtureSameFamily(D.Categorical(logits=logits), comp)
    assert g.batch_shape == (3,) and g.event_shape == (4,) and g.sample((5,)).shape == (5, 3, 4)
    g.log_prob(_t(RNG_T.standard_normal((5, 3, 4)))).sum().backward()
    assert logits.grad.shape == (3, 2)
    with pytest.raises(ValueError, match="does not equal `component_distribution.batch_shape"):
        D.MixtureSameFamily(D.Categorical(_t([0.5, 0.5])), D.Normal(_t([0.0, 1.0, 2.0]), 1.0))


RNG_T = np.random.default_rng(5)


def test_expand_broadcasts_the_batch():
    cov = _t([[2.0, 0.3], [0.3, 1.0]])
    cases = [
        (D.Normal(_t(A), _t(B)), _t(X_POS)),
        (D.LogNormal(_t(A), _t(B)), _t(X_POS)),
        (D.Gamma(_t(A), _t(B)), _t(X_POS)),
        (D.Chi2(_t(A)), _t(X_POS)),
        (D.Beta(_t(A), _t(B)), _t(X_UNIT)),
        (D.StudentT(_t(A), 0.0, _t(B)), _t(X_POS)),
        (D.Categorical(_t([[0.2, 0.8], [0.5, 0.5]])), jg.tensor([1, 0])),
        (D.Multinomial(3, _t([[0.2, 0.8], [0.5, 0.5]])), _t([[1.0, 2.0], [3.0, 0.0]])),
        (D.Dirichlet(_t([[0.5, 2.0], [1.0, 1.0]])), _t([[0.3, 0.7], [0.6, 0.4]])),
        (D.MultivariateNormal(_t([[0.0, 1.0], [1.0, 0.0]]), cov), _t([[0.3, 0.2], [1.0, 2.0]])),
        (
            D.Independent(D.Normal(_t([[0.0, 1.0], [1.0, 0.0]]), 1.0), 1),
            _t([[0.3, 0.2], [1.0, 2.0]]),
        ),
    ]
    for d, v in cases:
        e = d.expand((3, 2))
        assert e.batch_shape == (3, 2) and e.event_shape == d.event_shape, type(d).__name__
        want = np.broadcast_to(_np(d.log_prob(v)), (3, 2))
        np.testing.assert_allclose(_np(e.log_prob(v)), want, rtol=1e-12, err_msg=type(d).__name__)
        assert e.sample((4,)).shape == (4, 3, 2) + tuple(d.event_shape)
    with pytest.raises(RuntimeError, match="cannot be expanded"):
        D.Normal(_t(A), _t(B)).expand((3,))


def test_relaxed_distributions_match_the_concrete_densities():
    lam, p = 0.5, np.array([0.2, 0.3, 0.5])
    x = np.array([0.1, 0.3, 0.6])
    d = D.RelaxedOneHotCategorical(_t(lam), _t(p))
    assert d.batch_shape == () and d.event_shape == (3,)
    # Maddison et al.: (n-1)! lam^(n-1) prod_k p_k x_k^(-lam-1) / sum_i p_i x_i^(-lam)
    want = (
        math.lgamma(3)
        + 2 * math.log(lam)
        + np.sum(np.log(p) + (-lam - 1) * np.log(x) - np.log(np.sum(p * x**-lam)))
    )
    np.testing.assert_allclose(d.log_prob(_t(x)).item(), want, rtol=1e-12)
    pb, y = np.array([0.3, 0.8]), np.array([0.4, 0.95])
    a = pb / (1 - pb)
    want = np.log(
        lam * a * y ** (-lam - 1) * (1 - y) ** (-lam - 1) / (a * y**-lam + (1 - y) ** -lam) ** 2
    )
    rb = D.RelaxedBernoulli(_t(lam), _t(pb))
    np.testing.assert_allclose(_np(rb.log_prob(_t(y))), want, rtol=1e-12)
    logits = _t([[1.0, 0.0, -1.0]], True)
    jg.manual_seed(0)
    s = D.RelaxedOneHotCategorical(_t(0.3), logits=logits.expand(3000, 3)).rsample()
    np.testing.assert_allclose(_np(s).sum(-1), 1.0, rtol=1e-12)
    freq = np.bincount(_np(s).argmax(-1), minlength=3) / 3000  # the Gumbel-max law
    sm = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(freq, sm, atol=0.03)
    (s[:, 0]).sum().backward()
    assert logits.grad is not None and logits.grad.numpy()[0, 0] > 0
    r = _np(rb.rsample((2000,)))
    assert ((r > 0) & (r < 1)).all() and abs((r[:, 1] > 0.5).mean() - 0.8) < 0.05


def test_low_rank_mvn_matches_the_full_covariance():
    r = np.random.default_rng(3)
    loc, w, dg = r.standard_normal((2, 3)), r.standard_normal((3, 2)), r.uniform(0.5, 1.5, 3)
    cov = w @ w.T + np.diag(dg)
    d = D.LowRankMultivariateNormal(_t(loc), _t(w, True), _t(dg))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    v = r.standard_normal((4, 2, 3))
    want = np.stack([stats.multivariate_normal(loc[i], cov).logpdf(v[:, i]) for i in range(2)], 1)
    np.testing.assert_allclose(_np(d.log_prob(_t(v))), want, rtol=1e-10)
    np.testing.assert_allclose(
        _np(d.entropy()), stats.multivariate_normal(loc[0], cov).entropy(), rtol=1e-10
    )
    np.testing.assert_allclose(_np(d.covariance_matrix)[1], cov, rtol=1e-12)
    np.testing.assert_allclose(_np(d.precision_matrix)[0], np.linalg.inv(cov), rtol=1e-10)
    jg.manual_seed(0)
    s = _np(d.sample((6000,)))[:, 0]
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.15)
    d.log_prob(_t(v)).sum().backward()
    gradcheck(
        lambda ww: D.LowRankMultivariateNormal(_t(loc), ww, _t(dg)).log_prob(_t(v)),
        (_t(w, True),),
    )
    with pytest.raises(ValueError, match="cov_factor must be a batch of matrices with shape 3 x m"):
        D.LowRankMultivariateNormal(_t(loc), _t(w.T), _t(dg))
