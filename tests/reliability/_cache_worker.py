"""Run a tiny traced training step in a fresh process and print a JSON report.

Used by test_cache_faults.py: ``python _cache_worker.py`` with JITGRAD_CACHE_DIR set.
"""

import json
import sys
import warnings

import numpy as np


def main():
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import jitgrad as torch

        w = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        x = torch.tensor(np.arange(6, dtype=np.float32).reshape(3, 2) / 6)

        def step(x):
            w.grad = None
            loss = ((w @ x).tanh() ** 2).sum()
            loss.backward()
            with torch.no_grad():
                w.sub_(w.grad * 0.1)
            return loss.detach()

        traced = torch.trace(step)
        losses = [float(traced(x).item()) for _ in range(5)]
    v = traced.last
    print(
        json.dumps(
            {
                "losses": losses,
                "w": w.detach().numpy().tolist(),
                "compiled_calls": traced.stats["compiled_calls"],
                "cache_hit": bool(getattr(v.exe, "cache_hit", False)),
                "warnings": [str(c.message) for c in caught],
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
