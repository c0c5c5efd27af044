"""The capture guard: before each collective a traced step records, all ranks compare graphs.

Each rank hashes what it has recorded so far (the graph's inputs, its nodes with their
parameters and constants, and the collective about to be recorded) into a few integers and
all-gathers them on a communicator used for nothing else. A difference is a ``TraceError`` on
every rank at once, naming the first rank that differs from rank 0, the field and the first
differing entry, instead of a compiled step that hangs or silently computes something else.

It reads the recorder's graph (``tracer.g``: ``inputs``, ``nodes``, ``values``, ``consts``).
"""

import time
import zlib

import numpy as np

from ..tensor import TraceError

_FIELDS = ("graph inputs (arguments, state, gradients, scalars)", "recorded ops", "collective")


def _param_text(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return repr(v)
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(_param_text(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_param_text(x)}" for k, x in sorted(v.items())) + "}"
    if isinstance(v, np.ndarray):
        return f"nd{v.shape}{v.dtype}#{zlib.crc32(v.tobytes())}"
    if isinstance(v, np.generic):
        return repr(v.item())
    return type(v).__name__  # objects (generators, ...) differ by address only


def describe(g, what, x, params):
    """Per field, a list of comparable entries describing the graph recorded so far."""
    vals = g.values
    inputs = [f"{inp.kind} {list(vals[inp.vid].shape)} {vals[inp.vid].dtype}" for inp in g.inputs]
    ops = []
    for n in g.nodes:
        ins = []
        for v in n.ins:
            c = g.consts.get(v)
            if c is None:
                ins.append(f"v{v}")
            elif c.size <= 4:
                ins.append(f"const({np.array2string(c, precision=17)})")
            else:
                ins.append(f"const#{zlib.crc32(np.ascontiguousarray(c))}")
        out = vals[n.out]
        ops.append(
            f"{n.op.name}({', '.join(ins)}; {_param_text(n.params)}) -> "
            f"{list(out.shape)} {out.dtype}"
        )
    coll = [f"{what} {list(x._data.shape)} {x._data.dtype} {_param_text(params)}"]
    return [inputs, ops, coll], [n.where for n in g.nodes]


def _hash(entries):
    return zlib.crc32("\n".join(entries).encode()) & 0x7FFFFFFF


def exchange(pg, tracer, what, x, params):
    """Compare this rank's graph with every other rank's; raise on every rank if any differs."""
    if pg.size() == 1:
        return
    fields, wheres = describe(tracer.g, what, x, params)
    mine = np.array([_hash(f) for f in fields] + [len(f) for f in fields], dtype=np.int64)
    every = np.empty((pg.size(), mine.size), dtype=np.int64)
    req = pg.guard_comm.Iallgather(mine, every)
    limit = pg.timeout.total_seconds()
    t0 = time.monotonic()
    while not req.Test():
        if time.monotonic() - t0 > limit:
            raise TraceError(
                f"jitgrad.trace: rank {pg.rank()} waited {limit:.0f} s for the other ranks at "
                f"the capture guard before {what}: some rank is not capturing this step (its "
                "input signature, guards or call count differ), so the ranks would run "
                "different collectives. Make every rank call the traced step with the same "
                "kinds of input. (The wait is init_process_group(timeout=...).)"
            )
        time.sleep(0.0002)
    bad = [r for r in range(pg.size()) if not np.array_equal(every[r], every[0])]
    if not bad:
        return
    r = bad[0]
    k = next(
        i
        for i in range(len(fields))
        if every[r][i] != every[0][i] or every[r][i + len(fields)] != every[0][i + len(fields)]
    )
    # every rank saw the same table, so every rank takes part in this second exchange
    theirs = pg.guard_comm.allgather((fields[k], wheres))
    a, b = theirs[0][0], theirs[r][0]
    i = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
    ea = a[i] if i < len(a) else "<nothing>"
    eb = b[i] if i < len(b) else "<nothing>"
    where = ""
    if k == 1:
        wa = theirs[0][1][i] if i < len(theirs[0][1]) else None
        wb = theirs[r][1][i] if i < len(theirs[r][1]) else None
        where = f" (recorded at rank 0: {wa}; rank {r}: {wb})"
    raise TraceError(
        f"jitgrad.trace: ranks traced different graphs; every rank must compile the same step. "
        f"Rank {r} differs from rank 0 in the {_FIELDS[k]} before the collective {what}: "
        f"entry {i} is {ea!r} on rank 0 but {eb!r} on rank {r} "
        f"({len(a)} vs {len(b)} entries){where}"
    )
