"""(e) Compile latency, each measurement in a fresh process:

- first call, cold: a fresh, empty cache directory (jitgrad's JITGRAD_CACHE_DIR, jax's
  persistent compilation cache, TorchInductor's cache dir);
- first call, warm cache: a new process reusing the directory the cold run filled;
- steady state: the median call in that process afterwards.

"First call" is the time from the first call of the step until the first call that ran
compiled code has returned: for jitgrad that includes the eager call(s) before recording
and the recording call, since a user waits for all of them. Imports are timed apart.

Run as ``python -m benchmarks.workloads.compile_latency --fw NAME --cache DIR --workload W``
(the child), or through ``rows()`` (the parent).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ..timing import Block, Result
from .common import Row

FRAMEWORKS = ("jitgrad compiled", "torch.compile", "jax.jit")
WORKLOADS = {"mlp": "MNIST MLP train step, batch 32", "arith": "arithmetic chain, 1e3 elements"}


# ---------------------------------------------------------------- the child ------------
def _child(fw, workload, cache):
    t0 = time.perf_counter()
    if fw == "jitgrad compiled":
        os.environ["JITGRAD_CACHE_DIR"] = cache
        import jitgrad  # noqa: F401
    elif fw == "torch.compile":
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        from .. import peers

        peers.torch()
    else:
        from .. import peers

        jax = peers.jax()
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    t_import = time.perf_counter() - t0
    fn = _make(fw, workload)
    info = {}
    t1 = time.perf_counter()
    if fw == "jitgrad compiled":
        calls = 0
        while fn.traced.stats["compiled_calls"] == 0 and calls < 10:
            fn()
            calls += 1
        v = fn.traced.last
        info = dict(
            calls=calls,
            build_s=v.build_seconds,
            numba_compile_s=getattr(v.exe, "compile_seconds", None),
            cache_hit=getattr(v.exe, "cache_hit", None),
        )
    else:
        fn()
    first = time.perf_counter() - t1
    for _ in range(3):
        fn()
    ts = []
    for _ in range(15):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return dict(import_s=t_import, first_s=first, steady_s=statistics.median(ts), **info)


def _make(fw, workload):
    level = "full"
    if workload == "mlp":
        from . import mlp

        return mlp.cases(32, level)[fw]()
    from . import elementwise

    return elementwise.cases("arith", 1000, level)[fw]()


# ---------------------------------------------------------------- the parent -----------
def _run_child(fw, workload, cache, timeout):
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.workloads.compile_latency",
        "--fw",
        fw,
        "--workload",
        workload,
        "--cache",
        cache,
    ]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {p.returncode}: {tail[0][:200]}"}


def _available(fw, level):
    from .. import peers
    from .common import skip_compile

    if fw == "torch.compile":
        skip_compile(level)
        peers.torch()
    elif fw == "jax.jit":
        peers.jax()


def measure(level, log=None):
    """Returns {row key: {column: Result | str}}, plus raw records."""
    from ..peers import Unavailable

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    workload = "arith" if level == "smoke" else "mlp"
    reps = {"smoke": 1, "quick": 1, "full": 3}[level]
    keys = ("cold", "warm", "steady")
    out = {k: {} for k in keys}
    samples = {k: {fw: [] for fw in FRAMEWORKS} for k in keys}
    raw = []
    avail = {}
    for fw in FRAMEWORKS:
        try:
            _available(fw, level)
            avail[fw] = True
        except Unavailable as e:
            for k in keys:
                out[k][fw] = str(e)
    for rep in range(reps):
        for fw in FRAMEWORKS:
            if fw not in avail:
                continue
            d = tempfile.mkdtemp(prefix="jg-bench-cache-")
            try:
                for k in ("cold", "warm"):
                    log(f"  (e) {fw}: {k} process {rep + 1}/{reps} ...")
                    r = _run_child(fw, workload, d, timeout=600)
                    r.update(framework=fw, kind=k, rep=rep)
                    raw.append(r)
                    if "error" in r:
                        out["cold"][fw] = out["warm"][fw] = out["steady"][fw] = (
                            "failed: " + r["error"]
                        )
                        avail.pop(fw, None)
                        break
                    samples[k][fw].append(r["first_s"])
                    samples["steady"][fw].append(r["steady_s"])
            finally:
                shutil.rmtree(d, ignore_errors=True)
    for k in keys:
        for fw in FRAMEWORKS:
            xs = samples[k][fw]
            if xs and fw not in out[k]:
                out[k][fw] = Result([Block(x, x, None, None) for x in xs], 1, 1.0, 1)
    return out, raw, WORKLOADS[workload]


def rows(level):
    holder = {}

    def get(key):
        if "m" not in holder:
            holder["m"] = measure(level)
        return holder["m"][0][key], holder["m"][1]

    what = WORKLOADS["arith" if level == "smoke" else "mlp"]
    labels = {
        "cold": f"(e) compile: first call, cold cache, new process ({what})",
        "warm": f"(e) compile: first call, warm cache, new process ({what})",
        "steady": f"(e) compile: steady-state call after that ({what})",
    }
    out = []
    for key in ("cold", "warm", "steady"):
        r = Row(
            "compile",
            labels[key],
            {},
            unit="s" if key != "steady" else "ms",
            group="(e) compile latency",
            x={"cold": "cold", "warm": "warm cache", "steady": "steady"}[key],
        )
        r.precomputed = lambda key=key: get(key)
        out.append(r)
    return out


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--fw", required=True)
    p.add_argument("--workload", default="mlp")
    p.add_argument("--cache", required=True)
    a = p.parse_args()
    print(json.dumps(_child(a.fw, a.workload, a.cache)))
