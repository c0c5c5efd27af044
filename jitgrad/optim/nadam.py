"""NAdam (Adam with Nesterov momentum and momentum decay), with PyTorch's update formula."""

from .. import _dtype
from ..creation import tensor
from .adam import _check, moments
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
        more = (("mu_product", lambda p: tensor(1.0, dtype=_dtype.float32)),)
        decoupled = group["decoupled_weight_decay"]
        for p, g, st, step in moments(self, group, decoupled=decoupled, more_state=more):
            bc2 = 1 - beta2**step
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
            st["mu_product"].mul_(mu.to(st["mu_product"].dtype))
            mp = st["mu_product"].to(p.dtype)
            denom = (st["exp_avg_sq"] / bc2).sqrt() + eps
            p.sub_(g / denom * (lr * (1.0 - mu) / (1.0 - mp)))
            p.sub_(st["exp_avg"] / denom * (lr * mu_next / (1.0 - mp * mu_next)))
