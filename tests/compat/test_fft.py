"""jitgrad.fft: the real-valued helpers against numpy.fft; the complex transforms raise."""

import numpy as np
import pytest

import jitgrad as jg


def test_frequencies_match_numpy():
    for n, d in ((5, 0.5), (6, 1.0), (1, 2.0)):
        f = jg.fft.fftfreq(n, d)
        assert f.dtype == jg.float32 and f.shape == (n,)
        np.testing.assert_allclose(f.numpy(), np.fft.fftfreq(n, d), rtol=1e-6)
        np.testing.assert_allclose(jg.fft.rfftfreq(n, d).numpy(), np.fft.rfftfreq(n, d), rtol=1e-6)
    assert jg.fft.fftfreq(4, dtype=jg.float64).dtype == jg.float64


def test_shifts_match_numpy_and_carry_gradients():
    x = np.arange(30.0).reshape(5, 6)
    t = jg.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(jg.fft.fftshift(t).detach().numpy(), np.fft.fftshift(x))
    np.testing.assert_array_equal(jg.fft.ifftshift(t).detach().numpy(), np.fft.ifftshift(x))
    np.testing.assert_array_equal(
        jg.fft.fftshift(t, dim=1).detach().numpy(), np.fft.fftshift(x, axes=1)
    )
    np.testing.assert_array_equal(
        jg.fft.ifftshift(jg.fft.fftshift(t, dim=(0, 1)), dim=(0, 1)).detach().numpy(), x
    )
    w = np.random.default_rng(0).standard_normal((5, 6))
    (jg.fft.fftshift(t) * jg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.fft.ifftshift(w))


def test_complex_transforms_say_why_they_are_missing():
    for name in ("fft", "rfft", "irfft2", "fftn"):
        with pytest.raises(NotImplementedError, match=f"jitgrad.fft.{name}: .*complex"):
            getattr(jg.fft, name)
    with pytest.raises(AttributeError):
        _ = jg.fft.nothing_here
