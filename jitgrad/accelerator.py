"""``jitgrad.accelerator``: eager tensors live on the CPU, so no accelerator is current.

GPU work goes through ``jitgrad.trace(device="cuda")`` (see ``jitgrad.cuda.is_available``).
"""


def is_available():
    """False: eager jitgrad tensors never live on an accelerator."""
    return False


def current_accelerator(check_available=False):
    """None: no accelerator backs eager tensors."""
    return None


def device_count():
    """0 accelerators for eager tensors."""
    return 0


def current_device_index():
    """-1: no current accelerator device."""
    return -1


current_device_idx = current_device_index


def synchronize(device=None):
    """Nothing to wait for on the CPU."""


def set_device_index(device):
    """Refuses: no accelerator backs eager tensors."""
    raise RuntimeError("jitgrad.accelerator: no accelerator is available for eager tensors")


set_device_idx = set_device_index
