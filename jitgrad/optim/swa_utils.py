"""Stochastic weight averaging and EMA of a model's weights, as ``torch.optim.swa_utils``.

>>> swa_model = AveragedModel(model)
>>> swa_sched = SWALR(opt, swa_lr=0.05)
>>> for epoch in range(epochs):
...     train(...)
...     if epoch >= swa_start:
...         swa_model.update_parameters(model)
...         swa_sched.step()
>>> update_bn(loader, swa_model)
"""

import copy
import itertools
import math

from .. import _dtype
from .._grad_mode import no_grad
from ..creation import tensor
from ..nn.modules.module import Module
from ..nn.modules.normalization import _BatchNorm
from .lr_scheduler import LRScheduler

__all__ = [
    "AveragedModel",
    "SWALR",
    "update_bn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
]


def get_ema_avg_fn(decay=0.999):
    """``avg_fn`` for an exponential moving average: ``decay * ema + (1 - decay) * param``."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )

    @no_grad()
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """``avg_fn`` for the running mean of the weights: ``avg + (param - avg) / (n + 1)``."""

    @no_grad()
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _multi(avg):
    @no_grad()
    def update(averaged, current, num_averaged):
        for a, c in zip(averaged, current):
            a.copy_(avg(a, c, num_averaged))

    return update


def get_ema_multi_avg_fn(decay=0.999):
    """``multi_avg_fn`` (lists of tensors, updated in place) for an EMA."""
    return _multi(get_ema_avg_fn(decay))


def get_swa_multi_avg_fn():
    """``multi_avg_fn`` (lists of tensors, updated in place) for the running mean."""
    return _multi(get_swa_avg_fn())


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and buffers, with ``use_buffers=True``) are the
    average of the model's at each ``update_parameters`` call; calling it runs the copy."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=_dtype.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model):
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(model.parameters())

    @no_grad()
    def update_parameters(self, model):
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        mine = self._tensors(self.module)
        theirs = [p.detach() for p in self._tensors(model)]
        if len(mine) != len(theirs):
            raise ValueError(
                f"AveragedModel.update_parameters: the model has {len(theirs)} tensors to "
                f"average, the averaged copy {len(mine)}; pass the model it was built from"
            )
        n = int(self.n_averaged)
        if n == 0:
            for a, c in zip(mine, theirs):
                a.detach().copy_(c)
        elif self.multi_avg_fn is not None:
            self.multi_avg_fn([a.detach() for a in mine], theirs, self.n_averaged)
        else:
            avg = self.avg_fn or get_swa_avg_fn()
            for a, c in zip(mine, theirs):
                a.detach().copy_(avg(a.detach(), c, self.n_averaged))
        if not self.use_buffers:  # buffers follow the model (BatchNorm: see update_bn)
            for a, c in zip(self.module.buffers(), model.buffers()):
                a.detach().copy_(c.detach())
        self.n_averaged += 1


@no_grad()
def update_bn(loader, model, device=None):
    """Recompute the BatchNorm running statistics of ``model`` with one pass over ``loader``
    (batches are tensors, or lists/tuples whose first element is the input)."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None  # a cumulative average over the pass
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = batch.to(device)
        model(batch)
    for m, mom in momenta.items():
        m.momentum = mom
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` steps (``"cos"`` or
    ``"linear"``), then hold it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        groups = optimizer.param_groups
        lrs = list(swa_lr) if isinstance(swa_lr, (list, tuple)) else [swa_lr] * len(groups)
        if len(lrs) != len(groups):
            raise ValueError(f"expected {len(groups)} values for swa_lr, got {len(lrs)}")
        for lr, group in zip(lrs, groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self.anneal_strategy = anneal_strategy
        if (
            not isinstance(anneal_epochs, int)
            or isinstance(anneal_epochs, bool)
            or anneal_epochs < 0
        ):
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _anneal(self, t):
        return t if self.anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._anneal(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev = [
            self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha)
            for g in self.optimizer.param_groups
        ]
        alpha = self._anneal(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [
            g["swa_lr"] * alpha + lr * (1 - alpha)
            for g, lr in zip(self.optimizer.param_groups, prev)
        ]
