"""Op-table rows for every convolution, pooling, padding and normalisation variant.

Rows are ``tests/core/optable.Case`` objects (a jitgrad function, an independent NumPy
reference written as plain loops, the arrays), so the op table's runners apply:
``tests/nn/test_conv_rows.py`` checks them eagerly (forward, first and second derivatives
against float64 finite differences) and traced on the CPU and reference backends,
``tests/cuda/test_conv_rows_cuda.py`` traced on the CUDA backend (simulator). Shapes are tiny:
finite differences cost two calls per input element and the simulator runs each CUDA thread
as a Python thread.
"""

import numpy as np

import jitgrad as jg
import jitgrad.nn.functional as F

from ..core.optable import Case

_R = np.random.default_rng(2026)


def _distinct(shape):
    """Distinct values, well apart (no ties in max pooling at +-eps), random order."""
    n = int(np.prod(shape))
    return (_R.permutation(n) * 0.1 - n * 0.05).reshape(shape) + 0.013


def _normal(shape):
    return _R.standard_normal(shape)


# ---------------------------------------------------------------- NumPy references ----------
def np_conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1):
    """Direct cross-correlation: every output element as a sum over its window."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pb, pl, pr = pad
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    for oc in range(o):
        c0 = oc // og * cg
        for i in range(ho):
            for j in range(wo):
                hs = slice(i * stride[0], i * stride[0] + dil[0] * (kh - 1) + 1, dil[0])
                ws = slice(j * stride[1], j * stride[1] + dil[1] * (kw - 1) + 1, dil[1])
                win = xp[:, c0 : c0 + cg, hs, ws]
                out[:, oc, i, j] = (win * w[oc]).sum((1, 2, 3))
    return out if b is None else out + b[None, :, None, None]


def _windows(n, k, s, p, d, ceil):
    """(start, positions) of each pooling window along one axis, torch's output size."""
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return [(i * s - p, [i * s - p + t * d for t in range(k)]) for i in range(out)]


def np_max_pool2d(x, k, s=None, p=0, d=1, ceil=False, indices=False):
    k, s, p, d = (np.broadcast_to(v, 2) for v in (k, k if s is None else s, p, d))
    rows = _windows(x.shape[2], k[0], s[0], p[0], d[0], ceil)
    cols = _windows(x.shape[3], k[1], s[1], p[1], d[1], ceil)
    out = np.zeros(x.shape[:2] + (len(rows), len(cols)))
    idx = np.zeros(out.shape, np.int64)
    for i, (_, hs) in enumerate(rows):
        for j, (_, ws) in enumerate(cols):
            hs_in = [h for h in hs if 0 <= h < x.shape[2]]
            ws_in = [w for w in ws if 0 <= w < x.shape[3]]
            win = x[:, :, hs_in][:, :, :, ws_in].reshape(x.shape[:2] + (-1,))
            a = win.argmax(-1)
            out[:, :, i, j] = win.max(-1)
            idx[:, :, i, j] = (
                np.array(hs_in)[a // len(ws_in)] * x.shape[3] + np.array(ws_in)[a % len(ws_in)]
            )
    return idx if indices else out


def np_avg_pool2d(x, k, s=None, p=0, ceil=False, include_pad=True, divisor=None):
    k, s, p = (np.broadcast_to(v, 2) for v in (k, k if s is None else s, p))
    rows = _windows(x.shape[2], k[0], s[0], p[0], 1, ceil)
    cols = _windows(x.shape[3], k[1], s[1], p[1], 1, ceil)
    out = np.zeros(x.shape[:2] + (len(rows), len(cols)))
    h, w = x.shape[2:]
    for i, (h0, hs) in enumerate(rows):
        for j, (w0, ws) in enumerate(cols):
            hs_in = [a for a in hs if 0 <= a < h]
            ws_in = [b for b in ws if 0 <= b < w]
            total = x[:, :, hs_in][:, :, :, ws_in].sum((2, 3))
            if divisor:
                div = divisor
            elif include_pad:  # the window clipped to the padded input
                div = (min(h0 + k[0], h + p[0]) - h0) * (min(w0 + k[1], w + p[1]) - w0)
            else:
                div = len(hs_in) * len(ws_in)
            out[:, :, i, j] = total / div
    return out


def np_adaptive_avg_pool2d(x, oh, ow):
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs = slice(i * h // oh, -(-(i + 1) * h // oh))
            ws = slice(j * w // ow, -(-(j + 1) * w // ow))
            out[..., i, j] = x[..., hs, ws].mean((-2, -1))
    return out


def _np_normalize(x, axes, eps=1e-5):
    m = x.mean(axes, keepdims=True)
    v = ((x - m) ** 2).mean(axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def _chan(v, nd):
    return v.reshape((1, -1) + (1,) * (nd - 2))


# ---------------------------------------------------------------- the rows ---------------------
def _batch_norm_train(x, w, b):
    c = x.shape[1]
    rm, rv = jg.zeros(c, dtype=x.dtype), jg.ones(c, dtype=x.dtype)
    return F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)


def _batch_norm_eval(x, w, b):
    c = x.shape[1]
    rm = jg.tensor(np.linspace(-0.5, 0.5, c), dtype=x.dtype)
    rv = jg.tensor(np.linspace(0.5, 2.0, c), dtype=x.dtype)
    return F.batch_norm(x, rm, rv, w, b, training=False)


def _np_batch_norm_eval(x, w, b):
    c = x.shape[1]
    rm, rv = np.linspace(-0.5, 0.5, c), np.linspace(0.5, 2.0, c)
    nd = x.ndim
    out = (x - _chan(rm, nd)) / np.sqrt(_chan(rv, nd) + 1e-5)
    return out * _chan(w, nd) + _chan(b, nd)


def _np_batch_norm_train(x, w, b):
    axes = (0,) + tuple(range(2, x.ndim))
    return _np_normalize(x, axes) * _chan(w, x.ndim) + _chan(b, x.ndim)


def _np_group_norm(x, groups, w, b):
    n, c = x.shape[:2]
    out = _np_normalize(x.reshape(n, groups, -1), (2,)).reshape(x.shape)
    return out * _chan(w, x.ndim) + _chan(b, x.ndim)


def _pool_grad_of_grad(k, s, p):
    """``d/dx sum(max_pool2d(x)^2)`` as an op: its own gradient reaches max_pool2d_gather
    (overlapping windows when s < k: the scatter adds)."""

    def fn(x):
        with jg.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_()
            y = (F.max_pool2d(x, k, s, p) ** 2).sum()
            return jg.autograd.grad(y, x, create_graph=True)[0]

    return fn


def _np_pool_grad_of_grad(k, s, p):
    def ref(x):
        idx = np_max_pool2d(x, k, s, p, indices=True)
        val = np_max_pool2d(x, k, s, p)
        g = np.zeros_like(x)
        flat = g.reshape(x.shape[:2] + (-1,))
        for a, b_, i, j in np.ndindex(idx.shape):
            flat[a, b_, idx[a, b_, i, j]] += 2 * val[a, b_, i, j]
        return g

    return ref


def rows():
    """Every conv/pool/pad/norm variant as an op-table ``Case``."""
    c = []

    def conv(name, xs, ws, bias=True, **kw):
        stride = kw.get("stride", 1)
        padding = kw.get("padding", 0)
        dilation = kw.get("dilation", 1)
        groups = kw.get("groups", 1)
        st, dl = np.broadcast_to(stride, 2), np.broadcast_to(dilation, 2)
        if padding == "same":
            tot = [d * (k - 1) for d, k in zip(dl, ws[2:])]
            pad = (tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)
        else:
            pp = np.broadcast_to(padding, 2)
            pad = (pp[0], pp[0], pp[1], pp[1])
        args = [_normal(xs), _normal(ws)] + ([_normal(ws[:1])] if bias else [])
        c.append(
            Case(
                name,
                lambda x, w, b=None: F.conv2d(x, w, b, stride, padding, dilation, groups),
                lambda x, w, b=None: np_conv2d(x, w, b, tuple(st), pad, tuple(dl), groups),
                args,
            )
        )

    conv("conv2d_bias_pad", (2, 2, 4, 4), (3, 2, 3, 3), padding=1)
    conv("conv2d_stride_dilation", (1, 2, 6, 5), (2, 2, 2, 3), stride=(2, 1), dilation=(1, 2))
    conv("conv2d_groups_strided", (1, 4, 5, 5), (4, 2, 3, 3), stride=2, padding=1, groups=2)
    conv("conv2d_depthwise", (2, 2, 4, 4), (2, 1, 3, 3), bias=False, padding=1, groups=2)
    conv("conv2d_depthwise_mult", (1, 2, 4, 4), (4, 1, 2, 2), groups=2, dilation=(2, 1))
    conv("conv2d_pointwise_strided", (2, 3, 4, 4), (2, 3, 1, 1), bias=False, stride=2)
    conv("conv2d_same_even_kernel", (1, 2, 4, 4), (2, 2, 2, 2), padding="same")
    c.append(
        Case(
            "conv1d",
            lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
            lambda x, w, b: np_conv2d(
                x[:, :, None], w[:, :, None], b, (1, 2), (0, 0, 1, 1), (1, 2)
            )[:, :, 0],
            [_normal((2, 2, 7)), _normal((3, 2, 3)), _normal((3,))],
        )
    )

    def pool(name, fn, ref, shape, grad=True):
        c.append(Case(name, fn, ref, [_distinct(shape)], grad=grad, grad2=grad))

    pool(
        "max_pool2d_k3_s2_p1",
        lambda x: F.max_pool2d(x, 3, 2, 1),
        lambda x: np_max_pool2d(x, 3, 2, 1),
        (1, 2, 5, 5),
    )
    pool(
        "max_pool2d_dilated_rect",
        lambda x: F.max_pool2d(x, (2, 3), (1, 2), (1, 0), dilation=(2, 1)),
        lambda x: np_max_pool2d(x, (2, 3), (1, 2), (1, 0), (2, 1)),
        (1, 1, 5, 6),
    )
    pool(
        "max_pool2d_ceil",
        lambda x: F.max_pool2d(x, 2, 2, ceil_mode=True),
        lambda x: np_max_pool2d(x, 2, 2, ceil=True),
        (2, 1, 5, 5),
    )
    pool(
        "max_pool2d_return_indices",
        lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True)[1],
        lambda x: np_max_pool2d(x, 3, 2, 1, indices=True),
        (1, 2, 5, 5),
        grad=False,
    )
    pool(
        "max_pool2d_grad_of_grad_overlap",
        _pool_grad_of_grad(3, 2, 1),
        _np_pool_grad_of_grad(3, 2, 1),
        (1, 1, 5, 5),
    )
    pool(
        "max_pool1d",
        lambda x: F.max_pool1d(x, 3, 2, 1),
        lambda x: np_max_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1))[:, :, 0],
        (2, 2, 7),
    )
    pool(
        "avg_pool2d_k2",
        lambda x: F.avg_pool2d(x, 2),
        lambda x: np_avg_pool2d(x, 2),
        (1, 2, 4, 5),
    )
    pool(
        "avg_pool2d_k3_s2_p1",
        lambda x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: np_avg_pool2d(x, 3, 2, 1),
        (1, 2, 5, 5),
    )
    pool(
        "avg_pool2d_exclude_pad_ceil",
        lambda x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda x: np_avg_pool2d(x, 2, 2, 1, ceil=True, include_pad=False),
        (1, 1, 5, 4),
    )
    pool(
        "avg_pool2d_divisor_override",
        lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1), divisor_override=4),
        lambda x: np_avg_pool2d(x, (2, 3), (1, 2), (1, 1), divisor=4),
        (1, 1, 4, 5),
    )
    pool(
        "avg_pool1d",
        lambda x: F.avg_pool1d(x, 3, 2, 1),
        lambda x: np_avg_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1))[:, :, 0],
        (1, 2, 7),
    )
    pool(
        "adaptive_avg_pool2d_divisible",
        lambda x: F.adaptive_avg_pool2d(x, 2),
        lambda x: np_adaptive_avg_pool2d(x, 2, 2),
        (2, 2, 4, 4),
    )
    pool(
        "adaptive_avg_pool2d_uneven",
        lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: np_adaptive_avg_pool2d(x, 3, 2),
        (1, 2, 5, 7),
    )
    pool(
        "adaptive_avg_pool1d",
        lambda x: F.adaptive_avg_pool1d(x, 3),
        lambda x: np_adaptive_avg_pool2d(x[:, :, None], 1, 3)[:, :, 0],
        (1, 2, 7),
    )
    pool(
        "pad_constant",
        lambda x: F.pad(x, (1, 2, 0, 1), value=0.5),
        lambda x: np.pad(x, ((0, 0), (0, 0), (0, 1), (1, 2)), constant_values=0.5),
        (1, 2, 3, 3),
    )

    def norm(name, fn, ref, shapes):
        c.append(Case(name, fn, ref, [_normal(s) for s in shapes]))

    norm("batch_norm_train_4d", _batch_norm_train, _np_batch_norm_train, [(3, 2, 2, 2), (2,), (2,)])
    norm("batch_norm_train_2d", _batch_norm_train, _np_batch_norm_train, [(4, 3), (3,), (3,)])
    norm("batch_norm_eval", _batch_norm_eval, _np_batch_norm_eval, [(2, 2, 2, 2), (2,), (2,)])
    norm(
        "layer_norm",
        lambda x, w, b: F.layer_norm(x, (2, 3), w, b),
        lambda x, w, b: _np_normalize(x, (-2, -1)) * w + b,
        [(2, 2, 3), (2, 3), (2, 3)],
    )
    norm(
        "group_norm",
        lambda x, w, b: F.group_norm(x, 2, w, b),
        lambda x, w, b: _np_group_norm(x, 2, w, b),
        [(2, 4, 2, 2), (4,), (4,)],
    )
    norm(
        "instance_norm",
        lambda x: F.instance_norm(x),
        lambda x: _np_normalize(x, (2, 3)),
        [(2, 2, 2, 3)],
    )
    # the conv -> batch norm -> residual add -> ReLU block of a ResNet
    norm(
        "conv_bn_residual_relu",
        lambda x, w, g, b: jg.relu(_batch_norm_train(F.conv2d(x, w, padding=1), g, b) + x),
        lambda x, w, g, b: np.maximum(
            _np_batch_norm_train(np_conv2d(x, w, pad=(1, 1, 1, 1)), g, b) + x, 0
        ),
        [(2, 2, 3, 3), (2, 2, 3, 3), (2,), (2,)],
    )
    return c
