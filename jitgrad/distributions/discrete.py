"""Discrete distributions: Categorical, OneHotCategorical, Bernoulli, Binomial, Geometric,
Poisson. ``log_prob`` and ``entropy`` are differentiable; samples are drawn from
``jitgrad.rand`` uniforms (so a traced step draws fresh values each call)."""

import numpy as np

from .. import creation
from .._dtype import to_np
from . import _prims, constraints
from .distribution import (
    Distribution,
    ExponentialFamily,
    OnCategorical,
    broadcast_all,
    lazy_property,
)


def _eps(t):
    return float(np.finfo(to_np(t.dtype)).eps)


def clamp_probs(probs):
    """``probs`` clamped to ``[eps, 1 - eps]``."""
    eps = _eps(probs)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """Logits of probabilities (binary: ``log p - log(1 - p)``)."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits, is_binary=False):
    """Probabilities of logits (binary: ``sigmoid``; else softmax over the last dim)."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def _one_of(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


def _bce(logits, target):
    from ..nn.functional import binary_cross_entropy_with_logits

    logits, target = broadcast_all(logits, target)
    return binary_cross_entropy_with_logits(logits, target, reduction="none")


class Categorical(Distribution):
    """Classes ``0..K-1`` with ``probs`` (normalised) or ``logits`` over the last dim."""

    arg_constraints = {
        "probs": constraints.simplex,
        "logits": constraints.independent(constraints.real, 1),
    }
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        super().__init__(tuple(self._param.shape[:-1]), validate_args=validate_args)

    @lazy_property
    def logits(self):
        """Normalised log-probabilities."""
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        """Probabilities (softmax of the logits)."""
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        """The shape of ``probs``/``logits``."""
        return self._param.shape

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def mean(self):
        return creation.full(tuple(self._batch_shape), float("nan"), dtype=self._param.dtype)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self.mean

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            p = self.probs
            cdf = p.cumsum(-1)
            u = creation.rand(*shape, dtype=p.dtype).unsqueeze(-1)
            idx = (cdf.expand(*(shape + (self._num_events,))) <= u).sum(-1)
            return idx.clamp(max=self._num_events - 1).long()

    def log_prob(self, value):
        from .. import broadcast_tensors

        if self._validate_args:
            self._validate_sample(value)
        v = value.long().unsqueeze(-1)
        v, log_pmf = broadcast_tensors(v, self.logits)
        return log_pmf.gather(-1, v[..., :1]).squeeze(-1)

    def entropy(self):
        lg = self.logits.clamp(min=float(np.finfo(to_np(self.logits.dtype)).min))
        return -(lg * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        """``0..K-1`` shaped ``(K,) + (1,) * len(batch_shape)`` (expanded: over the batch)."""
        values = creation.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values


class OneHotCategorical(OnCategorical, Distribution):
    """A ``Categorical`` whose samples are one-hot vectors of length K."""

    arg_constraints = Categorical.arg_constraints
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._init_categorical(probs, logits, validate_args)

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        from ..nn.functional import one_hot

        p = self._categorical.probs
        return one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)

    @property
    def variance(self):
        p = self._categorical.probs
        return p * (1 - p)

    def sample(self, sample_shape=()):
        from ..nn.functional import one_hot

        p = self._categorical.probs
        return one_hot(self._categorical.sample(sample_shape), p.shape[-1]).to(p.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        """The K one-hot vectors, shaped ``(K,) + (1,) * len(batch_shape) + (K,)``."""
        n = self._event_shape[0]
        values = creation.eye(n, dtype=self.probs.dtype)
        values = values.reshape((n,) + (1,) * len(self._batch_shape) + (n,))
        return values.expand(n, *self._batch_shape, n) if expand else values

    def __repr__(self):
        return f"OneHotCategorical(probs: {self.probs.shape})"


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """``OneHotCategorical`` with a straight-through ``rsample`` (gradient of ``probs``)."""

    has_rsample = True

    def rsample(self, sample_shape=()):
        s = self.sample(sample_shape)
        p = self._categorical.probs
        return s + (p - p.detach())


class Bernoulli(ExponentialFamily):
    """1 with probability ``probs`` (or ``sigmoid(logits)``)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            shape = self.probs.shape
        else:
            (self.logits,) = broadcast_all(logits)
            shape = self.logits.shape
        super().__init__(shape, validate_args=validate_args)

    @lazy_property
    def logits(self):
        """``log p - log(1 - p)``."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        """``sigmoid(logits)``."""
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        p = self.probs
        m = (p >= 0.5).to(p.dtype)
        return m.masked_fill(p == 0.5, float("nan"))

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            p = self.probs.expand(*shape)
            return (creation.rand(*shape, dtype=p.dtype) < p).to(p.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -_bce(self.logits, value)

    def entropy(self):
        return _bce(self.logits, self.probs)

    def enumerate_support(self, expand=True):
        """``[0., 1.]`` shaped ``(2,) + (1,) * len(batch_shape)``."""
        v = creation.tensor([0.0, 1.0], dtype=self.probs.dtype)
        v = v.reshape((-1,) + (1,) * len(self._batch_shape))
        return v.expand(-1, *self._batch_shape) if expand else v


def _clamp_by_zero(x):
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class Binomial(Distribution):
    """Successes in ``total_count`` trials of probability ``probs`` (or ``sigmoid(logits)``)."""

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.to(self.probs.dtype)
            shape = self.probs.shape
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.to(self.logits.dtype)
            shape = self.logits.shape
        super().__init__(shape, validate_args=validate_args)

    logits = Bernoulli.logits
    probs = Bernoulli.probs

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return _prims.binomial_sample(
                self.total_count.expand(*shape).contiguous(), self.probs.expand(*shape)
            )

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, lg = self.total_count, self.logits
        log_fact_n = (n + 1).lgamma()
        log_fact_k = (value + 1).lgamma()
        log_fact_nmk = (n - value + 1).lgamma()
        normalize = n * _clamp_by_zero(lg) + n * (-lg.abs()).exp().log1p() - log_fact_n
        return value * lg - log_fact_k - log_fact_nmk - normalize

    def entropy(self):
        n = int(self.total_count.max())
        if not float(self.total_count.min()) == n:
            raise NotImplementedError("Inhomogeneous total count not supported by `entropy`.")
        lp = self.log_prob(self.enumerate_support(False))
        return -(lp.exp() * lp).sum(0)

    def enumerate_support(self, expand=True):
        """``0..total_count`` (homogeneous counts only) over a new leading dim."""
        n = int(self.total_count.max())
        if not float(self.total_count.min()) == n:
            raise NotImplementedError(
                "Inhomogeneous total count not supported by `enumerate_support`."
            )
        v = creation.arange(1 + n, dtype=self.probs.dtype).reshape(
            (-1,) + (1,) * len(self._batch_shape)
        )
        return v.expand(-1, *self._batch_shape) if expand else v


class Geometric(Distribution):
    """Failures before the first success, success probability ``probs``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            shape = self.probs.shape
        else:
            (self.logits,) = broadcast_all(logits)
            shape = self.logits.shape
        super().__init__(shape, validate_args=validate_args)
        if self._validate_args and probs is not None:
            from .distribution import _all_true

            value = self.probs
            valid = value > 0
            what = f"Expected parameter probs of distribution {type(self).__name__} to be positive"
            if not _all_true(valid, what):
                raise ValueError(
                    f"Expected parameter probs ({type(value).__name__} of shape "
                    f"{tuple(value.shape)}) of distribution {self!r} to be positive but found "
                    f"invalid values:\n{value[~valid]}"
                )

    logits = Bernoulli.logits
    probs = Bernoulli.probs

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return self.probs * 0

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            u = _prims._uniform_open(shape, self.probs.dtype)
            return (u.log() / (-self.probs).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        p = probs.masked_fill((probs == 1) & (value == 0), 0.0)
        return value * (-p).log1p() + self.probs.log()

    def entropy(self):
        return _bce(self.logits, self.probs) / self.probs


class Poisson(ExponentialFamily):
    """Counts with mean ``rate``."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=()):
        from .._grad_mode import no_grad

        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return _prims.poisson_sample(self.rate.expand(*shape).contiguous())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return value.xlogy(rate) - rate - (value + 1).lgamma()
