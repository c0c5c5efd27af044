"""Flatten parameters into one vector and back."""

from ..._grad_mode import no_grad
from ...ops.movement import cat


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of ``vec`` into ``parameters`` in place."""
    if vec.dim() != 1:
        raise TypeError(f"expected a 1-D vector, but got a {vec.dim()}-D tensor")
    start = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[start : start + n].reshape(p.shape))
            start += n
    if start != vec.numel():
        raise RuntimeError(
            f"vector_to_parameters: vector has {vec.numel()} elements but the parameters hold "
            f"{start}"
        )
