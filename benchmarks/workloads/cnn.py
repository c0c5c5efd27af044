"""(b) Small CNN training step on MNIST-shaped input, Adam(lr=1e-3).

Conv2d(1,16,3) ReLU MaxPool2d(2) Conv2d(16,32,3) ReLU MaxPool2d(2) Flatten Linear(800,10),
cross-entropy (the network of examples/mnist_cnn.py).

A second row is the cold compile: seconds from the first call of the step to its first
compiled result, in a fresh process with an empty jitgrad cache (``JITGRAD_CACHE_DIR``) and
blocking compiles; the conv/pool kernels come from numba's disk cache, as they do for every
graph after the first (``python -m benchmarks.workloads.cnn --cold FW DIR`` is the child).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from .. import peers
from ..timing import Block, Result
from .common import Row, load_jitgrad, load_torch, mnist_batch, skip_compile

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8


def params(seed=0):
    rng = np.random.default_rng(seed)

    def conv(cin, cout):
        k = 1.0 / np.sqrt(cin * 9)
        return (
            rng.uniform(-k, k, (cout, cin, 3, 3)).astype(np.float32),
            rng.uniform(-k, k, cout).astype(np.float32),
        )

    k = 1.0 / np.sqrt(800)
    lin = (
        rng.uniform(-k, k, (10, 800)).astype(np.float32),
        rng.uniform(-k, k, 10).astype(np.float32),
    )
    return [*conv(1, 16), *conv(16, 32), *lin]


# ---------------------------------------------------------------- jitgrad --------------
def jitgrad_case(ps, batch, traced):
    import jitgrad
    from jitgrad import nn

    model = nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 10),
    )
    load_jitgrad(list(model.parameters()), ps)
    opt = jitgrad.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x, y = (jitgrad.tensor(a) for a in batch)

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = jitgrad.trace(train_step) if traced else train_step
    fn = lambda: step(x, y)
    fn.traced = step if traced else None
    return fn


# ---------------------------------------------------------------- numpy ----------------
def _im2col(x):
    """[B,C,H,W] -> [B*H'*W', C*9] for a 3x3 kernel, stride 1, no padding."""
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # B C H' W' 3 3
    b, c, h, w = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(b * h * w, c * 9), (h, w)


def _col2im(dcols, xshape):
    b, c, hh, ww = xshape
    h, w = hh - 2, ww - 2
    d = dcols.reshape(b, h, w, c, 3, 3)
    dx = np.zeros(xshape, np.float32)
    for i in range(3):
        for j in range(3):
            dx[:, :, i : i + h, j : j + w] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx


def _conv_fwd(x, w, b):
    cols, (h, ww) = _im2col(x)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(x.shape[0], h, ww, -1).transpose(0, 3, 1, 2), cols


def _conv_bwd(dout, cols, w, xshape, need_dx):
    o = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(axis=0)
    dx = _col2im(d @ w.reshape(o, -1), xshape) if need_dx else None
    return dx, dw, db


def _pool_fwd(x):
    b, c, h, w = x.shape
    ho, wo = h // 2, w // 2
    xc = x[:, :, : 2 * ho, : 2 * wo].reshape(b, c, ho, 2, wo, 2)
    m = xc.max(axis=(3, 5))
    return m, xc


def _pool_bwd(dm, m, xc, xshape):
    mask = xc == m[:, :, :, None, :, None]
    dxc = mask * dm[:, :, :, None, :, None]
    dx = np.zeros(xshape, np.float32)
    b, c, ho, _, wo, _ = xc.shape
    dx[:, :, : 2 * ho, : 2 * wo] = dxc.reshape(b, c, 2 * ho, 2 * wo)
    return dx


def numpy_case(ps, batch):
    ps = [p.copy() for p in ps]
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    x, y = batch
    rows = np.arange(len(y))
    t = [0]

    def step():
        w1, b1, w2, b2, w3, b3 = ps
        z1, c1 = _conv_fwd(x, w1, b1)
        a1 = np.maximum(z1, 0)
        p1, pc1 = _pool_fwd(a1)
        z2, c2 = _conv_fwd(p1, w2, b2)
        a2 = np.maximum(z2, 0)
        p2, pc2 = _pool_fwd(a2)
        f = p2.reshape(len(y), -1)
        logits = f @ w3.T + b3
        mx = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - mx)
        s = e.sum(axis=1, keepdims=True)
        loss = -(logits[rows, y] - mx[:, 0] - np.log(s[:, 0])).mean()
        d = e / s
        d[rows, y] -= 1
        d /= len(y)
        g3, gb3 = d.T @ f, d.sum(axis=0)
        df = (d @ w3).reshape(p2.shape)
        da2 = _pool_bwd(df, p2, pc2, a2.shape) * (z2 > 0)
        dp1, g2, gb2 = _conv_bwd(da2, c2, w2, p1.shape, True)
        da1 = _pool_bwd(dp1, p1, pc1, a1.shape) * (z1 > 0)
        _, g1, gb1 = _conv_bwd(da1, c1, w1, x.shape, False)
        t[0] += 1
        c1_, c2_ = 1 - B1 ** t[0], 1 - B2 ** t[0]
        for p, g, m, v in zip(ps, (g1, gb1, g2, gb2, g3, gb3), ms, vs):
            m *= B1
            m += (1 - B1) * g
            v *= B2
            v += (1 - B2) * g * g
            p -= (LR / c1_) * m / (np.sqrt(v / c2_) + EPS)
        return loss

    return step


# ---------------------------------------------------------------- torch ----------------
def torch_case(ps, batch, compiled):
    torch = peers.torch()
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 10),
    )
    load_torch(list(model.parameters()), ps)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a) for a in batch)

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    step = torch.compile(train_step, dynamic=False) if compiled else train_step
    return lambda: step(x, y)


# ---------------------------------------------------------------- jax ------------------
def jax_case(ps, batch):
    jax = peers.jax()
    jnp = jax.numpy
    lax = jax.lax

    def conv(x, w, b):
        y = lax.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return y + b[None, :, None, None]

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(p, x, y):
        h = pool(jax.nn.relu(conv(x, p[0], p[1])))
        h = pool(jax.nn.relu(conv(h, p[2], p[3])))
        logits = h.reshape(h.shape[0], -1) @ p[4].T + p[5]
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1
        m = [B1 * a + (1 - B1) * b for a, b in zip(m, g)]
        v = [B2 * a + (1 - B2) * b * b for a, b in zip(v, g)]
        c1, c2 = 1 - B1**t, 1 - B2**t
        p = [a - (LR / c1) * mm / (jnp.sqrt(vv / c2) + EPS) for a, mm, vv in zip(p, m, v)]
        return p, m, v, t, loss

    f = jax.jit(train_step, donate_argnums=(0, 1, 2))
    p = [jnp.asarray(a) for a in ps]
    state = [
        p,
        [jnp.zeros_like(a) for a in p],
        [jnp.zeros_like(a) for a in p],
        jnp.asarray(0.0, jnp.float32),
    ]
    x, y = (jnp.asarray(a) for a in batch)

    def step():
        *s, loss = f(*state, x, y)
        state[:] = s
        return loss.block_until_ready()

    return step


def cases(batch_size, level):
    ps = params()
    batch = mnist_batch(batch_size, flat=False)
    return {
        "jitgrad eager": lambda: jitgrad_case(ps, batch, False),
        "jitgrad compiled": lambda: jitgrad_case(ps, batch, True),
        "numpy": lambda: numpy_case(ps, batch),
        "torch eager": lambda: torch_case(ps, batch, False),
        "torch.compile": lambda: (skip_compile(level), torch_case(ps, batch, True))[1],
        "jax.jit": lambda: jax_case(ps, batch),
    }


# ---------------------------------------------------------------- cold compile ---------
COLD = ("jitgrad compiled", "jax.jit")  # torch.compile: its time to first result is logged


def _cold_child(fw, cache, batch_size):
    """In a fresh process: seconds from the first call to the first compiled result."""
    os.environ["JITGRAD_CACHE_DIR"] = cache
    os.environ["JITGRAD_ASYNC_COMPILE"] = "0"
    ps, batch = params(), mnist_batch(batch_size, flat=False)
    t0, c0 = time.perf_counter(), time.process_time()
    if fw == "jax.jit":
        jax_case(ps, batch)()
        return {"first_s": time.perf_counter() - t0, "first_cpu_s": time.process_time() - c0}
    fn = jitgrad_case(ps, batch, True)
    while not fn.traced.stats["compiled_calls"] and time.perf_counter() - t0 < 900:
        fn()
    v = fn.traced.last
    return {
        "first_s": time.perf_counter() - t0,
        "first_cpu_s": time.process_time() - c0,  # this process only (a loaded machine)
        "numba_compile_s": getattr(v.exe, "compile_seconds", None),
        "cache_hit": getattr(v.exe, "cache_hit", None),
        "compiled": bool(fn.traced.stats["compiled_calls"]),
    }


def _cold(level, batch_size):
    """({column: Result or why not}, raw child reports) for the cold-compile row."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res, raw = {}, []
    for fw in COLD:
        d = tempfile.mkdtemp(prefix="jg-cnn-cold-")
        cmd = [sys.executable, "-m", "benchmarks.workloads.cnn", "--cold", fw, d, str(batch_size)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=root)
            lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
            r = json.loads(lines[-1]) if lines else {"error": (p.stderr or "no output")[-200:]}
        except subprocess.TimeoutExpired:
            r = {"error": "timed out after 1200 s"}
        finally:
            shutil.rmtree(d, ignore_errors=True)
        raw.append(dict(r, framework=fw))
        if "error" in r or not r.get("compiled", True):
            res[fw] = "failed: " + r.get("error", "never ran compiled code").strip()[:120]
        else:
            res[fw] = Result([Block(r["first_s"], r["first_s"], None, None)], 1, 1.0, 1)
    return res, raw  # the other columns show n/a


def rows(level):
    b = 8 if level == "smoke" else 64  # smoke: every column's code path once, tiny batch
    cold = Row(
        "cnn",
        f"(b) small CNN: cold compile, first call to first compiled result, batch {b}",
        {},
        unit="s",
        group="(b) CNN cold compile",
        x=f"batch {b}",
    )
    cold.precomputed = lambda: _cold(level, b)
    step = Row(
        "cnn",
        f"(b) small CNN train step (Adam), batch {b}",
        cases(b, level),
        unit="ms",
        group="(b) CNN train step",
        x=f"batch {b}",
    )
    return [step] if level == "smoke" else [step, cold]  # smoke: no cold numba compile


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cold"]:
        print(json.dumps(_cold_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
