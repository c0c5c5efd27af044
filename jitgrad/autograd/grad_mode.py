"""Grad mode (defined in ``jitgrad._grad_mode`` so low-level modules import it cycle-free)."""

from .._grad_mode import (  # noqa: F401
    STATE,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
