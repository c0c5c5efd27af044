"""Running an ``mpiexec`` job from a test without leaving orphaned ranks behind."""

import signal
import subprocess
import sys

import pytest


def run_job(mpi, n, args, cwd, timeout):
    """``mpiexec -n n python *args``: (return code, stdout+stderr); a hang fails the test."""
    mpiexec, env = mpi
    cmd = [mpiexec, "-n", str(n), sys.executable, *args]
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)  # mpiexec cleans up its ranks on SIGTERM (not SIGKILL)
        out, _ = p.communicate()
        pytest.fail(
            f"mpiexec -n {n} did not finish in {timeout} s (a hang):\n{out.decode()[-3000:]}"
        )
    return p.returncode, out.decode()
