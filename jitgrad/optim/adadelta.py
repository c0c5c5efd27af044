"""Adadelta, with PyTorch's update formula."""

from ..creation import zeros_like
from .adam import new_step_counter
from .optimizer import Optimizer, check_nonneg, hp


class Adadelta(Optimizer):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False)``."""

    _flags = dict(capturable=False, foreach=None, differentiable=False)
    _key_order = (
        "lr",
        "rho",
        "eps",
        "weight_decay",
        "maximize",
        "capturable",
        "foreach",
        "differentiable",
    )

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        check_nonneg("lr", lr, "learning rate")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_nonneg("eps", eps, "epsilon value")
        check_nonneg("weight_decay", weight_decay, "weight_decay value")
        super().__init__(
            params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr, rho, eps = hp(group, "lr"), hp(group, "rho"), hp(group, "eps")
        has_wd = group["weight_decay"] != 0
        wd = hp(group, "weight_decay") if has_wd else 0
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            st = self.state[p]
            if not st:
                st["step"] = new_step_counter()
                st["square_avg"] = zeros_like(p)
                st["acc_delta"] = zeros_like(p)
            st["step"].add_(1)
            if has_wd:
                g = g + p * wd
            sq, acc = st["square_avg"], st["acc_delta"]
            sq.mul_(rho).addcmul_(g, g, value=1 - rho)
            std = (sq + eps).sqrt()
            delta = (acc + eps).sqrt() / std * g
            acc.mul_(rho).addcmul_(delta, delta, value=1 - rho)
            p.sub_(delta * lr)
