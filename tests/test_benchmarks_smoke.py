"""Smoke test of the benchmark suite: ``python -m benchmarks --smoke`` runs every workload of
``--quick`` (tiny sizes, two short timing blocks) and prints its rows and ratios.

Its numbers are not asserted (machines are noisy); only that every part of the runner works:
each workload's step in every jitgrad column and NumPy (compiled code really ran and agrees
with NumPy), the interleaved timing, the tables, the JSON output, the compile-latency child
processes and, when matplotlib is importable, the chart.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.run import fmt_x  # noqa: E402

# the workloads of --quick (ResNet-18 runs only in a full run); their row letters
WORKLOADS = {
    "mlp": "(a)",
    "cnn": "(b)",
    "elementwise": "(c)",
    "overhead": "(d)",
    "compile": "(e)",
    "inference": "(f)",
    "guards": "(g)",
}
NO_EAGER = ("compile", "guards")  # rows without an eager column
SMOKE_SKIPS = ("n/a", "skipped (--smoke)")  # compile-latency modes a smoke run leaves out


def test_benchmarks_smoke(tmp_path):
    out_json = tmp_path / "bench.json"
    out_png = tmp_path / "bench.png"
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path / "cache"))
    cmd = ["-m", "benchmarks", "--smoke", "--json", str(out_json), "--plot", str(out_png)]
    p = subprocess.run(
        [sys.executable, *cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    # a compiled column that raised and ran eagerly measured eager code (a stubbed kernel too)
    assert "returning the eager result" not in p.stderr, p.stderr[-3000:]
    assert "jitgrad benchmarks (smoke)" in out
    assert "threads: 2 for every library" in out
    assert "Summary" in out and "jitgrad eager" in out and "jitgrad compiled" in out
    summary = out.split("Summary", 1)[1]
    data = json.loads(out_json.read_text())
    assert data["meta"]["level"] == "smoke"
    rows = data["rows"]
    assert {r["workload"] for r in rows} == set(WORKLOADS), [r["name"] for r in rows]
    for r in rows:
        assert r["name"].startswith(WORKLOADS[r["workload"]]), r["name"]
        assert f"{r['name']}  [{r['unit']}]" in out, r["name"]  # its table
        assert r["name"] in summary, r["name"]  # and its summary line
        cols = {c["column"]: c for c in r["columns"]}
        for c in cols.values():  # a time, or an honest reason why not
            assert "median_s" in c or c.get("status"), c
        compiled = cols["jitgrad compiled"]
        if r["workload"] == "compile":  # --smoke runs the worker mode only, cold and warm
            assert "median_s" in compiled or compiled["status"] in SMOKE_SKIPS, compiled
            continue
        assert compiled.get("median_s", 0) > 0, compiled  # jitgrad's compiled code ran
        if r["workload"] in NO_EAGER:
            continue
        for col in ("jitgrad eager", "numpy"):
            assert cols[col].get("median_s", 0) > 0, (r["name"], cols[col])
        assert compiled["compile_info"]["compiled_calls"] > 0, compiled
        for col in ("jitgrad eager", "jitgrad compiled"):  # same step result as NumPy
            assert cols[col]["rel_diff_vs_ref"] < 1e-3, (r["name"], cols[col])
        line = next(s for s in summary.splitlines() if s.startswith(r["name"]))
        assert fmt_x(compiled["vs_eager"]) in line.split(), line  # the ratio is printed
    timed = [
        r["name"]
        for r in rows
        if r["workload"] == "compile"
        and any(c["column"] == "jitgrad compiled" and "median_s" in c for c in r["columns"])
    ]
    assert any("cold cache, new process [worker]" in n for n in timed), timed
    assert any("warm cache, new process" in n for n in timed), timed
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert out_png.exists() and out_png.stat().st_size > 1000
