"""The Concrete / Gumbel-softmax relaxations: ``RelaxedBernoulli`` and
``RelaxedOneHotCategorical`` (and their logit/log-space bases), PyTorch's formulas."""

from .. import creation
from . import constraints
from .discrete import _one_of, clamp_probs, logits_to_probs, probs_to_logits
from .distribution import Distribution, OnCategorical, broadcast_all, delegating, lazy_property
from .transformed_distribution import TransformedDistribution
from .transforms import ExpTransform, SigmoidTransform

_ViaBase = delegating("base_dist", "temperature", "logits", "probs")


class LogitRelaxedBernoulli(Distribution):
    """The logit of a ``RelaxedBernoulli`` sample."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            self.temperature, self.probs = broadcast_all(temperature, probs)
            shape = self.probs.shape
        else:
            self.temperature, self.logits = broadcast_all(temperature, logits)
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

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        probs = clamp_probs(self.probs.expand(*shape))
        u = clamp_probs(creation.rand(*shape, dtype=probs.dtype))
        return (u.log() - (-u).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class RelaxedBernoulli(_ViaBase, TransformedDistribution):
    """A continuous relaxation of ``Bernoulli`` on (0, 1) with ``temperature``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)


class ExpRelaxedCategorical(OnCategorical, Distribution):
    """The log of a ``RelaxedOneHotCategorical`` sample."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._init_categorical(probs, logits, validate_args)
        if not hasattr(temperature, "shape"):  # a number: a 0-d tensor of the logits' dtype
            temperature = creation.full(
                (), float(temperature), dtype=self._categorical.logits.dtype
            )
        self.temperature = temperature

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        u = clamp_probs(creation.rand(*shape, dtype=self.logits.dtype))
        gumbels = -((-(u.log())).log())
        scores = (self.logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value):
        k = self._categorical._num_events
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        t = self.temperature
        log_scale = creation.full_like(t, float(k)).lgamma() - t.log() * (-(k - 1))
        score = logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(_ViaBase, TransformedDistribution):
    """A continuous relaxation of ``OneHotCategorical`` on the simplex with ``temperature``
    (the Gumbel-softmax / Concrete distribution)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = ExpRelaxedCategorical(temperature, probs, logits)
        super().__init__(base, ExpTransform(), validate_args=validate_args)
