"""Autograd: grad mode, the tape engine, custom functions."""

from ..ops.registry import Node
from . import forward_ad, functional, profiler  # noqa: E402  (after engine: they build on grad)
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import AccumulateGrad, backward, grad
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .variable import Variable

graph = None  # set below: saved-tensor hooks are not supported


class _Graph:
    """``autograd.graph``: ``Node`` for isinstance checks; saved-tensor hooks are out of scope."""

    Node = Node

    @staticmethod
    def saved_tensors_hooks(pack, unpack):
        raise NotImplementedError("autograd.graph.saved_tensors_hooks is out of jitgrad's scope")

    @staticmethod
    def save_on_cpu(pin_memory=False):
        raise NotImplementedError("autograd.graph.save_on_cpu is out of jitgrad's scope")


graph = _Graph()


__all__ = [
    "backward",
    "grad",
    "Function",
    "FunctionCtx",
    "once_differentiable",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "Variable",
    "functional",
    "profiler",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "AccumulateGrad",
    "graph",
    "forward_ad",
]
