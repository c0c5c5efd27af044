"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""

import functools
import threading


class _State(threading.local):
    """Per-thread flags. ``mode`` sums up ``enabled`` and ``tracer`` for the op hot path
    (one thread-local read per op instead of two): 0 records the tape with no tracer,
    1 is no_grad with no tracer, 2 means a tracer is active (read the other two), 3 records
    the tape in anomaly-detection mode (nodes remember where they were created)."""

    def __init__(self):
        self._enabled = True  # grad mode
        self._tracer = None  # the active static-graph recorder, if any
        self._anomaly = False
        self.mode = 0
        self.observer = None  # jitgrad.trace's list of constants built from Python data

    def _update(self):
        if self._tracer is not None:
            self.mode = 2
        elif not self._enabled:
            self.mode = 1
        else:
            self.mode = 3 if self._anomaly else 0

    @property
    def enabled(self):
        return self._enabled

    @enabled.setter
    def enabled(self, flag):
        self._enabled = flag
        self._update()

    @property
    def tracer(self):
        return self._tracer

    @tracer.setter
    def tracer(self, tr):
        self._tracer = tr
        self._update()

    @property
    def anomaly(self):
        return self._anomaly

    @anomaly.setter
    def anomaly(self, flag):
        self._anomaly = flag
        self._update()


STATE = _State()


def is_grad_enabled():
    """True when operations are recorded on the tape: ``jitgrad.is_grad_enabled()``."""
    return STATE.enabled


class _GradModeContext:
    _mode = True

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._mode

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator that turns off the tape: ``with jitgrad.no_grad(): ...``."""

    _mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that turns the tape back on inside ``no_grad``."""

    _mode = True


inference_mode = no_grad


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches grad mode now; as a context manager it restores it."""

    def __init__(self, mode):
        self._prev = STATE.enabled
        STATE.enabled = bool(mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False
