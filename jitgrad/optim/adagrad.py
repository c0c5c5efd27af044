"""Adagrad, with PyTorch's update formula."""

from .. import _dtype
from ..creation import full_like
from .adam import new_step_counter
from .optimizer import Optimizer, check_nonneg, hp


class Adagrad(Optimizer):
    """PyTorch's Adagrad: ``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, maximize=False)``."""

    _flags = dict(foreach=None, differentiable=False, fused=None)
    _key_order = (
        "lr",
        "lr_decay",
        "eps",
        "weight_decay",
        "initial_accumulator_value",
        "foreach",
        "maximize",
        "differentiable",
        "fused",
    )

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        *,
        maximize=False,
    ):
        check_nonneg("lr", lr, "learning rate")
        check_nonneg("lr_decay", lr_decay, "lr_decay value")
        check_nonneg("weight_decay", weight_decay, "weight_decay value")
        check_nonneg(
            "initial_accumulator_value",
            initial_accumulator_value,
            "initial_accumulator_value value",
        )
        check_nonneg("eps", eps, "epsilon value")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            maximize=maximize,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:  # torch creates Adagrad's state eagerly
            for p in group["params"]:
                self._init_state(group, p)

    def _init_state(self, group, p):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = new_step_counter()
            state["sum"] = full_like(p, group["initial_accumulator_value"])
        return state

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        return self._run_step(closure, self._update)

    def _update(self, group):
        has_wd = group["weight_decay"] != 0
        lr = hp(group, "lr")
        lr_decay = hp(group, "lr_decay")
        eps = hp(group, "eps")
        wd = hp(group, "weight_decay") if has_wd else 0
        for p in self._params_with_grad(group):
            g = p.grad
            if group["maximize"]:
                g = -g
            state = self._init_state(group, p)
            step_t = state["step"]
            step_t.add_(1)
            if has_wd:
                g = g + p * wd
            clr = lr / (1 + (step_t.to(_dtype.float64) - 1) * lr_decay)  # torch: a Python float
            state["sum"].add_(g * g)
            std = state["sum"].sqrt().add_(eps)
            p.sub_(g / std * clr)
