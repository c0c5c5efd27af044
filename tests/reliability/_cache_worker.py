"""Run a tiny traced training step in a fresh process and print a JSON report.

Used by test_cache_faults.py and tests/compile/test_async.py: ``python _cache_worker.py``
with JITGRAD_CACHE_DIR set. With ``JITGRAD_TEST_WORKER=1`` the step compiles in the default
async mode through the compile worker process (``worker.patch_cpu_backend``) and runs until
a call ran compiled code (at most ``JITGRAD_TEST_TIMEOUT`` seconds, default 90), then two
more calls, waits for the whole-step compile (tier 2) and makes two more; otherwise
(foreground compile) it makes five calls.
"""

import json
import os
import sys
import time
import warnings

import numpy as np


def make_step(torch, lr=0.1, variant=0):
    """The step every scenario runs: (step function, its weight, its input). Another
    ``variant`` (``variant`` extra ``sin``) is another graph structure, so another cache
    entry; ``lr`` alone is not (constants are arguments of the generated code)."""
    w = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    x = torch.tensor(np.arange(6, dtype=np.float32).reshape(3, 2) / 6)

    def step(x):
        w.grad = None
        y = w @ x
        for _ in range(variant):
            y = y.sin()
        loss = (y.tanh() ** 2).sum()
        loss.backward()
        with torch.no_grad():
            w.sub_(w.grad * lr)
        return loss.detach()

    return step, w, x


def eager_losses(n, lr=0.1, variant=0):
    """The losses of ``n`` eager steps (the reference for runs that mix eager and compiled)."""
    import jitgrad as torch

    step, _, x = make_step(torch, lr, variant)
    return [float(step(x).item()) for _ in range(n)]


def main():
    use_worker = os.environ.get("JITGRAD_TEST_WORKER") == "1"
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import jitgrad as torch

        if use_worker:
            from jitgrad.compile import worker

            worker.patch_cpu_backend()
        step, w, x = make_step(torch)
        traced = torch.trace(step, async_compile=True) if use_worker else torch.trace(step)
        losses = []
        if use_worker:
            deadline = time.monotonic() + float(os.environ.get("JITGRAD_TEST_TIMEOUT", "90"))
            while traced.stats["compiled_calls"] == 0 and time.monotonic() < deadline:
                losses.append(float(traced(x).item()))
                time.sleep(0.02)
            for _ in range(2):
                losses.append(float(traced(x).item()))
            traced.wait()  # the whole step (tier 2) after tier 1
            for _ in range(2):
                losses.append(float(traced(x).item()))
        else:
            losses = [float(traced(x).item()) for _ in range(5)]
    v = traced.last
    print(
        json.dumps(
            {
                "n": len(losses),
                "losses": losses if len(losses) <= 10 else losses[:3] + losses[-3:],
                "w": w.detach().numpy().tolist(),
                "compiled_calls": traced.stats["compiled_calls"],
                "eager_calls": traced.stats["eager_calls"],
                "cache_hit": bool(getattr(v.exe, "cache_hit", False)),
                "worker_info": getattr(v.exe, "worker_info", None),
                "tier": getattr(v.exe, "tier", None),
                "error": None if v.error is None else repr(v.error),
                "warnings": [str(c.message) for c in caught],
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
