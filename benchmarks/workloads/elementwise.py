"""(c) Elementwise chains, forward + backward (gradients w.r.t. all three inputs), float32.

arith: mean(relu(x*w+b)**2 * x + 0.5*(w-b)*x)
gelu:  mean(gelu_tanh(x*w+b) * sigmoid(x))

The bandwidth floor of one step is reading x, w, b and writing their three gradients:
24 bytes per element (a fused single pass can do it, since the loss is a mean).
"""

import math

import numpy as np

from .. import peers
from .common import Row, skip_compile, skip_serial

C = math.sqrt(2.0 / math.pi)
A = 0.044715
BYTES_PER_ELEMENT = 6 * 4


def data(n, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n, dtype=np.float32)
    w = (rng.standard_normal(n, dtype=np.float32) * 0.5).astype(np.float32)
    b = (rng.standard_normal(n, dtype=np.float32) * 0.1).astype(np.float32)
    return x, w, b


# ---------------------------------------------------------------- jitgrad --------------
def jitgrad_case(kind, arrays, traced):
    import jitgrad
    import jitgrad.nn.functional as F

    x, w, b = (jitgrad.tensor(a, requires_grad=True) for a in arrays)

    def chain(x, w, b):
        for t in (x, w, b):
            t.grad = None
        if kind == "arith":
            loss = ((x * w + b).relu() ** 2 * x + 0.5 * (w - b) * x).mean()
        else:
            loss = (F.gelu(x * w + b, approximate="tanh") * x.sigmoid()).mean()
        loss.backward()
        return loss

    kw = {"parallel": False} if traced == "serial" else {}
    step = jitgrad.trace(chain, **kw) if traced else chain
    fn = lambda: step(x, w, b)
    fn.traced = step if traced else None
    return fn


# ---------------------------------------------------------------- numpy ----------------
def numpy_case(kind, arrays):
    x, w, b = arrays
    n = x.size
    g = np.float32(1.0 / n)

    def arith():
        z = x * w + b
        r = np.maximum(z, 0)
        d = w - b
        loss = (r * r * x + 0.5 * d * x).mean()
        dz = (2 * g) * r * x  # zero where z <= 0, since r is
        gx = g * r * r + (0.5 * g) * d + dz * w
        gw = dz * x + (0.5 * g) * x
        gb = dz - (0.5 * g) * x
        return loss, gx, gw, gb

    def gelu():
        z = x * w + b
        th = np.tanh(C * (z + A * z**3))
        gl = 0.5 * z * (1 + th)
        sg = 1 / (1 + np.exp(-x))
        loss = (gl * sg).mean()
        dz = (g * sg) * (0.5 * (1 + th) + 0.5 * z * (1 - th * th) * C * (1 + 3 * A * z * z))
        gx = dz * w + (g * gl) * sg * (1 - sg)
        gw = dz * x
        gb = dz
        return loss, gx, gw, gb

    return arith if kind == "arith" else gelu


# ---------------------------------------------------------------- torch ----------------
def torch_case(kind, arrays, compiled):
    torch = peers.torch()
    F = torch.nn.functional
    x, w, b = (torch.from_numpy(a.copy()).requires_grad_() for a in arrays)

    def loss_fn(x, w, b):
        if kind == "arith":
            return ((x * w + b).relu() ** 2 * x + 0.5 * (w - b) * x).mean()
        return (F.gelu(x * w + b, approximate="tanh") * torch.sigmoid(x)).mean()

    f = torch.compile(loss_fn, dynamic=False) if compiled else loss_fn

    def step():
        loss = f(x, w, b)
        grads = torch.autograd.grad(loss, (x, w, b))
        return loss.detach(), grads

    return step


# ---------------------------------------------------------------- jax ------------------
def jax_case(kind, arrays):
    jax = peers.jax()
    jnp = jax.numpy

    def loss_fn(x, w, b):
        if kind == "arith":
            return (jax.nn.relu(x * w + b) ** 2 * x + 0.5 * (w - b) * x).mean()
        return (jax.nn.gelu(x * w + b, approximate=True) * jax.nn.sigmoid(x)).mean()

    f = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2)))
    x, w, b = (jnp.asarray(a) for a in arrays)

    def step():
        loss, grads = f(x, w, b)
        jax.block_until_ready(grads)
        return loss

    return step


def cases(kind, n, level):
    holder = {}

    def arrays():
        if "a" not in holder:
            holder["a"] = data(n)
        return holder["a"]

    return {
        "jitgrad eager": lambda: jitgrad_case(kind, arrays(), False),
        "jitgrad compiled": lambda: jitgrad_case(kind, arrays(), True),
        "jitgrad serial": lambda: (skip_serial(level), jitgrad_case(kind, arrays(), "serial"))[1],
        "numpy": lambda: numpy_case(kind, arrays()),
        "torch eager": lambda: torch_case(kind, arrays(), False),
        "torch.compile": lambda: (skip_compile(level), torch_case(kind, arrays(), True))[1],
        "jax.jit": lambda: jax_case(kind, arrays()),
    }


def rows(level):
    sizes = {"smoke": [10**4], "quick": [10**6], "full": [10**5, 10**6, 10**7]}[level]
    out = []
    for kind, label in (("arith", "arithmetic"), ("gelu", "GELU-tanh")):
        for n in sizes:
            out.append(
                Row(
                    "elementwise",
                    f"(c) {label} chain fwd+bwd, {n:.0e} elements",
                    cases(kind, n, level),
                    unit="ms",
                    bytes_moved=BYTES_PER_ELEMENT * n,
                    group=f"(c) {label} chain fwd+bwd",
                    x=f"{n:.0e}",
                )
            )
    return out
