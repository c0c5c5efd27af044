"""Op-table rows for the conv/pool kernels: kernel vs NumPy reference (float32 and float64),
first/second derivatives vs float64 finite differences, eager vs traced, frozen backbones.

Every row goes through the same numba kernels (compiled once, cached on disk), so the rows
stay cheap; the traced checks put all rows into one compiled step.
"""

import os

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn.functional as F
from jitgrad import nn
from jitgrad.ops import _conv_kernels as CK
from jitgrad.ops import conv as C

from ._fd import assert_close, check_grad, check_second_order

# name: (x shape, w shape, stride, (top, bottom, left, right) padding, dilation, groups)
CONV_ROWS = {
    "plain": ((2, 3, 5, 6), (4, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    "strided_dilated_grouped": ((1, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 1, 2, 2), (1, 2), 2),
    "asymmetric_padding": ((2, 2, 5, 6), (2, 2, 2, 3), (1, 1), (0, 1, 1, 1), (1, 1), 1),
    "depthwise": ((2, 3, 6, 5), (3, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3),
    "depthwise_multiplier": ((1, 2, 5, 5), (4, 1, 2, 2), (1, 2), (1, 0, 1, 1), (2, 1), 2),
    "pointwise_strided": ((2, 4, 5, 5), (6, 4, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),
    "single_channel_gemm": ((2, 1, 6, 6), (5, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    "single_channel_direct": ((2, 1, 6, 6), (1, 1, 2, 2), (2, 1), (0, 1, 0, 0), (1, 1), 1),
    "conv1d_shape": ((2, 3, 1, 9), (4, 3, 1, 3), (1, 2), (0, 0, 1, 1), (1, 2), 1),
    # stride 1 (wide rows) with dilation, groups and padding on every side but one
    "wide_dilated_grouped": ((2, 4, 7, 12), (6, 2, 3, 2), (1, 1), (2, 0, 1, 2), (2, 2), 2),
    # several row bands per image (column buffer over TILE_BYTES), then several images per
    # tile with a partial last tile
    "row_band_tiles": ((1, 8, 30, 30), (4, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    "image_tiles": ((13, 8, 6, 6), (3, 8, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    # the same in wide rows (stride 1, images wide enough: ``_use_wide``); row_band_tiles is
    # wide too, with a shorter last band
    "wide_image_tiles": ((13, 8, 12, 12), (3, 8, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
}
BIG = ("row_band_tiles", "image_tiles", "wide_image_tiles", "wide_dilated_grouped")
SMALL = [k for k in CONV_ROWS if k not in BIG]

# name: (x shape, ksize, stride, padding, dilation, out_hw)
POOL_ROWS = {
    "2x2": ((2, 2, 6, 6), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), (3, 3)),
    # tiling windows that leave the last row and column unread
    "2x2_odd": ((1, 2, 7, 5), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), (3, 2)),
    "3x3_s2_p1": ((2, 2, 7, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (4, 4)),
    "dilated_rect": ((1, 2, 8, 9), (2, 3), (1, 2), (1, 1, 0, 0), (2, 1), (8, 4)),
    "ceil_mode": ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), (3, 3)),
}


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))


def _conv_args(name, dtype=np.float64):
    xs, ws, stride, pad, dil, groups = CONV_ROWS[name]
    r = _rng(name)
    p = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    return r.standard_normal(xs).astype(dtype), r.standard_normal(ws).astype(dtype), p


def _tol(dtype):
    return (1e-5, 1e-5) if dtype == np.float32 else (1e-12, 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CONV_ROWS))
def test_conv_kernels_match_numpy_reference(name, dtype):
    x, w, p = _conv_args(name, dtype)
    out = C.conv2d_p.impl(x, w, **p)
    assert out.dtype == dtype
    assert_close(out, C.conv2d_p.extra["ref"](x, w, **p), *_tol(dtype), what="conv2d")
    g = _rng(name + "g").standard_normal(out.shape).astype(dtype)
    pi = dict(p, in_hw=x.shape[2:])
    gx = C.conv2d_grad_input_p.impl(g, w, **pi)
    assert gx.dtype == dtype and gx.shape == x.shape
    assert_close(gx, C.conv2d_grad_input_p.extra["ref"](g, w, **pi), *_tol(dtype), what="dx")
    pw = dict(p, ksize=w.shape[2:])
    gw = C.conv2d_grad_weight_p.impl(x, g, **pw)
    assert gw.dtype == dtype and gw.shape == w.shape
    assert_close(gw, C.conv2d_grad_weight_p.extra["ref"](x, g, **pw), *_tol(dtype), what="dw")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(POOL_ROWS))
def test_max_pool_kernels_match_numpy_reference(name, dtype):
    xs, k, s, pad, d, out_hw = POOL_ROWS[name]
    r = _rng(name)
    x = r.standard_normal(xs).astype(dtype)
    x[0, 0, :2, :2] = x[0, 0, 0, 0]  # a tie: the first position wins
    x[-1, -1, 1, 1] = np.nan  # NaN wins its windows, like torch
    p = {"ksize": k, "stride": s, "padding": pad, "dilation": d, "out_hw": out_hw}
    for prim in (C.max_pool2d_p, C.max_pool2d_indices_p):
        got, ref = prim.impl(x, **p), prim.extra["ref"](x, **p)
        assert got.shape == xs[:2] + out_hw and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
    g = r.standard_normal(xs[:2] + out_hw).astype(dtype)
    gg = r.standard_normal(xs).astype(dtype)
    # the backward and its VJP go through the forward's argmax (flat indices)
    idx = C.max_pool2d_indices_p.extra["ref"](x, **p)
    for prim, a, q in (
        (C.max_pool2d_grad_p, g, dict(p, in_hw=xs[2:])),
        (C.max_pool2d_gather_p, gg, p),
    ):
        np.testing.assert_allclose(prim.impl(a, idx, **q), prim.extra["ref"](a, idx, **q), 1e-6)
    # the values read at the argmax are the pooled values
    np.testing.assert_array_equal(
        C.max_pool2d_gather_p.impl(x, idx, **p), C._max_pool2d_ref(x, **p)
    )


def test_kernels_threaded_equal_serial(monkeypatch):
    """The threaded drivers (3 threads here: uneven parts of the chunks or images; eager mode
    uses them only from ``K.PAR_MIN`` of work, so the tiny rows above never do) give the
    serial kernels' bits: the same chunks of images, the weight gradient's chunk parts summed
    in the same order. The drivers compile nothing: they call the serial kernels' functions."""
    from jitgrad.ops import _conv_kernels as K

    monkeypatch.setattr(K, "THREADS", 3)
    for name in ("strided_dilated_grouped", "image_tiles", "wide_image_tiles"):
        x, w, p = _conv_args(name)
        st = C._conv_static(**p)
        y = C.conv2d_p.impl(x, w, **p)
        g = _rng(name + "g").standard_normal(y.shape)
        for mode, a, b, out in (
            (K.FWD, x, w, y),
            (K.GRAD_INPUT, g, w, x),
            (K.GRAD_WEIGHT, x, g, w),
        ):
            serial, threaded = np.full_like(out, np.nan), np.full_like(out, np.nan)
            K.conv2d(a, b, serial, *st, mode)
            K.conv2d_threads(a, b, threaded, *st, mode)
            np.testing.assert_array_equal(threaded, serial, err_msg=f"{name} mode {mode}")
    for name in ("2x2_odd", "3x3_s2_p1"):
        xs, k, s, pad, d, out_hw = POOL_ROWS[name]
        r = _rng(name)
        x, g = r.standard_normal(xs), r.standard_normal(xs[:2] + out_hw)
        st = C._pool_static(k, s, pad, d)
        idx = np.empty(g.shape, np.int64)
        K.max_pool2d_indices(x, idx, *st)
        for kernel, threads, a, shape in (
            (K.max_pool2d_values, K.max_pool2d_values_threads, (x,), g.shape),
            (K.max_pool2d_backward, K.max_pool2d_backward_threads, (g, idx), x.shape),
        ):
            serial, threaded = np.zeros(shape) - 7, np.zeros(shape) - 7
            kernel(*a, serial, *st)
            threads(*a, threaded, *st)
            np.testing.assert_array_equal(threaded, serial, err_msg=f"{name} {kernel.__name__}")
            assert not (serial == -7).any()


def test_eager_ops_run_the_threaded_drivers_from_eager_par_min(monkeypatch):
    """Eager convolution and pooling take the threaded drivers from ``K.EAGER_PAR_MIN`` of work
    (on by default; compiled steps use ``K.PAR_MIN``, off), except while a compile runs, and
    give the serial kernels' bits."""
    from jitgrad.ops import _conv_kernels as K

    if not C._threads():
        pytest.skip("numba has one thread here: the drivers are never used")
    assert K.EAGER_PAR_MIN < K.PAR_MIN
    calls = []
    real = K._on_threads
    monkeypatch.setattr(K, "_on_threads", lambda fn, n: (calls.append(n), real(fn, n)))
    r = _rng("eager threads")
    x = jg.tensor(r.standard_normal((8, 16, 20, 20)).astype(np.float32), requires_grad=True)
    w = jg.tensor(r.standard_normal((32, 16, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)
    (y * y).sum().backward()
    assert len(calls) >= 4  # conv forward, both gradients, the pool's backward
    got = (y.detach().numpy(), x.grad.numpy(), w.grad.numpy())
    monkeypatch.setattr(K, "EAGER_PAR_MIN", 1 << 62)  # serial kernels only
    calls.clear()
    x.grad = w.grad = None
    y = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)
    (y * y).sum().backward()
    assert not calls
    for a, b in zip(got, (y.detach().numpy(), x.grad.numpy(), w.grad.numpy())):
        np.testing.assert_array_equal(a, b)
    tiny = F.conv2d(jg.tensor(np.ones((1, 2, 5, 5), np.float32)), jg.ones(3, 2, 3, 3))
    assert not calls and tiny.shape == (1, 3, 3, 3)
    # while a traced step compiles (the worker's BLAS hold) the second core is the worker's:
    # serial kernels, the same bits
    monkeypatch.setattr(K, "EAGER_PAR_MIN", 1 << 20)
    from jitgrad.compile import worker

    monkeypatch.setattr(worker, "_HOLD", {"n": 1, "saved": None})  # a compile in flight
    x.grad = w.grad = None
    y = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)
    (y * y).sum().backward()
    assert not calls
    np.testing.assert_array_equal(w.grad.numpy(), got[2])


def test_eager_drivers_leave_the_cores_to_other_mpi_ranks(monkeypatch):
    # mpiexec -n 2 on 2 cores: each rank has one core, so no threaded drivers
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for var, n, want in (("MPI_LOCALNRANKS", "2", 1), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1),
                         ("MPI_LOCALNRANKS", "1", 2), ("MPI_LOCALNRANKS", "x", 2)):  # fmt: skip
        monkeypatch.delenv("MPI_LOCALNRANKS", raising=False)
        monkeypatch.delenv("OMPI_COMM_WORLD_LOCAL_SIZE", raising=False)
        monkeypatch.setenv(var, n)
        assert C._cores_per_rank() == want, (var, n)
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    monkeypatch.setattr(C, "_THREADS", [])
    assert not C._threads()


@pytest.mark.parametrize("name", SMALL)
def test_conv_rows_first_and_second_derivatives(name):
    x, w, p = _conv_args(name)
    if x.size > 40:  # finite differences cost two calls per element: take a slice
        x = x[:1]

    def f(x, w):
        return C.conv2d(x, w, **p)

    check_grad(f, x, w)
    # conv is bilinear: a nonlinearity after it makes the second derivative non-trivial
    check_second_order(lambda x, w: f(x, w).tanh(), x[..., : min(4, x.shape[-1])], w)


@pytest.mark.parametrize("name", list(POOL_ROWS))
def test_max_pool_rows_first_and_second_derivatives(name):
    xs, k, s, pad, d, out_hw = POOL_ROWS[name]
    x = _rng(name).standard_normal((1, 1) + xs[2:])  # distinct values: no ties at +-eps

    def f(x):
        return C.max_pool2d(x, k, s, pad, d, out_hw)

    check_grad(f, x)
    check_second_order(lambda x: f(x * x) ** 2, x)


def test_avg_and_adaptive_pool_rows_derivatives():
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 6))
    # the padded, count_include_pad=False path runs the direct single-channel conv kernel
    check_grad(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    check_second_order(lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1)) ** 2, x)
    check_grad(lambda x: F.adaptive_avg_pool2d(x, (2, 4)), x)


# Today each conv/pool node of a compiled step is an objmode block that numba compiles on the
# step's first call (~0.3 s each, even on a disk-cache hit), so the traced rows are a subset
# that covers each kernel path: GEMM (grouped, strided, dilated, asymmetric padding), direct
# (depthwise), max pooling with padding, avg pooling (direct single-channel conv).
TRACED_CONV = ["strided_dilated_grouped", "asymmetric_padding", "depthwise"]
TRACED_POOL = ["3x3_s2_p1"]


def _all_rows_loss(xs, ws, pool_x):
    loss = 0.0
    for name, x, w in zip(TRACED_CONV, xs, ws):
        _, _, stride, pad, dil, groups = CONV_ROWS[name]
        loss = loss + C.conv2d(x, w, stride, pad, dil, groups).tanh().sum()
    for name, x in zip(TRACED_POOL, pool_x):
        _, k, s, pad, d, out_hw = POOL_ROWS[name]
        loss = loss + (C.max_pool2d(x * x, k, s, pad, d, out_hw) ** 2).sum()
        loss = loss + (F.avg_pool2d(x, 3, 2, 1, count_include_pad=False) ** 2).sum()
    return loss


def test_conv_pool_rows_eager_match_traced():
    conv_in = [_conv_args(n)[:2] for n in TRACED_CONV]
    pool_in = [_rng(n).standard_normal(POOL_ROWS[n][0]) for n in TRACED_POOL]

    def leaves():
        xs = [jg.tensor(x, requires_grad=True) for x, _ in conv_in]
        ws = [jg.tensor(w, requires_grad=True) for _, w in conv_in]
        px = [jg.tensor(x, requires_grad=True) for x in pool_in]
        return xs, ws, px

    def step(xs, ws, px):
        for t in xs + ws + px:
            t.grad = None
        loss = _all_rows_loss(xs, ws, px)
        loss.backward()
        return loss

    eager = leaves()
    ref_loss = step(*eager).item()
    ref_grads = [t.grad.numpy().copy() for t in sum(eager, [])]
    traced_in = leaves()
    ts = jg.trace(step)
    for _ in range(3):  # eager, capture, compiled
        loss = ts(*traced_in)
    ops = [n.op.name for n in ts.traced_graph.nodes]
    assert {"conv2d_grad_input", "conv2d_grad_weight", "max_pool2d_grad"} <= set(ops)
    assert abs(loss.item() - ref_loss) <= 1e-10 * abs(ref_loss)
    for t, g in zip(sum(traced_in, []), ref_grads):
        assert_close(t.grad.numpy(), g, 1e-10, 1e-10, what="traced grad")


def test_empty_batch_gives_zero_weight_gradient():
    x, w, p = _conv_args("plain")
    x = x[:0]
    g = np.ones((0, w.shape[0], 3, 4))
    gw = C.conv2d_grad_weight_p.impl(x, g, **p, ksize=w.shape[2:])
    np.testing.assert_array_equal(gw, np.zeros_like(w))
    assert C.conv2d_p.impl(x, w, **p).shape == (0, 4, 3, 4)


def test_unsupported_dtype_runs_numpy_reference_with_one_warning():
    C._warned.discard(("conv2d", ("float16", "float16")))
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float16)
    w = np.ones((1, 2, 2, 2), np.float16)
    p = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    with pytest.warns(RuntimeWarning, match=r"conv2d: no compiled kernel for dtype float16"):
        out = C.conv2d_p.impl(x, w, **p)
    np.testing.assert_array_equal(out, C.conv2d_p.extra["ref"](x, w, **p))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.conv2d_p.impl(x, w, **p)  # once only


# ---------------------------------------------------------------- constant padding -------
# (shape, F.pad's pad, dtype): the kernel's 4-D view with a folded batch, a leading padded
# dim, one padded dim of a 1-D input, an empty input, and four padded dims (two primitives)
PAD_ROWS = [
    ((2, 3, 4, 5), (1, 2, 0, 1), np.float32),
    ((3, 4), (0, 0, 2, 1), np.int64),
    ((5,), (2, 3), np.bool_),
    ((0, 3), (1, 1), np.float64),
    ((2, 3, 4, 5, 2), (1, 1, 0, 2, 1, 0, 1, 1), np.float64),
]


@pytest.mark.parametrize("shape, pad, dtype", PAD_ROWS)
def test_pad_kernel_matches_numpy(shape, pad, dtype):
    x = (_rng(str(shape)).standard_normal(shape) * 3).astype(dtype)
    out = F.pad(jg.tensor(x), pad, value=2.0)
    pairs = [(0, 0)] * (len(shape) - len(pad) // 2) + [
        pad[i : i + 2] for i in range(0, len(pad), 2)
    ][::-1]
    ref = np.pad(x, pairs, constant_values=2.0)
    assert out.dtype == jg.tensor(ref).dtype
    np.testing.assert_array_equal(out.numpy(), ref)
    four = ((1, 0), (1, 0), (0, 1), (2, 0))
    with pytest.raises(ValueError, match=r"constant_pad_nd: pads .* more than 3 dimensions"):
        C.pad_p.impl(np.zeros((2, 3, 4, 5)), pads=four, value=0.0, shape=(2, 3, 4, 5))


def test_pad_traced_runs_its_kernel_and_matches_eager():
    def step(x, m):
        x.grad = None
        y = F.pad(x, (1, 1, 0, 2, 1, 0, 1, 1), value=float("-inf"))  # two pad primitives
        z = F.pad(m, (2, 1), value=1.0)
        (jg.where(jg.isinf(y), 0.0, y) ** 2).sum().backward()
        return y, z, x.grad

    def args():
        x = _rng("pad").standard_normal((2, 3, 2, 3, 2))
        return jg.tensor(x, requires_grad=True), jg.tensor(np.array([[True, False]]))

    ref = step(*args())
    ts = jg.trace(step, parallel=False)
    for _ in range(3):
        got = ts(*args())
    assert ts.stats["compiled_calls"] == 1
    assert ts.last.exe.fallbacks == []
    ops = [n.op.name for n in ts.traced_graph.nodes]
    assert ops.count("constant_pad_nd") == 3, ops
    for a, b in zip(ref, got):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# ---------------------------------------------------------------- frozen backbones -------
def _backbone():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def _finetune_setup(trainable_last_conv):
    jg.manual_seed(0)
    model = nn.Sequential(_backbone(), nn.Linear(6, 3))
    for p in model[0].parameters():
        p.requires_grad = False
    if trainable_last_conv:
        for p in model[0][6].parameters():
            p.requires_grad = True
    opt = jg.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = jg.randn(2, 3, 8, 8)
    y = jg.tensor([0, 2])

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step, x, y


def _tape_names(t):
    seen, stack, names = set(), [t.grad_fn], []
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        names.append(n.name())
        stack += [e[0] for e in n.next_functions]
    return names


@pytest.mark.parametrize("trainable_last_conv", [False, True])
def test_frozen_backbone_computes_no_weight_or_input_gradients(trainable_last_conv):
    model, step, x, y = _finetune_setup(trainable_last_conv)
    frozen = [p.detach().numpy().copy() for p in model[0][:6].parameters()]
    names = _tape_names(F.cross_entropy(model(x), y))
    # eager: the only convolution on the tape is the trainable one, and its input needs no grad
    assert names.count("ConvolutionBackward0") == int(trainable_last_conv)
    assert "MaxPool2DWithIndicesBackward0" not in names
    assert not any(n.startswith("NativeBatchNorm") or n == "RsqrtBackward0" for n in names)
    ts = jg.trace(step, backend="reference")
    eager_losses = [step(x, y).item() for _ in range(1)]
    for _ in range(3):
        ts(x, y)
    ops = [n.op.name for n in ts.traced_graph.nodes]
    assert ops.count("conv2d_grad_weight") == int(trainable_last_conv)
    assert "conv2d_grad_input" not in ops and "max_pool2d_grad" not in ops
    shown = "conv2d weight x1" if trainable_last_conv else "none"
    assert f"conv/pool gradient products: {shown}\n" in ts.explain()
    for a, p in zip(frozen, model[0][:6].parameters()):
        np.testing.assert_array_equal(a, p.detach().numpy())
    assert np.isfinite(eager_losses).all()


def test_frozen_resnet_finetune_step_compiled_matches_eager():
    # ResNet-style block frozen, new head: compiled (CPU backend) step equals the eager step
    def run(traced):
        model, step, x, y = _finetune_setup(False)
        fn = jg.trace(step) if traced else step
        losses = [fn(x, y).item() for _ in range(4)]
        return losses, model[1].weight.detach().numpy().copy()

    (le, we), (lt, wt) = run(False), run(True)
    np.testing.assert_allclose(lt, le, rtol=1e-5)
    np.testing.assert_allclose(wt, we, rtol=1e-5, atol=1e-6)
    assert le[-1] < le[0]


def test_frozen_resnet18_finetune_step_has_no_gradient_below_fc():
    # the fine-tuning recipe on the examples' ResNet-18 (narrow, tiny input): every backbone
    # parameter frozen, a new fc trained; the traced step's backward is fc's weight gradient
    from benchmarks.workloads.resnet import _example

    jg.manual_seed(0)
    model = _example().ResNet18(width=4)
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 3)
    opt = jg.optim.SGD(model.fc.parameters(), lr=0.1, momentum=0.9)
    x, y = jg.randn(2, 3, 16, 16), jg.tensor([0, 2])

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    ts = jg.trace(step, backend="reference")
    for _ in range(3):
        ts(x, y)
    # the compiled step's graph (after the passes): the input gradient of fc that the
    # traced graph records is dead code, removed
    ops = [n.op.name for n in ts.last.graph.nodes if getattr(n, "op", None) is not None]
    assert ops.count("conv2d") == 20 and ops.count("max_pool2d") == 1
    assert not [o for o in ops if o.startswith(("conv2d_grad", "max_pool2d_g"))]
    assert ops.count("matmul") == 2  # fc forward and its weight gradient: no input gradient
    assert "conv/pool gradient products: none\n" in ts.explain()


def test_traced_step_calls_the_threaded_kernels(monkeypatch):
    """A traced convolution with ``K.PAR_MIN`` of work gets the threaded driver beside the
    serial kernel (one objmode block, chosen by a thread slot of the step's thread plan) and
    matches eager mode; the tiny traced rows above get the serial kernel only."""
    monkeypatch.setattr(CK, "PAR_MIN", 1 << 20)  # on (off by default)
    r = _rng("traced threads")
    x = jg.tensor(r.standard_normal((4, 8, 24, 24)).astype(np.float32))
    w0 = r.standard_normal((8, 8, 3, 3)).astype(np.float32)

    def step(x, w):
        y = F.conv2d(x, w)
        loss = (y * y).sum()
        loss.backward()
        return loss

    res = []
    for fn in (step, jg.trace(step, parallel=True)):
        w = jg.tensor(w0, requires_grad=True)
        for _ in range(2):
            w.grad = None
            loss = fn(x, w)
        res.append((loss.detach().numpy(), w.grad.numpy()))
    assert "CK.conv2d_threads if" in fn.source()
    p = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    y = C.conv2d_p.extra["ref"](x.numpy(), w0, **p)
    ref = C.conv2d_grad_weight_p.extra["ref"](x.numpy(), 2 * y, **p, ksize=(3, 3))
    for loss, gw in res:
        np.testing.assert_allclose(loss, (y * y).sum(), rtol=1e-5)
        np.testing.assert_allclose(gw, ref, rtol=1e-4, atol=1e-3)


def test_relu_backward_keeps_np_where_values_for_nan_inf_and_signed_zero():
    """Eager ReLU backward (the CNN step's; the lead's ``select_or_zero`` makes it a bit mask,
    no branch per element) gives the bits np.where gives, whatever g holds where y <= 0 or y
    is NaN, and broadcasts like it."""
    from jitgrad.ops import elementwise as EW

    r = _rng("relu bwd")
    for dt in (np.float32, np.float64):
        g = r.standard_normal((3, 4, 5)).astype(dt)
        y = np.maximum(r.standard_normal(g.shape), 0).astype(dt)
        g.flat[::3], g.flat[1::5], g.flat[2::7] = np.nan, -np.inf, -0.0
        y.flat[::4], y.flat[1::6] = np.nan, -0.0
        got, ref = EW._relu_backward_ref(g, y), np.where(y > 0, g, dt(0))
        assert got.dtype == dt and got.shape == g.shape
        np.testing.assert_array_equal(got.view(f"i{got.itemsize}"), ref.view(f"i{got.itemsize}"))
    np.testing.assert_array_equal(EW._relu_backward_ref(np.ones((2, 3)), np.array([1.0, 0, -1])),
                                  [[1, 0, 0]] * 2)  # fmt: skip


def test_eager_conv_pool_outputs_reuse_only_free_buffers():
    # a steady eager step takes its large conv/pool outputs from ops.buffers (no new large
    # allocation: round 6 measured ~3,500 page faults per CNN step without), and never hands
    # out an array a tensor still holds
    from jitgrad.ops import buffers

    buffers.clear()
    r = np.random.default_rng(0)
    w = jg.tensor(r.standard_normal((8, 4, 3, 3)).astype(np.float32), requires_grad=True)
    xs = [r.standard_normal((8, 4, 24, 24)).astype(np.float32) for _ in range(4)]

    def step(k):
        x = jg.tensor(xs[k], requires_grad=True)
        y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
        (y * y).sum().backward()
        return x, y

    def reference(k):
        a = C._conv2d_ref(xs[k].astype(np.float64), w._data.astype(np.float64), (1, 1),
                          (1, 1, 1, 1), (1, 1), 1)  # fmt: skip
        return C._max_pool2d_ref(a, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), (12, 12))

    x0, y0 = step(0)
    kept = buffers.kept_bytes()
    assert kept > 0  # the conv output and both input gradients are over MIN_BYTES
    x1, y1 = step(1)  # x0, y0 and their gradients are still held: nothing of theirs reused
    assert_close(y0._data, reference(0), rtol=1e-5, atol=1e-5)
    assert_close(y1._data, reference(1), rtol=1e-5, atol=1e-5)
    assert x0.grad is not None and x1.grad is not None
    assert not np.shares_memory(x0.grad._data, x1.grad._data)
    g0 = x0.grad._data.copy()
    del x0, y0
    x2, y2 = step(2)  # takes step 0's freed arrays
    assert buffers.kept_bytes() <= 2 * kept  # at most two steps' arrays were ever live
    steady = buffers.kept_bytes()
    del x1, y1
    x3, y3 = step(3)
    assert buffers.kept_bytes() == steady  # steady: no new kept (large) array
    assert_close(y3._data, reference(3), rtol=1e-5, atol=1e-5)
    assert_close(y2._data, reference(2), rtol=1e-5, atol=1e-5)
    assert not np.array_equal(x2.grad._data, g0)
    held = [a for arrays in buffers._kept.values() for a in arrays]
    assert any(a is x3.grad._data for a in held)  # the input gradient came from the kept ones
    buffers.clear()
