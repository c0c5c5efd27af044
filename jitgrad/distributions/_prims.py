"""Primitives the distributions need beyond jitgrad's ops: inverse CDFs of the gamma, Poisson
and binomial laws. Each maps a uniform draw ``u`` (a ``jitgrad.rand`` tensor, so a traced step
draws fresh values every call) to a sample; the gamma one is differentiable in its shape
parameter (the implicit reparameterisation gradient ``dx/da = -dP(a, x)/da / p(x; a)``)."""

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

from .._dtype import to_np
from ..ops.registry import apply, register


def _gamma_icdf_grad(a, x):
    # dx/da of x = P^{-1}(a, u) at fixed u: -(dP/da) / (dP/dx); dP/da by a central difference
    # of the regularised incomplete gamma in float64 (relative error ~1e-7 against mpmath)
    a64, x64 = a.astype(np.float64), x.astype(np.float64)
    h = 1e-5 * a64
    dpda = (_sp.gammainc(a64 + h, x64) - _sp.gammainc(a64 - h, x64)) / (2 * h)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        logpdf = (a64 - 1) * np.log(x64) - x64 - _sp.gammaln(a64)
        r = -dpda / np.exp(logpdf)
    return np.where(np.isfinite(r), r, 0.0).astype(a.dtype)


_gamma_grad_p = register("standard_gamma_grad", "opaque", _gamma_icdf_grad, nondiff=True)


def _gamma_icdf(a, u):
    x = _sp.gammaincinv(a.astype(np.float64), u.astype(np.float64))
    return np.maximum(x, np.finfo(a.dtype).tiny).astype(a.dtype)


_gamma_p = register(
    "standard_gamma",
    "opaque",
    _gamma_icdf,
    vjp=lambda g, o, a, u: (g * apply(_gamma_grad_p, (a, o)), None),
    n_diff=1,
    saves=(0,),
    saves_out=True,
    backward_name="StandardGammaBackward0",
)


def standard_gamma(concentration):
    """Gamma(concentration, 1) samples, differentiable in ``concentration``."""
    from .. import creation

    u = creation.rand(*concentration.shape, dtype=concentration.dtype)
    return apply(_gamma_p, (concentration, u.detach()))


def _poisson_icdf(rate, u):
    return _st.poisson.ppf(u, rate).astype(rate.dtype)


def _binomial_icdf(n, p, u):
    return _st.binom.ppf(u, n, p).astype(p.dtype)


_poisson_p = register("poisson_icdf", "opaque", _poisson_icdf, nondiff=True)
_binomial_p = register("binomial_icdf", "opaque", _binomial_icdf, nondiff=True)


def _uniform_open(shape, dtype):
    """Uniform draws in (0, 1): ``u`` of ``rand`` with 0 moved to the smallest positive."""
    from .. import creation

    u = creation.rand(*shape, dtype=dtype)
    return u.clamp(min=float(np.finfo(to_np(dtype)).tiny))


def poisson_sample(rate):
    """Poisson(rate) samples (float, like ``torch.poisson``)."""
    return apply(_poisson_p, (rate, _uniform_open(rate.shape, rate.dtype)))


def binomial_sample(total_count, probs):
    """Binomial(total_count, probs) samples of the broadcast shape of both."""
    u = _uniform_open(probs.shape, probs.dtype)
    return apply(_binomial_p, (total_count, probs, u))
