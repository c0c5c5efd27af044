"""A tiny 1-D GAN: the generator learns to produce samples from N(4, 1.25).

The discriminator step trains on ``fake.detach()``, so no gradient reaches the generator
there; the generator step then backpropagates through the discriminator.

    python examples/gan_detach.py [--quick]
"""

from _common import is_quick, parser

import jitgrad as torch
from jitgrad import nn


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    steps = 20 if is_quick(args) else 1500
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    D = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    batch = 128
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    print(f"gan_detach: target N(4, 1.25), {steps} steps of batch {batch}")
    for step in range(steps):
        real = torch.randn(batch, 1) * 1.25 + 4
        fake = G(torch.randn(batch, 4))

        # discriminator: fake is detached, so G's parameters get no gradient here
        opt_g.zero_grad()
        opt_d.zero_grad()
        d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        d_loss.backward()
        assert all(p.grad is None for p in G.parameters()), "detach() leaked gradients"
        opt_d.step()

        # generator: gradients flow through D into G
        g_loss = bce(D(fake), ones)
        g_loss.backward()
        opt_g.step()
        if step % max(1, steps // 5) == 0:
            print(f"  step {step:5d}  d_loss {d_loss.item():.3f}  g_loss {g_loss.item():.3f}")
    with torch.no_grad():
        s = G(torch.randn(5000, 4))
    mean, std = s.mean().item(), s.std().item()
    print(f"generated samples: mean {mean:.2f} (target 4.00), std {std:.2f} (target 1.25)")
    if not is_quick(args):
        assert abs(mean - 4) < 0.5, "the generator did not learn the mean"


if __name__ == "__main__":
    main()
