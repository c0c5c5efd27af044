"""More layers of torch.nn: AdaptiveAvgPool1d, Dropout1d, UpsamplingNearest2d/Bilinear2d,
Softmax2d, MaxUnpool1d/2d, ChannelShuffle and LazyLinear (with UninitializedParameter)."""

import numpy as np

from ..._dtype import to_np
from ..._grad_mode import no_grad
from .. import functional as F
from ..parameter import Parameter
from .dropout import _DropoutNd
from .extra import Upsample
from .linear import Linear
from .module import Module


class AdaptiveAvgPool1d(Module):
    """Average pooling of (N, C, L) to a fixed length."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Dropout1d(_DropoutNd):
    """Channel dropout of (N, C, L) or (C, L): ``F.dropout1d``."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')`` on (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)`` on (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) at each location."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return input.softmax(-3)


class _MaxUnpoolNd(Module):
    nd = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()

        def tup(v):
            return (v,) * self.nd if isinstance(v, int) else tuple(v)

        self.kernel_size = tup(kernel_size)
        self.stride = tup(stride if stride is not None else kernel_size)
        self.padding = tup(padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``F.max_unpool1d`` as a module (the partial inverse of ``MaxPool1d``)."""

    nd = 1

    def forward(self, input, indices, output_size=None):
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool2d(_MaxUnpoolNd):
    """``F.max_unpool2d`` as a module (the partial inverse of ``MaxPool2d``)."""

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class ChannelShuffle(Module):
    """``F.channel_shuffle`` with ``groups``."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (lazy modules); ``materialize(shape)`` gives
    it storage in place, so references to it (an optimizer's) stay valid."""

    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        p = Parameter.__new__(cls, None, requires_grad)
        p._data = np.empty((0,), dtype=to_np(dtype) if dtype else np.float32)
        return p

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass  # everything happens in __new__

    def materialize(self, shape, device=None, dtype=None):
        """Give the parameter storage of ``shape`` (uninitialised values) and make it a
        ``Parameter``."""
        dt = self._data.dtype if dtype is None else to_np(dtype)
        self._data = np.empty(tuple(shape), dtype=dt)
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return "<UninitializedParameter>"


def _uninit(p):
    return isinstance(p, UninitializedParameter)


class LazyLinear(Linear):
    """A ``Linear`` whose ``in_features`` is read from the first input; it then becomes a
    ``Linear`` (run one batch before building the optimizer, as with PyTorch)."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self):
        """True until the first call has fixed the shapes."""
        return _uninit(self.weight) or _uninit(self.bias)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        """Materialise weight (out_features, input.shape[-1]) and bias, then initialise them
        as ``Linear`` does."""
        if not self.has_uninitialized_params():
            return
        with no_grad():
            self.in_features = int(input.shape[-1])
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        self.__class__ = self.cls_to_become

    def forward(self, input):
        self.initialize_parameters(input)
        return F.linear(input, self.weight, self.bias)


__all__ = [
    "AdaptiveAvgPool1d",
    "ChannelShuffle",
    "Dropout1d",
    "LazyLinear",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "Softmax2d",
    "UninitializedParameter",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]
