"""``nn.grad``: the gradients of 1-D/2-D convolutions with respect to their input and weight
(``conv2d_input``, ``conv2d_weight``, ...), differentiable, as torch.nn.grad."""

from .. import autograd
from .._grad_mode import STATE, enable_grad
from . import functional as F


def _tuple(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def _input_grad(n, input_size, weight, grad_output, stride, padding, dilation, groups):
    """The transposed convolution of ``grad_output``, padded out to ``input_size``."""
    size = tuple(input_size)[-n:]
    k = tuple(weight.shape[-n:])
    s, p, d = _tuple(stride, n), _tuple(padding, n), _tuple(dilation, n)
    go = tuple(grad_output.shape[-n:])
    least = [(go[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(n)]
    extra = [size[i] - least[i] for i in range(n)]
    if any(e < 0 or e >= max(s[i], d[i]) for i, e in enumerate(extra)):
        raise ValueError(
            f"conv{n}d_input: input_size {list(input_size)} does not fit grad_output of shape "
            f"{list(grad_output.shape)} (sizes between {least} and "
            f"{[m + max(s[i], d[i]) - 1 for i, m in enumerate(least)]} are possible)"
        )
    tr = F.conv_transpose2d if n == 2 else F.conv_transpose1d
    return tr(grad_output, weight, None, s, p, tuple(extra), groups, d)


def _weight_grad(conv, input, weight_size, grad_output, stride, padding, dilation, groups):
    """``d conv(input, w) / d w`` applied to ``grad_output`` (linear in w: any w will do)."""
    from ..creation import zeros

    create = STATE.enabled and (input.requires_grad or grad_output.requires_grad)
    with enable_grad():
        w = zeros(*weight_size, dtype=input.dtype, requires_grad=True)
        out = conv(input, w, None, stride, padding, dilation, groups)
        (g,) = autograd.grad(out, w, grad_output, create_graph=create)
    return g


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv1d with respect to its input (of shape ``input_size``)."""
    return _input_grad(1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv2d with respect to its input (of shape ``input_size``)."""
    return _input_grad(2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv1d with respect to its weight (of shape ``weight_size``)."""
    args = (stride, padding, dilation, groups)
    return _weight_grad(F.conv1d, input, weight_size, grad_output, *args)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv2d with respect to its weight (of shape ``weight_size``)."""
    args = (stride, padding, dilation, groups)
    return _weight_grad(F.conv2d, input, weight_size, grad_output, *args)
