"""Train a 784-256-256-10 MLP on the real MNIST digits (shipped with jitgrad, no network).

python examples/mnist_mlp.py                 # eager mode, 3 epochs, >= 97% test accuracy
python examples/mnist_mlp.py --mode both     # eager vs jitgrad.trace, side by side
python examples/mnist_mlp.py --quick         # a few batches (or JITGRAD_QUICK=1)
"""

from _common import parser
from _mnist import add_args, main

import jitgrad as torch
from jitgrad import nn


def build():
    return nn.Sequential(
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def make_opt(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


if __name__ == "__main__":
    args = add_args(parser(__doc__.splitlines()[0]), epochs=3, batch_size=64).parse_args()
    main(args, "mnist_mlp", build, make_opt, flatten=True)
