"""``jitgrad.special``: the special functions tutorials reach for, under torch's names."""

from . import (
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    lgamma,
    log1p,
    log_softmax,
    logit,
    logsumexp,
    round,
    sigmoid,
    sinc,
    softmax,
    xlogy,
)
from .ops.more import i0, i1

expit = sigmoid
gammaln = lgamma
psi = digamma


def entr(input):
    """``-x log x`` (0 at 0, -inf for x < 0), with torch's gradient ``-(log x + 1)``."""
    from .ops.elementwise import entr as _entr

    return _entr(input if input.dtype.np.kind == "f" else input.float())


def log_ndtr(input):
    """``log`` of the standard normal CDF."""
    return ndtr(input).log()


def ndtr(input):
    """The standard normal CDF."""
    import math

    return 0.5 * (1 + erf(input / math.sqrt(2.0)))


__all__ = [
    "digamma",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expm1",
    "lgamma",
    "log1p",
    "log_softmax",
    "logit",
    "logsumexp",
    "round",
    "sigmoid",
    "sinc",
    "softmax",
    "xlogy",
    "expit",
    "gammaln",
    "psi",
    "entr",
    "ndtr",
    "log_ndtr",
    "i0",
    "i1",
]
