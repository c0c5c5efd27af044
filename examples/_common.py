"""Small helpers shared by the examples: quick mode, a text progress bar, optional plots."""

import argparse
import os
import sys
import time


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick", action="store_true", help="a few batches only (also: JITGRAD_QUICK=1), for CI"
    )
    return p


def is_quick(args):
    return bool(getattr(args, "quick", False)) or os.environ.get("JITGRAD_QUICK", "") not in (
        "",
        "0",
    )


class Progress:
    """``[#######.......] 120/468  loss 0.1234  5321 samples/s`` on one line, no dependency."""

    def __init__(self, total, label="", width=28):
        self.total, self.label, self.width = total, label, width
        self.t0 = time.perf_counter()
        self.samples = 0
        self.tty = sys.stdout.isatty()

    def update(self, i, samples, loss):
        self.samples += samples
        done = i + 1
        if not self.tty and done != self.total and done % max(1, self.total // 4):
            return
        rate = self.samples / max(time.perf_counter() - self.t0, 1e-9)
        n = int(self.width * done / self.total)
        line = (
            f"{self.label}[{'#' * n}{'.' * (self.width - n)}] {done}/{self.total}  "
            f"loss {loss:.4f}  {rate:,.0f} samples/s"
        )
        print(("\r" if self.tty else "") + line, end="" if self.tty else "\n", flush=True)

    def close(self):
        if self.tty:
            print()
        return self.samples / max(time.perf_counter() - self.t0, 1e-9)


def load_trace():
    """``jitgrad.trace`` if static-graph mode is available, else None (with a message)."""
    try:
        import jitgrad

        return jitgrad.trace
    except (ImportError, AttributeError) as e:
        print(f"trace mode unavailable: jitgrad.trace can't be imported ({e}); skipping it")
        return None


def save_plot(path, losses, images=None, labels=None, preds=None, title=""):
    """Loss curve and (optionally) sample predictions as a PNG; needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed; not writing {path} (pip install matplotlib)")
        return False
    n = 0 if images is None else min(8, len(images))
    fig = plt.figure(figsize=(10, 4 if n else 3))
    ax = fig.add_subplot(2 if n else 1, 1, 1)
    ax.plot(losses)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    for i in range(n):
        a = fig.add_subplot(2, n, n + i + 1)
        a.imshow(images[i].reshape(28, 28), cmap="gray")
        a.set_title(f"pred {preds[i]} / {labels[i]}", fontsize=8)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"saved the loss curve and sample predictions to {path}")
    return True
