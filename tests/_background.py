"""Parts of the suite that run in child processes on the second core while the main pytest
process works through the rest (2-core CI: the main process is one busy core).

Each job has a consumer test that waits for it and fails with the child's output when the
child fails. ``tests/cuda`` needs a process of its own anyway (``NUMBA_ENABLE_CUDASIM`` is read
at numba's import); a *moved* job takes the selected tests of its paths out of the main run and
runs exactly those node ids in the child, so ``pytest tests/compile/test_op_parity.py`` alone
still runs them in-process (the consumer is not selected then). Jobs run one after another in
one background lane, started right after collection (``tests/conftest.py``).
"""

import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BASE = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning"]

# name -> consumer test, paths, extra environment, moved out of the main run?
JOBS = {
    "cuda-simulator": (
        "tests/test_cuda_sim.py::test_cuda_backend_on_simulator",
        ["tests/cuda"],
        {"NUMBA_ENABLE_CUDASIM": "1"},
        False,
    ),
    "op-parity": (
        "tests/test_background.py::test_op_parity_in_a_second_process",
        ["tests/compile/test_op_parity.py"],
        {},
        True,
    ),
    "compiled-models": (
        "tests/test_background.py::test_compiled_model_steps_in_a_second_process",
        [
            "tests/nn/test_conv_kernels.py",
            "tests/compat/test_rnn.py",
            "tests/compat/test_surface_more.py::test_traced_autoencoder_step_matches_eager",
            # ~45 s of parallel-kernel compiles (the lane had ~90 s free once the simulator
            # job stopped compiling CPU steps too)
            "tests/compile/test_parallel.py",
            # ~50 s of its own compiles: the lane finished ~120 s before the main process
            "tests/test_benchmarks_smoke.py",
            # a worker compiling llvm object code and numba kernels: 4-9 s
            "tests/compile/test_async.py::test_tier1_llvm_kernels_compile_in_the_worker",
        ],
        {},
        True,
    ),
}
_ARGS = {}  # name -> the child's test arguments
_DONE = {}  # name -> (return code, output)
_TIMES = {}  # name -> (seconds after the lane started, seconds the job took)
_LANE = {"thread": None, "proc": None, "stop": False}


def plan(items, deselect):
    """Decide the jobs for this session from the collected ``items`` (moved tests are handed
    to ``deselect``); returns whether any job will run."""
    ids = {it.nodeid for it in items}
    moved = []
    for name, (consumer, paths, _, move) in JOBS.items():
        if consumer not in ids:
            continue
        if move:
            mine = [it for it in items if any(it.nodeid.startswith(p) for p in paths)]
            moved += mine
            _ARGS[name] = [it.nodeid for it in mine]
        else:
            _ARGS[name] = list(paths)
    if moved:
        deselect(moved)
        items[:] = [it for it in items if it not in set(moved)]
    return bool(_ARGS)


def _run_lane():
    t_lane = time.monotonic()
    for name, args in _ARGS.items():
        if _LANE["stop"]:
            break
        if not args:
            _DONE[name] = (0, "nothing selected")
            continue
        env = dict(os.environ, **JOBS[name][2])
        env.setdefault("JITGRAD_CACHE_DIR", os.path.join(ROOT, ".jitgrad_cache", "tests"))
        p = subprocess.Popen(
            _BASE + args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _LANE["proc"] = p
        t0 = time.monotonic()
        out, _ = p.communicate()
        _TIMES[name] = (time.monotonic() - t_lane, time.monotonic() - t0)
        _DONE[name] = (p.returncode, out)


def start():
    """Start the background lane (once)."""
    if _LANE["thread"] is None and _ARGS:
        _LANE["thread"] = threading.Thread(target=_run_lane, daemon=True)
        _LANE["thread"].start()


def result(name, timeout):
    """(return code, output) of job ``name``; its consumer calls this. A job that was not
    planned (the consumer run on its own) is planned and run now."""
    if name not in _ARGS:
        consumer, paths, _, _ = JOBS[name]
        _ARGS[name] = list(paths)
    start()
    t0 = time.monotonic()
    while name not in _DONE:
        if time.monotonic() - t0 > timeout:
            stop_all()
            return f"still running after {timeout} s", ""
        if not _LANE["thread"].is_alive() and name not in _DONE:
            _LANE["thread"] = None
            start()
        time.sleep(0.2)
    return _DONE[name]


def summary():
    """One line per finished job: how long it took and when the lane finished it (to balance
    the lanes: the lane should finish before the main process reaches its consumers)."""
    return [
        f"background job {name}: {took:.0f} s, done {at:.0f} s after the lane started"
        for name, (at, took) in _TIMES.items()
    ]


def stop_all():
    """Kill the running child (an interrupted session or a timeout)."""
    _LANE["stop"] = True
    p = _LANE["proc"]
    if p is not None and p.poll() is None:
        p.kill()
