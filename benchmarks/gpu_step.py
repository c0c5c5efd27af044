"""Compiled MNIST training steps on the GPU vs the CPU-compiled step (and torch on CUDA).

    python -m benchmarks.gpu_step [--steps 50] [--batch 128] [--repeats 5]

Times ``jitgrad.trace(step, device="cuda")`` against ``device="cpu"`` for an MLP
(784-256-10, SGD momentum) and a small CNN (conv 8 -> pool -> conv 16 -> pool -> linear,
Adam), plus the same models in torch on CUDA when torch with CUDA is importable. Prints the
median ms/step of each and the ratios. Without a GPU it says so and exits 0 (the simulator
is for tests, not timings).
"""

import argparse
import statistics
import sys
import time

import numpy as np


def _gpu_ok():
    import jitgrad.cuda as jc

    if jc.simulated():
        return (
            False,
            "the CUDA simulator is on (NUMBA_ENABLE_CUDASIM); timings would be meaningless",
        )
    if not jc.is_available():
        try:
            jc.require()
        except RuntimeError as e:
            return False, str(e)
    return True, jc.get_device_name()


def _data(batch):
    from jitgrad.datasets import load_mnist, normalize_images

    images, labels = load_mnist(train=True)
    x = normalize_images(images[:batch])
    return x, labels[:batch]


def _jg_step(kind, device, x, y):
    import jitgrad as jg
    import jitgrad.nn as nn
    import jitgrad.nn.functional as F
    import jitgrad.optim as optim

    jg.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        )
        opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    ts = jg.trace(step, device=device)
    xt, yt = jg.tensor(x), jg.tensor(y)
    return lambda: ts(xt, yt), ts


def _torch_step(kind, x, y):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    nn = torch.nn
    if kind == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model = model.cuda()
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():  # the batch comes from the host each step, like jitgrad's
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(xt.cuda()), yt.cuda())
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _median_ms(fn, steps, repeats, sync=None):
    for _ in range(5):  # eager, record, compile, warm
        fn()
    meds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        if sync:
            sync()
        meds.append((time.perf_counter() - t0) / steps * 1e3)
    return statistics.median(meds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    ok, info = _gpu_ok()
    if not ok:
        print(f"gpu_step: no GPU, nothing to time ({info})")
        return 0
    import jitgrad.cuda as jc

    print(
        f"gpu_step: device {info}; batch {a.batch}, {a.steps} steps x {a.repeats} repeats "
        "(median ms/step; each step returns its loss to the host)"
    )
    x, y = _data(a.batch)
    for kind in ("mlp", "cnn"):
        gpu, ts = _jg_step(kind, "cuda", x, y)
        t_gpu = _median_ms(gpu, a.steps, a.repeats, jc.synchronize)
        cpu, _ = _jg_step(kind, "cpu", x, y)
        t_cpu = _median_ms(cpu, a.steps, a.repeats)
        row = (
            f"{kind}: jitgrad cuda {t_gpu:8.3f}  jitgrad cpu {t_cpu:8.3f}  "
            f"cpu/cuda {t_cpu / t_gpu:6.2f}x"
        )
        th = _torch_step(kind, x, y)
        if th is not None:
            t_th = _median_ms(th, a.steps, a.repeats)
            row += f"  torch cuda {t_th:8.3f}  jitgrad/torch {t_gpu / t_th:6.2f}x"
        else:
            row += "  (torch with CUDA not importable)"
        print(row)
        fb = sorted(set(ts.last.exe.fallback_ops))
        if fb:
            print(f"  {kind}: ops on the host fallback: {', '.join(fb)}")
    _ = np
    return 0


if __name__ == "__main__":
    sys.exit(main())
