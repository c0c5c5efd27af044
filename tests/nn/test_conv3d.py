"""Conv3d and the 3-D pools: NumPy loop references, finite differences, errors, one traced
step (eager == compiled, no slower path)."""

import warnings

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn.functional as F
from jitgrad import nn

from ._fd import assert_close, check_grad, check_second_order

RNG = np.random.default_rng(3)


def conv3d_ref(x, w, b=None, stride=(1, 1, 1), pad=(0, 0, 0, 0, 0, 0), dil=(1, 1, 1), groups=1):
    """Direct loops over output positions and kernel taps."""
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    k = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(zip(pad[::2], pad[1::2])))
    out_sz = [(xp.shape[2 + i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    out = np.zeros((n, o, *out_sz))
    og = o // groups
    for oi in range(o):
        g = oi // og
        for pos in np.ndindex(*out_sz):
            acc = np.zeros(n)
            for tap in np.ndindex(*k):
                at = tuple(pos[i] * stride[i] + tap[i] * dil[i] for i in range(3))
                acc += (
                    xp[(slice(None), slice(g * cg, (g + 1) * cg)) + at] @ w[(oi, slice(None)) + tap]
                )
            out[(slice(None), oi) + pos] = acc + (0.0 if b is None else b[oi])
    return out


def pool3d_ref(x, k, s, p, d, op, ceil_mode=False, count_include_pad=True):
    """Loops over windows; the window is clipped like torch's (ceil_mode, padding)."""
    dims = x.shape[2:]
    out_sz = []
    for n, ki, si, pi, di in zip(dims, k, s, p, d):
        num = n + 2 * pi - di * (ki - 1) - 1
        o = (-(-num // si) if ceil_mode else num // si) + 1
        if ceil_mode and (o - 1) * si >= n + pi:
            o -= 1
        out_sz.append(o)
    out = np.zeros(x.shape[:2] + tuple(out_sz))
    for pos in np.ndindex(*out_sz):
        lo = [pos[i] * s[i] - p[i] for i in range(3)]
        taps = [range(lo[i], lo[i] + d[i] * (k[i] - 1) + 1, d[i]) for i in range(3)]
        inside = [[t for t in taps[i] if 0 <= t < dims[i]] for i in range(3)]
        win = x[:, :][np.ix_(range(x.shape[0]), range(x.shape[1]), *inside)]
        if op == "max":
            out[(slice(None), slice(None)) + pos] = win.max((2, 3, 4))
        else:
            if count_include_pad:  # pads count, the ceil_mode overhang does not
                div = np.prod([min(lo[i] + k[i], dims[i] + p[i]) - lo[i] for i in range(3)])
            else:
                div = np.prod([len(v) for v in inside])
            out[(slice(None), slice(None)) + pos] = win.sum((2, 3, 4)) / div
    return out


# (input shape, weight shape, stride, padding as given, padding as (before, after) per dim,
#  dilation, groups)
CONV_ROWS = [
    ((2, 2, 5, 5, 5), (4, 1, 3, 3, 3), 1, 0, (0,) * 6, 1, 2),
    ((2, 2, 5, 6, 7), (3, 2, 3, 2, 3), (2, 1, 2), (1, 0, 2), (1, 1, 0, 0, 2, 2), (1, 2, 1), 1),
    ((1, 3, 4, 5, 5), (3, 1, 2, 3, 2), 1, "same", (0, 1, 1, 1, 0, 1), 1, 3),
    ((1, 2, 6, 4, 4), (2, 2, 3, 2, 2), 1, "same", (2, 2, 1, 1, 1, 1), 2, 1),
    ((2, 2, 4, 4, 5), (2, 2, 2, 2, 2), (1, 2, 1), "valid", (0,) * 6, 1, 1),
]


@pytest.mark.parametrize("xs, ws, stride, padding, refpad, dil, groups", CONV_ROWS)
def test_conv3d_matches_numpy_loops(xs, ws, stride, padding, refpad, dil, groups):
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(ws[0])
    t = lambda v: (v,) * 3 if isinstance(v, int) else v
    out = F.conv3d(jg.tensor(x), jg.tensor(w), jg.tensor(b), stride, padding, dil, groups)
    ref = conv3d_ref(x, w, b, t(stride), refpad, t(dil), groups)
    assert_close(out.numpy(), ref, 1e-10, 1e-10, what="conv3d")
    # unbatched 4-D input, no bias; float32 runs too
    out1 = F.conv3d(jg.tensor(x[0]), jg.tensor(w), None, stride, padding, dil, groups)
    assert_close(out1.numpy(), conv3d_ref(x[:1], w, None, t(stride), refpad, t(dil), groups)[0])
    out32 = F.conv3d(
        jg.tensor(x, dtype=jg.float32),
        jg.tensor(w, dtype=jg.float32),
        None,
        stride,
        padding,
        dil,
        groups,
    )
    assert out32.dtype == jg.float32
    assert_close(out32.numpy(), ref - b.reshape(-1, 1, 1, 1), 1e-4, 1e-4)


def test_conv3d_grad_fd_and_second_order():
    x, w, b = (
        RNG.standard_normal((1, 2, 4, 3, 4)),
        RNG.standard_normal((2, 1, 2, 2, 3)),
        RNG.standard_normal(2),
    )
    check_grad(lambda x, w, b: F.conv3d(x, w, b, (2, 1, 1), (1, 0, 1), (1, 1, 2), 2), x, w, b)
    check_grad(lambda x, w: F.conv3d(x, w, None, 1, "same"), x[:, :1], w[:, :, :, :, :2])
    check_second_order(lambda x, w: F.conv3d(x, w, None, 1, 1, 1, 2) ** 2, x[:, :, :3], w)
    xt = jg.tensor(x, requires_grad=True)
    wt = jg.tensor(w, requires_grad=True)
    assert jg.autograd.gradcheck(lambda a, c: F.conv3d(a, c, groups=2), (xt, wt))


def test_conv3d_module_padding_modes_and_init():
    x = RNG.standard_normal((2, 2, 4, 5, 3))
    for mode, np_mode in (("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")):
        m = nn.Conv3d(2, 3, (3, 2, 3), padding=(1, 1, 2), padding_mode=mode, dtype=jg.float64)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (2, 2)), mode=np_mode)
        ref = conv3d_ref(xp, m.weight.detach().numpy(), m.bias.detach().numpy())
        assert_close(m(jg.tensor(x)).detach().numpy(), ref, 1e-10, 1e-10, what=mode)
    m = nn.Conv3d(4, 8, 3, stride=2, padding=1, groups=2, bias=False)
    assert repr(m) == (
        "Conv3d(4, 8, kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1), groups=2, "
        "bias=False)"
    )
    assert tuple(m.weight.shape) == (8, 2, 3, 3, 3)
    bound = 1 / np.sqrt(2 * 27)  # kaiming_uniform(a=sqrt(5)): 1/sqrt(fan_in)
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    assert tuple(m(jg.randn(4, 5, 6, 7)).shape) == (8, 3, 3, 4)  # unbatched
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv3d(1, 1, 3, stride=2, padding="same")


def test_conv3d_errors_name_op_shapes_and_fix():
    x, w = jg.zeros(2, 2, 5, 5, 5), jg.zeros(3, 2, 3, 3, 3)
    with pytest.raises(
        RuntimeError,
        match=r"conv3d: Expected 4D \(unbatched\) or 5D \(batched\) "
        r"input to conv3d, but got input of size: \[2, 5, 5\]",
    ):
        F.conv3d(jg.zeros(2, 5, 5), w)
    with pytest.raises(
        RuntimeError, match=r"conv3d: weight must be 5-D .* got shape \[3, 2, 3, 3\]"
    ):
        F.conv3d(x, jg.zeros(3, 2, 3, 3))
    with pytest.raises(
        RuntimeError,
        match=r"Given groups=1, weight of size \[3, 2, 3, 3, 3\], "
        r"expected input\[2, 3, 5, 5, 5\] to have 2 channels, but got 3",
    ):
        F.conv3d(jg.zeros(2, 3, 5, 5, 5), w)
    with pytest.raises(
        RuntimeError,
        match=r"Calculated padded input size per channel: "
        r"\(2 x 5 x 5\). Kernel size: \(3 x 3 x 3\)",
    ):
        F.conv3d(jg.zeros(2, 2, 2, 5, 5), w)
    with pytest.raises(ValueError, match=r"conv3d: stride must be an int or a tuple of 3 ints"):
        F.conv3d(x, w, stride=(1, 1))
    with pytest.raises(RuntimeError, match=r"conv3d: bias must have shape \[3\]"):
        F.conv3d(x, w, jg.zeros(2))


POOL_ROWS = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 2, 5, 5, 5), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False),
    ((1, 2, 5, 6, 7), (3, 2, 3), (2, 1, 2), (1, 1, 1), (1, 2, 1), False),
    ((1, 3, 5, 6, 7), (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), True),
]


@pytest.mark.parametrize("shape, k, s, p, d, ceil", POOL_ROWS)
def test_pool3d_match_numpy_loops(shape, k, s, p, d, ceil):
    x = RNG.standard_normal(shape)
    out, idx = F.max_pool3d(jg.tensor(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    ref = pool3d_ref(x, k, s, p, d, "max", ceil)
    assert_close(out.numpy(), ref, 0, 0, what="max_pool3d")
    # indices: flat d*H*W + h*W + w into each (n, c) volume, holding the maximum
    flat = x.reshape(*shape[:2], -1)
    picked = np.take_along_axis(flat, idx.numpy().reshape(*shape[:2], -1), 2)
    assert_close(picked.reshape(out.shape), ref, 0, 0, what="max_pool3d indices")
    if d == (1, 1, 1):
        for cip in (True, False):
            got = F.avg_pool3d(jg.tensor(x), k, s, p, ceil, cip)
            ref = pool3d_ref(x, k, s, p, d, "avg", ceil, cip)
            assert_close(got.numpy(), ref, 1e-12, 1e-12, what=f"avg_pool3d cip={cip}")
    unb = F.max_pool3d(jg.tensor(x[0]), k, s, p, d, ceil_mode=ceil)
    assert_close(unb.numpy(), pool3d_ref(x[:1], k, s, p, d, "max", ceil)[0], 0, 0)


def test_max_pool3d_gradient_goes_to_the_first_maximum():
    # ties: torch gives the whole gradient to the first maximum in (d, h, w) order
    x = jg.zeros(1, 1, 2, 2, 2, requires_grad=True)
    F.max_pool3d(x, 2).sum().backward()
    expect = np.zeros((2, 2, 2))
    expect[0, 0, 0] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expect)


def test_pool3d_grad_fd_adaptive_and_divisor():
    x = RNG.standard_normal((1, 2, 4, 5, 4))
    check_grad(lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2), (1, 1, 0), ceil_mode=True), x)
    check_grad(lambda x: F.avg_pool3d(x, 3, 2, 1, count_include_pad=False), x)
    check_grad(lambda x: F.adaptive_avg_pool3d(x, (3, 2, None)), x)
    out = F.avg_pool3d(jg.tensor(x), 2, divisor_override=3)
    ref = pool3d_ref(x, (2,) * 3, (2,) * 3, (0,) * 3, (1,) * 3, "avg") * 8 / 3
    assert_close(out.numpy(), ref, 1e-12, 1e-12)
    # adaptive: bin i of n -> out covers [floor(i n / out), ceil((i + 1) n / out))
    got = F.adaptive_avg_pool3d(jg.tensor(x), (3, 2, 4)).numpy()
    bins = lambda n, o: [(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]
    for (i, (a, b)), (j, (c, e)), (k, (f, g)) in (
        (di, hj, wk)
        for di in enumerate(bins(4, 3))
        for hj in enumerate(bins(5, 2))
        for wk in enumerate(bins(4, 4))
    ):
        assert_close(got[:, :, i, j, k], x[:, :, a:b, c:e, f:g].mean((2, 3, 4)), 1e-12, 1e-12)
    assert tuple(F.adaptive_avg_pool3d(jg.tensor(x[0]), 1).shape) == (2, 1, 1, 1)


def test_pool3d_and_batchnorm3d_modules_and_errors():
    x = jg.tensor(RNG.standard_normal((2, 3, 4, 4, 4)))
    assert repr(nn.MaxPool3d(2)) == (
        "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    )
    assert tuple(nn.MaxPool3d(2)(x).shape) == (2, 3, 2, 2, 2)
    assert tuple(nn.AvgPool3d(3, 1, 1)(x).shape) == (2, 3, 4, 4, 4)
    assert tuple(nn.AdaptiveAvgPool3d((1, 2, 3))(x).shape) == (2, 3, 1, 2, 3)
    out, idx = nn.MaxPool3d(2, return_indices=True)(x)
    assert idx.dtype == jg.int64 and tuple(idx.shape) == tuple(out.shape)
    with pytest.raises(
        RuntimeError,
        match=r"max_pool3d: Given input size: \(2x1x2x2\). "
        r"Calculated output size: \(2x0x1x1\). Output size is too small",
    ):
        F.max_pool3d(jg.zeros(1, 2, 1, 2, 2), 2)
    with pytest.raises(RuntimeError, match="avg_pool3d: pad should be at most half"):
        F.avg_pool3d(x, 2, 1, 2)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool3d: Expected 4D or 5D tensor"):
        F.adaptive_avg_pool3d(jg.zeros(2, 3), 1)
    bn = nn.BatchNorm3d(3, dtype=jg.float64)
    xn = x.numpy()
    mean, var = xn.mean((0, 2, 3, 4)), xn.var((0, 2, 3, 4))
    ref = (xn - mean.reshape(1, 3, 1, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1, 1) + 1e-5)
    assert_close(bn(x).detach().numpy(), ref, 1e-10, 1e-10)
    n = xn.size / 3  # running_var keeps the unbiased variance
    assert_close(bn.running_var.numpy(), 0.9 + 0.1 * var * n / (n - 1), 1e-12, 1e-12)
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 5D input \(got 4D input"):
        bn(jg.zeros(2, 3, 4, 4))


def test_conv3d_traced_step_matches_eager_without_a_slower_path():
    x0, w0, b0 = (RNG.standard_normal(s) for s in ((2, 2, 5, 5, 5), (4, 1, 3, 3, 3), (4,)))

    def leaves():
        return [jg.tensor(a, requires_grad=True) for a in (x0, w0, b0)]

    def step(x, w, b):
        for t in (x, w, b):
            t.grad = None
        loss = (F.conv3d(x, w, b, padding=1, groups=2) ** 2).sum()
        loss.backward()
        return loss, x.grad, w.grad, b.grad

    ref = step(*leaves())
    ts = jg.trace(step)
    args = leaves()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a slower path would warn (as conv2d's would)
        for _ in range(3):  # eager, capture, compiled
            got = ts(*args)
    assert ts.stats["compiled_calls"] == 1 and ts.last.exe.fallbacks == []
    assert "conv2d_grad_weight" in {n.op.name for n in ts.traced_graph.nodes}
    for a, b in zip(ref, got):
        assert_close(b.detach().numpy(), a.detach().numpy(), 1e-10, 1e-10, what="traced")
