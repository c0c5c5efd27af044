"""Autograd: grad mode, the tape engine, custom functions."""

from . import forward_ad, functional, graph, profiler  # noqa: E402  (after engine: they build on grad)
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import AccumulateGrad, backward, grad
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .variable import Variable

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
