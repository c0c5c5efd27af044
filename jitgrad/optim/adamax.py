"""Adamax (Adam with the infinity norm), with PyTorch's update formula."""

from .adam import _check, moments
from .optimizer import Optimizer, betas, hp


class Adamax(Optimizer):
    """``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)``."""

    _flags = dict(foreach=None, differentiable=False, capturable=False)
    _key_order = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "foreach",
        "maximize",
        "differentiable",
        "capturable",
    )

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _check(lr, eps, betas, weight_decay)
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize),
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr = hp(group, "lr")
        beta1, _ = betas(group)
        for p, _g, st, step in moments(self, group, second="exp_inf"):
            clr = lr / (1 - beta1**step)
            p.sub_(st["exp_avg"] / st["exp_inf"] * clr)
