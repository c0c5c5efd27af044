"""Test jobs that run in a child process of their own (the CUDA simulator needs one), started
as soon as pytest knows they are selected, so they run on the second core while the main
process works through the rest of the suite; their tests then wait for the result."""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (test node id that consumes it, argv after the interpreter, extra environment)
JOBS = {
    "cuda-simulator": (
        "tests/test_cuda_sim.py::test_cuda_backend_on_simulator",
        ["-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning", "tests/cuda"],
        {"NUMBA_ENABLE_CUDASIM": "1"},
    ),
}
_RUNNING = {}  # name -> (Popen, output file, start time)


def start(name):
    """Start job ``name`` (once) in the background."""
    if name in _RUNNING:
        return
    _, argv, extra = JOBS[name]
    env = dict(os.environ, **extra)
    env.setdefault("JITGRAD_CACHE_DIR", os.path.join(ROOT, ".jitgrad_cache", "tests"))
    out = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(
        [sys.executable, *argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
    )
    _RUNNING[name] = (p, out, time.monotonic())


def result(name, timeout):
    """(return code, output) of job ``name``, started now if it was not; kills it after
    ``timeout`` seconds from its start."""
    start(name)
    p, out, t0 = _RUNNING[name]
    try:
        rc = p.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = f"killed after {timeout} s"
    out.seek(0)
    return rc, out.read()


def stop_all():
    """Kill jobs nobody waited for (an interrupted session)."""
    for p, _, _ in _RUNNING.values():
        if p.poll() is None:
            p.kill()
            p.wait()
