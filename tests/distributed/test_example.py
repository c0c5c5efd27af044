"""Whole jobs under mpiexec: the mnist_ddp example (quick, eager) and a job whose rank fails."""

import os
import re

import pytest

from ._jobs import run_job

pytest.importorskip(
    "mpi4py", reason='mpi4py is not installed: pip install -e ".[dist]" to run MPI tests'
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mnist_ddp_example_two_ranks(mpi, tmp_path):
    script = os.path.join(ROOT, "examples", "mnist_ddp.py")
    rc, out = run_job(mpi, 2, [script, "--mode", "eager", "--quick"], tmp_path, timeout=240)
    assert rc == 0, out[-3000:]
    assert out.count("mnist_ddp: 2 ranks") == 1  # only rank 0 prints
    assert re.search(
        r"mnist_ddp \[eager\] 2 ranks: test accuracy \d+\.\d+%, throughput [\d,]+ samples/s "
        r"\(all ranks\), replicas identical: True",
        out,
    ), out


FAILING_RANK = """
import jitgrad, jitgrad.distributed as dist
dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise RuntimeError("rank 1 fails here")
t = jitgrad.ones(3)
dist.all_reduce(t)  # rank 0 would wait here forever for rank 1
"""


def test_an_exception_on_one_rank_ends_the_whole_job(mpi, tmp_path):
    rc, out = run_job(mpi, 2, ["-c", FAILING_RANK], tmp_path, timeout=60)
    assert rc != 0
    assert "RuntimeError: rank 1 fails here" in out
    assert "rank 1 of 2 ended with an uncaught RuntimeError; MPI_Abort ends the other" in out


ONE_RANK_CAPTURES = """
import datetime
import jitgrad, jitgrad.distributed as dist
from jitgrad.nn.parallel import DistributedDataParallel as DDP
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=3))
model = DDP(jitgrad.nn.Linear(3, 2))

def step(x):
    model.zero_grad()
    model(x).sum().backward()

traced = jitgrad.trace(step)
x = jitgrad.ones(2, 3)
for _ in range(3):  # rank 0 captures at its second call; rank 1 never traces
    (traced if dist.get_rank() == 0 else step)(x)
"""


def test_a_rank_that_captures_alone_fails_after_the_timeout_instead_of_hanging(mpi, tmp_path):
    rc, out = run_job(mpi, 2, ["-c", ONE_RANK_CAPTURES], tmp_path, timeout=90)
    assert rc != 0
    assert "TraceError: jitgrad.trace: rank 0 waited 3 s for the other ranks" in out
    assert "rank 0 of 2 ended with an uncaught TraceError; MPI_Abort ends the other" in out
