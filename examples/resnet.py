"""A ResNet-18 built from jitgrad layers: forward, loss, backward and an SGD step.

python examples/resnet.py [--quick] [--size 64]
python examples/resnet.py --finetune [--trace]   # frozen backbone, a new fc trained

Fine-tuning freezes every backbone parameter (``requires_grad = False``) and replaces ``fc``:
the step then computes no weight gradient and no input gradient below ``fc`` (the backward
is one matmul), eagerly and under ``jitgrad.trace``; the script checks both.
"""

import time

import numpy as np

import jitgrad as torch
from jitgrad import nn


def build(nn, flatten, num_classes=1000, width=64):
    """ResNet-18 (the torchvision layout) from ``nn``: jitgrad.nn, or torch.nn with
    ``torch.flatten`` (the benchmarks build both from this one definition)."""

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            layers, cin = [], w
            for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
                stride = 1 if i == 0 else 2
                layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout)))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8 * w, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(flatten(self.avgpool(x), 1))

    return ResNet18()


def ResNet18(num_classes=1000, width=64):
    """The jitgrad ResNet-18."""
    return build(nn, torch.flatten, num_classes, width)


def finetune(args, quick):
    """All of ResNet-18 frozen, a new 5-class ``fc`` trained with SGD."""
    torch.manual_seed(0)
    model = ResNet18(width=16 if quick else 64)
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 5)
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p.detach().numpy().copy() for n, p in model.named_parameters() if "fc" not in n]
    opt = torch.optim.SGD(trainable, lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    n = 4 if quick else 8
    x, y = torch.randn(n, 3, args.size, args.size), torch.randint(0, 5, (n,))

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    print(
        f"resnet fine-tune: {sum(p.numel() for p in trainable):,} trainable of "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, input {n}x3x{args.size}"
        f"x{args.size}, {'jitgrad.trace' if args.trace else 'eager'}"
    )
    fn = torch.trace(step) if args.trace else step
    for i in range(4 if quick else 10):
        t0 = time.perf_counter()
        loss = fn(x, y).item()
        print(f"  step {i}: loss {loss:.4f}  {1e3 * (time.perf_counter() - t0):.0f} ms")
    if args.trace:
        ops = [nd.op.name for nd in fn.traced_graph.nodes]
        line = next(ln for ln in fn.explain().splitlines() if ln.startswith("conv/pool gradient"))
        print(f"  traced step: {ops.count('conv2d')} convolutions; explain(): {line}")
        assert line.endswith(": none"), "a frozen layer computed a gradient"
    unchanged = all(
        np.array_equal(a, p.detach().numpy())
        for a, (nm, p) in zip(frozen, [q for q in model.named_parameters() if "fc" not in q[0]])
    )
    print(f"frozen backbone unchanged: {unchanged}")
    assert unchanged


def main():
    from _common import is_quick, parser

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64, help="input height and width")
    p.add_argument("--finetune", action="store_true", help="frozen backbone, train a new fc")
    p.add_argument("--trace", action="store_true", help="with --finetune: compile the step")
    args = p.parse_args()
    quick = is_quick(args)
    if args.finetune:
        return finetune(args, quick)
    torch.manual_seed(0)
    model = ResNet18(width=16 if quick else 64)  # quick mode: a narrower ResNet-18
    n_params = sum(p.numel() for p in model.parameters())
    size = args.size
    print(f"resnet: ResNet-18 ({n_params:,} parameters), input 1x3x{size}x{size}")
    x = torch.randn(1, 3, size, size)
    target = torch.tensor([3])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for i in range(2):
        t0 = time.perf_counter()
        out = model(x)
        loss = loss_fn(out, target)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        print(
            f"  step {i}: loss {loss.item():.4f}  forward {1e3 * (t1 - t0):.0f} ms  "
            f"backward {1e3 * (t2 - t1):.0f} ms  SGD step {1e3 * (t3 - t2):.0f} ms"
        )
    with torch.no_grad():
        after = loss_fn(model(x), target).item()
    print(f"output shape {tuple(out.shape)}; loss after two SGD steps {after:.4f}")


if __name__ == "__main__":
    main()
