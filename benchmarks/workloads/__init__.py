"""Workloads: each module's ``rows(level)`` returns the rows it contributes to the table.

A row is a ``Row``: a name and, per column, a setup function that returns a callable running
one step (or raises ``Unavailable`` with the reason shown in the table).
"""

from . import cnn, compile_latency, ddp, elementwise, guards, inference, mlp, overhead, resnet

WORKLOADS = {
    "mlp": mlp,
    "cnn": cnn,
    "resnet": resnet,
    "elementwise": elementwise,
    "overhead": overhead,
    "compile": compile_latency,
    "inference": inference,
    "guards": guards,
    "ddp": ddp,
}
