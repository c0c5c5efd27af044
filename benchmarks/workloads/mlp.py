"""(a) MNIST MLP training step: 784-256-256-10, cross-entropy, SGD(lr=0.01, momentum=0.9)."""

import numpy as np

from .. import peers
from .common import (
    Row,
    flat_params,
    load_jitgrad,
    load_torch,
    mlp_params,
    mnist_batch,
    skip_compile,
    skip_serial,
)

SIZES = (784, 256, 256, 10)
LR, MOM = 0.01, 0.9


# ---------------------------------------------------------------- jitgrad --------------
def jitgrad_model(params):
    import jitgrad
    from jitgrad import nn

    layers = []
    for i, (w, _) in enumerate(params):
        layers.append(nn.Linear(w.shape[1], w.shape[0]))
        if i < len(params) - 1:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    load_jitgrad(list(model.parameters()), flat_params(params))
    _ = jitgrad
    return model


def jitgrad_step(params, batch, traced, trace_kw=None):
    import jitgrad
    from jitgrad import nn

    model = jitgrad_model(params)
    opt = jitgrad.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    loss_fn = nn.CrossEntropyLoss()
    x, y = (jitgrad.tensor(a) for a in batch)

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = jitgrad.trace(train_step, **(trace_kw or {})) if traced else train_step
    fn = lambda: step(x, y)
    fn.traced = step if traced else None
    return fn


# ---------------------------------------------------------------- numpy ----------------
def numpy_step(params, batch):
    ps = [a.copy() for a in flat_params(params)]
    bufs = [np.zeros_like(p) for p in ps]
    x, y = batch
    n = len(params)
    rows = np.arange(len(y))

    def step():
        acts, pre = [x], []
        h = x
        for i in range(n):
            w, b = ps[2 * i], ps[2 * i + 1]
            z = h @ w.T + b
            pre.append(z)
            h = np.maximum(z, 0) if i < n - 1 else z
            acts.append(h)
        m = h.max(axis=1, keepdims=True)
        e = np.exp(h - m)
        s = e.sum(axis=1, keepdims=True)
        loss = -(h[rows, y] - m[:, 0] - np.log(s[:, 0])).mean()
        d = e / s
        d[rows, y] -= 1
        d /= len(y)
        grads = [None] * (2 * n)
        for i in range(n - 1, -1, -1):
            grads[2 * i] = d.T @ acts[i]
            grads[2 * i + 1] = d.sum(axis=0)
            if i:
                d = d @ ps[2 * i]
                d *= pre[i - 1] > 0
        for p, g, buf in zip(ps, grads, bufs):
            buf *= MOM
            buf += g
            p -= LR * buf
        return loss

    return step


# ---------------------------------------------------------------- torch ----------------
def torch_step(params, batch, compiled):
    torch = peers.torch()
    nn = torch.nn
    layers = []
    for i, (w, _) in enumerate(params):
        layers.append(nn.Linear(w.shape[1], w.shape[0]))
        if i < len(params) - 1:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    load_torch(list(model.parameters()), flat_params(params))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
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
def jax_step(params, batch):
    jax = peers.jax()
    jnp = jax.numpy

    def loss_fn(ps, x, y):
        h = x
        for i, (w, b) in enumerate(ps):
            h = h @ w.T + b
            if i < len(ps) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    def train_step(ps, bufs, x, y):
        loss, gs = jax.value_and_grad(loss_fn)(ps, x, y)
        bufs = jax.tree_util.tree_map(lambda b, g: MOM * b + g, bufs, gs)
        ps = jax.tree_util.tree_map(lambda p, b: p - LR * b, ps, bufs)
        return ps, bufs, loss

    jstep = jax.jit(train_step, donate_argnums=(0, 1))
    ps = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    state = [ps, jax.tree_util.tree_map(jnp.zeros_like, ps)]
    x, y = (jnp.asarray(a) for a in batch)

    def step():
        state[0], state[1], loss = jstep(state[0], state[1], x, y)
        return loss.block_until_ready()

    return step


def cases(batch_size, level, params=None, batch=None):
    params = params or mlp_params(SIZES)
    batch = batch or mnist_batch(batch_size)
    return {
        "jitgrad eager": lambda: jitgrad_step(params, batch, False),
        "jitgrad compiled": lambda: jitgrad_step(params, batch, True),
        "jitgrad serial": lambda: (
            skip_serial(level),
            jitgrad_step(params, batch, True, {"parallel": False}),
        )[1],
        "numpy": lambda: numpy_step(params, batch),
        "torch eager": lambda: torch_step(params, batch, False),
        "torch.compile": lambda: (skip_compile(level), torch_step(params, batch, True))[1],
        "jax.jit": lambda: jax_step(params, batch),
    }


def rows(level):
    # smoke: batch 32, the step the guard rows (g) compile anyway (one compile, cached)
    sizes = {"smoke": [32], "quick": [32], "full": [32, 512]}[level]
    return [
        Row(
            "mlp",
            f"(a) MLP 784-256-256-10 train step, batch {b}",
            cases(b, level),
            unit="ms",
            group="(a) MLP train step",
            x=f"batch {b}",
        )
        for b in sizes
    ]
