"""(f) MLP inference: the 784-256-256-10 MLP's forward pass only, under no_grad."""

import numpy as np

from .. import peers
from .common import Row, flat_params, load_torch, mlp_params, mnist_batch, skip_compile, skip_serial
from .mlp import SIZES, jitgrad_model


def jitgrad_case(params, x, traced):
    import jitgrad

    model = jitgrad_model(params)
    model.eval()
    xt = jitgrad.tensor(x)

    def forward(x):
        with jitgrad.no_grad():
            return model(x)

    kw = {"parallel": False} if traced == "serial" else {}
    step = jitgrad.trace(forward, **kw) if traced else forward
    fn = lambda: step(xt)
    fn.traced = step if traced else None
    return fn


def numpy_case(params, x):
    def step():
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                np.maximum(h, 0, out=h)
        return h

    return step


def torch_case(params, x, compiled):
    torch = peers.torch()
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    load_torch(list(model.parameters()), flat_params(params))
    model.eval()
    xt = torch.from_numpy(x)

    def forward(x):
        with torch.no_grad():
            return model(x)

    f = torch.compile(forward, dynamic=False) if compiled else forward
    return lambda: f(xt)


def jax_case(params, x):
    jax = peers.jax()
    jnp = jax.numpy

    def forward(ps, x):
        h = x
        for i, (w, b) in enumerate(ps):
            h = h @ w.T + b
            if i < len(ps) - 1:
                h = jax.nn.relu(h)
        return h

    f = jax.jit(forward)
    ps = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    xj = jnp.asarray(x)
    return lambda: f(ps, xj).block_until_ready()


def cases(batch, level):
    params = mlp_params(SIZES)
    x, _ = mnist_batch(batch)
    return {
        "jitgrad eager": lambda: jitgrad_case(params, x, False),
        "jitgrad compiled": lambda: jitgrad_case(params, x, True),
        "jitgrad serial": lambda: (skip_serial(level), jitgrad_case(params, x, "serial"))[1],
        "numpy": lambda: numpy_case(params, x),
        "torch eager": lambda: torch_case(params, x, False),
        "torch.compile": lambda: (skip_compile(level), torch_case(params, x, True))[1],
        "jax.jit": lambda: jax_case(params, x),
    }


def rows(level):
    sizes = {"smoke": [32], "quick": [512], "full": [32, 512]}[level]
    return [
        Row(
            "inference",
            f"(f) MLP inference (forward, no_grad), batch {b}",
            cases(b, level),
            unit="ms",
            group="(f) MLP inference",
            x=f"batch {b}",
        )
        for b in sizes
    ]
