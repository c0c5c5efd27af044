"""Adam and AdamW (decoupled weight decay), with PyTorch's update formulas."""

from .. import _dtype
from ..creation import tensor, zeros_like
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
        has_wd = group["weight_decay"] != 0
        lr = hp(group, "lr")
        beta1, beta2 = betas(group)
        eps = hp(group, "eps")
        wd = hp(group, "weight_decay") if has_wd else 0
        amsgrad = group["amsgrad"]
        for p in self._params_with_grad(group):
            g = p.grad
            if group["maximize"]:
                g = -g
            state = self.state[p]
            if len(state) == 0:
                state["step"] = new_step_counter()
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_like(p)
            step_t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            step_t.add_(1)
            if has_wd:
                if self._decoupled:
                    p.mul_(1 - lr * wd)
                else:
                    g = g + p * wd
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).add_(g * g * (1 - beta2))
            # bias corrections from the counter tensor (exact integers), in the parameter's
            # dtype so float64 runs match torch's Python-float arithmetic
            step = step_t.to(p.dtype)
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2.sqrt()
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
