# ruff: noqa
"""Parity scratch script (imports torch; run by hand): the model-ensembling tutorial, small
(without its `.to("meta")` line: the meta device is out of jitgrad's scope)."""

import copy, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from cmp import run, snip


@snip
def ensembling_tutorial(torch):
    nn, F = torch.nn, torch.nn.functional

    class SimpleMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 12)
            self.fc2 = nn.Linear(12, 8)
            self.fc3 = nn.Linear(8, 4)

        def forward(self, x):
            x = x.flatten(1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    rs = np.random.RandomState(0)
    num_models = 3
    data = torch.tensor(rs.randn(20, 1, 4, 4).astype(np.float32))
    minibatches = data[:15].reshape(num_models, 5, 1, 4, 4)
    models = [SimpleMLP() for _ in range(num_models)]
    with torch.no_grad():
        for m in models:
            for p in m.parameters():
                p.copy_(torch.tensor((rs.randn(*p.shape) * 0.3).astype(np.float32)))
    minibatch = minibatches[0]
    predictions1 = [model(minibatch) for model in models]
    predictions2 = [model(mb) for model, mb in zip(models, minibatches)]
    params, buffers = torch.func.stack_module_state(models)
    base_model = copy.deepcopy(models[0])

    def fmodel(params, buffers, x):
        return torch.func.functional_call(base_model, (params, buffers), (x,))

    p1 = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
    p2 = torch.vmap(fmodel)(params, buffers, minibatches)
    ok1 = torch.allclose(p1, torch.stack(predictions1), atol=1e-3, rtol=1e-5)
    ok2 = torch.allclose(p2, torch.stack(predictions2), atol=1e-3, rtol=1e-5)
    return [p1, p2, float(ok1), float(ok2), float(params["fc1.weight"].requires_grad)]


if __name__ == "__main__":
    run()
