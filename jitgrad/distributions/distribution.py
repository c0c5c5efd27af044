"""The ``Distribution`` base class (PyTorch's interface) and the argument helpers."""

import numbers

import numpy as np

from .. import creation
from .._grad_mode import STATE, no_grad
from ..tensor import Size, Tensor
from . import constraints


def broadcast_all(*values):
    """Tensors and numbers broadcast to one shape; numbers take the tensors' dtype."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, numbers.Number):
            out.append(
                creation.tensor(float(v))
                if like is None
                else creation.full((), float(v), dtype=like.dtype)
            )
        else:
            raise ValueError(
                "Input arguments must all be instances of numbers.Number or jitgrad.Tensor "
                f"(got {type(v).__name__})"
            )
    if all(o.shape == out[0].shape for o in out):
        return tuple(out)
    from .. import broadcast_tensors

    return tuple(broadcast_tensors(*out))


class lazy_property:  # noqa: N801  (PyTorch's name)
    """A property computed on first use and then stored on the instance (``probs`` from
    ``logits`` and back): a value given to ``__init__`` is in ``__dict__`` already."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, inst, owner=None):
        if inst is None:
            return self
        value = self.fn(inst)
        inst.__dict__[self.fn.__name__] = value
        return value


def _all_true(valid, what):
    """Are all of ``valid`` true? In a traced step every compiled call checks it too
    (``ops.reduce.require``: raises ``ValueError`` naming ``what`` before any state is written;
    the call then runs eagerly and raises the message below)."""
    tr = STATE.tracer
    if tr is not None and tr.is_traced(valid):
        from ..ops.reduce import require

        require(valid, what, "ValueError")
    return bool(valid._data.all())


def _sum_rightmost(x, n):
    return x.reshape(tuple(x.shape[: x.ndim - n]) + (-1,)).sum(-1) if n > 0 else x


class Distribution:
    """Base class: ``sample``/``rsample``, ``log_prob``, ``entropy``, ``mean``, ``variance``,
    ``batch_shape`` and ``event_shape``, with PyTorch's argument validation."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True
    arg_constraints = {}
    support = None

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument and sample validation on or off for every distribution."""
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = Size(tuple(batch_shape))
        self._event_shape = Size(tuple(event_shape))
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for param, constraint in self.arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(
                    getattr(type(self), param, None), lazy_property
                ):
                    continue  # not computed yet: the given parameter is checked instead
                value = getattr(self, param)
                with no_grad():
                    valid = constraint.check(value)
                what = f"Expected parameter {param} of distribution {type(self).__name__} to "
                if not _all_true(valid, f"{what}satisfy the constraint {constraint!r}"):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}"
                    )

    @property
    def batch_shape(self):
        """The shape over which parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self):
        """The shape of a single sample."""
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    @property
    def mean(self):
        """The mean of the distribution."""
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self):
        """The mode of the distribution."""
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self):
        """The variance of the distribution."""
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self):
        """The standard deviation (square root of the variance)."""
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        """A sample (no gradient) of shape ``sample_shape + batch_shape + event_shape``."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        """A reparameterised sample: gradients flow to the parameters."""
        raise NotImplementedError(
            f"{type(self).__name__} has no rsample (it is not reparameterisable); use sample()"
        )

    def sample_n(self, n):
        """``n`` samples (old spelling of ``sample((n,))``)."""
        return self.sample((n,))

    def log_prob(self, value):
        """The log density/mass of ``value``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value):
        """The cumulative distribution function at ``value``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value):
        """The inverse CDF at probabilities ``value``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement icdf")

    def entropy(self):
        """The entropy, one value per batch entry."""
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self):
        """``exp(entropy())``."""
        return self.entropy().exp()

    def expand(self, batch_shape, _instance=None):
        """The same distribution with its batch dims broadcast to ``batch_shape`` (parameter
        tensors and inner distributions expanded, no data copied)."""
        batch_shape = tuple(batch_shape)
        old = tuple(self._batch_shape)
        try:
            ok = np.broadcast_shapes(old, batch_shape) == batch_shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(
                f"expand: the batch shape {Size(old)} cannot be expanded to {Size(batch_shape)}"
            )
        new = type(self).__new__(type(self))
        n = len(old)
        for k, v in self.__dict__.items():
            if isinstance(v, Tensor) and tuple(v.shape[:n]) == old and v.ndim >= n:
                v = v.expand(*(batch_shape + tuple(v.shape[n:])))
            elif isinstance(v, Distribution) and tuple(v.batch_shape[:n]) == old:
                v = v.expand(batch_shape + tuple(v.batch_shape[n:]))
            new.__dict__[k] = v
        new._batch_shape = Size(batch_shape)
        return new

    def _validate_sample(self, value):
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        ev = tuple(self._event_shape)
        start = value.ndim - len(ev)
        if tuple(value.shape[start:]) != ev:
            raise ValueError(
                f"The right-most size of value must match event_shape: {value.shape} vs "
                f"{self._event_shape}."
            )
        expected = tuple(self._batch_shape) + ev
        for i, j in zip(reversed(tuple(value.shape)), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    "Value is not broadcastable with batch_shape+event_shape: "
                    f"{value.shape} vs {Size(expected)}."
                )
        support = self.support
        with no_grad():
            valid = support.check(value)
        what = f"Expected value argument to be within the support ({support!r}) of the "
        if not _all_true(valid, f"{what}distribution {type(self).__name__}"):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support!r}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self):
        parts = []
        for k in self.arg_constraints:
            if k in self.__dict__:
                v = self.__dict__[k]
                parts.append(f"{k}: {v._data.reshape(-1)[0].item() if v.numel() == 1 else v.shape}")
        return f"{type(self).__name__}({', '.join(parts)})"


class ExponentialFamily(Distribution):
    """Marker base class of the exponential families (PyTorch's name)."""


def delegating(owner, *names):
    """A mixin whose read-only properties ``names`` are ``self.<owner>.<name>`` (a
    distribution built on another one: ``OneHotCategorical`` on its ``Categorical``)."""
    ns = {
        n: property(lambda self, n=n: getattr(getattr(self, owner), n), doc=f"``{owner}.{n}``")
        for n in names
    }
    return type(f"_Via{owner.strip('_').title()}", (), ns)


class LocScale:
    """Mixin of the location-scale families (Normal, Laplace, Cauchy): real support,
    ``loc``/``scale`` broadcast together, the mode is ``loc``, ``rsample`` exists."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        Distribution.__init__(self, self.loc.shape, validate_args=validate_args)

    @property
    def mode(self):
        return self.loc


class OnCategorical(delegating("_categorical", "probs", "logits", "param_shape")):
    """Mixin of the distributions over K categories built on a ``Categorical`` of the same
    ``probs``/``logits``: event shape (K,), the categorical's batch shape."""

    def _init_categorical(self, probs, logits, validate_args):
        from .discrete import Categorical

        self._categorical = Categorical(probs=probs, logits=logits)
        Distribution.__init__(
            self,
            self._categorical.batch_shape,
            tuple(self._categorical.param_shape[-1:]),
            validate_args=validate_args,
        )
