"""``torch.utils.checkpoint``: the same values and gradients; activations are kept.

PyTorch's checkpointing frees a segment's activations and recomputes them in the backward
pass (memory for time). jitgrad runs the segment once and keeps them: the results are the same,
the memory use is that of a plain call. The first call says so (``RuntimeWarning``, once).
"""

import warnings

__all__ = ["checkpoint", "checkpoint_sequential"]

_WARNED = [False]


def _warn_once():
    if not _WARNED[0]:
        _WARNED[0] = True
        warnings.warn(
            "jitgrad.utils.checkpoint: activations are kept, not recomputed in backward "
            "(same values and gradients, no memory saved)",
            RuntimeWarning,
            stacklevel=3,
        )


def checkpoint(
    function,
    *args,
    use_reentrant=None,
    context_fn=None,
    determinism_check="default",
    debug=False,
    preserve_rng_state=True,
    **kwargs,
):
    """``function(*args, **kwargs)``, differentiable as usual (see the module docstring)."""
    _warn_once()
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run a ``Sequential`` (or a list of modules) on ``input`` in ``segments`` pieces."""
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be >= 1, got {segments}")
    _warn_once()
    mods = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for f in mods:
        input = f(input)
    return input
