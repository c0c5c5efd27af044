"""Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d."""

import math

from ... import creation as _c
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module


def _ntuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


class _ConvNd(Module):
    _nd = 2

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        n = self._nd
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer")
        if in_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})"
            )
        if out_channels % groups:
            raise ValueError(
                f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})"
            )
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                )
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        modes = ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in modes:
            raise ValueError(
                f"padding_mode must be one of {set(modes)}, but got padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.dilation = _ntuple(dilation, n)
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's amounts (last dimension first) for a non-zeros padding_mode, as torch
        rp = []
        pads = (0,) * n if isinstance(padding, str) else _ntuple(padding, n)
        for k, d, p in reversed(list(zip(self.kernel_size, self.dilation, pads))):
            if padding == "same":
                total = d * (k - 1)
                rp += [total // 2, total - total // 2]
            elif padding == "valid":
                rp += [0, 0]
            else:
                rp += [p, p]
        self._reversed_padding_repeated_twice = tuple(rp)
        self.weight = Parameter(_c.empty(*self._weight_shape(), dtype=dtype))
        if bias:
            self.bias = Parameter(_c.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _padded(self, input):
        """(input, padding) for the convolution: a non-zeros ``padding_mode`` pads with F.pad."""
        if self.padding_mode == "zeros":
            return input, self.padding
        x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return x, 0

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        n = self._nd
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * n:
            s += ", padding={padding}"
        if self.dilation != (1,) * n:
            s += ", dilation={dilation}"
        if getattr(self, "output_padding", (0,) * n) != (0,) * n:
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class _Conv(_ConvNd):
    def forward(self, input):
        x, pad = self._padded(input)
        conv = _CONV[self._nd]
        return conv(x, self.weight, self.bias, self.stride, pad, self.dilation, self.groups)


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) → (N, C_out, H_out, W_out).

    >>> nn.Conv2d(1, 32, 3)
    Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))
    """

    _nd = 2


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) → (N, C_out, L_out)."""

    _nd = 1


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) → (N, C_out, D_out, H_out, W_out).

    >>> nn.Conv3d(1, 8, 3)
    Conv3d(1, 8, kernel_size=(3, 3, 3), stride=(1, 1, 1))
    """

    _nd = 3


class _ConvTransposeNd(_ConvNd):
    """Transposed convolution: weight (in, out/groups, k...), init as PyTorch's (fan_in from
    ``weight.size(1)`` times the receptive field)."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}')
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got {padding!r}")
        self.output_padding = _ntuple(output_padding, self._nd)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _weight_shape(self):
        return (self.in_channels, self.out_channels // self.groups) + self.kernel_size

    def _output_padding(self, input, output_size):
        """The output_padding that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        n = self._nd
        lead = 2 if input.ndim == n + 2 else 1
        output_size = list(output_size)
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} "
                f"or {lead + n} elements (got {len(output_size)})"
            )
        spatial = tuple(input.shape[lead:])
        lo = [
            (spatial[i] - 1) * self.stride[i]
            - 2 * self.padding[i]
            + self.dilation[i] * (self.kernel_size[i] - 1)
            + 1
            for i in range(n)
        ]
        hi = [lo[i] + self.stride[i] - 1 for i in range(n)]
        for i, size in enumerate(output_size):
            if size < lo[i] or size > hi[i]:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range "
                    f"from {lo} to {hi} (for an input of {list(spatial)})"
                )
        return tuple(int(output_size[i]) - lo[i] for i in range(n))

    def forward(self, input, output_size=None):
        fn = F.conv_transpose2d if self._nd == 2 else F.conv_transpose1d
        return fn(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C_in, H, W); ``forward(x, output_size=...)``
    picks the output_padding."""

    _nd = 2


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L)."""

    _nd = 1
