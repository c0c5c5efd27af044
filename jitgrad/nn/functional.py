"""``jitgrad.nn.functional``: layers and losses as functions, built from jitgrad ops.

Everything here is composed of Tensor ops or the conv/pool/pad primitives in
``jitgrad/ops/conv.py``, so it runs eagerly, differentiates to any order and traces into a
static graph. The only reads of tensor values are the validation helpers of integer
targets/indices (``_check_class_targets``, ``_check_embedding_indices``, ``one_hot``).
"""

import math
import warnings

import numpy as np

import jitgrad as _J

from .._grad_mode import no_grad
from ..ops import conv as _C
from ..ops import ctc as _ctc
from ..ops._common import out_of_range
from ..ops.inplace import inplace as _inplace
from ..ops.reduce import require as _require
from ..tensor import Tensor

__all__ = [
    "linear",
    "bilinear",
    "conv1d",
    "conv2d",
    "conv3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "dropout",
    "dropout2d",
    "relu",
    "relu6",
    "leaky_relu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "hardtanh",
    "logsigmoid",
    "softmax",
    "log_softmax",
    "softplus",
    "elu",
    "embedding",
    "one_hot",
    "pad",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "flatten",
    "normalize",
]


# ---------------------------------------------------------------- argument helpers --------
def _tuple(v, n, name, op):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v}")
    return v


def _check_tensor(x, op, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _same_dtype(op, x, w, what="weight"):
    if x._data.dtype != w._data.dtype:
        fix = f"model.to({x.dtype}) or input.to({w.dtype})"
        if x._data.dtype.kind != "f":  # an integer/bool input: only converting it makes sense
            fix = f"input.to({w.dtype}) (e.g. input.float())"
        raise RuntimeError(
            f"{op}: Input type ({x.dtype}) and {what} type ({w.dtype}) should be the same; "
            f"convert one, e.g. {fix}"
        )


def _float_only(op, x):
    if isinstance(x, Tensor) and x._data.dtype.kind not in "fc":
        raise NotImplementedError(
            f'"{op}" not implemented for {x.dtype} (input of shape {list(x._data.shape)}); '
            "convert with input.float()"
        )


def _shape(t):
    return list(t._data.shape)


# ---------------------------------------------------------------- linear ------------------
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; ``input`` is (*, in_features)."""
    _check_tensor(input, "linear")
    if input._data.ndim == 0:
        raise RuntimeError(
            f"linear: both arguments to linear need to be at least 1D, but they are 0D and "
            f"{weight._data.ndim}D; give the input a feature dimension, e.g. x.reshape(1, -1) "
            f"or x.unsqueeze(-1) (in_features is {weight._data.shape[-1]})"
        )
    if input._data.shape[-1] != weight._data.shape[-1]:
        a = "x".join(map(str, (int(np.prod(input._data.shape[:-1])), input._data.shape[-1])))
        b = "x".join(map(str, weight._data.shape[::-1]))
        raise RuntimeError(
            f"linear: mat1 and mat2 shapes cannot be multiplied ({a} and {b}); the input's last "
            f"dimension ({input._data.shape[-1]}) must equal in_features ({weight._data.shape[-1]})"
        )
    _same_dtype("linear", input, weight)
    out = input @ weight.t() if weight._data.ndim == 2 else input @ weight
    return out + bias if bias is not None else out


def bilinear(input1, input2, weight, bias=None):
    """``y_o = x1^T W_o x2 + b_o`` for weight (out, in1, in2)."""
    if input1._data.shape[:-1] != input2._data.shape[:-1]:
        raise RuntimeError(
            f"bilinear: input1 and input2 batch shapes differ: {_shape(input1)} vs {_shape(input2)}"
        )
    if (input1._data.shape[-1], input2._data.shape[-1]) != weight._data.shape[1:]:
        raise RuntimeError(
            f"bilinear: input sizes ({input1._data.shape[-1]}, {input2._data.shape[-1]}) do not "
            f"match weight of shape {_shape(weight)} (out_features, in1_features, in2_features)"
        )
    lead = input1._data.shape[:-1]
    x1 = input1.reshape(-1, input1._data.shape[-1])
    x2 = input2.reshape(-1, input2._data.shape[-1])
    t = x1 @ weight  # (O, N, in2)
    out = (t * x2).sum(-1).t()  # (N, O)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight._data.shape[0])


# ---------------------------------------------------------------- convolution -------------
def _conv_padding(padding, ksize, dilation, stride, op):
    nd = len(ksize)
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            out = []
            for k, d in zip(ksize, dilation):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        raise ValueError(
            f"{op}: Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
        )
    p = _tuple(padding, nd, "padding", op)
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: negative padding is not supported (got {p})")
    return tuple(v for a in p for v in (a, a))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of (N, C, H, W) with (O, C/groups, kh, kw)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C, L) with (O, C/groups, k); runs as a conv2d of height 1."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution of (N, C, D, H, W) with (O, C/groups, kd, kh, kw).

    >>> F.conv3d(jitgrad.ones(1, 1, 3, 3, 3), jitgrad.ones(1, 1, 2, 2, 2)).shape
    jitgrad.Size([1, 1, 2, 2, 2])
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_lowered(x, w, stride, pad, dilation, groups):
    """The N-d convolution as the conv2d primitive: a 1-d one has height 1; for more than 2
    spatial dims the first one's kernel taps become input channels (what each tap reads,
    ``_depth_taps``, beside the channels of its group) and its output positions join the
    batch. ``pad``: (before, after) per spatial dim, flattened."""
    nd = x._data.ndim - 2
    if nd == 1:
        out = _C.conv2d(
            x.unsqueeze(2), w.unsqueeze(2), (1,) + stride, (0, 0) + pad, (1,) + dilation, groups
        )
        return out.squeeze(2)
    if nd == 2:
        return _C.conv2d(x, w, stride, pad, dilation, groups)
    n, c, dp = x._data.shape[:3]
    rest = x._data.shape[3:]
    o, cg, kd = w._data.shape[:3]
    s, d = stride[0], dilation[0]
    do = (dp + pad[0] + pad[1] - d * (kd - 1) - 1) // s + 1
    taps = _depth_taps(x, kd, s, pad[:2], d, do, 0.0)
    # (N, C, kd, Do, *rest) -> (N * Do, groups * kd * Cg, *rest): each group's channels
    # stay together, as the weight's (O, kd * Cg, ...) below has them
    k = len(rest)
    taps = taps.reshape(n, groups, cg, kd, do, *rest).permute(0, 4, 1, 3, 2, *range(5, 5 + k))
    taps = taps.reshape(n * do, groups * kd * cg, *rest)
    w2 = w.transpose(1, 2).reshape(o, kd * cg, *w._data.shape[3:])
    out = _conv_lowered(taps, w2, stride[1:], pad[2:], dilation[1:], groups)
    out = out.reshape(n, do, o, *out._data.shape[2:])
    return out.permute(0, 2, 1, *range(3, 3 + k))


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    _check_tensor(input, op)
    _check_tensor(weight, op, "weight")
    if weight._data.ndim != nd + 2:
        raise RuntimeError(
            f"{op}: weight must be {nd + 2}-D (out_channels, in_channels/groups, kernel...), "
            f"got shape {_shape(weight)}"
        )
    unbatched = input._data.ndim == nd + 1
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, but got "
            f"input of size: {_shape(input)}"
        )
    x = input.unsqueeze(0) if unbatched else input
    _same_dtype(op, x, weight)
    groups = int(groups)
    o, cg = weight._data.shape[:2]
    c = x._data.shape[1]
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (got {groups})")
    if c != cg * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_shape(weight)}, expected input"
            f"{_shape(x)} to have {cg * groups} channels, but got {c} channels instead"
        )
    if o % groups:
        raise RuntimeError(
            f"{op}: out_channels ({o}) must be divisible by groups ({groups}) (weight of size "
            f"{_shape(weight)})"
        )
    ksize = tuple(weight._data.shape[2:])
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{op}: non-positive stride is not supported (got {stride})")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: dilation should be greater than zero (got {dilation})")
    pad = _conv_padding(padding, ksize, dilation, stride, op)
    spatial = x._data.shape[2:]
    padded = tuple(n + pad[2 * i] + pad[2 * i + 1] for i, n in enumerate(spatial))
    eff = tuple(d * (k - 1) + 1 for k, d in zip(ksize, dilation))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(
            f"{op}: Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            "actual input size"
        )
    out = _conv_lowered(x, weight, stride, pad, dilation, groups)
    return _conv_out(op, out, bias, o, (x, weight, bias), unbatched)


def _conv_out(op, out, bias, o, shown, unbatched):
    """A convolution's (or transposed one's) result: ``out`` plus the bias, its grad_fn shown
    as torch's one ``ConvolutionBackward0`` node on ``shown`` (input, weight, bias), and the
    batch dim dropped again for an unbatched input."""
    if bias is not None:
        if bias._data.shape != (o,):
            raise RuntimeError(
                f"{op}: bias must have shape [{o}] (out_channels), got {_shape(bias)}"
            )
        out = out + bias.reshape((o,) + (1,) * (out._data.ndim - 2))
    if out._grad_fn is not None:
        from ..ops.registry import label

        label(out, "ConvolutionBackward0", shown)
    return out.squeeze(0) if unbatched else out


# ---------------------------------------------------------------- pooling -----------------
def _pool_out(n, k, s, p, d, ceil_mode):
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def _pool_args(op, input, kernel_size, stride, padding, dilation, nd=2):
    _check_tensor(input, op)
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D or {nd + 2}D input tensor, but got input of size "
            f"{_shape(input)}"
        )
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _tuple(stride, nd, "stride", op)
    )
    p = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    if any(v <= 0 for v in k + s + d):
        raise RuntimeError(
            f"{op}: kernel_size, stride and dilation must be greater than zero, but got "
            f"kernel_size={k}, stride={s}, dilation={d}"
        )
    for pi, ki, di in zip(p, k, d):
        if pi < 0 or pi > (di * (ki - 1) + 1) // 2:
            raise RuntimeError(
                f"{op}: pad should be at most half of effective kernel size, but got pad={pi}, "
                f"kernel_size={ki} and dilation={di}"
            )
    return k, s, p, d


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Max over (kh, kw) windows of (N, C, H, W); ``return_indices`` gives flat h*W+w."""
    k, s, p, d = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation)
    unbatched = input._data.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    h, w = x._data.shape[2:]
    out_hw = tuple(
        _pool_out(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in zip((h, w), k, s, p, d)
    )
    if out_hw[0] <= 0 or out_hw[1] <= 0:
        raise RuntimeError(
            f"max_pool2d: Given input size: ({x._data.shape[1]}x{h}x{w}). Calculated output "
            f"size: ({x._data.shape[1]}x{out_hw[0]}x{out_hw[1]}). Output size is too small"
        )
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"max_pool2d: expected a floating-point input, got {x.dtype}")
    pad = (p[0], p[0], p[1], p[1])
    out = _C.max_pool2d(x, k, s, pad, d, out_hw)
    if unbatched:
        out = out.squeeze(0)
    if return_indices:
        idx = _C.max_pool2d_indices(x, k, s, pad, d, out_hw)
        return out, (idx.squeeze(0) if unbatched else idx)
    return out


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Max pooling over the last dimension of (N, C, L) or (C, L)."""
    k, s, p, d = _pool_args("max_pool1d", input, kernel_size, stride, padding, dilation, nd=1)
    r = max_pool2d(
        input.unsqueeze(-2), (1, k[0]), (1, s[0]), (0, p[0]), (1, d[0]), ceil_mode, return_indices
    )
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def _depth_taps(y, k, s, pad, d, out, value):
    """(N, C, k, out, ...): for each of the k taps of ``out`` windows (stride s, dilation d)
    along dim 2 of ``y`` (N, C, D, ...), the positions it reads; ``pad`` = (before, after)
    with ``value`` (after grows to what the last window needs: pooling's ceil_mode)."""
    before, after = pad
    after = max(after, (out - 1) * s + d * (k - 1) + 1 - y._data.shape[2] - before)
    if before or after:
        pads = [(0, 0)] * y._data.ndim
        pads[2] = (before, after)
        y = _C.constant_pad(y, pads, value)
    # one gather along the dim for every (tap, window)
    at = _J.tensor([i * d + j * s for i in range(k) for j in range(out)])
    shape = y._data.shape
    return y.index_select(2, at).reshape(*shape[:2], k, out, *shape[3:])


def _pool3d_sizes(op, x, k, s, p, d, ceil_mode):
    c, *dhw = x._data.shape[1:]
    out = tuple(_pool_out(*a, ceil_mode) for a in zip(dhw, k, s, p, d))
    if min(out) <= 0:
        raise RuntimeError(
            f"{op}: Given input size: ({'x'.join(map(str, [c, *dhw]))}). Calculated output size: "
            f"({'x'.join(map(str, (c,) + out))}). Output size is too small"
        )
    return out


def max_pool3d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Max over (kd, kh, kw) windows of (N, C, D, H, W); ``return_indices`` gives flat
    d*H*W + h*W + w. Runs as max_pool2d over (H, W), then a max over the depth taps (the
    first maximum in (d, h, w) order gets the gradient, as torch's)."""
    k, s, p, d = _pool_args("max_pool3d", input, kernel_size, stride, padding, dilation, nd=3)
    unbatched = input._data.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"max_pool3d: expected a floating-point input, got {x.dtype}")
    n, c, dd, h, w = x._data.shape
    od, oh, ow = _pool3d_sizes("max_pool3d", x, k, s, p, d, ceil_mode)
    y = max_pool2d(
        x.reshape(n, c * dd, h, w), k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices
    )
    y, idx = y if return_indices else (y, None)
    taps = _depth_taps(y.reshape(n, c, dd, oh, ow), k[0], s[0], (p[0], p[0]), d[0], od, -math.inf)
    out, tap = taps.max(2)
    if return_indices:
        # the depth each output took its maximum from, then that slice's flat (h, w) index
        at = tap * d[0] + _J.arange(od).reshape(1, 1, od, 1, 1) * s[0] - p[0]
        idx = idx.reshape(n, c, dd, oh, ow).gather(2, at) + at * (h * w)
        return (out.squeeze(0), idx.squeeze(0)) if unbatched else (out, idx)
    return out.squeeze(0) if unbatched else out


def avg_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Mean over (kd, kh, kw) windows of (N, C, D, H, W), with torch's padding/divisor rules.
    Runs as window sums of avg_pool2d over (H, W), summed over the depth taps."""
    k, s, p, _ = _pool_args("avg_pool3d", input, kernel_size, stride, padding, 1, nd=3)
    unbatched = input._data.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    n, c, dd, h, w = x._data.shape
    od, oh, ow = _pool3d_sizes("avg_pool3d", x, k, s, p, (1, 1, 1), ceil_mode)
    y = avg_pool2d(x.reshape(n, c * dd, h, w), k[1:], s[1:], p[1:], ceil_mode, True, 1)
    out = _depth_taps(y.reshape(n, c, dd, oh, ow), k[0], s[0], (p[0], p[0]), 1, od, 0.0).sum(2)
    if divisor_override:
        out = out / float(divisor_override)
    else:
        divs = [_avg_divisor(*a, count_include_pad) for a in zip((dd, h, w), k, s, p, (od, oh, ow))]
        div = np.einsum("i,j,k->ijk", *divs)  # the window's size is the product per dim
        if np.all(div == div.flat[0]):
            out = out / float(div.flat[0])
        else:
            out = out / _J.tensor(div, dtype=x.dtype)
    return out.squeeze(0) if unbatched else out


def _avg_divisor(n, k, s, p, out, count_include_pad):
    div = np.empty(out, dtype=np.float64)
    for i in range(out):
        start = i * s - p
        end = min(start + k, n + p)
        size = end - start
        start, end = max(start, 0), min(end, n)
        div[i] = size if count_include_pad else end - start
    return div


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Mean over (kh, kw) windows of (N, C, H, W), with torch's padding/divisor rules."""
    k, s, p, _ = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1)
    unbatched = input._data.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c, h, w = x._data.shape
    oh = _pool_out(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = _pool_out(w, k[1], s[1], p[1], 1, ceil_mode)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"avg_pool2d: Given input size: ({c}x{h}x{w}). Calculated output size: "
            f"({c}x{oh}x{ow}). Output size is too small"
        )
    if (
        k == s
        and p == (0, 0)
        and not ceil_mode
        or (k == s and p == (0, 0) and h % k[0] == 0 and w % k[1] == 0)
    ):
        v = x
        if h != oh * k[0] or w != ow * k[1]:
            v = v[:, :, : oh * k[0], : ow * k[1]]
        out = v.reshape(n, c, oh, k[0], ow, k[1]).sum((3, 5))
        div_h = np.full(oh, float(k[0]))
        div_w = np.full(ow, float(k[1]))
    else:
        pb = max(p[0], (oh - 1) * s[0] + k[0] - h - p[0])
        pr = max(p[1], (ow - 1) * s[1] + k[1] - w - p[1])
        ones = _J.ones(1, 1, k[0], k[1], dtype=x.dtype)
        out = _C.conv2d(x.reshape(n * c, 1, h, w), ones, s, (p[0], pb, p[1], pr), (1, 1), 1)
        out = out.reshape(n, c, oh, ow)
        div_h = _avg_divisor(h, k[0], s[0], p[0], oh, count_include_pad)
        div_w = _avg_divisor(w, k[1], s[1], p[1], ow, count_include_pad)
    if divisor_override:
        out = out / float(divisor_override)
    else:
        div = np.outer(div_h, div_w)
        if np.all(div == div.flat[0]):
            out = out / float(div.flat[0])
        else:
            out = out / _J.tensor(div, dtype=x.dtype)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of the last dimension of (N, C, L)."""
    k, s, p, _ = _pool_args("avg_pool1d", input, kernel_size, stride, padding, 1, nd=1)
    return avg_pool2d(
        input.unsqueeze(-2), (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode, count_include_pad
    ).squeeze(-2)


def _adaptive_matrix(n, out):
    m = np.zeros((out, n), dtype=np.float64)
    for i in range(out):
        start = (i * n) // out
        end = -(-((i + 1) * n) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (oh, ow) output (``None`` keeps that input size)."""
    _check_tensor(input, "adaptive_avg_pool2d")
    if input._data.ndim not in (3, 4):
        raise RuntimeError(
            f"adaptive_avg_pool2d: Expected 3D or 4D tensor, but got input of size {_shape(input)}"
        )
    h, w = input._data.shape[-2:]
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    oh, ow = (
        h if output_size[0] is None else int(output_size[0]),
        w if output_size[1] is None else int(output_size[1]),
    )
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be positive, got {(oh, ow)}")
    if h % oh == 0 and w % ow == 0:
        sh = input._data.shape[:-2] + (oh, h // oh, ow, w // ow)
        return input.reshape(sh).mean((-3, -1))
    return _adaptive_along(_adaptive_along(input, -2, oh), -1, ow)


def _adaptive_along(x, dim, out):
    """Adaptive average pooling of ``x`` along ``dim`` to size ``out``: one 2-D matmul with
    the averaging matrix (a batched N-d matmul runs through a slower path when traced)."""
    n = x._data.shape[dim]
    m = _J.tensor(_adaptive_matrix(n, out).T.copy(), dtype=x.dtype)  # (n, out)
    y = x.movedim(dim, -1)
    lead = y._data.shape[:-1]
    return (y.reshape(-1, n) @ m).reshape(*lead, out).movedim(-1, dim)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed (od, oh, ow) output (``None`` keeps that input size); the
    mean over a box is the mean over (H, W) (``adaptive_avg_pool2d``), then over depth."""
    _check_tensor(input, "adaptive_avg_pool3d")
    if input._data.ndim not in (4, 5):
        raise RuntimeError(
            f"adaptive_avg_pool3d: Expected 4D or 5D tensor, but got input of size {_shape(input)}"
        )
    lead = input._data.shape[:-3]
    dd, h, w = input._data.shape[-3:]
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * 3
    od, oh, ow = (n if o is None else int(o) for n, o in zip((dd, h, w), output_size))
    if min(od, oh, ow) <= 0:
        raise RuntimeError(f"adaptive_avg_pool3d: output_size must be positive, got {(od, oh, ow)}")
    y = adaptive_avg_pool2d(input.reshape(-1, dd, h, w), (oh, ow)).reshape(*lead, dd, oh, ow)
    if dd % od == 0:
        return y.reshape(*lead, od, dd // od, oh, ow).mean(-3)
    return _adaptive_along(y, -3, od)


# ---------------------------------------------------------------- normalization -----------
def _bcast_shape(x):
    return (1, x._data.shape[1]) + (1,) * (x._data.ndim - 2)


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Normalise over the batch (and spatial) dims per channel (dim 1).

    In training the batch statistics are used and the running ones (if given) are updated in
    place: ``running = (1 - momentum) * running + momentum * batch`` with the unbiased batch
    variance. ``momentum`` may be a 0-d tensor (cumulative average).
    """
    _check_tensor(input, "batch_norm")
    if input._data.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input._data.ndim}D input)")
    c = input._data.shape[1]
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if t is not None and t._data.shape != (c,):
            raise RuntimeError(
                f"batch_norm: {name} should contain {c} elements (one per channel of input "
                f"{_shape(input)}), not {t._data.size}"
            )
    dims = (0,) + tuple(range(2, input._data.ndim))
    bshape = _bcast_shape(input)
    if training:
        count = input._data.size // max(c, 1)
        if count <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input.shape}"
            )
        mean = input.mean(dims)
        centered = input - mean.reshape(bshape)
        var = (centered * centered).mean(dims)
        if running_mean is not None or running_var is not None:
            with no_grad():
                m = momentum
                if running_mean is not None:
                    running_mean.mul_(1 - m).add_(mean.detach() * m)
                if running_var is not None:
                    running_var.mul_(1 - m).add_(var.detach() * (m * count / (count - 1)))
        out = centered * (var + eps).rsqrt().reshape(bshape)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "batch_norm: running_mean and running_var must be given when training=False"
            )
        scale = (running_var + eps).rsqrt()
        out = (input - running_mean.reshape(bshape)) * scale.reshape(bshape)
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    _check_tensor(input, "layer_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(normalized_shape)
    k = len(ns)
    if input._data.ndim < k or tuple(input._data.shape[input._data.ndim - k :]) != ns:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size{_shape(input)}"
        )
    dims = tuple(range(-k, 0))
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of ``C / num_groups`` channels per sample."""
    n, c = input._data.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"group_norm: Expected number of channels in input ({c}) to be divisible by "
            f"num_groups ({num_groups})"
        )
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(-1, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(input.shape)
    bshape = _bcast_shape(input)
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


# ---------------------------------------------------------------- dropout -----------------
def _check_p(p, op):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op} probability has to be between 0 and 1, but got {p}")


def _apply_maybe_inplace(input, fn, inplace, name):
    if inplace:
        return _inplace(input, fn, (), name)
    return fn(input)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``."""
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return input

    def fn(x):
        if p == 1.0:
            return x * 0.0
        keep = (_J.rand(*x.shape, dtype=x.dtype) >= p).to(x.dtype)
        return x * keep * (1.0 / (1.0 - p))

    return _apply_maybe_inplace(input, fn, inplace, "dropout_")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability ``p``; scale the rest."""
    _check_p(p, "dropout2d")
    if not training or p == 0.0:
        return input

    def fn(x):
        if p == 1.0:
            return x * 0.0
        shape = x._data.shape[:-2] + (1, 1)
        keep = (_J.rand(*shape, dtype=x.dtype) >= p).to(x.dtype)
        return x * keep * (1.0 / (1.0 - p))

    return _apply_maybe_inplace(input, fn, inplace, "dropout2d_")


# ---------------------------------------------------------------- activations -------------
def relu(input, inplace=False):
    return _apply_maybe_inplace(input, _J.relu, inplace, "relu_")


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    def fn(x):
        # like torch, the gradient is zero at the bounds themselves (clamp would pass it)
        inside = (x > min_val) & (x < max_val)
        return _J.where(inside, x, x.clamp(min_val, max_val).detach())

    return _apply_maybe_inplace(input, fn, inplace, "hardtanh_")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _apply_maybe_inplace(
        input, lambda x: _J.where(x > 0, x, x * negative_slope), inplace, "leaky_relu_"
    )


def gelu(input, approximate="none"):
    """Gaussian error linear unit; ``approximate='tanh'`` uses the tanh formula."""
    if approximate == "none":
        return input * 0.5 * (1.0 + _J.erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (1.0 + inner.tanh())
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input, inplace=False):
    return _apply_maybe_inplace(input, lambda x: x * x.sigmoid(), inplace, "silu_")


def mish(input, inplace=False):
    return _apply_maybe_inplace(input, lambda x: x * softplus(x).tanh(), inplace, "mish_")


def sigmoid(input):
    return _J.sigmoid(input)


def tanh(input):
    return _J.tanh(input)


def _softplus_stable(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|), with -|x| written as a `where` of two smooth
    # branches: exp never overflows, and the derivative at 0 is 1/2 (|x|'s kink would give 0)
    pos = x > 0
    return _J.where(pos, x, 0.0) + _J.where(pos, -x, x).exp().log1p()


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    bx = input * beta if beta != 1 else input
    sp = _softplus_stable(bx)
    if beta != 1:
        sp = sp / beta
    return _J.where(bx > threshold, input, sp)


def logsigmoid(input):
    return -_softplus_stable(-input)


def elu(input, alpha=1.0, inplace=False):
    def fn(x):
        return _J.where(x > 0, x, x.clamp(max=0.0).expm1() * alpha)

    return _apply_maybe_inplace(input, fn, inplace, "elu_")


def _implicit_dim(name, stacklevel):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x), dim)``; no ``dim`` warns and picks torch's legacy choice."""
    if dim is None:
        _implicit_dim("softmax", _stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return _J.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x, dim))``, computed stably; no ``dim`` warns like torch."""
    if dim is None:
        _implicit_dim("log_softmax", _stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return _J.log_softmax(input, dim, dtype=dtype)


def flatten(input, start_dim=0, end_dim=-1):
    return _J.flatten(input, start_dim, end_dim)


# ---------------------------------------------------------------- embedding / one_hot -----
def _check_int_index(op, t, what="indices"):
    _check_tensor(t, op, what)
    if t._data.dtype.kind not in "iu":
        raise RuntimeError(
            f"{op}: Expected tensor for argument '{what}' to have one of the following scalar "
            f"types: Long, Int; but got {t.dtype} instead; convert with .long()"
        )


def _is_tracing():
    from .._trace_hooks import is_tracing

    return is_tracing()


def _trace_guard_index(idx, n):
    """Under ``jitgrad.trace``: send negative indices to ``n`` so compiled code raises.

    Eager calls validate indices in Python before indexing, but a compiled step replays the
    graph without that Python code; the compiled gather/take kernels wrap negative indices
    like NumPy, so a target of -1 would silently pick the last class. Mapping every negative
    index to ``n`` (one past the end) makes the kernels' bounds check raise instead.
    """
    if not _is_tracing():
        return idx
    return _J.where(idx < 0, n, idx)


def _check_embedding_indices(indices, num):
    bad = out_of_range(indices._data, num)
    if bad is not None:
        raise IndexError(
            f"embedding: index {bad} is out of range for an embedding table with {num} rows "
            f"(valid indices are 0..{num - 1}); index out of range in self"
        )


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Rows of ``weight`` picked by the integer tensor ``input``."""
    _check_int_index("embedding", input)
    if sparse:
        raise NotImplementedError(
            "embedding: sparse=True (sparse gradients) is not supported in jitgrad; use "
            "sparse=False (dense gradients, the same values)"
        )
    num = weight._data.shape[0]
    _check_embedding_indices(input, num)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    out = weight[_trace_guard_index(input.long(), num)]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += num
        keep = (input != padding_idx).unsqueeze(-1)
        out = _J.where(keep, out, out.detach())  # same value, no gradient for padding rows
    if scale_grad_by_freq:
        # each row's gradient divided by how often the input picks it: the same value
        # (``out - out.detach()`` is exactly 0), the gradient scaled by 1 / count
        idx = input.long()
        flat = idx.reshape(-1)  # counts by a traced scatter_add: a traced step follows new ids
        cnt = _J.zeros(num, dtype=out.dtype).scatter_add(
            0, flat, _J.ones(flat.shape, dtype=out.dtype)
        )
        inv = 1.0 / cnt[idx]
        out = (out - out.detach()) * inv.unsqueeze(-1) + out.detach()
    return out


def _embedding_renorm_(weight, input, max_norm, norm_type):
    """torch's ``embedding_renorm_``: rows of ``weight`` that ``input`` picks and whose
    ``norm_type``-norm exceeds ``max_norm`` are scaled (in place, untracked) to ``max_norm``."""
    with no_grad():
        rows = _J.unique(input.reshape(-1).long())
        w = weight[rows]
        n = _J.norm(w, norm_type, 1, keepdim=True)
        scale = _J.where(n > max_norm, max_norm / (n + 1e-7), _J.ones_like(n))
        weight[rows] = w * scale


def one_hot(tensor, num_classes=-1):
    """(*,) int64 class indices → (*, num_classes) int64 one-hot."""
    _check_int_index("one_hot", tensor, "tensor")
    a = tensor._data
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        from .._trace_hooks import is_tracing

        if is_tracing():
            from ..compile.tracer import user_frame
            from ..tensor import TraceError

            raise TraceError(
                f"one_hot(num_classes=-1) at {user_frame()} takes the number of classes from "
                "the largest value, so the output shape depends on the data; a static graph "
                "cannot capture it. Pass num_classes, or run this step eagerly"
            )
        num_classes = int(a.max()) + 1
    msg = f"one_hot: Class values must be non-negative and smaller than num_classes ({num_classes})"
    bad = out_of_range(a, num_classes)
    if bad is not None:
        raise RuntimeError(f"{msg}; got {bad}")
    if a.size:  # every compiled call checks it too
        _require(
            (tensor >= 0) & (tensor < num_classes), f"{msg} (tensor of shape {_shape(tensor)})"
        )
    return (tensor.long().unsqueeze(-1) == _J.arange(num_classes)).long()


# ---------------------------------------------------------------- pad ---------------------
def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``.

    Modes: constant (negative values crop), reflect, replicate, circular.
    """
    _check_tensor(input, "pad")
    pad = tuple(int(p) for p in pad)
    nd = input._data.ndim
    if len(pad) % 2 or len(pad) // 2 > nd:
        raise RuntimeError(
            f"pad: Padding length must be divisible by 2 and at most twice the number of "
            f"dimensions of the input ({nd}); got pad={list(pad)}"
        )
    pairs = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        pairs[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        x = input
        if any(a < 0 or b < 0 for a, b in pairs):  # negative padding crops
            idx = tuple(
                slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(pairs, x._data.shape)
            )
            x = x[idx]
            pairs = [(max(a, 0), max(b, 0)) for a, b in pairs]
        if all(a == 0 and b == 0 for a, b in pairs):
            return x if x is not input else input.clone()
        return _C.constant_pad(x, pairs, 0.0 if value is None else value)
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if np_mode is None:
        raise NotImplementedError(
            f"pad: mode {mode!r} is not supported; use 'constant', 'reflect', 'replicate' or "
            "'circular'"
        )
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    x = input
    for d, (a, b) in enumerate(pairs):
        if a == 0 and b == 0:
            continue
        n = x._data.shape[d]
        if mode == "reflect" and (a >= n or b >= n):
            raise RuntimeError(
                f"pad: Padding size should be less than the corresponding input dimension, "
                f"but got: padding ({a}, {b}) at dimension {d} of input {_shape(input)}"
            )
        if a < 0 or b < 0:
            raise RuntimeError("pad: negative padding is only supported in constant mode")
        idx = np.pad(np.arange(n), (a, b), mode=np_mode)
        x = x.index_select(d, _J.tensor(idx))
    return x


# ---------------------------------------------------------------- losses ------------------
def _reduction(size_average, reduce, reduction):
    """Map the legacy ``size_average``/``reduce`` flags to a reduction string, like torch."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(
        f"{op}: {reduction} is not a valid value for reduction (use 'mean', 'sum' or 'none')"
    )


def _check_reduction(reduction, op):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"{op}: {reduction} is not a valid value for reduction (use 'mean', 'sum' or 'none')"
        )


def _warn_size(op, input, target):
    if input._data.shape != target._data.shape:
        warnings.warn(
            f"{op}: Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def _as_target(target, op):
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}(): argument 'target' must be Tensor, not {type(target).__name__}")
    return target


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error ``(input - target) ** 2``."""
    _float_only("mse_loss", input)
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    _warn_size("mse_loss", input, _as_target(target, "mse_loss"))
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _warn_size("l1_loss", input, _as_target(target, "l1_loss"))
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Quadratic below ``beta``, linear above: ``0.5 d^2 / beta`` or ``|d| - 0.5 beta``."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    _warn_size("smooth_l1_loss", input, _as_target(target, "smooth_l1_loss"))
    ad = (input - target).abs()
    if beta == 0:
        loss = ad
    else:
        loss = _J.where(ad < beta, ad * ad * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d^2`` below ``delta``, ``delta * (|d| - 0.5 delta)`` above."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise RuntimeError(
            f"huber_loss does not support non-positive values for delta (got {delta}); pass "
            "delta > 0"
        )
    _warn_size("huber_loss", input, _as_target(target, "huber_loss"))
    ad = (input - target).abs()
    loss = _J.where(ad < delta, ad * ad * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """``-(t log(x) + (1 - t) log(1 - x))`` for probabilities ``x``; logs clamped at -100."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy")
    if isinstance(weight, Tensor) and weight.requires_grad and _J.is_grad_enabled():
        raise RuntimeError(
            "The function 'binary_cross_entropy' is not differentiable with respect to argument "
            "'weight'. This input cannot have requires_grad True."
        )
    target = _as_target(target, "binary_cross_entropy")
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"binary_cross_entropy: Using a target size ({target.shape}) that is different to "
            f"the input size ({input.shape}) is deprecated. Please ensure they have the same size."
        )
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            f"binary_cross_entropy: Found dtype {target.dtype} for target but expected a "
            f"floating point dtype like the input ({input.dtype}); convert with target.float()"
        )
    a = input._data
    t = target._data
    for what, x, arr in (("target", target, t), ("input", input, a)):
        msg = f"binary_cross_entropy: all elements of {what} should be between 0 and 1"
        fix = "; use binary_cross_entropy_with_logits for logits" if what == "input" else ""
        if arr.size and not ((arr >= 0) & (arr <= 1)).all():
            bad = arr[~((arr >= 0) & (arr <= 1))].flat[0]
            raise RuntimeError(f"{msg} (got {bad} in {what} of shape {_shape(x)}){fix}")
        if arr.size:  # every compiled call checks it too
            _require((x >= 0) & (x <= 1), f"{msg} ({what} of shape {_shape(x)}){fix}")
    from ..ops.elementwise import binary_cross_entropy_elementwise

    loss = binary_cross_entropy_elementwise(input, target.to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """BCE on logits, computed stably: ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = _as_target(target, "binary_cross_entropy_with_logits")
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            f"binary_cross_entropy_with_logits: Found dtype {target.dtype} for target but "
            f"expected a floating point dtype like the input ({input.dtype}); convert with "
            "target.float()"
        )
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: Target size ({target.shape}) must be the same as "
            f"input size ({input.shape})"
        )
    sp = _softplus_stable(-input)
    if pos_weight is not None:
        sp = sp * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _unbatched_target(input, target):
    """torch takes a 1-D target of size 1 for a 1-D input: the same as the 0-d target."""
    if (
        isinstance(target, Tensor)
        and input._data.ndim == 1
        and target._data.ndim == 1
        and target._data.dtype.kind in "iu"
    ):
        if target._data.shape[0] != 1:
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: "
                f"{target._data.shape[0]}"
            )
        return target.reshape(())
    return target


def _check_class_targets(op, input, target, ignore_index):
    """Validate integer class targets (shape, dtype, range) before any indexing."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}(): argument 'target' must be Tensor, not {type(target).__name__}")
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(
            f"{op}: expected scalar type Long for class-index targets but found {target.dtype}; "
            "use target.long(), or pass float class probabilities of the input's shape"
        )
    if target._data.dtype not in (np.int64, np.uint8):  # torch takes no other integer dtype
        from ..ops._common import _TORCH_NAMES

        name = _TORCH_NAMES.get(target._data.dtype.name, target._data.dtype.name)
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {name}")
    nd = input._data.ndim
    if nd == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension (got a 0-d tensor)")
    want = () if nd == 1 else (input._data.shape[0],) + input._data.shape[2:]
    if target._data.shape != want:
        if nd >= 2 and (target._data.ndim == 0 or target._data.shape[0] != input._data.shape[0]):
            raise ValueError(
                f"{op}: Expected input batch_size ({input._data.shape[0]}) to match target "
                f"batch_size ({target._data.shape[0] if target._data.ndim else 0})."
            )
        raise RuntimeError(
            f"{op}: expected target of shape {list(want)} for input of shape "
            f"{_shape(input)} (class dimension 1 removed), but got {_shape(target)}"
        )
    c = input._data.shape[0 if nd == 1 else 1]
    a = target._data
    if a.size:
        bad = a[(a != ignore_index) & ((a < 0) | (a >= c))]
        if bad.size:
            raise IndexError(
                f"{op}: Target {bad.flat[0]} is out of bounds: class indices must be in "
                f"[0, {c - 1}] (or equal ignore_index={ignore_index}) for input with {c} "
                f"classes (shape {_shape(input)})"
            )
    return c


def _check_weight(op, weight, c):
    if weight is not None and weight._data.shape != (c,):
        raise RuntimeError(
            f"{op}: weight tensor should be defined either for all {c} classes or no classes "
            f"but got weight tensor of shape: {_shape(weight)}"
        )


def _nll(op, logp, target, weight, ignore_index, reduction):
    """NLL on already-validated (N, C, ...) log-probabilities; returns (loss, weight sum)."""
    keep = target != ignore_index
    safe = _trace_guard_index(_J.where(keep, target.long(), 0), logp._data.shape[1])
    picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = keep.to(logp.dtype)
    if weight is not None:
        w = weight[safe] * w
    loss = -picked * w
    if reduction == "none":
        return loss, w
    if reduction == "sum":
        return loss.sum(), w
    tot = w.sum()
    none = tot == 0  # every target ignored: NaN, as torch, with zero gradients (not 0/0)
    return _J.where(none, float("nan"), loss.sum() / _J.where(none, 1.0, tot)), w


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank=0,
    reduction="mean",
    zero_infinity=False,
):
    """Connectionist temporal classification loss of (T, N, C) log-probabilities (or (T, C)
    unbatched) against padded (N, S) or concatenated 1-D integer ``targets``; torch's
    reductions (``mean`` divides each loss by its target length first) and gradient."""
    _check_tensor(log_probs, "ctc_loss")
    _check_reduction(reduction, "ctc_loss")
    if log_probs.dim() not in (2, 3) or log_probs.dtype.np.kind != "f":
        raise RuntimeError(
            f"ctc_loss: log_probs must be a float (T, N, C) or (T, C) tensor, got "
            f"{log_probs.dtype} of shape {list(log_probs.shape)}"
        )
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
    T, N, C = log_probs.shape

    def lengths(v, what):
        t = v if isinstance(v, Tensor) else _J.tensor(np.asarray(v, dtype=np.int64))
        if t.dtype.np.kind not in "iu":
            raise RuntimeError(f"ctc_loss: {what} must be integers, got {t.dtype}")
        t = t.reshape(-1).long()
        if t.shape[0] != N:
            raise RuntimeError(
                f"ctc_loss: {what} must be of size batch_size ({N}), got {t.shape[0]}"
            )
        return t

    il, tl = lengths(input_lengths, "input_lengths"), lengths(target_lengths, "target_lengths")
    if not isinstance(targets, Tensor):
        targets = _J.tensor(np.asarray(targets, dtype=np.int64))
    if targets.dtype.np.kind not in "iu":
        raise RuntimeError(
            f"ctc_loss: targets must be integer class indices, got {targets.dtype} of shape "
            f"{list(targets.shape)}"
        )
    if unbatched:
        if targets.dim() != 1:
            raise RuntimeError("ctc_loss: unbatched log_probs (T, C) want 1-D targets")
        targets = targets.unsqueeze(0)
    if targets.dim() == 2 and targets.shape[0] != N:
        raise RuntimeError(
            f"ctc_loss: targets of shape {list(targets.shape)} do not match the batch size {N}"
        )
    if targets.dim() not in (1, 2):
        raise RuntimeError(f"ctc_loss: targets must be 1-D or 2-D, got {targets.dim()}-D")
    if not 0 <= blank < C:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {C}), got {blank}")
    nll = _ctc.ctc_nll(log_probs, targets, il, tl, int(blank), bool(zero_infinity))
    if zero_infinity:
        nll = _J.where(_J.isinf(nll), _J.zeros_like(nll), nll)
    if reduction == "mean":
        return (nll / tl.clamp(min=1).to(nll.dtype)).mean()
    if unbatched and reduction == "none":
        return nll[0]
    return _reduce(nll, reduction, "ctc_loss")


def nll_loss(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
):
    """Negative log-likelihood of integer class ``target`` under log-probabilities ``input``."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    _check_tensor(input, "nll_loss")
    target = _unbatched_target(input, target)
    c = _check_class_targets("nll_loss", input, target, ignore_index)
    _check_weight("nll_loss", weight, c)
    unbatched = input._data.ndim == 1
    x, t = (input.unsqueeze(0), target.unsqueeze(0)) if unbatched else (input, target)
    loss, _ = _nll("nll_loss", x, t, weight, ignore_index, reduction)
    return loss.squeeze(0) if unbatched and reduction == "none" else loss


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """``nll_loss(log_softmax(input, 1), target)``; float targets are class probabilities.

    Stable for any logit magnitude (log_softmax subtracts the max). ``label_smoothing``
    mixes the target with the uniform distribution, like torch.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cross_entropy")
    _check_tensor(input, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(
            f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    if input._data.ndim == 0:
        raise RuntimeError("cross_entropy: input must have at least 1 dimension (got a 0-d tensor)")
    unbatched = input._data.ndim == 1
    cdim = 0 if unbatched else 1
    c = input._data.shape[cdim]
    _check_weight("cross_entropy", weight, c)
    if isinstance(target, Tensor) and target._data.dtype.kind == "f":
        if target._data.shape != input._data.shape:
            raise RuntimeError(
                f"cross_entropy: class-probability target of shape {_shape(target)} must match "
                f"the input shape {_shape(input)}"
            )
        logp = _J.log_softmax(input, cdim)
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape((c,) + (1,) * (input._data.ndim - cdim - 1))
        loss = -prod.sum(cdim)
        if reduction == "mean":  # averaged over samples (and positions), not over weights
            return loss.sum() / max(input._data.size // max(c, 1), 1)
        return _reduce(loss, reduction, "cross_entropy")
    target = _unbatched_target(input, target)
    _check_class_targets("cross_entropy", input, target, ignore_index)
    x, t = (input.unsqueeze(0), target.unsqueeze(0)) if unbatched else (input, target)
    logp = _J.log_softmax(x, 1)
    loss, w = _nll("cross_entropy", logp, t, weight, ignore_index, reduction)
    if label_smoothing > 0:
        keep = (t != ignore_index).to(logp.dtype)
        lp = logp if weight is None else logp * weight.reshape((c,) + (1,) * (x._data.ndim - 2))
        smooth = -lp.sum(1) * keep
        if reduction == "none":
            smooth_r = smooth
        elif reduction == "sum":
            smooth_r = smooth.sum()
        else:
            smooth_r = smooth.sum() / w.sum()
        loss = loss * (1.0 - label_smoothing) + smooth_r * (label_smoothing / c)
    return loss.squeeze(0) if unbatched and reduction == "none" else loss


# ---------------------------------------------------------------- more activations -------
def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with SELU's constants."""
    a, s = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return _apply_maybe_inplace(
        input, lambda x: s * _J.where(x > 0, x, a * (_J.exp(x) - 1)), inplace, "selu"
    )


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _apply_maybe_inplace(
        input, lambda x: _J.where(x > 0, x, alpha * (_J.exp(x / alpha) - 1)), inplace, "celu"
    )


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (1 + input.abs())


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)``."""
    if dim is None:
        _implicit_dim("softmin", _stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return softmax(-input, dim, dtype=dtype)


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6`` (zero gradient at x = +-3, as torch)."""
    return _apply_maybe_inplace(input, lambda x: relu6(x + 3) / 6, inplace, "hardsigmoid")


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6`` (gradient 0 at x = -3 and 1 at x = 3, as torch)."""
    return _apply_maybe_inplace(input, lambda x: x * relu6(x + 3) / 6, inplace, "hardswish")


def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - _J.tanh(input)


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return _J.where(input.abs() > lambd, input, 0.0)


def softshrink(input, lambd=0.5):
    """Shrink towards 0 by ``lambd`` (0 inside [-lambd, lambd])."""
    return _J.where(input > lambd, input - lambd, _J.where(input < -lambd, input + lambd, 0.0))


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``."""
    return _apply_maybe_inplace(
        input, lambda x: _J.where(x > threshold, x, value), inplace, "threshold"
    )


def glu(input, dim=-1):
    """``a * sigmoid(b)`` for the two halves of ``input`` along ``dim``."""
    if input.shape[dim] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size "
            f"{input.shape[dim]}"
        )
    a, b = input.chunk(2, dim)
    return a * _J.sigmoid(b)


def prelu(input, weight):
    """``max(0, x) + weight * min(0, x)`` (weight per channel, dim 1)."""
    w = weight
    if weight.numel() > 1 and input.ndim > 1:
        w = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return _J.where(input > 0, input, w * input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomised leaky ReLU (the mean slope in eval mode)."""
    if training:
        a = _J.rand(*input.shape, dtype=input.dtype) * (upper - lower) + lower
        return _J.where(input >= 0, input, input * a)
    return leaky_relu(input, (lower + upper) / 2, inplace)


def relu_(input):
    """In-place ``relu``."""
    return relu(input, inplace=True)


def elu_(input, alpha=1.0):
    """In-place ``elu``."""
    return elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, inplace=True)


def alpha_dropout(input, p=0.5, training=False, inplace=False, _feature=False):
    """Dropout that keeps SELU's mean and variance."""
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    a_ = -1.7580993408473766
    shape = tuple(input.shape)
    if _feature:  # one draw per (sample, channel), broadcast over the rest
        shape = shape[:2] + (1,) * (len(shape) - 2)
    keep = (_J.rand(*shape, dtype=input.dtype) >= p).to(input.dtype)
    a = ((1 - p) * (1 + p * a_ * a_)) ** -0.5
    b = -a * a_ * p
    return (input * keep + a_ * (1 - keep)) * a + b


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``alpha_dropout`` of whole channels (one draw per sample and channel)."""
    return alpha_dropout(input, p, training, inplace, _feature=True)


# ---------------------------------------------------------------- distances, attention ---
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``(x1 / max(||x1||, eps)) . (x2 / max(||x2||, eps))`` along ``dim``, as torch: each
    norm is clamped on its own (its gradient is the unclamped norm's)."""
    if x1.shape != x2.shape:
        x1, x2 = _J.broadcast_tensors(x1, x2)

    def unit(x):
        n = _J.norm(x, 2, dim, keepdim=True)
        return x / (n + (_J.clamp(n, min=eps) - n).detach())

    return _J.sum(unit(x1) * unit(x2), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` over the last dimension."""
    return _J.norm(x1 - x2 + eps, p, -1, keepdim)


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """``softmax(Q K^T / sqrt(d) + mask) V``, PyTorch's reference semantics: a query row
    whose keys are all masked out gives zeros (torch's safe softmax), not NaN; ``enable_gqa``
    repeats each key/value head over its group of query heads."""
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and query.dim() >= 3 and query.shape[-3] != key.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hk == 0 or hq % hk or value.shape[-3] != hk:
            raise RuntimeError(
                f"scaled_dot_product_attention: with enable_gqa=True the number of heads in key "
                f"and value ({hk}, {value.shape[-3]}) must be equal and divide the number of "
                f"heads in query ({hq})"
            )
        key = key.repeat_interleave(hq // hk, dim=-3)
        value = value.repeat_interleave(hq // hk, dim=-3)
    s = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    w = query @ key.transpose(-2, -1) * s
    if is_causal:
        mask = _J.tensor(np.tril(np.ones((L, S), dtype=bool)))
        w = w.masked_fill(~mask, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == _J.bool:
            w = w.masked_fill(~attn_mask, float("-inf"))
        else:
            w = w + attn_mask
        dead = (w == float("-inf")).all(-1, keepdim=True)  # rows with every key masked
        w = softmax(w.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)
    else:
        w = softmax(w, -1)
    if dropout_p > 0:
        w = dropout(w, dropout_p, True)
    return w @ value


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Resize the spatial dims (nearest, nearest-exact, linear/bilinear/trilinear, bicubic,
    area), with torch's source-coordinate rules: a given ``scale_factor`` maps coordinates by
    ``1 / scale_factor`` unless ``recompute_scale_factor=True``."""
    nsp = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"interpolate: {'only one' if size is not None else 'either'} of size or "
            f"scale_factor should be defined (input of shape {list(input.shape)})"
        )
    needs = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
    if mode not in ("nearest", "nearest-exact", "area") and mode not in needs:
        raise NotImplementedError(f"interpolate: mode={mode!r} is not supported by jitgrad")
    if mode in needs and needs[mode] != nsp:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {needs[mode] + 2}D input"
        )
    if align_corners is not None and mode not in needs:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by jitgrad")
    scales = (None,) * nsp
    if size is None:
        sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nsp
        size = tuple(int(math.floor(n * f)) for n, f in zip(input.shape[2:], sf))
        if not recompute_scale_factor:
            scales = tuple(float(f) for f in sf)
    elif isinstance(size, int):
        size = (size,) * nsp
    if mode == "area":
        pool = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d}.get(nsp)
        if pool is None:
            raise NotImplementedError("interpolate: mode='area' supports 3-D and 4-D input")
        return pool(input, size[0] if nsp == 1 else tuple(size))
    x = input
    dt = input._data.dtype
    for k, out in enumerate(size):
        d = 2 + k
        n = x.shape[d]
        # torch's scale: 1 / scale_factor when one was given, else input / output size
        sc = 1.0 / scales[k] if scales[k] else (n / out if out else 0.0)
        dst = np.arange(out, dtype=np.float64)
        if mode in ("nearest", "nearest-exact"):
            off = 0.5 if mode == "nearest-exact" else 0.0
            idx = np.floor((dst + off) * sc).astype(np.int64)
            x = x.index_select(d, _J.tensor(np.minimum(idx, n - 1)))
            continue
        if align_corners:
            pos = dst * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
        else:
            pos = (dst + 0.5) * sc - 0.5
        shape = [1] * x.ndim
        shape[d] = out
        if mode == "bicubic":
            x = _cubic_along(x, d, n, pos, shape, dt)
            continue
        pos = np.maximum(pos, 0)
        i0 = np.minimum(np.floor(pos).astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        wt = (pos - i0).astype(dt)
        a = x.index_select(d, _J.tensor(i0))
        b = x.index_select(d, _J.tensor(i1))
        x = a + (b - a) * _J.tensor(wt.reshape(shape))
    return x


def _cubic_along(x, d, n, pos, shape, dt, A=-0.75):
    """Keys' cubic convolution (torch's A = -0.75) of ``x`` along ``d`` at source ``pos``;
    the four taps clamped to the border."""
    f = np.floor(pos)
    t = pos - f
    c1 = lambda u: ((A + 2) * u - (A + 3)) * u * u + 1  # noqa: E731  |u| <= 1
    c2 = lambda u: ((A * u - 5 * A) * u + 8 * A) * u - 4 * A  # noqa: E731  1 < |u| < 2
    ws = (c2(t + 1), c1(t), c1(1 - t), c2(2 - t))
    r = None
    for j, w in enumerate(ws):
        idx = np.clip(f.astype(np.int64) - 1 + j, 0, n - 1)
        term = x.index_select(d, _J.tensor(idx)) * _J.tensor(w.astype(dt).reshape(shape))
        r = term if r is None else r + term
    return r


upsample = interpolate


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise every (sample, channel) over its spatial dims."""
    dims = tuple(range(2, input.ndim))
    mu = input.mean(dims, keepdim=True)
    var = ((input - mu) ** 2).mean(dims, keepdim=True)
    y = (input - mu) / (var + eps).sqrt()
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def adaptive_avg_pool1d(input, output_size):
    """``adaptive_avg_pool2d`` on a (N, C, L) input."""
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, output_size)).squeeze(-2)


# ---------------------------------------------------------------- more losses ------------
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """``target * (log target - input)`` (input holds log-probabilities)."""
    reduction = _reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            UserWarning,
            stacklevel=2,
        )
    if log_target:
        loss = _J.exp(target) * (target - input)
    else:
        loss = _J.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction, "kl_div")


def _red(loss, reduction, op):
    _check_reduction(reduction, op)
    return _reduce(loss, reduction, op)


def margin_ranking_loss(
    input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"
):
    """``max(0, -y (x1 - x2) + margin)``."""
    reduction = _reduction(size_average, reduce, reduction)
    return _red(
        _J.clamp(-target * (input1 - input2) + margin, min=0), reduction, "margin_ranking_loss"
    )


def hinge_embedding_loss(
    input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"
):
    """``x`` for y = 1, ``max(0, margin - x)`` for y = -1."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = _J.where(target == 1, input, 0.0) + _J.where(
        target == -1, _J.clamp(margin - input, min=0), 0.0
    )
    return _red(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``log(1 + exp(-y x))``."""
    reduction = _reduction(size_average, reduce, reduction)
    return _red(softplus(-target * input), reduction, "soft_margin_loss")


def cosine_embedding_loss(
    input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"
):
    """``1 - cos`` for y = 1, ``max(0, cos - margin)`` for y = -1."""
    reduction = _reduction(size_average, reduce, reduction)
    cos = cosine_similarity(input1, input2, -1, 1e-8)
    loss = _J.where(target == 1, 1 - cos, _J.clamp(cos - margin, min=0))
    return _red(loss, reduction, "cosine_embedding_loss")


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin=1.0,
    p=2,
    eps=1e-6,
    swap=False,
    size_average=None,
    reduce=None,
    reduction="mean",
):
    """``max(d(a, p) - d(a, n) + margin, 0)``."""
    reduction = _reduction(size_average, reduce, reduction)
    dp = pairwise_distance(anchor, positive, p, eps)
    dn = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dn = _J.minimum(dn, pairwise_distance(positive, negative, p, eps))
    return _red(_J.clamp(dp - dn + margin, min=0), reduction, "triplet_margin_loss")


def poisson_nll_loss(
    input,
    target,
    log_input=True,
    full=False,
    size_average=None,
    eps=1e-8,
    reduce=None,
    reduction="mean",
):
    """Poisson negative log-likelihood."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_input:
        loss = _J.exp(input) - target * input
    else:
        loss = input - target * _J.log(input + eps)
    if full:
        st = target * _J.log(target) - target + 0.5 * _J.log(2 * math.pi * target)
        loss = loss + _J.where(target > 1, st, 0.0)
    return _red(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``0.5 (log var + (x - y)^2 / var)`` (+ const when ``full``)."""
    if isinstance(var, Tensor):
        msg = "gaussian_nll_loss: var has negative entry/entries (var of shape {}{}); var is a "
        msg += "variance and must be >= 0"
        if (var._data < 0).any():
            raise ValueError(msg.format(_shape(var), f", min {var._data.min()}"))
        _require(var >= 0, msg.format(_shape(var), ""), "ValueError")
    v = _J.clamp(var, min=eps)
    loss = 0.5 * (_J.log(v) + (input - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _red(loss, reduction, "gaussian_nll_loss")


def multilabel_soft_margin_loss(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """Per-class binary cross-entropy with logits, averaged over classes."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _red(loss.mean(-1), reduction, "multilabel_soft_margin_loss")


def multi_margin_loss(
    input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """Multi-class hinge loss."""
    reduction = _reduction(size_average, reduce, reduction)
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target if target.ndim == 1 else target.unsqueeze(0)
    xy = x.gather(1, t.long().unsqueeze(1))
    m = relu(margin - xy + x)  # torch: no gradient where the margin is exactly met
    if p == 2:
        m = m * m
    if weight is not None:
        m = m * weight[t.long()].unsqueeze(1)
    onehot = one_hot(t.long(), x.shape[1]).bool()
    loss = _J.where(onehot, 0.0, m).sum(1) / x.shape[1]
    if input.ndim == 1:
        loss = loss.squeeze(0)
    return _red(loss, reduction, "multi_margin_loss")


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: each row of ``target`` lists class indices, ended by the first -1;
    ``sum over targets j and non-targets i of max(0, 1 - (x[j] - x[i])) / C``."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape) or input.ndim not in (1, 2):
        raise RuntimeError(
            f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}"
        )
    target._check_concrete("multilabel_margin_loss target")  # the label sets are read here
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = np.asarray(target._data).reshape(x.shape).astype(np.int64)
    n, c = x.shape
    if ((t < -1) | (t >= c)).any():
        raise RuntimeError("argument #2 'target' is out of range")
    valid = np.cumprod(t != -1, axis=1).astype(bool)  # labels before the first -1
    is_target = np.zeros((n, c), bool)
    rows = np.nonzero(valid)[0]
    is_target[rows, t[valid]] = True
    from ..tensor import _wrap

    xy = x.gather(1, _wrap(np.where(valid, t, 0)))  # (N, J): the target classes' scores
    m = relu(1 - xy.unsqueeze(2) + x.unsqueeze(1))  # (N, J, C)
    keep = _wrap((valid[:, :, None] & ~is_target[:, None, :]).astype(x._data.dtype))
    loss = (m * keep).sum((1, 2)) / c
    if input.ndim == 1:
        loss = loss.squeeze(0)
    return _red(loss, reduction, "multilabel_margin_loss")


# PyTorch's grad_fn names for the layers and losses composed above
def _labelled_fn(fn, name, when=None, shown=None):
    """``fn`` whose result's grad_fn shows PyTorch's name (and, with ``shown(*args)``, the
    operands PyTorch's node would point to in ``next_functions``)."""
    from ..ops.registry import label

    def wrapper(*args, **kwargs):
        r = fn(*args, **kwargs)
        t = r[0] if isinstance(r, tuple) and r else r  # (values, indices): the values' node
        if (
            isinstance(t, Tensor)
            and t._grad_fn is not None
            and (when is None or when(*args, **kwargs))
        ):
            nm = name(*args, **kwargs) if callable(name) else name
            label(t, nm, shown(*args, **kwargs) if shown is not None else None)
        return r

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _linear_name(input, weight, bias=None):
    if input.ndim == 2:
        return "AddmmBackward0" if bias is not None else "MmBackward0"
    if input.ndim == 1:
        return "ViewBackward0" if bias is not None else "SqueezeBackward4"
    return "ViewBackward0" if bias is not None else "UnsafeViewBackward0"


def _linear_shown(input, weight, bias=None):
    from ..ops.registry import ShownNode

    if input.ndim != 2:
        return None
    # torch's weight.t() node exists only when the weight requires grad
    wt = ShownNode("TBackward0", (weight,)) if weight.requires_grad else weight
    return (bias, input, wt) if bias is not None else (input, wt)


def _first(input, *a, **k):
    return (input,)


def _pair(input, target, *a, **k):
    return (input, target)


def _ce_shown(input, *a, **k):
    from ..ops.registry import ShownNode

    return (ShownNode("LogSoftmaxBackward0", (input,)),)


def _class_target(input, target, *a, **k):
    return not (isinstance(target, Tensor) and target.is_floating_point()) and not k.get(
        "label_smoothing"
    )


linear = _labelled_fn(linear, _linear_name, shown=_linear_shown)
nll_loss = _labelled_fn(nll_loss, "NllLossBackward0", shown=_first)
cross_entropy = _labelled_fn(cross_entropy, "NllLossBackward0", _class_target, _ce_shown)
binary_cross_entropy = _labelled_fn(
    binary_cross_entropy, "BinaryCrossEntropyBackward0", shown=_pair
)
binary_cross_entropy_with_logits = _labelled_fn(
    binary_cross_entropy_with_logits, "BinaryCrossEntropyWithLogitsBackward0", shown=_pair
)
mse_loss = _labelled_fn(mse_loss, "MseLossBackward0", shown=_pair)
smooth_l1_loss = _labelled_fn(smooth_l1_loss, "SmoothL1LossBackward0", shown=_pair)
huber_loss = _labelled_fn(huber_loss, "HuberLossBackward0", shown=_pair)
kl_div = _labelled_fn(kl_div, "KlDivBackward0", lambda *a, **k: k.get("reduction") == "none")
embedding = _labelled_fn(embedding, "EmbeddingBackward0", shown=lambda i, w, *a, **k: (w,))
layer_norm = _labelled_fn(
    layer_norm,
    "NativeLayerNormBackward0",
    shown=lambda x, s, w=None, b=None, *a, **k: (x, w, b),
)
gelu = _labelled_fn(gelu, "GeluBackward0", shown=_first)
leaky_relu = _labelled_fn(
    leaky_relu,
    "LeakyReluBackward0",
    lambda *a, **k: not (k.get("inplace") or a[2:3] == (True,)),
    _first,
)
silu = _labelled_fn(silu, "SiluBackward0", shown=_first)
elu = _labelled_fn(elu, "EluBackward0", lambda *a, **k: not k.get("inplace"), _first)
softplus = _labelled_fn(softplus, "SoftplusBackward0", shown=_first)
hardtanh = _labelled_fn(hardtanh, "HardtanhBackward0", lambda *a, **k: not k.get("inplace"), _first)
relu6 = _labelled_fn(relu6, "HardtanhBackward0", lambda *a, **k: not k.get("inplace"), _first)
mish = _labelled_fn(mish, "MishBackward0", shown=_first)
logsigmoid = _labelled_fn(logsigmoid, "LogSigmoidBackward0", shown=_first)
batch_norm = _labelled_fn(
    batch_norm,
    "NativeBatchNormBackward0",
    shown=lambda x, rm, rv, w=None, b=None, *a, **k: (x, k.get("weight", w), k.get("bias", b)),
)
group_norm = _labelled_fn(
    group_norm,
    "NativeGroupNormBackward0",
    shown=lambda x, g, w=None, b=None, *a, **k: (x, k.get("weight", w), k.get("bias", b)),
)
selu = _labelled_fn(selu, "EluBackward0", lambda *a, **k: not k.get("inplace"), _first)
hardsigmoid = _labelled_fn(hardsigmoid, "HardsigmoidBackward0", shown=_first)
hardswish = _labelled_fn(hardswish, "HardswishBackward0", shown=_first)
glu = _labelled_fn(glu, "GluBackward0", shown=_first)
_UPSAMPLE = {"nearest": "Nearest", "nearest-exact": "NearestExact", "linear": "Linear",
             "bilinear": "Bilinear", "bicubic": "Bicubic", "trilinear": "Trilinear"}  # fmt: skip


def _interpolate_name(input, size=None, scale_factor=None, mode="nearest", *a, **k):
    nd = input.ndim - 2
    if mode == "area":
        return f"AdaptiveAvgPool{nd}DBackward0"
    return f"Upsample{_UPSAMPLE.get(mode, '')}{nd}DBackward0"


def _adaptive_avg_name(nd):
    """torch's node for nd-D adaptive average pooling: a mean (MeanBackward1) where every
    output size is 1, else AdaptiveAvgPool{nd}DBackward0."""

    def name(input, output_size):
        sizes = (output_size,) * nd if isinstance(output_size, int) else tuple(output_size)
        spatial = tuple(input.shape[-nd:])
        if all((s if s is not None else n) == 1 for s, n in zip(sizes, spatial)):
            return "MeanBackward1"
        return f"AdaptiveAvgPool{nd}DBackward0"

    return name


avg_pool2d = _labelled_fn(avg_pool2d, "AvgPool2DBackward0", shown=_first)
avg_pool3d = _labelled_fn(avg_pool3d, "AvgPool3DBackward0", shown=_first)
max_pool3d = _labelled_fn(max_pool3d, "MaxPool3DWithIndicesBackward0", shown=_first)
pixel_shuffle = _labelled_fn(pixel_shuffle, "PixelShuffleBackward0", shown=_first)
interpolate = _labelled_fn(interpolate, _interpolate_name, shown=_first)
adaptive_avg_pool2d = _labelled_fn(adaptive_avg_pool2d, _adaptive_avg_name(2), shown=_first)
adaptive_avg_pool3d = _labelled_fn(adaptive_avg_pool3d, _adaptive_avg_name(3), shown=_first)
prelu = _labelled_fn(prelu, "PreluKernelBackward0", shown=lambda x, w, *a, **k: (x, w))

__all__ += [
    "selu",
    "celu",
    "softsign",
    "softmin",
    "hardsigmoid",
    "hardswish",
    "tanhshrink",
    "hardshrink",
    "softshrink",
    "threshold",
    "glu",
    "prelu",
    "rrelu",
    "relu_",
    "elu_",
    "leaky_relu_",
    "hardtanh_",
    "alpha_dropout",
    "cosine_similarity",
    "pairwise_distance",
    "scaled_dot_product_attention",
    "pixel_shuffle",
    "pixel_unshuffle",
    "interpolate",
    "upsample",
    "instance_norm",
    "adaptive_avg_pool1d",
    "kl_div",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
]


def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm=None,
    norm_type=2,
    scale_grad_by_freq=False,
    mode="mean",
    sparse=False,
    per_sample_weights=None,
    include_last_offset=False,
    padding_idx=None,
):
    """Sums / means / maxes of bags of embedding rows (a 2-D ``input`` is one bag per row;
    a 1-D ``input`` is split into bags at ``offsets``)."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None")
        n, k = input.shape
        flat = input.reshape(-1)
        bag = np.repeat(np.arange(n), k)
        psw = per_sample_weights.reshape(-1) if per_sample_weights is not None else None
    else:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        offsets._check_concrete("embedding_bag offsets")  # bag layout is read in Python
        off = [int(v) for v in offsets._data.reshape(-1)]
        if off and off[0] != 0:
            raise RuntimeError(
                "embedding_bag: offsets[0] has to be 0, i.e., the first sequence in the "
                f"mini-batch has to start from position 0. However, got {off[0]}"
            )
        if any(b < a for a, b in zip(off, off[1:])) or (off and off[-1] > input.shape[0]):
            raise RuntimeError(
                f"embedding_bag: offsets {off} must be non-decreasing and at most the number "
                f"of indices ({input.shape[0]})"
            )
        if include_last_offset:
            off = off[:-1]
        n = len(off)
        bounds = off + [input.shape[0]]
        bag = (
            np.concatenate([np.full(bounds[i + 1] - bounds[i], i) for i in range(n)])
            if n
            else np.zeros(0, np.int64)
        )
        flat = input
        psw = per_sample_weights
    keep = np.ones(flat.shape[0], dtype=bool)
    if padding_idx is not None:
        keep = flat._data != (padding_idx % weight.shape[0])
    rows = embedding(flat, weight)
    if psw is not None:
        rows = rows * psw.unsqueeze(-1)
    counts = np.bincount(bag[keep], minlength=n).astype(weight._data.dtype)
    rows = _J.where(_J.tensor(keep).unsqueeze(-1), rows, 0.0)
    if mode == "max":
        out = []
        for i in range(n):
            sel = np.nonzero((bag == i) & keep)[0]
            out.append(
                rows[_J.tensor(sel)].amax(0) if sel.size else rows.new_zeros(weight.shape[1])
            )
        return _J.stack(out) if out else rows.new_zeros(0, weight.shape[1])
    idx = _J.tensor(np.broadcast_to(bag[:, None], (bag.size, weight.shape[1])).copy())
    summed = _J.zeros(n, weight.shape[1], dtype=weight.dtype).scatter_add(0, idx, rows)
    if mode == "sum":
        return summed
    return summed / _J.tensor(np.maximum(counts, 1)).unsqueeze(-1)


__all__.append("embedding_bag")


embedding_bag = _labelled_fn(
    embedding_bag, "EmbeddingBagBackward0", shown=lambda i, w, *a, **k: (w,)
)


# ---------------------------------------------------------------- transposed convolution --
def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """Composite: zeros between input pixels, pad by d*(k-1)-p, then a stride-1 ``conv2d``
    with the (in, out/g, k...) weight regrouped to (out, in/g, k...) and flipped."""
    _check_tensor(input, op)
    _check_tensor(weight, op, "weight")
    if weight._data.ndim != nd + 2:
        raise RuntimeError(
            f"{op}: weight must be {nd + 2}-D (in_channels, out_channels/groups, kernel...), "
            f"got shape {_shape(weight)}"
        )
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, but got "
            f"input of size: {_shape(input)}"
        )
    unbatched = input._data.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    _same_dtype(op, x, weight)
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (got {groups})")
    cin, og = weight._data.shape[:2]
    c = x._data.shape[1]
    if c != cin or cin % groups:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape(weight)}, expected input{_shape(x)} to "
            f"have {cin} channels, but got {c} channels instead"
            + (f" (and {cin} is not divisible by groups={groups})" if cin % groups else "")
        )
    ksize = tuple(weight._data.shape[2:])
    s = _tuple(stride, nd, "stride", op)
    p = _tuple(padding, nd, "padding", op)
    op_ = _tuple(output_padding, nd, "output_padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{op}: non-positive stride is not supported (got {s})")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{op}: dilation should be greater than zero (got {d})")
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: negative padding is not supported (got {p})")
    if any(o < 0 or (o >= si and o >= di) for o, si, di in zip(op_, s, d)):
        vals = [((e,) + t if nd == 1 else t) for e, t in zip((0, 1, 1), (op_, s, d))]
        shown = " ".join(
            f"{what}_{nm}: {v}"
            for what, t in zip(("output_padding", "stride", "dilation"), vals)
            for nm, v in zip(("height", "width"), t)
        )
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got {shown}"
        )
    spatial = x._data.shape[2:]
    out_sz = tuple(
        (n - 1) * si - 2 * pi + di * (k - 1) + oi + 1
        for n, si, pi, di, k, oi in zip(spatial, s, p, d, ksize, op_)
    )
    if any(v <= 0 for v in out_sz):
        raise RuntimeError(
            f"{op}: Given input size per channel: ({' x '.join(map(str, spatial))}). Calculated "
            f"output size per channel: ({' x '.join(map(str, out_sz))}). Output size is too small"
        )
    # 1. stride - 1 zeros between input pixels (a zero block on a new axis, merged, tail cut)
    for ax, si in enumerate(s):
        if si > 1:
            sh = x._data.shape
            y = _zeros_around(x.unsqueeze(3 + ax), 3 + ax, 0, si - 1)
            y = y.reshape(sh[: 2 + ax] + (sh[2 + ax] * si,) + sh[3 + ax :])
            x = y.narrow(2 + ax, 0, (sh[2 + ax] - 1) * si + 1)
    # 2. pad d*(k-1)-p each side (+ output_padding at the end); negative amounts crop
    pads = []
    for ax, (k, pi, di, oi) in enumerate(zip(ksize, p, d, op_)):
        e = di * (k - 1) - pi
        lo, hi = e, e + oi
        if lo < 0 or hi < 0:
            n_ax = x._data.shape[2 + ax]
            x = x.narrow(2 + ax, max(-lo, 0), n_ax - max(-lo, 0) - max(-hi, 0))
        pads += [max(lo, 0), max(hi, 0)]
    # 3. the weight as a conv2d weight: (g, in/g, out/g, k...) -> (out, in/g, k...), flipped
    w = weight.reshape((groups, cin // groups, og) + ksize).transpose(1, 2)
    w = w.reshape((groups * og, cin // groups) + ksize).flip(tuple(range(2, 2 + nd)))
    if nd == 1:
        x, w, d, pads = x.unsqueeze(2), w.unsqueeze(2), (1,) + d, [0, 0] + pads
    out = _C.conv2d(x, w, (1, 1), tuple(pads), d, groups)
    if nd == 1:
        out = out.squeeze(2)
    batched = input.unsqueeze(0) if unbatched else input
    return _conv_out(op, out, bias, groups * og, (batched, weight, bias), unbatched)


def _zeros_around(x, dim, before, after):
    """``x`` with ``before`` / ``after`` zeros along ``dim`` (``cat`` with constants: lowered
    on every backend, unlike ``pad``)."""
    sh = x._data.shape
    parts = [_J.zeros(*(sh[:dim] + (n,) + sh[dim + 1 :]), dtype=x.dtype) for n in (before, after)]
    parts = [t for t, n in zip(parts, (before, after)) if n]
    if not parts:
        return x
    return _J.cat(([parts.pop(0)] if before else []) + [x] + parts, dim)


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """2-D transposed convolution of (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw)."""
    return _conv_transpose(
        "conv_transpose2d",
        2,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """1-D transposed convolution of (N, C_in, L) with weight (C_in, C_out/groups, k)."""
    return _conv_transpose(
        "conv_transpose1d",
        1,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


__all__ += ["conv_transpose1d", "conv_transpose2d"]


# ---------------------------------------------------------------- unfold / fold -----------
def _im2col_index(op, hw, kernel_size, dilation, padding, stride):
    """Flat indices into the padded (Hp*Wp) image, ordered (ki, kj, block): (kk*L,) int64,
    with the block grid (oh, ow) and the padded size (Hp, Wp)."""
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    p = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    if any(v <= 0 for v in k + d + s) or any(v < 0 for v in p):
        raise RuntimeError(
            f"{op}: kernel_size, dilation and stride should be greater than zero and padding "
            f"non-negative, but got kernel_size={k}, dilation={d}, padding={p}, stride={s}"
        )
    hp, wp = hw[0] + 2 * p[0], hw[1] + 2 * p[1]
    oh = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"{op}: Given input with spatial size ({hw[0]}, {hw[1]}), kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"({oh}, {ow}), but its components must be at least one."
        )
    ki = np.arange(k[0]).reshape(-1, 1, 1, 1) * d[0]
    kj = np.arange(k[1]).reshape(1, -1, 1, 1) * d[1]
    a = np.arange(oh).reshape(1, 1, -1, 1) * s[0]
    b = np.arange(ow).reshape(1, 1, 1, -1) * s[1]
    idx = ((a + ki) * wp + (b + kj)).reshape(-1).astype(np.int64)
    return idx, k, p, (oh, ow), (hp, wp)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C*kh*kw, L), the sliding blocks as columns."""
    _check_tensor(input, "unfold")
    if input._data.ndim not in (3, 4):
        raise NotImplementedError(
            "Input Error: Only 3D or 4D input Tensors are supported (got "
            f"{input._data.ndim}D) in unfold (im2col)"
        )
    unbatched = input._data.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c, h, w = x._data.shape
    idx, k, p, (oh, ow), (hp, wp) = _im2col_index(
        "unfold", (h, w), kernel_size, dilation, padding, stride
    )
    x = _zeros_around(_zeros_around(x, 2, p[0], p[0]), 3, p[1], p[1])
    cols = x.reshape(n, c, hp * wp).index_select(2, _J.tensor(idx))
    out = cols.reshape(n, c * k[0] * k[1], oh * ow)
    return out.squeeze(0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im: (N, C*kh*kw, L) -> (N, C, H, W), overlapping blocks summed (unfold's adjoint)."""
    _check_tensor(input, "fold")
    if input._data.ndim not in (2, 3):
        raise NotImplementedError(
            "Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported (got "
            f"{input._data.ndim}D) in fold (col2im)"
        )
    unbatched = input._data.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    hw = _tuple(output_size, 2, "output_size", "fold")
    idx, k, p, (oh, ow), (hp, wp) = _im2col_index(
        "fold", hw, kernel_size, dilation, padding, stride
    )
    n, ck, L = x._data.shape
    kk = k[0] * k[1]
    if ck % kk:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ck} and kernel_size={k}."
        )
    if L != oh * ow:
        raise RuntimeError(
            f"Given output_size={hw}, kernel_size={k}, dilation="
            f"{_tuple(dilation, 2, 'dilation', 'fold')}, padding={p}, stride="
            f"{_tuple(stride, 2, 'stride', 'fold')}, expected size of input's dimension 2 to "
            f"match the calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got "
            f"input.size(2)={L}."
        )
    c = ck // kk
    full = _J.tensor(np.broadcast_to(idx, (n, c, idx.size)).copy())
    img = _J.zeros(n, c, hp * wp, dtype=x.dtype).scatter_add(2, full, x.reshape(n, c, kk * L))
    img = img.reshape(n, c, hp, wp)
    if p != (0, 0):
        img = img[:, :, p[0] : hp - p[0], p[1] : wp - p[1]]
    return img.squeeze(0) if unbatched else img


__all__ += ["unfold", "fold"]


# ---------------------------------------------------------------- more pooling, norms -----
def _adaptive_windows(n, out):
    """Per output cell, the input positions of its adaptive window, padded to the longest
    window by repeating the first (a repeat never changes a max nor wins a tie), and which
    slots are real."""
    starts = [(i * n) // out for i in range(out)]
    ends = [-(-((i + 1) * n) // out) for i in range(out)]
    k = max(e - s for s, e in zip(starts, ends))
    idx = np.array(
        [list(range(s, e)) + [s] * (k - (e - s)) for s, e in zip(starts, ends)], dtype=np.int64
    )
    return idx, np.arange(k)[None, :] < (np.array(ends) - np.array(starts))[:, None]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive windows to a fixed (oh, ow) output; ``return_indices`` gives flat
    h*W+w; the gradient goes to the (first) maximum, like PyTorch."""
    op = "adaptive_max_pool2d"
    _check_tensor(input, op)
    if input._data.ndim not in (3, 4):
        raise RuntimeError(f"{op}(): Expected 3D or 4D tensor, but got: {_shape(input)}")
    unbatched = input._data.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c, h, w = x._data.shape
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    oh = h if output_size[0] is None else int(output_size[0])
    ow = w if output_size[1] is None else int(output_size[1])
    if oh < 0 or ow < 0:
        raise RuntimeError(f"{op}(): output_size must be non-negative, got {(oh, ow)}")
    if oh == 0 or ow == 0 or h == 0 or w == 0:
        if h == 0 or w == 0:
            raise RuntimeError(
                f"{op}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_shape(input)}"
            )
        out = x.new_zeros(n, c, oh, ow)
        idx = _J.zeros(n, c, oh, ow, dtype=_J.int64)
    else:
        (rows, vr), (cols, vc) = _adaptive_windows(h, oh), _adaptive_windows(w, ow)
        table = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, -1)
        valid = (vr[:, None, :, None] & vc[None, :, None, :]).reshape(oh, ow, -1)
        kk = table.shape[-1]
        flat = x.reshape(n, c, h * w)
        win = flat.index_select(2, _J.tensor(table.reshape(-1))).reshape(n, c, oh, ow, kk)
        # torch's pick: the last NaN of the window if any, else the first maximum (float
        # amax/amin lower on every backend; argmax and integer amax/amin do not)
        ar = _J.arange(kk, dtype=x.dtype)
        first = _J.where(win == win.amax(-1, keepdim=True), ar, kk).amin(-1, keepdim=True)
        real = _J.tensor(np.broadcast_to(valid, (oh, ow, kk)).copy())
        last_nan = _J.where(win.isnan() & real, ar, -1.0).amax(-1, keepdim=True)
        pick = _J.where(last_nan >= 0, last_nan, first).clamp(max=kk - 1).long()
        tab = _J.tensor(np.broadcast_to(table, (n, c, oh, ow, kk)).copy())
        idx = tab.gather(4, pick).reshape(n, c, oh, ow)
        out = flat.gather(2, idx.reshape(n, c, oh * ow)).reshape(n, c, oh, ow)
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """``adaptive_max_pool2d`` on a (N, C, L) input."""
    _check_tensor(input, "adaptive_max_pool1d")
    if input._data.ndim not in (2, 3):
        raise RuntimeError(
            f"adaptive_max_pool1d(): Expected 2D or 3D tensor, but got: {_shape(input)}"
        )
    r = adaptive_max_pool2d(input.unsqueeze(-2), (1, output_size), True)
    out, idx = r[0].squeeze(-2), r[1].squeeze(-2)
    return (out, idx) if return_indices else out


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``(sum over the window of x**p) ** (1/p)``, PyTorch's formula (via ``avg_pool2d``)."""
    kw, kh = _tuple(kernel_size, 2, "kernel_size", "lp_pool2d")
    out = avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * relu(out.abs())).mul(kw * kh).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``(sum over the window of x**p) ** (1/p)`` over the last dimension."""
    (k,) = _tuple(kernel_size, 1, "kernel_size", "lp_pool1d")
    out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * relu(out.abs())).mul(k).pow(1.0 / norm_type)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """``x / (k + alpha * mean of x**2 over size neighbouring channels) ** beta``."""
    _check_tensor(input, "local_response_norm")
    nd = input._data.ndim
    if nd < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {nd} dimensions)")
    if input.numel() == 0:
        return input
    sizes = input._data.shape
    div = (input * input).reshape(sizes[0], 1, sizes[1], -1)
    div = _zeros_around(div, 2, size // 2, (size - 1) // 2)
    div = avg_pool2d(div, (size, 1), stride=1).reshape(sizes)
    return input / (div * alpha + k).pow(beta)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2 over the last dims) + eps) * weight``; ``eps=None`` is the
    dtype's machine epsilon (PyTorch 2.4+)."""
    _check_tensor(input, "rms_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    shp = tuple(int(v) for v in normalized_shape)
    nd = len(shp)
    if nd == 0 or input._data.shape[input._data.ndim - nd :] != shp or input._data.ndim < nd:
        raise RuntimeError(
            f"Given normalized_shape={list(shp)}, expected input with shape "
            f"[*{', '.join(map(str, shp))}], but got input of size{_shape(input)}"
        )
    if weight is not None and tuple(weight._data.shape) != shp:
        raise RuntimeError(
            f"rms_norm: weight must have shape {list(shp)} (normalized_shape), got {_shape(weight)}"
        )
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(-nd, 0))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


__all__ += [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "lp_pool1d",
    "lp_pool2d",
    "local_response_norm",
    "rms_norm",
]


# ---------------------------------------------------------------- surface round 3 ---------
# Wrappers over the pools above and new functions composed of Tensor ops (helper HS).
def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``max_pool1d`` returning ``(output, indices)``."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``max_pool2d`` returning ``(output, indices)`` (flat ``h * W + w``)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool1d`` returning ``(output, indices)``."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool2d`` returning ``(output, indices)``."""
    return adaptive_max_pool2d(input, output_size, True)


def _unpool_size(op, input, kernel_size, stride, padding, output_size, nd):
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else _tuple(stride, nd, "stride", op)
    p = _tuple(padding, nd, "padding", op)
    spatial = tuple(input._data.shape[-nd:])
    default = tuple((n - 1) * si - 2 * pi + ki for n, ki, si, pi in zip(spatial, k, s, p))
    if output_size is None:
        return default
    out = tuple(int(v) for v in output_size)
    if len(out) == nd + 2 or len(out) == nd + 1:
        out = out[-nd:]
    if len(out) != nd:
        raise ValueError(
            f"{op}: output_size must have {nd} or {nd + 2} elements (got {len(output_size)})"
        )
    for d, (o, dflt, si) in enumerate(zip(out, default, s)):
        if not dflt - si < o < dflt + si:
            raise ValueError(
                f'{op}: invalid output_size "{tuple(output_size)}" (dim {d} must be between '
                f"{dflt - si} and {dflt + si})"
            )
    return out


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    _check_tensor(input, op)
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D or {nd + 2}D input tensor, but got input of size "
            f"{_shape(input)}"
        )
    if tuple(indices._data.shape) != tuple(input._data.shape):
        raise RuntimeError(
            f"{op}: Expected shape of indices to be same as that of the input tensor "
            f"({_shape(input)}) but got indices tensor with shape: {_shape(indices)}"
        )
    _check_int_index(op, indices)
    out = _unpool_size(op, input, kernel_size, stride, padding, output_size, nd)
    lead = tuple(input._data.shape[:-nd])
    total = int(np.prod(out))
    flat_i = indices.reshape(*lead, -1).long()
    if flat_i._data.size:
        lo, hi = int(flat_i._data.min()), int(flat_i._data.max())
        vol = "x".join(map(str, out))
        if lo < 0 or hi >= total:
            raise RuntimeError(
                f"{op}: Found an invalid max index: {hi if hi >= total else lo} (output volumes "
                f"are of size {vol})"
            )
        ok = (flat_i >= 0) & (flat_i < total)
        _require(ok, f"{op}: Found an invalid max index (output volumes are of size {vol})")
    zeros = input.new_zeros(*lead, total)
    res = zeros.scatter(len(lead), flat_i, input.reshape(*lead, -1))
    return res.reshape(*lead, *out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool1d``: values written back at ``indices``, zeros
    elsewhere."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool2d``: values written back at the flat ``indices``
    (``h * W + w``), zeros elsewhere."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``; scale the rest."""
    _check_p(p, "dropout1d")
    nd = input.ndim
    if nd not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    if not training or p == 0.0:
        return input

    def fn(x):
        if p == 1.0:
            return x * 0.0
        keep = (_J.rand(*x._data.shape[:-1], 1, dtype=x.dtype) >= p).to(x.dtype)
        return x * keep * (1.0 / (1.0 - p))

    return _apply_maybe_inplace(input, fn, inplace, "dropout1d_")


def channel_shuffle(input, groups):
    """Split the C channels of (N, C, *) into ``groups`` and interleave them."""
    n, c = input.shape[0], input.shape[1]
    groups = int(groups)
    if groups <= 0:
        raise ValueError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    rest = tuple(input.shape[2:])
    x = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return x.reshape(n, c, *rest)


native_channel_shuffle = channel_shuffle


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Samples of the Gumbel-softmax (Concrete) relaxation; ``hard``: one-hot forward with the
    soft gradient (straight-through)."""
    u = _J.rand(*logits.shape, dtype=logits.dtype)
    gumbels = -(-(-u).log1p()).log()  # -log(Exponential(1))
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = _J.zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def pdist(input, p=2.0):
    """The p-norm distances between the rows of an (N, M) input: the N (N - 1) / 2 pairs
    ``i < j`` in row-major order."""
    _check_tensor(input, "pdist")
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = np.triu_indices(input.shape[0], 1)
    diff = input.index_select(0, _J.tensor(i)) - input.index_select(0, _J.tensor(j))
    return _J.linalg.vector_norm(diff, ord=p, dim=-1)


def _align_default(align_corners):
    if align_corners is None:
        warnings.warn(
            "Default grid_sample and affine_grid behavior has changed to align_corners=False "
            "since 1.3.0. Please specify align_corners=True if the old behavior is desired. "
            "See the documentation of grid_sample for details.",
            stacklevel=3,
        )
        return False
    return bool(align_corners)


def _base_coords(n, align_corners, dtype):
    if n <= 1:
        return np.zeros(max(n, 0), dtype)
    c = np.linspace(-1.0, 1.0, n)
    return (c if align_corners else c * (n - 1) / n).astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """The (N, H, W, 2) sampling grid of the affine maps ``theta`` (N, 2, 3) for an output of
    ``size`` (N, C, H, W), in [-1, 1] coordinates (x first), for ``grid_sample``."""
    align_corners = _align_default(align_corners)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(v) for v in size]
    if len(size) == 5:
        raise NotImplementedError(
            "affine_grid: 3D affine transforms (5D sizes) are not implemented in jitgrad; "
            "2D (Nx2x3 theta, 4D size) is"
        )
    if len(size) != 4:
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
        raise ValueError(
            f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
            f"{theta.shape}."
        )
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    n, _, h, w = size
    dt = theta._data.dtype
    xs, ys = _base_coords(w, align_corners, dt), _base_coords(h, align_corners, dt)
    bx = _J.tensor(np.broadcast_to(xs, (h, w)).reshape(1, h * w, 1).copy())
    by = _J.tensor(np.broadcast_to(ys[:, None], (h, w)).reshape(1, h * w, 1).copy())
    # grid[n, p, j] = theta[n, j, 0] x_p + theta[n, j, 1] y_p + theta[n, j, 2]: elementwise
    t = theta.unsqueeze(1)  # (N, 1, 2, 3)
    grid = bx * t[..., 0] + by * t[..., 1] + t[..., 2]  # (N, H*W, 2)
    return grid.reshape(theta.shape[0], h, w, 2)


def _unnormalize(coord, n, align_corners):
    if align_corners:
        return (coord + 1) * ((n - 1) / 2)
    return ((coord + 1) * n - 1) / 2


def _reflect(x, lo2, hi2):
    # reflect x into [lo2 / 2, hi2 / 2] (PyTorch's reflect_coordinates, twice-scaled bounds)
    if lo2 == hi2:
        return x * 0
    mn, span = lo2 / 2, (hi2 - lo2) / 2
    x = (x - mn).abs()
    extra = x - (x / span).floor() * span
    flips = (x / span).floor()
    even = (flips - (flips / 2).floor() * 2) == 0
    return _J.where(even, extra + mn, span - extra + mn)


def _source_index(coord, n, padding_mode, align_corners):
    x = _unnormalize(coord, n, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, n - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align_corners else _reflect(x, -1, 2 * n - 1)
        x = x.clamp(0, n - 1)
    return x


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample (N, C, H, W) ``input`` at the (N, Ho, Wo, 2) ``grid`` of [-1, 1] (x, y)
    locations: ``mode`` bilinear/nearest, ``padding_mode`` zeros/border/reflection;
    differentiable in ``input`` and (bilinear) ``grid``."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    if mode == "bicubic":
        raise NotImplementedError("grid_sample: mode='bicubic' is not implemented in jitgrad")
    align_corners = _align_default(align_corners)
    _check_tensor(input, "grid_sample")
    if input.ndim == 5:
        raise NotImplementedError("grid_sample: 5D (volumetric) inputs are not implemented")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2:
        raise RuntimeError(
            "grid_sampler(): expected 4D input and grid with same number of dimensions and "
            f"grid.size(-1) == 2, but got input with sizes {_shape(input)} and grid with sizes "
            f"{_shape(grid)}"
        )
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(
            "grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {_shape(input)} and grid with sizes {_shape(grid)}"
        )
    _same_dtype("grid_sample", input, grid, "grid")
    n, c, h, w = input.shape
    ho, wo = grid.shape[1], grid.shape[2]
    ix = _source_index(grid[..., 0], w, padding_mode, align_corners)  # (N, Ho, Wo)
    iy = _source_index(grid[..., 1], h, padding_mode, align_corners)
    flat = input.reshape(n, c, h * w)

    def tap(xi, yi):
        # the input at integer (xi, yi) (float tensors), zero outside the image
        inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
        lin = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long().reshape(n, 1, ho * wo)
        v = flat.gather(2, lin.expand(n, c, ho * wo)).reshape(n, c, ho, wo)
        return v * inside.to(input.dtype).unsqueeze(1)

    if mode == "nearest":
        return tap(ix.detach().round(), iy.detach().round())
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    x1, y1 = x0 + 1, y0 + 1
    wx1, wy1 = (ix - x0).unsqueeze(1), (iy - y0).unsqueeze(1)
    wx0, wy0 = 1 - wx1, 1 - wy1
    return (
        tap(x0, y0) * (wx0 * wy0)
        + tap(x1, y0) * (wx1 * wy0)
        + tap(x0, y1) * (wx0 * wy1)
        + tap(x1, y1) * (wx1 * wy1)
    )


__all__ += [
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "affine_grid",
    "channel_shuffle",
    "dropout1d",
    "grid_sample",
    "gumbel_softmax",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "native_channel_shuffle",
    "pdist",
]

# defined in the section above
adaptive_max_pool2d = _labelled_fn(adaptive_max_pool2d, "AdaptiveMaxPool2DBackward0", shown=_first)
