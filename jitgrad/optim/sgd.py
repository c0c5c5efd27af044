"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from ..creation import zeros_like
from .optimizer import Optimizer, check_nonneg, hp, is_zero, required, scale


class SGD(Optimizer):
    """PyTorch's SGD: ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
    nesterov=False, maximize=False)``.

    >>> opt = jitgrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    _flags = dict(foreach=None, differentiable=False, fused=None)
    _key_order = (
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
        "maximize",
        "foreach",
        "differentiable",
        "fused",
    )

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
    ):
        if lr is not required:
            check_nonneg("lr", lr, "learning rate")
        check_nonneg("momentum", momentum, "momentum value")
        check_nonneg("weight_decay", weight_decay, "weight_decay value")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        # structure from the Python values, numbers through hp() (runtime inputs under trace)
        has_wd = group["weight_decay"] != 0
        has_mom = group["momentum"] != 0
        lr = hp(group, "lr")
        wd = hp(group, "weight_decay") if has_wd else 0
        momentum = hp(group, "momentum") if has_mom else 0
        dampening = hp(group, "dampening") if has_mom else 0
        for p in self._params_with_grad(group):
            g = p.grad
            if group["maximize"]:
                g = -g
            if has_wd:
                g = g + p * wd
            if has_mom:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    if group["dampening"] == 0:
                        # zeros * m + g == clone(g): torch's first step, with one code path
                        buf = state["momentum_buffer"] = zeros_like(p)
                        buf.mul_(momentum).add_(g)
                    else:
                        buf = state["momentum_buffer"] = g.clone()
                else:
                    buf.mul_(momentum).add_(g if is_zero(dampening) else g * (1 - dampening))
                g = g + buf * momentum if group["nesterov"] else buf
            p.sub_(scale(g, lr))
