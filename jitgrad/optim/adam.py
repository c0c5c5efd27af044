"""Adam and AdamW (decoupled weight decay), with PyTorch's update formulas."""

from .. import _dtype
from ..creation import tensor, zeros_like
from ..ops import elementwise as E
from .optimizer import Optimizer, betas, check_nonneg, check_unit, hp


def _check(lr, eps, b, weight_decay):
    check_nonneg("lr", lr, "learning rate")
    check_nonneg("eps", eps, "epsilon value")
    if not isinstance(b, (tuple, list)) or len(b) != 2:
        raise ValueError(f"Invalid betas: {b!r} (expected a pair (beta1, beta2))")
    check_unit("beta1", b[0], "beta parameter at index 0")
    check_unit("beta2", b[1], "beta parameter at index 1")
    check_nonneg("weight_decay", weight_decay, "weight_decay value")


def new_step_counter():
    """The per-parameter step counter: a 0-d float32 tensor, updated in place (``add_(1)``)."""
    return tensor(0.0, dtype=_dtype.float32)


def moments(opt, group, second="exp_avg_sq", decoupled=False, more_state=()):
    """The part every Adam-family update shares, per parameter with a gradient.

    Creates the state (the step counter, ``more_state`` entries ``(name, make(p))`` in that
    order, ``exp_avg`` and the second moment ``second``), counts the step, applies weight
    decay (``decoupled``: ``p *= 1 - lr * wd``, else L2 on the gradient), then updates the
    first moment ``m = lerp(m, g, 1 - beta1)`` and the second: ``"exp_avg_sq"``:
    ``v = beta2 * v + (1 - beta2) * g * g``; ``"exp_inf"`` (Adamax): ``u = max(beta2 * u,
    |g| + eps)``. Yields ``(p, g, state, step)``, ``step`` the counter in ``p``'s dtype.
    """
    lr = hp(group, "lr")
    beta1, beta2 = betas(group)
    has_wd = group["weight_decay"] != 0
    wd = hp(group, "weight_decay") if has_wd else 0
    for p in opt._params_with_grad(group):
        g = -p.grad if group["maximize"] else p.grad
        st = opt.state[p]
        if not st:
            st["step"] = new_step_counter()
            for name, make in more_state:
                st[name] = make(p)
            st["exp_avg"] = zeros_like(p)
            st[second] = zeros_like(p)
        st["step"].add_(1)
        if has_wd:
            if decoupled:
                p.mul_(1 - lr * wd)
            else:
                g = g + p * wd
        m, v = st["exp_avg"], st[second]
        m.lerp_(g, 1 - beta1)
        if second == "exp_inf":
            v.copy_(E.maximum(v * beta2, g.abs() + hp(group, "eps")))
        else:
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        # the counter (exact integers) in float64: torch reads it as a Python float, so its
        # bias corrections are double precision whatever the parameter's dtype
        yield p, g, st, st["step"].to(_dtype.float64)


class Adam(Optimizer):
    """PyTorch's Adam: ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False, maximize=False)``.

    >>> opt = jitgrad.optim.Adam(model.parameters(), lr=1e-3)
    """

    _flags = dict(foreach=None, capturable=False, differentiable=False, fused=None)
    _key_order = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
        "maximize",
        "foreach",
        "capturable",
        "differentiable",
        "fused",
        "decoupled_weight_decay",
    )

    _decoupled = False
    _flags = {**_flags, "decoupled_weight_decay": False}

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        maximize=False,
    ):
        _check(lr, eps, betas, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr, eps = hp(group, "lr"), hp(group, "eps")
        beta1, beta2 = betas(group)
        amsgrad = group["amsgrad"]
        for p, _g, state, step in moments(self, group, decoupled=self._decoupled):
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = zeros_like(p)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            step_size = lr / (1 - beta1**step)
            bias_correction2_sqrt = (1 - beta2**step).sqrt()
            if amsgrad:
                vmax = state["max_exp_avg_sq"]
                vmax.maximum_(v)
                denom = (vmax.sqrt() / bias_correction2_sqrt).add_(eps)
            else:
                denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
            p.sub_(m / denom * step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step.

    >>> opt = jitgrad.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    _decoupled = True
    _flags = {**Adam._flags, "decoupled_weight_decay": True}

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
