"""RMSprop (optionally centered, with momentum), with PyTorch's update formulas."""

from ..creation import zeros_like
from .adam import new_step_counter
from .optimizer import Optimizer, check_nonneg, hp, scale


class RMSprop(Optimizer):
    """PyTorch's RMSprop: ``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
    momentum=0, centered=False, maximize=False)``.

    >>> opt = jitgrad.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9)
    """

    _flags = dict(capturable=False, foreach=None, differentiable=False)
    _key_order = (
        "lr",
        "momentum",
        "alpha",
        "eps",
        "centered",
        "weight_decay",
        "capturable",
        "foreach",
        "maximize",
        "differentiable",
    )

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        *,
        maximize=False,
    ):
        check_nonneg("lr", lr, "learning rate")
        check_nonneg("eps", eps, "epsilon value")
        check_nonneg("momentum", momentum, "momentum value")
        check_nonneg("weight_decay", weight_decay, "weight_decay value")
        check_nonneg("alpha", alpha, "alpha value")
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        has_wd = group["weight_decay"] != 0
        has_mom = group["momentum"] > 0
        centered = group["centered"]
        lr = hp(group, "lr")
        alpha = hp(group, "alpha")
        eps = hp(group, "eps")
        wd = hp(group, "weight_decay") if has_wd else 0
        momentum = hp(group, "momentum") if has_mom else 0
        for p in self._params_with_grad(group):
            g = p.grad
            if group["maximize"]:
                g = -g
            state = self.state[p]
            if len(state) == 0:
                state["step"] = new_step_counter()
                state["square_avg"] = zeros_like(p)
                if has_mom:
                    state["momentum_buffer"] = zeros_like(p)
                if centered:
                    state["grad_avg"] = zeros_like(p)
            state["step"].add_(1)
            if has_wd:
                g = g + p * wd
            square_avg = state["square_avg"]
            square_avg.mul_(alpha).add_(g * g * (1 - alpha))
            if centered:
                grad_avg = state["grad_avg"]
                grad_avg.lerp_(g, 1 - alpha)
                avg = (square_avg - grad_avg * grad_avg).sqrt_()
            else:
                avg = square_avg.sqrt()
            avg = avg.add_(eps)
            if has_mom:
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(g / avg)
                p.sub_(scale(buf, lr))
            else:
                p.sub_(g / avg * lr)
