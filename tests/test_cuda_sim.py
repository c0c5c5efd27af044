"""Runs ``tests/cuda`` on numba's CUDA simulator in a subprocess.

``NUMBA_ENABLE_CUDASIM`` is read when numba is first imported, so the simulator needs its own
process; this test is how the CUDA backend is checked on machines without a GPU.
"""

import os
import subprocess
import sys

import pytest

from tests import _background

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cuda_backend_on_simulator():
    # runs in the background lane from collection on (tests/_background.py)
    rc, out = _background.result("cuda-simulator", timeout=1500)
    assert rc == 0, f"tests/cuda on the CUDA simulator failed ({rc}):\n{out[-8000:]}"
    last = out.strip().splitlines()[-1] if out.strip() else ""
    assert " passed" in last and "skipped" not in last and "failed" not in last, out[-2000:]


def test_device_cuda_without_gpu_or_simulator_says_what_to_do():
    code = (
        "import jitgrad as jg, jitgrad.cuda as c\n"
        "if c.is_available(): print('GPU'); raise SystemExit\n"
        "try:\n"
        "    jg.trace(lambda x: x, device='cuda')\n"
        "except RuntimeError as e:\n"
        "    print('ERR', e)\n"
        "print('count', c.device_count())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    if r.stdout.startswith("GPU"):
        pytest.skip("a CUDA GPU is present")
    assert "ERR jitgrad.trace(device='cuda'): no usable CUDA GPU" in r.stdout, r.stdout
    assert "NUMBA_ENABLE_CUDASIM=1" in r.stdout and "device='cpu'" in r.stdout
    assert "count 0" in r.stdout
