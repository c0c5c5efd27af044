"""RAdam (rectified Adam), with PyTorch's update formula."""

from ..ops import elementwise as E
from .adam import _check, moments
from .optimizer import Optimizer, betas, hp


class RAdam(Optimizer):
    """``RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False)``; the rectification switches on once rho_t > 5."""

    _flags = dict(foreach=None, capturable=False, differentiable=False)
    _key_order = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "maximize",
        "foreach",
        "capturable",
        "decoupled_weight_decay",
        "differentiable",
    )

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check(lr, eps, betas, weight_decay)
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                maximize=maximize,
                decoupled_weight_decay=decoupled_weight_decay,
            ),
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr, eps = hp(group, "lr"), hp(group, "eps")
        beta1, beta2 = betas(group)
        decoupled = group["decoupled_weight_decay"]
        for p, _g, st, step in moments(self, group, decoupled=decoupled):
            bc1 = 1 - beta1**step
            bc2 = 1 - beta2**step
            mhat = st["exp_avg"] / bc1
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2**step) / bc2
            on = rho_t > 5.0
            # where() instead of a Python branch: the choice depends on the step counter, a
            # tensor, so a traced step takes the same decision as the eager one
            safe = E.where(on, rho_t, 6.0)
            rect = (safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe)
            adaptive = bc2.sqrt() / (st["exp_avg_sq"].sqrt() + eps)
            upd = E.where(on, mhat * lr * adaptive * rect.sqrt(), mhat * lr)
            p.sub_(upd)
