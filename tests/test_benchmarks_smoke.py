"""Smoke test of the benchmark suite: ``python -m benchmarks --quick`` runs and prints a table.

Its numbers are not asserted (machines are noisy); only that every part of the runner works:
the interleaved timing, the table, the JSON output, the compile-latency child processes and,
when matplotlib is importable, the chart.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmarks_smoke(tmp_path):
    out_json = tmp_path / "bench.json"
    out_png = tmp_path / "bench.png"
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    assert "threads: 2 for every library" in out
    assert "Summary" in out and "jitgrad eager" in out and "jitgrad compiled" in out
    data = json.loads(out_json.read_text())
    names = [r["name"] for r in data["rows"]]
    assert any(n.startswith("(c)") for n in names) and any(n.startswith("(d)") for n in names)
    for r in data["rows"]:
        cols = {c["column"]: c for c in r["columns"]}
        if r["workload"] not in ("compile", "guards", "ddp"):  # rows without an eager column
            assert "median_s" in cols["jitgrad eager"], r  # eager always runs
            assert cols["numpy"].get("median_s", 0) > 0
        for c in cols.values():  # a time, or an honest reason why not
            assert "median_s" in c or c.get("status"), c
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert out_png.exists() and out_png.stat().st_size > 1000
