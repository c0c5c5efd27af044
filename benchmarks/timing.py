"""Interleaved timing: warm up, size blocks to a target duration, round-robin the cases,
and drop blocks during which other processes used the CPU.

Disturbance of a block = CPU seconds that *other* processes used while it ran (busy jiffies in
/proc/stat minus this process's own CPU time), divided by the block's wall time, i.e. how
many cores others took on average. Blocks above ``max_disturb`` are dropped as long as enough
clean blocks remain; otherwise the least disturbed ones are kept and the row is marked noisy.
"""

import os
import random
import statistics
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds():
    """Seconds of CPU time used by everything on the machine (None where /proc is missing)."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    v = [int(x) for x in parts[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / _TICK  # user nice system idle iowait irq softirq steal


def _own_seconds():
    t = os.times()
    return t.user + t.system


class Block:
    __slots__ = ("per_call", "wall", "cpu", "others")

    def __init__(self, per_call, wall, cpu, others):
        self.per_call, self.wall, self.cpu, self.others = per_call, wall, cpu, others


def time_block(fn, n, cap=None):
    """Run ``fn`` ``n`` times; stop early (checking every 8 calls) once ``cap`` seconds passed,
    so that a block hit by stalls does not run for minutes."""
    b0, c0 = _busy_seconds(), _own_seconds()
    t0 = time.perf_counter()
    done = 0
    if cap is None:
        for _ in range(n):
            fn()
        done = n
    else:
        while done < n:
            fn()
            done += 1
            if done & 7 == 0 and time.perf_counter() - t0 > cap:
                break
    wall = time.perf_counter() - t0
    c1, b1 = _own_seconds(), _busy_seconds()
    cpu = c1 - c0
    others = None if b0 is None else max(0.0, (b1 - b0) - cpu) / wall
    return Block(wall / done, wall, cpu, others)


class Result:
    """Summary of one case: median/min/max seconds per call over the kept blocks."""

    def __init__(self, blocks, n, max_disturb, min_keep):
        self.n = n
        self.blocks = blocks
        known = [b for b in blocks if b.others is not None]
        clean = [b for b in blocks if b.others is None or b.others <= max_disturb]
        self.noisy = len(clean) < min_keep
        if self.noisy:
            kept = sorted(blocks, key=lambda b: b.others or 0.0)[: max(min_keep, 1)]
        else:
            kept = clean
        self.kept = kept
        xs = [b.per_call for b in kept]
        self.median = statistics.median(xs)
        self.min = min(xs)
        self.max = max(xs)
        self.dropped = len(blocks) - len(kept)
        self.others = statistics.median([b.others for b in known]) if known else None

    def as_dict(self):
        return dict(
            median_s=self.median,
            min_s=self.min,
            max_s=self.max,
            calls_per_block=self.n,
            blocks=len(self.blocks),
            dropped_blocks=self.dropped,
            noisy=self.noisy,
            others_cores_median=self.others,
            per_call_all_s=[b.per_call for b in self.blocks],
        )


def warm_up(fn, min_calls=3, min_time=0.1, max_time=30.0):
    """Call ``fn`` until it is warm; returns the seconds per call seen at the end."""
    t_start = time.perf_counter()
    times = []
    while True:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent = time.perf_counter() - t_start
        if len(times) >= min_calls and (spent >= min_time or spent >= max_time):
            break
        if spent >= max_time and len(times) >= 1:
            break
    tail = times[-3:] if len(times) >= 4 else times[-1:]
    return min(tail)


def measure(
    cases, block=0.25, rounds=7, max_disturb=0.3, min_keep=3, max_rounds=None, deadline=None
):
    """Round-robin ``cases`` ({name: callable}); returns {name: Result}.

    ``cases`` must already be warm (see ``warm_up``); each callable runs one step.
    """
    if not cases:
        return {}
    names = list(cases)
    ns = {}
    for k in names:
        t = time_block(cases[k], 1).per_call
        t = min(t, time_block(cases[k], 1).per_call)
        ns[k] = max(1, int(round(block / max(t, 1e-9))))
    blocks = {k: [] for k in names}
    max_rounds = max_rounds or rounds * 2
    r = 0
    while True:
        # a new order every round (seeded): a case that leaves threads spinning (OpenBLAS
        # workers spin ~0.1 s after a threaded call) slows whichever case runs next, so no
        # case may always follow the same one (a rotation would keep every predecessor)
        order = random.Random(r).sample(names, len(names))
        for k in order:
            blocks[k].append(time_block(cases[k], ns[k], cap=4 * block))
        r += 1
        if r >= max_rounds:
            break
        if deadline is not None and time.perf_counter() > deadline and r >= 2:
            break
        if r >= rounds:
            # extra rounds only while some case lacks enough clean blocks
            if all(
                sum(1 for b in blocks[k] if b.others is None or b.others <= max_disturb) >= min_keep
                for k in names
            ):
                break
    return {k: Result(blocks[k], ns[k], max_disturb, min_keep) for k in names}
