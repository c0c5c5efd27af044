"""Rprop (resilient backpropagation), with PyTorch's update formula."""

from ..creation import full_like, zeros_like
from ..ops import elementwise as E
from .adam import new_step_counter
from .optimizer import Optimizer, check_nonneg


class Rprop(Optimizer):
    """``Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))``."""

    _flags = dict(foreach=None, differentiable=False, capturable=False)
    _key_order = ("lr", "etas", "step_sizes", "foreach", "maximize", "differentiable", "capturable")

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_nonneg("lr", lr, "learning rate")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(
            params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        )

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        etaminus, etaplus = group["etas"]
        smin, smax = group["step_sizes"]
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            st = self.state[p]
            if not st:
                st["step"] = new_step_counter()
                st["prev"] = zeros_like(p)
                st["step_size"] = full_like(p, group["lr"])
            st["step"].add_(1)
            s = (g * st["prev"]).sign()
            one = full_like(p, 1.0)  # the factors in the parameter's dtype, not float32
            factor = E.where(s > 0, one * etaplus, E.where(s < 0, one * etaminus, one))
            st["step_size"].mul_(factor).clamp_(smin, smax)
            g = E.where(s < 0, 0.0, g)
            p.addcmul_(g.sign(), st["step_size"], value=-1)
            st["prev"].copy_(g)
