"""Optimizers (PyTorch's update rules, as in-place tensor ops a trace can record).

>>> opt = jitgrad.optim.Adam(model.parameters(), lr=1e-3)
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
