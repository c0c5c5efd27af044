"""(d) Per-op overhead: a chain of 200 ops on a 1-element float32 tensor, forward + backward.

The chain cycles through ``*0.9, +0.1, tanh, sigmoid``. Eager columns show the dispatch and
tape cost per op (time / 200); compiled columns show the call overhead of the whole chain.
"""

import numpy as np

from .. import peers
from .common import Row, skip_compile

N_OPS = 200


def _ops(n):
    return [i % 4 for i in range(n)]


def jitgrad_case(n, traced):
    import jitgrad

    x = jitgrad.tensor(np.full(1, 0.5, np.float32), requires_grad=True)
    kinds = _ops(n)

    def chain(x):
        x.grad = None
        y = x
        for k in kinds:
            if k == 0:
                y = y * 0.9
            elif k == 1:
                y = y + 0.1
            elif k == 2:
                y = y.tanh()
            else:
                y = y.sigmoid()
        y.sum().backward()
        return y

    step = jitgrad.trace(chain) if traced else chain
    fn = lambda: step(x)
    fn.traced = step if traced else None
    return fn


def numpy_case(n):
    x = np.full(1, 0.5, np.float32)
    kinds = _ops(n)
    c09, c01, one = np.float32(0.9), np.float32(0.1), np.float32(1)

    def step():
        saved = []
        y = x
        for k in kinds:
            if k == 0:
                y = y * c09
            elif k == 1:
                y = y + c01
            elif k == 2:
                y = np.tanh(y)
                saved.append(y)
            else:
                y = 1 / (1 + np.exp(-y))
                saved.append(y)
        g = np.ones_like(y)
        for k in reversed(kinds):
            if k == 0:
                g = g * c09
            elif k == 2:
                t = saved.pop()
                g = g * (one - t * t)
            elif k == 3:
                s = saved.pop()
                g = g * (s * (one - s))
        return y

    return step


def torch_case(n, compiled):
    torch = peers.torch()
    x = torch.full((1,), 0.5, requires_grad=True)
    kinds = _ops(n)

    def chain(x):
        y = x
        for k in kinds:
            if k == 0:
                y = y * 0.9
            elif k == 1:
                y = y + 0.1
            elif k == 2:
                y = y.tanh()
            else:
                y = y.sigmoid()
        return y

    f = torch.compile(chain, dynamic=False) if compiled else chain

    def step():
        y = f(x)
        (g,) = torch.autograd.grad(y.sum(), (x,))
        return y.detach()

    return step


def jax_case(n):
    jax = peers.jax()
    jnp = jax.numpy
    kinds = _ops(n)

    def chain(x):
        y = x
        for k in kinds:
            if k == 0:
                y = y * 0.9
            elif k == 1:
                y = y + 0.1
            elif k == 2:
                y = jnp.tanh(y)
            else:
                y = jax.nn.sigmoid(y)
        return y.sum()

    f = jax.jit(jax.value_and_grad(chain))
    x = jnp.full((1,), 0.5, jnp.float32)

    def step():
        y, g = f(x)
        g.block_until_ready()
        return y

    return step


def cases(n, level):
    return {
        "jitgrad eager": lambda: jitgrad_case(n, False),
        "jitgrad compiled": lambda: jitgrad_case(n, True),
        "numpy": lambda: numpy_case(n),
        "torch eager": lambda: torch_case(n, False),
        "torch.compile": lambda: (skip_compile(level), torch_case(n, True))[1],
        "jax.jit": lambda: jax_case(n),
    }


def rows(level):
    n = N_OPS  # smoke too: the guard rows (g) compile this chain anyway (one compile, cached)
    return [
        Row(
            "overhead",
            f"(d) {n}-op tiny-tensor chain fwd+bwd, per call",
            cases(n, level),
            unit="us",
            per=(n, "per op"),
            group="(d) 200-op chain fwd+bwd",
            x=f"{n} ops",
        )
    ]
