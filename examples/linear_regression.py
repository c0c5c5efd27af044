"""Fit y = 3x - 2 (plus noise) with nn.Linear, MSELoss and SGD; recover slope and intercept.

python examples/linear_regression.py [--quick]
"""

from _common import is_quick, parser

import jitgrad as torch
from jitgrad import nn


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    steps = 20 if is_quick(args) else 300
    torch.manual_seed(0)
    x = torch.rand(256, 1) * 4 - 2
    y = 3 * x - 2 + 0.1 * torch.randn(256, 1)
    print(f"linear_regression: fitting y = 3x - 2 + noise on {len(x)} points, {steps} steps")

    model = nn.Linear(1, 1)
    loss_fn = nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"  step {step:4d}  loss {loss.item():.5f}")
    w, b = model.weight.item(), model.bias.item()
    print(
        f"learned slope {w:.3f} (true 3), intercept {b:.3f} (true -2), final loss {loss.item():.5f}"
    )
    if not is_quick(args):
        assert abs(w - 3) < 0.05 and abs(b + 2) < 0.05, "did not converge"


if __name__ == "__main__":
    main()
