"""A ResNet-18 built from jitgrad layers: forward, loss, backward and an SGD step.

python examples/resnet.py [--quick] [--size 64]
"""

import time

from _common import is_quick, parser

import jitgrad as torch
from jitgrad import nn


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
    def __init__(self, num_classes=1000, width=64):
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
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64, help="input height and width")
    args = p.parse_args()
    quick = is_quick(args)
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
