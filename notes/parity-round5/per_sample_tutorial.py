# ruff: noqa
"""Parity scratch script (imports torch; run by hand): the per-sample-gradients tutorial, small."""

import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from cmp import run, snip


@snip
def per_sample_tutorial(torch):
    F = torch.nn.functional
    nn = torch.nn

    class SimpleCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 6, 3, 1)
            self.fc1 = nn.Linear(6 * 4 * 4, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    def loss_fn(predictions, targets):
        return F.nll_loss(predictions, targets)

    model = SimpleCNN()
    rs = np.random.RandomState(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor((rs.randn(*p.shape) * 0.2).astype(np.float32)))
    data = torch.tensor(rs.randn(8, 1, 12, 12).astype(np.float32))
    targets = torch.tensor(rs.randint(0, 10, (8,)))

    def compute_grad(sample, target):
        sample = sample.unsqueeze(0)
        target = target.unsqueeze(0)
        prediction = model(sample)
        loss = loss_fn(prediction, target)
        return torch.autograd.grad(loss, list(model.parameters()))

    def compute_sample_grads(data, targets):
        sample_grads = [compute_grad(data[i], targets[i]) for i in range(8)]
        sample_grads = zip(*sample_grads)
        return [torch.stack(shards) for shards in sample_grads]

    per_sample_grads = compute_sample_grads(data, targets)
    from_funcs = torch.func
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = from_funcs.functional_call(model, (params, buffers), (batch,))
        return loss_fn(predictions, targets)

    ft_compute_grad = from_funcs.grad(compute_loss)
    ft_compute_sample_grad = from_funcs.vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
    ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)
    ok = all(
        torch.allclose(a, b, atol=3e-3, rtol=1e-5)
        for a, b in zip(per_sample_grads, ft_per_sample_grads.values())
    )
    return list(ft_per_sample_grads.values()) + [float(ok)]


if __name__ == "__main__":
    run()
