"""Run jitgrad's benchmarks and print one table: ``python -m benchmarks``.

    python -m benchmarks                  # full run (about 15-30 minutes on 2 cores)
    python -m benchmarks --quick          # a subset, under two minutes
    python -m benchmarks --smoke          # tiny sizes, for CI (tests/test_benchmarks_smoke.py)
    python -m benchmarks --only mlp       # one workload: mlp cnn elementwise overhead compile
                                          # inference (comma-separated), or eager_overhead,
                                          # or vmath (fused loops with vmath vs libm)
    python -m benchmarks --json out.json --plot out.png --markdown out.md

Columns, measured in the same run and interleaved round-robin: jitgrad eager, jitgrad
compiled (``jitgrad.trace``, CPU backend), a hand-written NumPy version of the same step, and
where importable PyTorch eager, ``torch.compile`` and ``jax.jit``. Peers that are missing are
reported as "not installed". Every library gets the same thread count (``--threads``, 2 by
default). Ratios are speedups: ``t(jitgrad eager) / t`` and ``t(best peer) / t`` (above 1 means
faster). Times are medians over blocks of 0.15-0.4 s; blocks during which other processes
used more than ``--max-disturb`` cores are dropped when enough clean ones remain.
"""

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import time

from . import env

LEVELS = {
    # block seconds, rounds, min clean blocks, max rounds, warm-up seconds
    "smoke": dict(block=0.02, rounds=2, min_keep=1, max_rounds=2, warm=0.02),
    "quick": dict(block=0.12, rounds=3, min_keep=2, max_rounds=4, warm=0.1),
    "full": dict(block=0.2, rounds=9, min_keep=3, max_rounds=16, warm=0.3),
}
ORDER = ["mlp", "cnn", "resnet", "elementwise", "overhead", "compile", "inference", "guards"]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="a subset in under two minutes")
    g.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI smoke test)")
    p.add_argument(
        "--only",
        help="comma-separated workloads: " + ", ".join(ORDER) + " (or eager_overhead, or vmath)",
    )
    p.add_argument("--json", metavar="OUT.json", help="write all samples and metadata")
    p.add_argument("--plot", metavar="OUT.png", help="bar chart (needs matplotlib)")
    p.add_argument("--markdown", metavar="OUT.md", help="write the table as Markdown")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (2)")
    p.add_argument(
        "--max-disturb",
        type=float,
        default=0.3,
        help="drop blocks where other processes used more cores than this (0.3)",
    )
    return p.parse_args(argv)


# ---------------------------------------------------------------- formatting -----------
UNIT = {"s": 1.0, "ms": 1e3, "us": 1e6}


def fmt_t(sec, unit):
    v = sec * UNIT[unit]
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_x(r):
    if r is None:
        return "-"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


# ---------------------------------------------------------------- triad ----------------
def triad(n, cfg):
    """STREAM-like triad a = b + s*c, float32 (12 bytes per element); returns GB/s dict."""
    import numba
    import numpy as np

    from .timing import measure, warm_up

    @numba.njit(parallel=True, fastmath=True)
    def tri_par(a, b, c, s):
        for i in numba.prange(a.size):
            a[i] = b[i] + s * c[i]

    @numba.njit(fastmath=True)
    def tri_ser(a, b, c, s):
        for i in range(a.size):
            a[i] = b[i] + s * c[i]

    a = np.zeros(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.full(n, 2.0, np.float32)
    s = np.float32(3.0)
    tmp = np.empty_like(a)

    def np_triad():
        np.multiply(c, s, out=tmp)
        np.add(b, tmp, out=a)

    cases = {
        "numba prange": lambda: tri_par(a, b, c, s),
        "numba serial": lambda: tri_ser(a, b, c, s),
        "numpy (2 passes)": np_triad,
    }
    for f in cases.values():
        warm_up(f, min_time=0.05)
    res = measure(
        cases,
        block=cfg["block"],
        rounds=cfg["rounds"],
        min_keep=cfg["min_keep"],
        max_rounds=cfg["max_rounds"],
    )
    return {k: 12 * n / r.median / 1e9 for k, r in res.items()}


# ---------------------------------------------------------------- one row --------------
def run_row(row, cfg, level, bandwidth, log):
    from .peers import Unavailable
    from .timing import measure, warm_up
    from .workloads.common import COLUMNS, to_float

    status, values, fns, traced = {}, {}, {}, {}
    if getattr(row, "precomputed", None):
        res, raw = row.precomputed()
        results = {c: r for c, r in res.items() if not isinstance(r, str)}
        status = {c: r for c, r in res.items() if isinstance(r, str)}
        return summarize(row, results, status, {}, bandwidth, {}, raw=raw)
    for col in COLUMNS:
        setup = row.cases.get(col)
        if setup is None:
            status[col] = "n/a"
            continue
        try:
            t0 = time.perf_counter()
            fn = setup()
            out = fn()
            # a case that ran calls while it got ready (the async compile) kept its first
            first = to_float(getattr(fn, "first_value", out))
            t_first = time.perf_counter() - t0
            warm_up(
                fn,
                min_calls=6 if col in ("jitgrad compiled", "jitgrad serial") else 3,
                min_time=cfg["warm"],
                max_time=max(cfg["warm"], 2.0),
            )
            last = to_float(fn())
            values[col] = (first, last)
            fns[col] = fn
            if getattr(fn, "traced", None) is not None:
                traced[col] = fn.traced
            log(f"    {col}: ready ({t_first:.1f} s to first result)")
        except Unavailable as e:
            status[col] = str(e)
        except Exception as e:  # a broken column is reported, never hidden or faked
            msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
            status[col] = f"failed: {type(e).__name__}: {msg}"
            log(f"    {col}: {status[col]}")
    results = measure(
        fns,
        block=cfg["block"],
        rounds=cfg["rounds"],
        min_keep=cfg["min_keep"],
        max_rounds=cfg["max_rounds"],
    )
    extra = {}
    for col, tf in traced.items():
        try:
            v = tf.last
            extra[col] = dict(
                compiled_calls=tf.stats.get("compiled_calls"),
                build_s=getattr(v, "build_seconds", None),
                numba_compile_s=getattr(v.exe, "compile_seconds", None),
                cache_hit=getattr(v.exe, "cache_hit", None),
                loops=getattr(v.exe, "loops", None),
            )
            tp = getattr(v.exe, "thread_plan", None)
            if tp is not None:  # which thread plan the timed calls ran (ThreadPlan)
                extra[col]["plans"] = tp.usage()
            if not tf.stats.get("compiled_calls"):
                status[col] = "failed: never ran compiled code"
                results.pop(col, None)
        except Exception:
            pass
    del fns
    gc.collect()
    return summarize(row, results, status, values, bandwidth, extra)


def _check(row, values):
    """Compare each column's step result with the NumPy one (first call for training steps,
    whose state then diverges; after warm-up for stateless ones)."""
    ref = values.get("numpy") or values.get("jitgrad eager")
    if ref is None:
        return {}
    out = {}
    stateful = row.workload in ("mlp", "cnn", "resnet")
    for col, (first, last) in values.items():
        a, b = (first, ref[0]) if stateful else (last, ref[1])
        err = abs(a - b) / max(abs(b), 1e-12)
        out[col] = err
    return out


def summarize(row, results, status, values, bandwidth, extra, raw=None):
    from .workloads.common import COLUMNS, PEERS

    med = {c: r.median for c, r in results.items()}
    peers = {c: t for c, t in med.items() if c in PEERS}
    best = min(peers, key=peers.get) if peers else None
    eager = med.get("jitgrad eager")
    checks = _check(row, values)
    cols = []
    for c in COLUMNS:
        if c in results:
            r = results[c]
            d = dict(column=c, **r.as_dict())
            d["vs_eager"] = eager / r.median if eager else None
            d["vs_best_peer"] = med[best] / r.median if best else None
            if row.bytes_moved and bandwidth:
                d["bandwidth_fraction"] = row.bytes_moved / bandwidth / r.median
            if row.per:
                d["per"] = r.median / row.per[0]
            if c in checks:
                d["rel_diff_vs_ref"] = checks[c]
            if c in extra:
                d["compile_info"] = extra[c]
            cols.append(d)
        else:
            cols.append(dict(column=c, status=status.get(c, "n/a")))
    out = dict(
        workload=row.workload,
        name=row.name,
        unit=row.unit,
        group=row.group,
        x=row.x,
        best_peer=best,
        bytes_moved=row.bytes_moved,
        per=row.per,
        # bandwidth floor: the minimal bytes of one step over the measured triad bandwidth
        floor_s=row.bytes_moved / bandwidth if row.bytes_moved and bandwidth else None,
        columns=cols,
        note=row.note,
    )
    if raw is not None:
        out["raw"] = raw
    return out


def format_row(r, bandwidth):
    unit = r["unit"]
    lines = [f"{r['name']}  [{unit}]"]
    has_bw = r["bytes_moved"] and bandwidth
    hdr = (
        f"  {'implementation':<17}{'median':>9}{'min-max':>17}{'vs eager':>10}{'vs best peer':>14}"
    )
    if has_bw:
        hdr += f"{'% of BW':>9}"
    if r["per"]:
        hdr += f"{r['per'][1]:>10}"
    hdr += "  check"
    lines.append(hdr)
    for c in r["columns"]:
        if "median_s" not in c:
            lines.append(f"  {c['column']:<17}{c['status']}")
            continue
        mm = f"{fmt_t(c['min_s'], unit)}-{fmt_t(c['max_s'], unit)}"
        s = (
            f"  {c['column']:<17}{fmt_t(c['median_s'], unit):>9}{mm:>17}"
            f"{fmt_x(c.get('vs_eager')):>10}{fmt_x(c.get('vs_best_peer')):>14}"
        )
        if has_bw:
            s += f"{c['bandwidth_fraction'] * 100:>8.0f}%"
        if r["per"]:
            s += f"{fmt_t(c['per'], unit):>8}{unit:>2}"
        notes = []
        if "rel_diff_vs_ref" in c:
            e = c["rel_diff_vs_ref"]
            notes.append("ok" if e < 1e-3 else f"DIFF {e:.1e}")
        if c.get("noisy"):
            notes.append("noisy")
        ci = c.get("compile_info") or {}
        if ci.get("numba_compile_s") is not None:
            notes.append(
                f"compile {ci['numba_compile_s']:.1f}s"
                + (" (cache hit)" if ci.get("cache_hit") else "")
            )
        if ci.get("plans"):
            notes.append(f"plans: {ci['plans']}")
        s += "  " + ", ".join(notes)
        lines.append(s.rstrip())
    if r["best_peer"]:
        lines.append(f"  best peer: {r['best_peer']}")
    if r.get("floor_s"):
        comp = [c for c in r["columns"] if c["column"] == "jitgrad compiled" and "median_s" in c]
        vs = f"; jitgrad compiled at {comp[0]['median_s'] / r['floor_s']:.2f}x it" if comp else ""
        mb = r["bytes_moved"] / 1e6
        floor = fmt_t(r["floor_s"], unit)
        lines.append(
            f"  bandwidth floor: {floor} {unit} ({mb:.0f} MB at {bandwidth / 1e9:.1f} GB/s){vs}"
        )
    return "\n".join(lines)


def summary_table(rows, markdown=False):
    """One line per row: medians of every column, compiled vs eager and vs best peer."""
    from .workloads.common import COLUMNS

    head = ["workload", "unit"] + COLUMNS + ["compiled vs eager", "compiled vs best peer"]
    head += ["serial / compiled", "BW floor"]
    body = []
    for r in rows:
        cells = [r["name"], r["unit"]]
        comp = ser = None
        for c in r["columns"]:
            if "median_s" in c:
                cells.append(fmt_t(c["median_s"], r["unit"]))
                if c["column"] == "jitgrad compiled":
                    comp = c
                if c["column"] == "jitgrad serial":
                    ser = c
            else:
                st = c["status"]
                cells.append("n/a" if st == "n/a" else st.split(":")[0])
        cells.append(fmt_x(comp.get("vs_eager")) if comp else "-")
        bp = (
            f"{fmt_x(comp.get('vs_best_peer'))} ({r['best_peer']})"
            if comp and r["best_peer"]
            else "-"
        )
        cells.append(bp)
        # parallel vs serial: >= 1x means the default (threads where they pay) is not slower
        cells.append(fmt_x(ser["median_s"] / comp["median_s"]) if comp and ser else "-")
        cells.append(fmt_t(r["floor_s"], r["unit"]) if r.get("floor_s") else "-")
        body.append(cells)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    fmt = lambda cells: "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    return "\n".join([fmt(head), "-" * len(fmt(head))] + [fmt(b) for b in body])


# ---------------------------------------------------------------- main -----------------
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = LEVELS[level]
    env.configure(args.threads)
    t_start = time.perf_counter()
    names = ORDER if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    if "eager_overhead" in names:
        return _eager_overhead(level)
    if "vmath" in names:
        from .vmath_loops import main as vmath_main

        return vmath_main(level, args.threads)
    bad = [n for n in names if n not in ORDER]
    if bad:
        print(
            f"unknown workload(s) {bad}; choose from {ORDER}, eager_overhead or vmath",
            file=sys.stderr,
        )
        return 2

    from . import peers
    from .workloads import WORKLOADS

    log = lambda s: print(s, file=sys.stderr, flush=True)
    cmd = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    meta = dict(
        command=cmd.strip(),
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        level=level,
        machine=env.machine(),
        python=sys.version.split()[0],
        versions=peers.versions(),
        threads=args.threads,
        thread_report=peers.thread_report(),
        env=env.reported_env(),
        peer_policy_env=dict(peers.ENV_AT_IMPORT),
        max_disturb=args.max_disturb,
        jitgrad_source=_source(),
    )
    try:
        meta["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    from jitgrad.compile.backends import calibrate  # after the peers' imports (see peers.py)

    meta["jitgrad_threads"] = calibrate.describe()  # calibrates here at first need
    print(header(meta), flush=True)

    bandwidth = None
    rows = []
    for name in names:
        wrows = WORKLOADS[name].rows(level)
        if name == "elementwise" and wrows:
            n = {"smoke": 10**6, "quick": 4 * 10**6, "full": 2 * 10**7}[level]
            bw = triad(n, cfg)
            bandwidth = max(bw.values()) * 1e9
            meta["triad_GBps"] = bw
            meta["triad_elements"] = n
            print(
                f"STREAM-like triad (a = b + s*c, {n:.0e} float32, 12 B/element): "
                + ", ".join(f"{k} {v:.1f} GB/s" for k, v in bw.items())
                + f"; bandwidth limit used below: {bandwidth / 1e9:.1f} GB/s\n",
                flush=True,
            )
        for row in wrows:
            log(f"[{time.perf_counter() - t_start:6.1f} s] {row.name}")
            res = run_row(row, cfg, level, bandwidth, log)
            rows.append(res)
            print(format_row(res, bandwidth) + "\n", flush=True)
    meta["seconds"] = time.perf_counter() - t_start
    try:
        meta["load_average_at_end"] = os.getloadavg()
    except OSError:
        pass
    print("Summary (medians; speedups of jitgrad compiled)\n")
    print(summary_table(rows))
    print(f"\ntotal {meta['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1, default=str)
        print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(meta, rows, bandwidth))
        print(f"wrote {args.markdown}")
    if args.plot:
        from .plot import plot

        msg = plot(rows, args.plot, meta)
        print(msg)
    return 0


def header(meta):
    lines = [
        f"jitgrad benchmarks ({meta['level']}), {meta['date']}",
        f"command: {meta['command']}",
        f"jitgrad: {meta['jitgrad_source']}",
        f"machine: {meta['machine']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"threads: {meta['threads']} for every library: "
        + "; ".join(f"{k} {v}" for k, v in meta["thread_report"].items()),
        "env: " + " ".join(f"{k}={v}" for k, v in meta["env"].items()),
        "peers run in their default configuration: " + _policy_line(meta),
    ]
    if "jitgrad_threads" in meta:
        lines.append(f"jitgrad's own thread choices: {meta['jitgrad_threads']}")
    if "load_average_at_start" in meta:
        lines.append(
            "load average at start: "
            + " ".join(f"{x:.2f}" for x in meta["load_average_at_start"])
            + f" (blocks where others used > {meta['max_disturb']} cores are dropped)"
        )
    return "\n".join(lines) + "\n"


def _policy_line(meta):
    """Which OpenMP/BLAS policy variables each peer saw at import (none: its defaults)."""
    parts = []
    for name, e in meta.get("peer_policy_env", {}).items():
        got = " ".join(f"{k}={v}" for k, v in e.items())
        parts.append(
            f"{name} imported with {got} (from the caller's environment)"
            if e
            else f"{name} with no OpenMP/BLAS policy variable set"
        )
    return "; ".join(parts) + " (only thread counts are pinned)" if parts else "-"


def markdown(meta, rows, bandwidth):
    out = [
        "# jitgrad benchmarks\n",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; total {meta.get('seconds', 0):.0f} s",
        f"- jitgrad: {meta['jitgrad_source']}",
        f"- machine: {meta['machine']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"- threads: {meta['threads']} for every library ("
        + "; ".join(f"{k}: {v}" for k, v in meta["thread_report"].items())
        + ")",
        "- environment: " + ", ".join(f"`{k}={v}`" for k, v in meta["env"].items()),
        "- peers run in their default configuration: " + _policy_line(meta),
    ]
    if "jitgrad_threads" in meta:
        out.append(f"- jitgrad's own thread choices: {meta['jitgrad_threads']}")
    if "load_average_at_start" in meta:
        out.append(
            "- load average at start / end: "
            + " ".join(f"{x:.2f}" for x in meta["load_average_at_start"])
            + " / "
            + " ".join(f"{x:.2f}" for x in meta.get("load_average_at_end", ()))
        )
    if meta.get("triad_GBps"):
        out.append(
            f"- STREAM-like triad ({meta['triad_elements']:.0e} float32): "
            + ", ".join(f"{k} {v:.1f} GB/s" for k, v in meta["triad_GBps"].items())
        )
    out += [
        "",
        "## Summary (medians)",
        "",
        summary_table(rows, markdown=True),
        "",
        "## Details",
        "",
        "```",
    ]
    out += [format_row(r, bandwidth) + "\n" for r in rows]
    out.append("```\n")
    return "\n".join(out)


def _source():
    """Which jitgrad was measured: its directory and git commit (or $JITGRAD_BENCH_COMMIT)."""
    import jitgrad

    where = os.path.dirname(os.path.dirname(os.path.abspath(jitgrad.__file__)))
    commit = os.environ.get("JITGRAD_BENCH_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=where,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "jitgrad"],
                cwd=where,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            if commit and dirty:
                commit += " + uncommitted changes in jitgrad/"
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return f"{where} (commit {commit or 'unknown'})"


def _eager_overhead(level):
    """Run benchmarks/eager_overhead.py (maintained separately) with the same thread setup."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "eager_overhead.py")
    if not os.path.exists(path):
        print("benchmarks/eager_overhead.py is not there (yet)", file=sys.stderr)
        return 2
    cmd = [sys.executable, path] + (["--repeats", "5"] if level != "full" else [])
    root = os.path.dirname(here)
    pp = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return subprocess.call(cmd, env=dict(os.environ, PYTHONPATH=pp), cwd=root)
