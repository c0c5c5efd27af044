"""Separate two Gaussian blobs with nn.Linear + nn.Sigmoid + nn.BCELoss and SGD with momentum.

python examples/logistic_regression.py [--quick]
"""

from _common import is_quick, parser

import jitgrad as torch
from jitgrad import nn


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    steps = 20 if is_quick(args) else 200
    torch.manual_seed(0)
    n = 200
    a = torch.randn(n, 2) + torch.tensor([2.0, 2.0])
    b = torch.randn(n, 2) + torch.tensor([-2.0, -2.0])
    x = torch.cat([a, b])
    y = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)])
    print(f"logistic_regression: two Gaussian blobs of {n} points each, {steps} steps")

    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    loss_fn = nn.BCELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step % max(1, steps // 5) == 0:
            print(f"  step {step:4d}  loss {loss.item():.4f}")
    with torch.no_grad():
        acc = ((model(x) > 0.5).float() == y).float().mean().item()
    print(f"final loss {loss.item():.4f}, training accuracy {acc * 100:.1f}%")
    if not is_quick(args):
        assert acc > 0.95, "the blobs should be almost perfectly separable"


if __name__ == "__main__":
    main()
