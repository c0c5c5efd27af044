"""``mpiexec -n 2 python examples/mnist_ddp.py`` runs (quick, eager) and its replicas agree."""

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip(
    "mpi4py", reason='mpi4py is not installed: pip install -e ".[dist]" to run MPI tests'
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mnist_ddp_example_two_ranks(mpi, tmp_path):
    mpiexec, env = mpi
    script = os.path.join(ROOT, "examples", "mnist_ddp.py")
    cmd = [mpiexec, "-n", "2", sys.executable, script, "--mode", "eager", "--quick"]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert p.stdout.count("mnist_ddp: 2 ranks") == 1  # only rank 0 prints
    assert re.search(
        r"mnist_ddp \[eager\] 2 ranks: test accuracy \d+\.\d+%, throughput [\d,]+ samples/s "
        r"\(all ranks\), replicas identical: True",
        p.stdout,
    ), p.stdout
