"""``autograd.profiler.profile``: a real per-op CPU profiler for eager mode.

While a ``profile`` is active every primitive's NumPy implementation is timed (as
``aten::<op>``) and every VJP the tape engine runs (as its ``...Backward0`` node name);
``record_function`` adds user ranges. ``key_averages().table()`` prints PyTorch's columns.
Self time excludes the time of ops run inside (a VJP's own ops, a user range's ops).
"""

import json
import time

from ..ops.registry import PRIMITIVES

_ACTIVE = []


class FunctionEvent:
    """One timed call: name, start/end in microseconds, self time."""

    def __init__(self, name, start, end, child_us, shapes=None):
        self.name = self.key = name
        self.time_range = (start, end)
        self.cpu_time_total = end - start
        self.self_cpu_time_total = self.cpu_time_total - child_us
        self.count = 1
        self.input_shapes = shapes or []

    @property
    def cpu_time(self):
        return self.cpu_time_total

    def __repr__(self):
        return (
            f"<FunctionEvent name={self.name} cpu_time={_fmt_us(self.cpu_time_total)} "
            f"self_cpu_time={_fmt_us(self.self_cpu_time_total)}>"
        )


class FunctionEventAvg:
    """Events of one name summed: ``count``, ``cpu_time_total``, ``self_cpu_time_total``."""

    def __init__(self, key):
        self.key = key
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.input_shapes = None

    def add(self, ev):
        self.count += 1
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self):
        return (
            f"<FunctionEventAvg key={self.key} self_cpu_time={_fmt_us(self.self_cpu_time_total)}"
            f" cpu_time={_fmt_us(self.cpu_time_total)} count={self.count}>"
        )


def _fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


_SORT_KEYS = {
    "cpu_time_total": "cpu_time_total",
    "self_cpu_time_total": "self_cpu_time_total",
    "cpu_time": "cpu_time",
    "count": "count",
    "self_cpu_time": "self_cpu_time_total",
}


class EventList(list):
    """The recorded events; ``table()`` and ``key_averages()`` summarise them."""

    def key_averages(self, group_by_input_shape=False):
        avg = {}
        for ev in self:
            key = (ev.key, str(ev.input_shapes)) if group_by_input_shape else ev.key
            a = avg.get(key)
            if a is None:
                a = avg[key] = FunctionEventAvg(ev.key)
                if group_by_input_shape:
                    a.input_shapes = ev.input_shapes
            a.add(ev)
        return EventList(avg.values())

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def table(
        self,
        sort_by=None,
        row_limit=100,
        max_name_column_width=55,
        header=None,
        top_level_events_only=False,
    ):
        """PyTorch's profiler table (Name, Self CPU %, Self CPU, CPU total %, ...)."""
        rows = list(self)
        if sort_by is not None and sort_by != "none":
            attr = _SORT_KEYS.get(sort_by)
            if attr is None:
                raise ValueError(f"profiler table: unknown sort_by {sort_by!r}")
            rows.sort(key=lambda e: getattr(e, attr), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = sum(e.self_cpu_time_total for e in self) or 1.0
        w = max([len("Name")] + [min(len(e.key), max_name_column_width) for e in rows]) + 2
        cols = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
        cw = 14
        line = "-" * w + ("  " + "-" * (cw - 2)) * len(cols)
        out = []
        if header:
            out.append(header)
        out.append(line)
        out.append("Name".rjust(w) + "".join(c.rjust(cw) for c in cols))
        out.append(line)
        for e in rows:
            name = (
                e.key
                if len(e.key) <= max_name_column_width
                else (e.key[: max_name_column_width - 3] + "...")
            )
            vals = [
                f"{100.0 * e.self_cpu_time_total / total:.2f}%",
                _fmt_us(e.self_cpu_time_total),
                f"{100.0 * e.cpu_time_total / total:.2f}%",
                _fmt_us(e.cpu_time_total),
                _fmt_us(e.cpu_time),
                str(e.count),
            ]
            out.append(name.rjust(w) + "".join(v.rjust(cw) for v in vals))
        out.append(line)
        out.append(f"Self CPU time total: {_fmt_us(sum(e.self_cpu_time_total for e in self))}")
        return "\n".join(out) + "\n"

    def export_chrome_trace(self, path):
        """Write the events as a Chrome trace (``chrome://tracing``)."""
        evs = [
            {
                "name": e.key,
                "ph": "X",
                "ts": e.time_range[0],
                "dur": e.cpu_time_total,
                "pid": 0,
                "tid": 0,
                "cat": "cpu_op",
            }
            for e in self
            if isinstance(e, FunctionEvent)
        ]
        with open(path, "w") as f:
            json.dump({"traceEvents": evs}, f)


class _Recorder:
    def __init__(self, record_shapes):
        self.events = EventList()
        self.stack = []  # child-time accumulators of the open ranges
        self.record_shapes = record_shapes

    def timed(self, name, fn, args, kwargs, shapes=None):
        self.stack.append(0.0)
        t0 = time.perf_counter_ns() / 1e3
        try:
            return fn(*args, **kwargs)
        finally:
            t1 = time.perf_counter_ns() / 1e3
            child = self.stack.pop()
            if self.stack:
                self.stack[-1] += t1 - t0
            self.events.append(FunctionEvent(name, t0, t1, child, shapes))


def _wrap_impl(prim, rec):
    impl = prim.impl
    name = "aten::" + prim.name

    def timed_impl(*args, **kwargs):
        shapes = [list(getattr(a, "shape", ())) for a in args] if rec.record_shapes else None
        return rec.timed(name, impl, args, kwargs, shapes)

    return impl, timed_impl


def _wrap_vjp(prim, rec):
    vjp = prim.vjp
    name = prim.backward_name

    def timed_vjp(*args, **kwargs):
        return rec.timed(name, vjp, args, kwargs)

    return vjp, timed_vjp


class profile:
    """Time every op run inside ``with profile() as prof:``; then ``prof.key_averages()``."""

    def __init__(
        self,
        enabled=True,
        *,
        use_cuda=False,
        use_device=None,
        record_shapes=False,
        with_flops=False,
        profile_memory=False,
        with_stack=False,
        with_modules=False,
        use_kineto=False,
        use_cpu=True,
        experimental_config=None,
        acc_events=False,
    ):
        self.enabled = enabled
        self.record_shapes = record_shapes
        self.function_events = None
        self._rec = None
        self._saved = []

    def __enter__(self):
        if not self.enabled:
            return self
        if _ACTIVE:
            raise RuntimeError("Profiler is already enabled on this thread")
        self._rec = rec = _Recorder(self.record_shapes)
        for prim in PRIMITIVES.values():
            old, new = _wrap_impl(prim, rec)
            self._saved.append((prim, "impl", old))
            prim.impl = new
            if prim.vjp is not None:
                old, new = _wrap_vjp(prim, rec)
                self._saved.append((prim, "vjp", old))
                prim.vjp = new
        _ACTIVE.append(rec)
        return self

    def __exit__(self, *exc):
        if not self.enabled or self._rec is None:
            return False
        for prim, attr, old in reversed(self._saved):
            setattr(prim, attr, old)
        self._saved = []
        _ACTIVE.remove(self._rec)
        self.function_events = self._rec.events
        return False

    def _events(self):
        if self.function_events is None:
            raise RuntimeError("Profiler didn't finish running")
        return self.function_events

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        """Events grouped by name (``table()`` prints them)."""
        return self._events().key_averages(group_by_input_shape)

    def table(self, sort_by=None, row_limit=100, **kw):
        """The table of all events (not grouped)."""
        return self._events().table(sort_by=sort_by, row_limit=row_limit, **kw)

    def events(self):
        return self._events()

    @property
    def self_cpu_time_total(self):
        return self._events().self_cpu_time_total

    def export_chrome_trace(self, path):
        self._events().export_chrome_trace(path)

    def __str__(self):
        return self.table()


class record_function:
    """A named user range inside a profile: ``with record_function("forward"): ...``."""

    def __init__(self, name, args=None):
        self.name = name

    def __enter__(self):
        self._rec = _ACTIVE[-1] if _ACTIVE else None
        if self._rec is not None:
            self._rec.stack.append(0.0)
            self._t0 = time.perf_counter_ns() / 1e3
        return self

    def __exit__(self, *exc):
        rec = self._rec
        if rec is not None:
            t1 = time.perf_counter_ns() / 1e3
            child = rec.stack.pop()
            if rec.stack:
                rec.stack[-1] += t1 - self._t0
            rec.events.append(FunctionEvent(self.name, self._t0, t1, child))
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with record_function(self.name):
                return fn(*a, **k)

        return wrapper
