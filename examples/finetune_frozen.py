"""Train a body and head, freeze the body (requires_grad=False), replace and train a new head.

The frozen weights stay bit-for-bit unchanged; only the new head learns the new task.

    python examples/finetune_frozen.py [--quick]
"""

import numpy as np
from _common import is_quick, parser

import jitgrad as torch
from jitgrad import nn


def task(n, flip):
    """Points in 2-D; task A: the class is the quadrant's sign of x*y; task B flips it."""
    x = torch.randn(n, 2)
    y = ((x[:, 0] * x[:, 1]) > 0).long()
    return x, (1 - y) if flip else y


def fit(model, params, x, y, steps, label):
    opt = torch.optim.Adam(params, lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"  {label}: loss {loss.item():.4f}, accuracy {acc * 100:.1f}%")
    return acc


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    steps = 10 if is_quick(args) else 300
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    model = nn.Sequential(body, nn.Linear(32, 2))
    xa, ya = task(512, flip=False)
    print("finetune_frozen: 1) train body + head on task A")
    fit(model, model.parameters(), xa, ya, steps, "task A")

    print("2) freeze the body, replace the head, train on task B")
    for p in body.parameters():
        p.requires_grad = False
    before = [p.detach().numpy().copy() for p in body.parameters()]
    model[1] = nn.Linear(32, 2)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(
        f"  trainable parameters: {sum(p.numel() for p in trainable)} of "
        f"{sum(p.numel() for p in model.parameters())}"
    )
    xb, yb = task(512, flip=True)
    acc = fit(
        model,
        filter(lambda p: p.requires_grad, model.parameters()),
        xb,
        yb,
        steps,
        "task B (new head)",
    )

    unchanged = all(
        np.array_equal(a, p.detach().numpy()) for a, p in zip(before, body.parameters())
    )
    print(f"frozen body weights unchanged: {unchanged}")
    assert unchanged, "a frozen parameter changed"
    if not is_quick(args):
        assert acc > 0.9


if __name__ == "__main__":
    main()
