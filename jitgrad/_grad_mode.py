"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""

import functools
import threading


class _State(threading.local):
    """Per-thread flags. ``mode`` sums up ``enabled`` and ``tracer`` for the op hot path
    (one thread-local read per op instead of two): 0 records the tape with no tracer,
    1 is no_grad with no tracer, 2 means a tracer is active (read the other two), 3 records
    the tape in anomaly-detection mode (nodes remember where they were created)."""

    def __init__(self):
        self._grad = True  # grad mode (``is_grad_enabled``)
        self._inference = False  # inside ``inference_mode()``: nothing records, whatever grad mode
        self._enabled = True  # the tape records: grad mode and not inference mode
        self._tracer = None  # the active static-graph recorder, if any
        self._anomaly = False
        self.mode = 0
        self.observer = None  # jitgrad.trace's list of constants built from Python data

    def _update(self):
        self._enabled = self._grad and not self._inference
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
        self._grad = bool(flag)
        self._update()

    @property
    def inference(self):
        return self._inference

    @inference.setter
    def inference(self, flag):
        self._inference = bool(flag)
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
    """Grad mode, ``jitgrad.is_grad_enabled()``: False inside ``no_grad``/``inference_mode``
    (``enable_grad`` inside ``inference_mode`` sets it, but nothing records there, as torch)."""
    return STATE._grad


def is_inference_mode_enabled():
    """True inside ``inference_mode()`` (``torch.is_inference_mode_enabled``)."""
    return STATE.inference


class _GradModeContext:
    _mode = True

    def __new__(cls, *args, **kwargs):
        # ``@jitgrad.no_grad`` with no parentheses decorates the function, as torch's does
        if cls in (no_grad, enable_grad) and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._prev = STATE._grad
        STATE.enabled = self._mode

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def _copy(self):
        return self.__class__()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._copy():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator that turns off the tape: ``with jitgrad.no_grad(): ...``."""

    _mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that turns the tape back on inside ``no_grad``."""

    _mode = True


class inference_mode(_GradModeContext):
    """``with jitgrad.inference_mode():`` no_grad that ``enable_grad`` cannot undo (nothing
    records inside it, as in torch); ``inference_mode(False)`` leaves it. Also a decorator."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):  # bare ``@inference_mode``
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (STATE._grad, STATE.inference)
        if self.mode:
            STATE._grad = False
        STATE.inference = self.mode

    def __exit__(self, *exc):
        STATE._grad, STATE.inference = self._prev
        STATE._update()
        return False

    def clone(self):
        """A fresh context with the same mode (torch's ``clone``)."""
        return self.__class__(self.mode)

    _copy = clone


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches grad mode now; as a context manager it restores it."""

    def __init__(self, mode):
        self._prev = STATE._grad
        self._mode = bool(mode)
        STATE.enabled = self._mode

    def _copy(self):
        return self.__class__(self._mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False
