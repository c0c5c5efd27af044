"""What every mpiexec launch in these tests shares: the launcher and the environment."""

import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def mpi():
    """``(mpiexec path, environment)`` for a launch from the repository root."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.path.exists(here) else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpi4py is installed but mpiexec is not on PATH (pip install mpich)")
    env = dict(
        os.environ,
        MPIR_CVAR_ENABLE_HEAVY_YIELD="1",  # a waiting rank would spin a full core otherwise
        JITGRAD_ASYNC_COMPILE="0",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    env.setdefault("JITGRAD_CACHE_DIR", os.path.join(ROOT, ".jitgrad_cache", "tests"))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    return found, env
