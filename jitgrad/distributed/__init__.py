"""``jitgrad.distributed``: PyTorch's process-group API on MPI (mpi4py).

>>> import jitgrad.distributed as dist
>>> dist.init_process_group("mpi")          # under `mpiexec -n 2 python train.py`
>>> t = jitgrad.ones(3); dist.all_reduce(t)  # t == 2 on both ranks

Needs the ``dist`` extra (``pip install -e ".[dist]"``: mpi4py and mpich); without it,
``init_process_group`` raises an ImportError that says so. Importing this module never starts MPI.
"""

from .collectives import (
    RedOpType,
    ReduceOp,
    Work,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
)
from .process_group import (
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_node_local_rank,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)

__all__ = [
    "init_process_group",
    "destroy_process_group",
    "is_available",
    "is_mpi_available",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "get_backend",
    "get_node_local_rank",
    "barrier",
    "all_reduce",
    "broadcast",
    "all_gather",
    "ReduceOp",
    "RedOpType",
    "Work",
    "ProcessGroup",
    "group",
]
