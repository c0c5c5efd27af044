"""NAdam (Adam with Nesterov momentum and momentum decay), with PyTorch's update formula."""

from .. import _dtype
from ..creation import tensor, zeros_like
from .adam import _check, new_step_counter
from .optimizer import Optimizer, betas, hp


class NAdam(Optimizer):
    """``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False)``."""

    _flags = dict(foreach=None, capturable=False, differentiable=False)
    _key_order = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "momentum_decay",
        "decoupled_weight_decay",
        "maximize",
        "foreach",
        "capturable",
        "differentiable",
    )

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                momentum_decay=momentum_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
            ),
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr, eps, md = hp(group, "lr"), hp(group, "eps"), hp(group, "momentum_decay")
        beta1, beta2 = betas(group)
        has_wd = group["weight_decay"] != 0
        wd = hp(group, "weight_decay") if has_wd else 0
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            st = self.state[p]
            if not st:
                st["step"] = new_step_counter()
                st["mu_product"] = tensor(1.0, dtype=_dtype.float32)
                st["exp_avg"] = zeros_like(p)
                st["exp_avg_sq"] = zeros_like(p)
            st["step"].add_(1)
            step = st["step"].to(p.dtype)
            bc2 = 1 - beta2**step
            if has_wd:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    g = g + p * wd
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
            st["mu_product"].mul_(mu.to(st["mu_product"].dtype))
            mp = st["mu_product"].to(p.dtype)
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v / bc2).sqrt() + eps
            p.sub_(g / denom * (lr * (1.0 - mu) / (1.0 - mp)))
            p.sub_(m / denom * (lr * mu_next / (1.0 - mp * mu_next)))
