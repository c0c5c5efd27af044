"""An eager op whose numba kernel is not compiled yet (jitgrad/ops/_lazy.py): in the default
async mode the compile worker compiles it while the op's NumPy implementation runs (one
warning); in the foreground mode, with the worker off, or when the worker fails, the call
compiles it in this process."""

import concurrent.futures
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest

import jitgrad as jg
from jitgrad.nn import functional as F
from jitgrad.ops import _lazy
from jitgrad.ops import conv as conv_ops

SRC = """
import numba


@numba.njit(cache=True)
def twice(x, out):
    for i in range(x.shape[0]):
        out[i] = 2 * x[i]
"""


def _module(tmp_path, name="lazy_k"):
    """A fresh module object (and dispatcher) over one file: its numba cache is beside it."""
    p = tmp_path / f"{name}.py"
    if not p.exists():
        p.write_text(SRC)
    spec = importlib.util.spec_from_file_location(name, p)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


@pytest.fixture
def lazy(monkeypatch):
    """_lazy with fresh state, in the async mode, its worker jobs recorded (not run)."""
    monkeypatch.setattr(_lazy, "_STATE", {})
    monkeypatch.setattr(_lazy, "_WARNED", set())
    monkeypatch.setattr(_lazy, "background", lambda: True)
    jobs, futs = [], []

    def submit_jobs(key, js, on_result=None, library=False):
        assert library  # the library worker: never queued in front of a step's tier-1 jobs
        jobs.extend(js)
        futs.append(concurrent.futures.Future())
        return futs[-1]

    from jitgrad.compile import worker

    monkeypatch.setattr(worker, "submit_jobs", submit_jobs)
    return jobs, futs


def _args():
    x = np.arange(5, dtype=np.float32)
    return x, np.empty_like(x)


def test_a_kernel_not_on_disk_goes_to_the_worker_and_the_op_waits_for_nothing(tmp_path, lazy):
    jobs, futs = lazy
    m = _module(tmp_path)
    args = _args()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert _lazy.ready("twice_op", m.twice, args) is False
        assert _lazy.ready("twice_op", m.twice, args) is False  # still compiling
    sig = tuple(numba.typeof(a) for a in args)
    assert jobs == [("lazy_k", None, "twice", [sig])]  # one job, however many calls
    assert len(w) == 1 and "twice_op" in str(w[0].message) and "float32" in str(w[0].message)
    assert w[0].filename == __file__  # points at the caller's line, not jitgrad's
    assert not m.twice.signatures  # nothing compiled in this process
    futs[0].set_result({"jobs": []})
    assert _lazy.ready("twice_op", m.twice, args) is True
    assert not _lazy.pending()
    m.twice(*args)
    np.testing.assert_array_equal(args[1], 2 * args[0])


def test_a_failed_worker_compile_compiles_here_with_a_warning(tmp_path, lazy):
    jobs, futs = lazy
    m = _module(tmp_path)
    args = _args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _lazy.ready("twice_op", m.twice, args) is False
    futs[0].set_exception(RuntimeError("no space left"))
    with pytest.warns(RuntimeWarning, match="twice_op: the compile worker could not.*no space"):
        assert _lazy.ready("twice_op", m.twice, args) is True


def test_code_on_disk_or_the_foreground_mode_needs_no_worker(tmp_path, lazy, monkeypatch):
    jobs, _ = lazy
    args = _args()
    _module(tmp_path).twice(*args)  # compiled and written to disk by one dispatcher
    m = _module(tmp_path)  # another one (as in a new process): finds it on disk
    assert _lazy.ready("twice_op", m.twice, args) is True and not jobs
    monkeypatch.setattr(_lazy, "background", lambda: False)
    m2 = _module(tmp_path, "lazy_k2")
    assert _lazy.ready("twice_op", m2.twice, args) is True and not jobs
    # other argument types are another kernel: float64 goes to the worker
    monkeypatch.setattr(_lazy, "background", lambda: True)
    x = np.arange(3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _lazy.ready("twice_op", m.twice, (x, np.empty_like(x))) is False
    assert len(jobs) == 1


def test_background_follows_the_async_mode_and_the_worker_setting(monkeypatch):
    monkeypatch.setenv("JITGRAD_ASYNC_COMPILE", "0")
    assert not _lazy.background()
    monkeypatch.setenv("JITGRAD_ASYNC_COMPILE", "1")
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "0")
    assert not _lazy.background()
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "1")
    assert _lazy.background()


def test_ops_run_their_numpy_implementation_until_the_kernel_is_ready(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    fast = F.conv2d(jg.tensor(x), jg.tensor(w), stride=2, padding=1).numpy()
    padded = F.pad(jg.tensor(x), (1, 2, 0, 1), value=-1.0).numpy()
    asked = []
    monkeypatch.setattr(_lazy, "ready", lambda op, fn, args: asked.append(op) or False)
    slow = F.conv2d(jg.tensor(x), jg.tensor(w), stride=2, padding=1).numpy()
    ref = conv_ops._conv2d_ref(x, w, (2, 2), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_array_equal(slow, ref)
    np.testing.assert_allclose(slow, fast, rtol=1e-5, atol=1e-5)
    slow_pad = F.pad(jg.tensor(x), (1, 2, 0, 1), value=-1.0).numpy()
    np.testing.assert_array_equal(slow_pad, padded)
    assert asked == ["conv2d", "constant_pad_nd"]


def test_first_use_after_an_install_in_the_default_mode(tmp_path):
    """A new process with an empty numba cache (as after an install), in the default async
    mode: the first F.pad returns np.pad's values at once (warned), the worker compiles the
    kernel, and later calls run it, with the same values. In the foreground mode the first
    call compiles it in the process."""
    prog = textwrap.dedent(
        """
        import json, warnings
        import numpy as np
        import jitgrad as jg
        from jitgrad.nn import functional as F
        from jitgrad.ops import _lazy, _conv_kernels as K
        x = jg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = F.pad(x, (1, 2, 0, 1), value=-1.0).numpy()
        first = len(K.constant_pad.signatures)
        ok = _lazy.wait(120)
        y2 = F.pad(x, (1, 2, 0, 1), value=-1.0).numpy()
        ref = np.pad(x.numpy(), ((0, 1), (1, 2)), constant_values=-1.0)
        print(json.dumps({"warned": [str(m.message) for m in w], "first": first, "ok": ok,
                          "after": len(K.constant_pad.signatures),
                          "same": bool(np.array_equal(y, ref) and np.array_equal(y2, ref))}))
        """
    )
    out = {}
    for mode in ("1", "0"):
        env = dict(os.environ, JITGRAD_ASYNC_COMPILE=mode, NUMBA_CACHE_DIR=str(tmp_path / mode))
        env["JITGRAD_CACHE_DIR"] = str(tmp_path / f"jg{mode}")
        env.pop("JITGRAD_COMPILE_WORKERS", None)
        p = subprocess.run(
            [sys.executable, "-c", prog], env=env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr[-2000:]
        out[mode] = json.loads(p.stdout.strip().splitlines()[-1])
    bg, fg = out["1"], out["0"]
    assert bg["first"] == 0 and bg["ok"] and bg["after"] == 1 and bg["same"]
    assert len(bg["warned"]) == 1 and "constant_pad_nd" in bg["warned"][0]
    assert "background" in bg["warned"][0]
    assert fg["first"] == 1 and fg["after"] == 1 and fg["same"] and not fg["warned"]
