"""``autograd.graph``: ``Node`` for isinstance checks; saved-tensor hooks are out of scope.

>>> isinstance((x * 2).grad_fn, jitgrad.autograd.graph.Node)
True
"""

import abc

from ..ops.registry import Node as _TapeNode
from ..ops.registry import ShownNode as _ShownNode
from .engine import AccumulateGrad


class Node(abc.ABC):
    """Every ``grad_fn`` and ``next_functions`` entry is one.

    As in PyTorch an abstract class for ``isinstance`` checks: tape nodes (``MulBackward0``),
    leaves' ``AccumulateGrad`` and display-only nodes (``TBackward0``) are registered.
    """

    @abc.abstractmethod
    def name(self):
        """The node's PyTorch name, ``type(node).__name__``: ``"MulBackward0"``."""

    @property
    @abc.abstractmethod
    def next_functions(self):
        """``((node or None, 0), ...)``: one pair per input of the op."""


for _c in (_TapeNode, AccumulateGrad, _ShownNode):
    Node.register(_c)


def saved_tensors_hooks(pack, unpack):
    raise NotImplementedError("autograd.graph.saved_tensors_hooks is out of jitgrad's scope")


def save_on_cpu(pin_memory=False):
    raise NotImplementedError("autograd.graph.save_on_cpu is out of jitgrad's scope")


__all__ = ["Node", "saved_tensors_hooks", "save_on_cpu"]
