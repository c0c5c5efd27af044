"""``jitgrad.fft``: the real-valued helpers of ``torch.fft`` (``fftfreq``, ``rfftfreq``,
``fftshift``, ``ifftshift``). The transforms themselves (``fft``, ``rfft``, ...) return complex
tensors, which jitgrad does not have: calling one raises ``NotImplementedError`` saying so."""

import numpy as np

from . import creation
from .ops.composite import roll

_COMPLEX = (
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "rfftn",
    "irfftn",
    "hfft",
    "ihfft",
    "hfft2",
    "ihfft2",
    "hfftn",
    "ihfftn",
)


def _freqs(values, dtype, device, requires_grad):
    from . import get_default_dtype

    return creation.tensor(
        values, dtype=dtype or get_default_dtype(), device=device, requires_grad=requires_grad
    )


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """Sample frequencies of an ``n``-point FFT with spacing ``d``: ``[0, 1, ..., -1] / (d n)``."""
    return _freqs(np.fft.fftfreq(int(n), d), dtype, device, requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """Sample frequencies of a real ``n``-point FFT: ``[0, 1, ..., n // 2] / (d n)``."""
    return _freqs(np.fft.rfftfreq(int(n), d), dtype, device, requires_grad)


def _dims(input, dim):
    if dim is None:
        return tuple(range(input.ndim))
    return (dim,) if isinstance(dim, int) else tuple(dim)


def fftshift(input, dim=None):
    """Move the zero frequency to the centre: roll each of ``dim`` (all dims) by ``n // 2``."""
    dims = _dims(input, dim)
    return roll(input, tuple(input.shape[d] // 2 for d in dims), dims)


def ifftshift(input, dim=None):
    """The inverse of ``fftshift``: roll each of ``dim`` (all dims) by ``-(n // 2)``."""
    dims = _dims(input, dim)
    return roll(input, tuple(-(input.shape[d] // 2) for d in dims), dims)


def __getattr__(name):
    if name in _COMPLEX:
        raise NotImplementedError(
            f"jitgrad.fft.{name}: out of jitgrad's scope (its result is a complex tensor and "
            "jitgrad has no complex dtypes; use numpy.fft on tensor.detach().numpy() outside "
            "the autograd graph). fftfreq, rfftfreq, fftshift and ifftshift are available."
        )
    raise AttributeError(f"module 'jitgrad.fft' has no attribute {name!r}")


__all__ = ["fftfreq", "rfftfreq", "fftshift", "ifftshift"]
