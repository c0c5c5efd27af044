"""``jitgrad.distributions``: PyTorch's distributions interface (``sample``/``rsample``,
``log_prob``, ``entropy``, ``mean``/``variance``, ``cdf``/``icdf``, ``batch_shape`` and
``event_shape``, argument validation, ``kl_divergence``), built from differentiable jitgrad
ops, so a reparameterised ``rsample`` + ``log_prob``/``kl`` step backpropagates and traces."""

from . import constraints, transforms, utils
from .continuous import (
    Beta,
    Dirichlet,
    Exponential,
    Gamma,
    Laplace,
    LogNormal,
    MultivariateNormal,
    Normal,
    Uniform,
)
from .discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    Geometric,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Poisson,
)
from .distribution import Distribution, ExponentialFamily
from .independent import Independent
from .kl import kl_divergence, register_kl
from .more import (
    Cauchy,
    Chi2,
    HalfNormal,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    Multinomial,
    StudentT,
)
from .relaxed import (
    ExpRelaxedCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from .transformed_distribution import TransformedDistribution

__all__ = [
    "LowRankMultivariateNormal",
    "ExpRelaxedCategorical",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "Cauchy",
    "Chi2",
    "HalfNormal",
    "MixtureSameFamily",
    "Multinomial",
    "StudentT",
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Dirichlet",
    "Distribution",
    "Exponential",
    "ExponentialFamily",
    "Gamma",
    "Geometric",
    "Independent",
    "Laplace",
    "LogNormal",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Poisson",
    "TransformedDistribution",
    "Uniform",
    "constraints",
    "transforms",
    "utils",
    "kl_divergence",
    "register_kl",
]
