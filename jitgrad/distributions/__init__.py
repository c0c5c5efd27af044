"""``jitgrad.distributions``: the few distributions tutorials sample from (``Categorical``,
``Bernoulli``, ``Normal``, ``Uniform``), with ``sample``, ``log_prob`` and ``entropy``
built from differentiable ops (``Normal.rsample`` is reparameterised)."""

import math

from .. import creation
from .. import ops as _ops  # noqa: F401  (Tensor methods)
from ..tensor import Tensor


def _t(x, like=None):
    if isinstance(x, Tensor):
        return x
    return (
        creation.tensor(float(x)) if like is None else creation.full((), float(x), dtype=like.dtype)
    )


def _shape(sample_shape):
    return tuple(sample_shape) if not isinstance(sample_shape, int) else (sample_shape,)


class Distribution:
    """Base class: ``sample(shape)``, ``log_prob(value)``, ``entropy()``."""

    has_rsample = False

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        with no_grad():
            return (
                self.rsample(sample_shape)
                if self.has_rsample
                else self._sample(_shape(sample_shape))
            )

    def __repr__(self):
        parts = []
        for k in self._params:
            v = getattr(self, k)
            parts.append(f"{k}: {v.shape if isinstance(v, Tensor) and v.ndim else v}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Categorical(Distribution):
    """Classes ``0..K-1`` with ``probs`` (normalised) or ``logits`` over the last dim."""

    _params = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = self.probs.clamp(min=1e-38).log()
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = self.logits.exp()

    def _sample(self, shape):
        p = self.probs.detach()
        k = p.shape[-1]
        flat = p.reshape(-1, k)
        n = 1
        for s in shape:
            n *= s
        draws = creation.multinomial(flat, max(n, 1), replacement=True)  # (B, n)
        out = draws.t().reshape(tuple(shape) + tuple(p.shape[:-1]))
        return out

    def log_prob(self, value):
        v = value.long().unsqueeze(-1)
        lg = (
            self.logits.expand(*(tuple(value.shape) + (self.logits.shape[-1],)))
            if (value.ndim > self.logits.ndim - 1)
            else self.logits
        )
        return lg.gather(-1, v).squeeze(-1)

    def entropy(self):
        return -(self.probs * self.logits).sum(-1)


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``)."""

    _params = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self.probs = _t(probs) if probs is not None else logits.sigmoid()
        self.logits = logits if logits is not None else (self.probs / (1 - self.probs)).log()

    def _sample(self, shape):
        p = self.probs.detach()
        return creation.bernoulli(p.expand(*(shape + tuple(p.shape))))

    def log_prob(self, value):
        from ..nn.functional import binary_cross_entropy_with_logits

        lg, v = self.logits, value
        if lg.shape != v.shape:
            lg = lg.expand(*v.shape)
        return -binary_cross_entropy_with_logits(lg, v, reduction="none")

    def entropy(self):
        from ..nn.functional import binary_cross_entropy_with_logits

        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Normal(Distribution):
    """Gaussian with ``loc`` and ``scale``; ``rsample`` is ``loc + scale * eps``."""

    has_rsample = True
    _params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc = _t(loc)
        self.scale = _t(scale, self.loc)

    @property
    def mean(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale**2

    def rsample(self, sample_shape=()):
        shape = _shape(sample_shape) + tuple((self.loc + self.scale).shape)
        eps = creation.randn(*shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        var = self.scale**2
        return (
            -((value - self.loc) ** 2) / (2 * var)
            - self.scale.log()
            - math.log(math.sqrt(2 * math.pi))
        )

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log() + self.loc * 0


class Uniform(Distribution):
    """Uniform on ``[low, high)``; ``rsample`` is ``low + (high - low) * u``."""

    has_rsample = True
    _params = ("low", "high")

    def __init__(self, low, high, validate_args=None):
        self.low = _t(low)
        self.high = _t(high, self.low)

    def rsample(self, sample_shape=()):
        shape = _shape(sample_shape) + tuple((self.low + self.high).shape)
        u = creation.rand(*shape, dtype=self.low.dtype)
        return self.low + (self.high - self.low) * u

    def log_prob(self, value):
        inside = (value >= self.low) & (value < self.high)
        if not bool(inside.all()):
            raise ValueError(
                f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within "
                f"the support (Interval(lower_bound={float(self.low)}, upper_bound="
                f"{float(self.high)})) of the distribution {self!r}, but found invalid values:\n"
                f"{value!r}"
            )
        return -(self.high - self.low).log() + value * 0

    def entropy(self):
        return (self.high - self.low).log()


__all__ = ["Distribution", "Categorical", "Bernoulli", "Normal", "Uniform"]
