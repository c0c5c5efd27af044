"""Adamax (Adam with the infinity norm), with PyTorch's update formula."""

from ..creation import zeros_like
from ..ops import elementwise as E
from .adam import _check, new_step_counter
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
        lr, eps = hp(group, "lr"), hp(group, "eps")
        beta1, beta2 = betas(group)
        has_wd = group["weight_decay"] != 0
        wd = hp(group, "weight_decay") if has_wd else 0
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            st = self.state[p]
            if not st:
                st["step"] = new_step_counter()
                st["exp_avg"] = zeros_like(p)
                st["exp_inf"] = zeros_like(p)
            st["step"].add_(1)
            if has_wd:
                g = g + p * wd
            m, u = st["exp_avg"], st["exp_inf"]
            m.lerp_(g, 1 - beta1)
            u.copy_(E.maximum(u * beta2, g.abs() + eps))
            clr = lr / (1 - beta1 ** st["step"].to(p.dtype))
            p.sub_(m / u * clr)
