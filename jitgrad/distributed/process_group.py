"""The default process group: one MPI communicator, set up by ``init_process_group``.

MPI (through mpi4py) is the transport. ``mpiexec -n N python train.py`` starts the ranks;
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from a launcher are honoured and checked against MPI.
"""

import datetime
import os
import sys
import time

import numpy as np

from ..tensor import _wrap

_NOT_INIT = (
    "Default process group has not been initialized, please make sure to call init_process_group."
)
_NO_MPI = (
    "jitgrad.distributed needs MPI through mpi4py, which is not installed: "
    'pip install -e ".[dist]" (installs mpi4py and mpich), then launch with '
    "`mpiexec -n 2 python train.py`"
)


class ProcessGroup:
    """The ranks of one communicator (only the default, world group exists)."""

    def __init__(self, comm, guard_comm, local_rank, timeout):
        self.comm = comm  # data collectives, in program order
        self.guard_comm = guard_comm  # trace guards (a duplicate: never mixed with data)
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self.local_rank = local_rank
        self.timeout = timeout
        # collectives issued so far (torch's SequenceNumber); traced steps thread it as state
        self.token = _wrap(np.zeros(1, dtype=np.float64))

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def __repr__(self):
        return f"<jitgrad.distributed.ProcessGroup backend=mpi rank={self._rank} size={self._size}>"


class _World:
    pg = None


_W = _World()
ABORT_GRACE_S = 0.5  # after an uncaught exception, before MPI_Abort (output forwarding)


class _GroupNamespace:
    """``dist.group.WORLD``: the default group once initialised (None before)."""

    @property
    def WORLD(self):
        return _W.pg


group = _GroupNamespace()


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(_NO_MPI) from e
    return MPI


def is_available():
    """True when mpi4py can be imported (the ``dist`` extra is installed)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


is_mpi_available = is_available


def is_initialized():
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _W.pg is not None


def default_group(group=None):
    """The process group a collective runs on; raises PyTorch's error before init."""
    pg = _W.pg
    if pg is None:
        raise ValueError(_NOT_INIT)
    if group is not None and group is not pg:
        raise ValueError(
            "jitgrad.distributed supports the default (world) group only; pass group=None"
        )
    return pg


def _env_int(name):
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(
            f"init_process_group: environment variable {name}={v!r} is not an int"
        ) from None


def init_process_group(
    backend=None,
    init_method=None,
    timeout=None,
    world_size=-1,
    rank=-1,
    store=None,
    group_name="",
    pg_options=None,
    device_id=None,
):
    """Join the default group: ``init_process_group("mpi")`` in every rank under ``mpiexec``."""
    if _W.pg is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is None:
        backend = "mpi"
    if str(backend).lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available in jitgrad; use "
            "backend='mpi' (launch the ranks with mpiexec)"
        )
    if init_method not in (None, "env://"):
        raise ValueError(
            f"init_process_group: init_method {init_method!r} is not supported with the MPI "
            "backend (mpiexec connects the ranks); leave it unset or use 'env://'"
        )
    if store is not None:
        raise ValueError("init_process_group: store= is not supported with the MPI backend")
    if timeout is None:
        timeout = datetime.timedelta(minutes=10)
    MPI = _mpi()
    if not MPI.Is_initialized():
        MPI.Init_thread()
    world = MPI.COMM_WORLD
    mrank, msize = world.Get_rank(), world.Get_size()
    node = world.Split_type(MPI.COMM_TYPE_SHARED, key=mrank)
    mlocal = node.Get_rank()
    node.Free()
    checks = [
        ("rank", rank if rank != -1 else None, mrank, "rank="),
        ("world size", world_size if world_size != -1 else None, msize, "world_size="),
        ("rank", _env_int("RANK"), mrank, "RANK"),
        ("world size", _env_int("WORLD_SIZE"), msize, "WORLD_SIZE"),
        ("local rank", _env_int("LOCAL_RANK"), mlocal, "LOCAL_RANK"),
    ]
    for what, given, actual, source in checks:
        if given is not None and given != actual:
            raise RuntimeError(
                f"init_process_group: {source}{'' if source.endswith('=') else '='}{given} but "
                f"MPI says this process has {what} {actual} (of {msize}); launch with "
                f"`mpiexec -n {msize}` and leave {source.rstrip('=')} unset, or make them agree"
            )
    comm = world.Dup()
    guard = world.Dup()
    _W.pg = ProcessGroup(comm, guard, mlocal, timeout)
    _abort_on_uncaught_exception(MPI)
    for k, v in (("RANK", mrank), ("WORLD_SIZE", msize), ("LOCAL_RANK", mlocal)):
        os.environ.setdefault(k, str(v))


def _abort_on_uncaught_exception(MPI):
    """An exception that ends one rank ends the job (``MPI_Abort``), after its traceback.

    Otherwise the failed rank blocks in ``MPI_Finalize`` at exit while the others wait for it
    in their next collective: a hang instead of an error (``python -m mpi4py`` does the same).
    """
    if getattr(sys.excepthook, "_jitgrad_dist", False):
        return
    previous = sys.excepthook

    def hook(tp, value, tb):
        previous(tp, value, tb)
        pg = _W.pg
        if pg is not None and pg.size() > 1:
            try:
                sys.stdout.flush()
                # said here, before the grace below: MPICH's own "MPI_Abort" line, printed as
                # the ranks are killed, did not always reach mpiexec's output (CI)
                sys.stderr.write(
                    f"jitgrad.distributed: rank {pg.rank()} of {pg.size()} ended with an uncaught "
                    f"{tp.__name__}; MPI_Abort ends the other ranks\n"
                )
                sys.stderr.flush()
                # mpiexec forwards a rank's output asynchronously and drops what it has not
                # read when the abort kills the ranks: the traceback's last line went missing
                # under load (CI). A moment for the forwarder before the abort.
                time.sleep(ABORT_GRACE_S)
            finally:
                MPI.COMM_WORLD.Abort(1)

    hook._jitgrad_dist = True
    sys.excepthook = hook


def destroy_process_group(group=None):
    """Leave the default group (MPI itself stays up until the process exits)."""
    pg = _W.pg
    if pg is None:
        raise AssertionError("Process group cannot be None")
    if group is not None and group is not pg:
        raise ValueError("destroy_process_group: only the default group exists")
    pg.comm.Free()
    pg.guard_comm.Free()
    _W.pg = None


def get_rank(group=None):
    """This process's rank in the default group (0 .. world_size-1)."""
    return default_group(group)._rank


def get_world_size(group=None):
    """Number of ranks in the default group."""
    return default_group(group)._size


def get_backend(group=None):
    """Always ``'mpi'``."""
    default_group(group)
    return "mpi"


def get_node_local_rank(fallback_rank=None):
    """This rank's index among the ranks on its machine (MPI's shared-memory split)."""
    pg = _W.pg
    if pg is not None:
        return pg.local_rank
    v = _env_int("LOCAL_RANK")
    if v is not None:
        return v
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError(
        "LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow "
        "`get_node_local_rank` to work, assuming you are not running in a multi-device context "
        "and want the code to run locally instead."
    )
