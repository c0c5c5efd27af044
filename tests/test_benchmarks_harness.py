"""The benchmark harness runs every peer in its own default configuration.

``benchmarks/env.py`` pins the thread count of every library and nothing else: it sets no
OpenMP/BLAS policy variable (a passive OpenMP wait policy once made torch eager 3x slower
and flattered jitgrad's ratios), and the peers are imported before ``jitgrad.compile``,
which sets numba's wait policy for jitgrad's own loops.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import env  # noqa: E402

# variables that steer a threading runtime or BLAS beyond its thread count
POLICY = re.compile(r"^(OMP|GOMP|KMP|MKL|OPENBLAS|BLIS|NUMBA|XLA|VECLIB|NUMEXPR|TBB)_")


def _run(code, extra_env=None):
    clean = {
        k: v for k, v in os.environ.items() if not POLICY.match(k) and k not in env.HARNESS_VARS
    }
    clean.update(extra_env or {})
    clean["PYTHONPATH"] = ROOT
    p = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_configure_sets_only_thread_counts():
    out = _run(
        "import json, os\n"
        "before = dict(os.environ)\n"
        "from benchmarks import env\n"
        "env.configure(3)\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))\n"
    )
    threads = {k: v for k, v in out.items() if k in env.THREAD_VARS}
    assert threads == {k: "3" for k in env.THREAD_VARS}
    rest = set(out) - set(env.THREAD_VARS)
    assert rest <= set(env.HARNESS_VARS), rest
    assert not [k for k in rest if POLICY.match(k)]


def test_peers_see_their_defaults_and_user_settings_are_kept():
    code = (
        "import json, os\n"
        "from benchmarks import env, peers\n"
        "env.configure(2)\n"
        "v = peers.versions()\n"
        "import jitgrad.compile\n"  # sets numba's policy for jitgrad's loops, after the peers
        "print(json.dumps(dict(seen=peers.ENV_AT_IMPORT, now=env.policy_env(), v=v)))\n"
    )
    out = _run(code)
    assert set(out["seen"]) == {"torch", "jax"}
    for name, seen in out["seen"].items():
        assert seen == {}, (name, seen)  # imported with the library's own defaults
    # a variable the user set is neither removed nor overridden, and is reported
    out = _run(
        "import json\n"
        "from benchmarks import env, peers\n"
        "env.configure(2)\n"
        "print(json.dumps(dict(now=peers._policy_env(), rep=env.reported_env())))\n",
        {"OMP_WAIT_POLICY": "ACTIVE"},
    )
    assert out["now"] == {"OMP_WAIT_POLICY": "ACTIVE"} and out["rep"]["OMP_WAIT_POLICY"] == "ACTIVE"


def test_policy_line():
    from benchmarks.run import _policy_line

    line = _policy_line(dict(peer_policy_env={"torch": {}, "jax": {"XLA_FLAGS": "--x"}}))
    assert "torch with no OpenMP/BLAS policy variable set" in line
    assert "jax imported with XLA_FLAGS=--x (from the caller's environment)" in line


def test_vmath_fused_chain_matches_libm():
    """The standalone vmath-vs-libm benchmark compares equal computations."""
    from benchmarks import vmath_loops

    assert vmath_loops.check(n=2048) < 1e-5
