"""Runs ``tests/cuda`` on numba's CUDA simulator in a subprocess.

``NUMBA_ENABLE_CUDASIM`` is read when numba is first imported, so the simulator needs its own
process; this test is how the CUDA backend is checked on machines without a GPU.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cuda_backend_on_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.setdefault("JITGRAD_CACHE_DIR", os.path.join(ROOT, ".jitgrad_cache", "tests"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::RuntimeWarning",
            os.path.join(ROOT, "tests", "cuda"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"tests/cuda on the CUDA simulator failed:\n{out[-8000:]}"
    assert " passed" in out and "skipped" not in out.splitlines()[-1], out[-2000:]


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
