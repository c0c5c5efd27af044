"""Devices for eager tensors: every tensor lives on the CPU; other devices fail like PyTorch's.

``jitgrad.device("cuda")`` constructs (tutorials build it before asking
``cuda.is_available()``); using it to place an eager tensor raises what a CPU-only PyTorch
raises, with the jitgrad way to reach a GPU (``jitgrad.trace(device="cuda")``) in the message.
An unknown device string is rejected when it is parsed, by every factory.
"""

from .tensor import _CPU, device

_NO_CUDA = (
    "Torch not compiled with CUDA enabled (jitgrad eager tensors live on the CPU; compile a "
    "step for the GPU with jitgrad.trace(device='cuda'))"
)
_default = [_CPU]


def as_device(spec, op="device"):
    """``spec`` (a str, int, device or None) as a device; unknown strings raise RuntimeError."""
    if spec is None:
        return _default[0]
    if isinstance(spec, device):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return device("cuda", spec)
    return device(spec)


def check_device(spec, op="factory"):
    """Raise PyTorch's error unless ``spec`` names the CPU; returns the CPU device."""
    d = as_device(spec, op)
    if d.type == "cpu":
        return _CPU
    if d.type == "cuda":
        raise AssertionError(_NO_CUDA)
    if d.type == "meta":
        raise NotImplementedError(
            f"{op}: the 'meta' device (shape-only tensors) is out of jitgrad's scope"
        )
    raise RuntimeError(f"PyTorch is not linked with support for {d.type} devices ({op})")


def set_default_device(spec):
    """Set the device that factories use when none is given (``None`` resets to the CPU)."""
    _default[0] = _CPU if spec is None else as_device(spec, "set_default_device")


def get_default_device():
    """The device factories use when none is given."""
    return _default[0]
