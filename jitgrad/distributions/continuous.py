"""Continuous distributions: Normal, Uniform, Exponential, Laplace, LogNormal, Gamma, Beta,
Dirichlet and MultivariateNormal, each from differentiable jitgrad ops (``rsample`` is
reparameterised; Gamma/Beta/Dirichlet through the implicit gamma gradient)."""

import math

import numpy as np
from scipy import special as _sp

from .. import creation
from .._dtype import to_np
from ..ops.registry import apply, register
from ..tensor import Size
from . import _prims, constraints
from .distribution import (
    Distribution,
    ExponentialFamily,
    LocScale,
    _all_true,
    broadcast_all,
    lazy_property,
)

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _finfo(t):
    return np.finfo(to_np(t.dtype))


def _shape_of(*ts):
    return Size(np.broadcast_shapes(*(tuple(t.shape) for t in ts)))


class Normal(LocScale, ExponentialFamily):
    """Gaussian with ``loc`` and ``scale``; ``rsample`` is ``loc + scale * eps``."""

    @property
    def mean(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()):
        eps = creation.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale**2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - _LOG_SQRT_2PI

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)).erf())

    def icdf(self, value):
        return self.loc + self.scale * (2 * value - 1).erfinv() * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()


class Uniform(Distribution):
    """Uniform on ``[low, high)``; ``rsample`` is ``low + (high - low) * u``."""

    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        msg = "Uniform is not defined when low>= high"
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)
        if self._validate_args and not _all_true(self.low < self.high, msg):
            raise ValueError(msg)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return self.high * float("nan")

    @property
    def stddev(self):
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        u = creation.rand(*self._extended_shape(sample_shape), dtype=self.low.dtype)
        return self.low + (self.high - self.low) * u

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        inside = ((self.low <= value) & (self.high > value)).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()


class Exponential(ExponentialFamily):
    """Exponential with ``rate``; ``rsample`` is ``-log(1 - u) / rate``."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return self.rate * 0

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        u = creation.rand(*self._extended_shape(sample_shape), dtype=self.rate.dtype)
        return -(-u).log1p() / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()


class Laplace(LocScale, Distribution):
    """Laplace with ``loc`` and ``scale``; ``rsample`` by the inverse CDF of a uniform."""

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return (2**0.5) * self.scale

    def rsample(self, sample_shape=()):
        eps = float(_finfo(self.loc).eps)
        u = creation.rand(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        u = u * (2 - eps) + (eps - 1)  # uniform on [eps - 1, 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()


class LogNormal(Distribution):
    """``exp`` of a ``Normal(loc, scale)`` (``base_dist``)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.base_dist = Normal(loc, scale, validate_args=validate_args)
        self.loc, self.scale = self.base_dist.loc, self.base_dist.scale
        super().__init__(self.base_dist.batch_shape, validate_args=validate_args)

    @property
    def mean(self):
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self):
        return (self.loc - self.scale.pow(2)).exp()

    @property
    def variance(self):
        s2 = self.scale.pow(2)
        return s2.expm1() * (2 * self.loc + s2).exp()

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = value.log()
        return self.base_dist.log_prob(y) - y

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.base_dist.cdf(value.log())

    def icdf(self, value):
        return self.base_dist.icdf(value).exp()

    def entropy(self):
        return self.base_dist.entropy() + self.loc


def _gammainc_dx(g, o, a, x):
    # d/dx P(a, x) = x^(a-1) e^-x / Gamma(a); no gradient in a (PyTorch has none either)
    return (None, g * ((a - 1) * x.log() - x - a.lgamma()).exp())


_gammainc_p = register(
    "gammainc",
    "opaque",
    lambda a, x: _sp.gammainc(a, x).astype(a.dtype),
    vjp=_gammainc_dx,
    backward_name="GammaincBackward0",
)


class Gamma(ExponentialFamily):
    """Gamma with ``concentration`` and ``rate``; ``rsample`` differentiable in both."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        g = _prims.standard_gamma(self.concentration.expand(*shape))
        return (g / self.rate.expand(*shape)).clamp(min=float(_finfo(self.rate).tiny))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c, r = self.concentration, self.rate
        return c.xlogy(r) + (c - 1).xlogy(value) - r * value - c.lgamma()

    def cdf(self, value):
        """``P(concentration, rate * value)``; differentiable in ``value`` and ``rate``."""
        if self._validate_args:
            self._validate_sample(value)
        a, x = broadcast_all(self.concentration, self.rate * value)
        return apply(_gammainc_p, (a.detach(), x))

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + c.lgamma() + (1.0 - c) * c.digamma()


class Dirichlet(ExponentialFamily):
    """Dirichlet over the last dim of ``concentration``; ``rsample`` normalises gammas."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        from ..nn.functional import one_hot

        c = self.concentration
        cm1 = (c - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        hot = one_hot(mode.argmax(-1), c.shape[-1]).to(mode.dtype)
        return hot.where((c < 1).all(-1, keepdim=True), mode)

    @property
    def variance(self):
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0.pow(2) * (c0 + 1))

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        g = _prims.standard_gamma(self.concentration.expand(*shape))
        fi = _finfo(self.concentration)
        return (g / g.sum(-1, keepdim=True)).clamp(min=float(fi.tiny), max=float(1 - fi.eps))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (c - 1.0).xlogy(value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        a0 = c.sum(-1)
        return (
            c.lgamma().sum(-1)
            - a0.lgamma()
            - (k - a0) * a0.digamma()
            - ((c - 1.0) * c.digamma()).sum(-1)
        )


class Beta(ExponentialFamily):
    """Beta with ``concentration1`` (alpha) and ``concentration0`` (beta), as a 2-D Dirichlet."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        from .. import stack

        c1, c0 = broadcast_all(concentration1, concentration0)
        self._dirichlet = Dirichlet(stack([c1, c0], -1), validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    @property
    def concentration1(self):
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        from .. import stack

        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self):
        return self._dirichlet.entropy()

    def __repr__(self):
        c1, c0 = self.concentration1, self.concentration0
        f = lambda v: v._data.reshape(-1)[0].item() if v.numel() == 1 else v.shape  # noqa: E731
        return f"Beta(concentration1: {f(c1)}, concentration0: {f(c0)})"


def _batch_mahalanobis(L, x):
    """``x^T (L L^T)^{-1} x`` over the last dim, broadcasting ``L``'s batch dims."""
    from ..linalg import solve_triangular

    k = x.shape[-1]
    batch = np.broadcast_shapes(tuple(L.shape[:-2]), tuple(x.shape[:-1]))
    sol = solve_triangular(
        L.expand(*(batch + (k, k))), x.expand(*(batch + (k,))).unsqueeze(-1), upper=False
    )
    return sol.squeeze(-1).pow(2).sum(-1)


class MultivariateNormal(Distribution):
    """Gaussian vectors with ``loc`` and one of ``covariance_matrix``, ``precision_matrix``
    or ``scale_tril``; ``rsample`` is ``loc + L @ eps``."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc,
        covariance_matrix=None,
        precision_matrix=None,
        scale_tril=None,
        validate_args=None,
    ):
        from .. import linalg

        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        name, m = next(
            (n, v)
            for n, v in (
                ("scale_tril", scale_tril),
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
            )
            if v is not None
        )
        if m.ndim < 2:
            what = {"scale_tril": "scale_tril matrix"}.get(name, name)
            raise ValueError(
                f"{what} must be at least two-dimensional, with optional leading batch dimensions"
            )
        batch = np.broadcast_shapes(tuple(m.shape[:-2]), tuple(loc.shape[:-1]))
        self.__dict__[name] = m.expand(*(batch + tuple(m.shape[-2:])))
        self.loc = loc.expand(*(batch + tuple(loc.shape[-1:])))
        super().__init__(batch, tuple(self.loc.shape[-1:]), validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = linalg.cholesky(linalg.inv(precision_matrix))

    def _bshape(self, *tail):
        return tuple(self._batch_shape) + tail

    @lazy_property
    def scale_tril(self):
        """The lower Cholesky factor of the covariance."""
        k = self._event_shape[0]
        return self._unbroadcasted_scale_tril.expand(*self._bshape(k, k))

    @lazy_property
    def covariance_matrix(self):
        """``L @ L.mT``."""
        L = self._unbroadcasted_scale_tril
        k = self._event_shape[0]
        return (L @ L.mT).expand(*self._bshape(k, k))

    @lazy_property
    def precision_matrix(self):
        """The inverse covariance ``L^-T L^-1``."""
        from ..linalg import solve_triangular

        L = self._unbroadcasted_scale_tril
        k = self._event_shape[0]
        eye = creation.eye(k, dtype=L.dtype).expand(*(tuple(L.shape[:-2]) + (k, k)))
        li = solve_triangular(L, eye, upper=False)
        return (li.mT @ li).expand(*self._bshape(k, k))

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (
            self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(*self._bshape(*self._event_shape))
        )

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = creation.randn(*shape, dtype=self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        L = self._unbroadcasted_scale_tril
        m = _batch_mahalanobis(L, value - self.loc)
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - half_log_det

    def entropy(self):
        L = self._unbroadcasted_scale_tril
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        return h.expand(*self._batch_shape) if tuple(h.shape) != tuple(self._batch_shape) else h

    def expand(self, batch_shape, _instance=None):
        new = type(self).__new__(type(self))
        k = self._event_shape[0]
        b = tuple(batch_shape)
        new.loc = self.loc.expand(*(b + (k,)))
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(*(b + (k, k)))
        Distribution.__init__(new, b, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
