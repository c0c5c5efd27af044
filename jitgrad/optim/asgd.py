"""ASGD (averaged SGD), with PyTorch's update formula."""

from .. import _dtype
from ..creation import tensor, zeros_like
from .adam import new_step_counter
from .optimizer import Optimizer, check_nonneg, hp


class ASGD(Optimizer):
    """``ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0)``; the average
    is in ``state['ax']``."""

    _flags = dict(foreach=None, differentiable=False, capturable=False)
    _key_order = (
        "lr",
        "lambd",
        "alpha",
        "t0",
        "weight_decay",
        "foreach",
        "maximize",
        "differentiable",
        "capturable",
    )

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        check_nonneg("lr", lr, "learning rate")
        check_nonneg("weight_decay", weight_decay, "weight_decay value")
        super().__init__(
            params,
            dict(
                lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize
            ),
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        lr, lambd, alpha, t0 = (hp(group, k) for k in ("lr", "lambd", "alpha", "t0"))
        has_wd = group["weight_decay"] != 0
        wd = hp(group, "weight_decay") if has_wd else 0
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            st = self.state[p]
            if not st:
                st["step"] = new_step_counter()
                st["eta"] = tensor(float(group["lr"]), dtype=_dtype.float32)
                st["mu"] = tensor(1.0, dtype=_dtype.float32)
                st["ax"] = zeros_like(p)
            st["step"].add_(1)
            if has_wd:
                g = g + p * wd
            eta = st["eta"].to(p.dtype)
            mu = st["mu"].to(p.dtype)
            p.mul_(1 - lambd * eta)
            p.sub_(g * eta)
            ax = st["ax"]
            ax.add_((p - ax) * mu)  # mu == 1 copies p (ax + (p - ax) * 1)
            step = st["step"].to(p.dtype)
            st["eta"].copy_(lr / ((1 + lambd * lr * step) ** alpha))
            st["mu"].copy_(1 / (step - t0).clamp(min=1))
