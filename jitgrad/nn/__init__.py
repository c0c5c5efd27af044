"""``jitgrad.nn``: modules, layers, losses, ``functional`` and ``init``, PyTorch-style.

>>> import jitgrad as torch
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> net(torch.randn(3, 4)).shape
jitgrad.Size([3, 2])
"""

from . import functional, grad, init, parallel, utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "parallel", "utils"] + list(_modules_all)
