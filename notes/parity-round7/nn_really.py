# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected): "What is torch.nn really?"
with every refactoring step, and "Learning PyTorch with Examples" nn/optim steps; then the
training steps under @jitgrad.trace (eager vs traced). Same data and initial weights from NumPy.
`python nn_really.py [reference|cpu]`"""
import sys, os, math
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity-round6"))
from cmp import fill_params, snip, run
import numpy as np

rng = np.random.default_rng(0)
XTR = rng.random((64, 784)).astype(np.float32)
YTR = rng.integers(0, 10, 64)
XVA = rng.random((32, 784)).astype(np.float32)
YVA = rng.integers(0, 10, 32)
W0 = (rng.standard_normal((784, 10)) / math.sqrt(784)).astype(np.float32)


def data(L):
    return map(L.tensor, (XTR, YTR, XVA, YVA))


def copy_in(L, m, seed=1):
    return fill_params(L, m, seed, 0.1)


@snip
def from_scratch(L):
    x_train, y_train, x_valid, y_valid = data(L)
    n, c = x_train.shape
    weights = L.tensor(W0)
    weights.requires_grad_()
    bias = L.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    def accuracy(out, yb):
        preds = L.argmax(out, dim=1)
        return (preds == yb).float().mean()

    bs = 16
    xb = x_train[0:bs]
    preds = model(xb)
    first = (preds[0], preds.shape, nll(preds, y_train[0:bs]), accuracy(preds, y_train[0:bs]))
    lr = 0.5
    for epoch in range(2):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            loss = nll(model(xb), yb)
            loss.backward()
            with L.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
    return first, nll(model(xb), yb), accuracy(model(xb), yb), weights, bias, str(preds.grad_fn.__class__.__name__)


def _fit_funcs(L):
    F = L.nn.functional
    def loss_batch(model, loss_func, xb, yb, opt=None):
        loss = loss_func(model(xb), yb)
        if opt is not None:
            loss.backward(); opt.step(); opt.zero_grad()
        return loss.item(), len(xb)

    def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
        hist = []
        for epoch in range(epochs):
            model.train()
            for xb, yb in train_dl:
                loss_batch(model, loss_func, xb, yb, opt)
            model.eval()
            with L.no_grad():
                losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
            val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
            hist.append(val_loss)
        return hist
    return loss_batch, fit


def get_data(L, train_ds, valid_ds, bs):
    DataLoader = L.utils.data.DataLoader
    return (DataLoader(train_ds, batch_size=bs, shuffle=False), DataLoader(valid_ds, batch_size=bs * 2))


@snip
def refactor_module_optim(L):
    F = L.nn.functional
    nn = L.nn
    x_train, y_train, x_valid, y_valid = data(L)

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.Parameter(L.randn(784, 10) / math.sqrt(784))
            self.bias = nn.Parameter(L.zeros(10))
        def forward(self, xb):
            return xb @ self.weights + self.bias

    class Mnist_Logistic2(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)
        def forward(self, xb):
            return self.lin(xb)
    out = []
    for cls in (Mnist_Logistic, Mnist_Logistic2):
        model = copy_in(L, cls())
        opt = L.optim.SGD(model.parameters(), lr=0.5)
        loss_func = F.cross_entropy
        train_ds = L.utils.data.TensorDataset(x_train, y_train)
        valid_ds = L.utils.data.TensorDataset(x_valid, y_valid)
        train_dl, valid_dl = get_data(L, train_ds, valid_ds, 16)
        _, fit = _fit_funcs(L)
        out.append(fit(2, model, loss_func, opt, train_dl, valid_dl))
        out.append(list(model.parameters()))
    return out


@snip
def cnn_versions(L):
    F = L.nn.functional
    nn = L.nn
    x_train, y_train, x_valid, y_valid = data(L)

    class Mnist_CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1)
            self.conv3 = nn.Conv2d(4, 10, kernel_size=3, stride=2, padding=1)
        def forward(self, xb):
            xb = xb.view(-1, 1, 28, 28)
            xb = F.relu(self.conv1(xb))
            xb = F.relu(self.conv2(xb))
            xb = F.relu(self.conv3(xb))
            xb = F.avg_pool2d(xb, 4)
            return xb.view(-1, xb.size(1))

    class Lambda(nn.Module):
        def __init__(self, func):
            super().__init__()
            self.func = func
        def forward(self, x):
            return self.func(x)

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28), y

    class WrappedDataLoader:
        def __init__(self, dl, func):
            self.dl = dl
            self.func = func
        def __len__(self):
            return len(self.dl)
        def __iter__(self):
            for b in self.dl:
                yield (self.func(*b))

    train_ds = L.utils.data.TensorDataset(x_train, y_train)
    valid_ds = L.utils.data.TensorDataset(x_valid, y_valid)
    _, fit = _fit_funcs(L)
    out = []
    m1 = copy_in(L, Mnist_CNN())
    opt = L.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    tdl, vdl = get_data(L, train_ds, valid_ds, 16)
    out.append(fit(1, m1, F.cross_entropy, opt, tdl, vdl))
    m2 = nn.Sequential(
        Lambda(lambda x: x.view(-1, 1, 28, 28)),
        nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 10, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.AvgPool2d(4),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    copy_in(L, m2)
    opt = L.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    out.append(fit(1, m2, F.cross_entropy, opt, tdl, vdl))
    m3 = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 10, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    copy_in(L, m3)
    tdl2, vdl2 = WrappedDataLoader(tdl, preprocess), WrappedDataLoader(vdl, preprocess)
    opt = L.optim.SGD(m3.parameters(), lr=0.1, momentum=0.9)
    out.append(fit(1, m3, F.cross_entropy, opt, tdl2, vdl2))
    out.append(len(tdl2))
    out.append(str(m2))
    return out


@snip
def examples_nn_optim(L):
    x = L.linspace(-math.pi, math.pi, 200)
    y = L.sin(x)
    p = L.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    model = L.nn.Sequential(L.nn.Linear(3, 1), L.nn.Flatten(0, 1))
    copy_in(L, model)
    loss_fn = L.nn.MSELoss(reduction="sum")
    learning_rate = 1e-6
    hist = []
    for t in range(30):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        model.zero_grad()
        loss.backward()
        with L.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
        hist.append(loss.item())
    opt = L.optim.RMSprop(model.parameters(), lr=1e-3)
    for t in range(30):
        loss = loss_fn(model(xx), y)
        opt.zero_grad(); loss.backward(); opt.step()
    lin = model[0]
    return hist[::10], loss, f"Result: y = {lin.bias.item():.4f} + {lin.weight[:, 0].item():.4f} x + {lin.weight[:, 1].item():.4f} x^2 + {lin.weight[:, 2].item():.4f} x^3"


@snip
def examples_numpy_tensors(L):
    dtype = L.float
    x = L.linspace(-math.pi, math.pi, 200, dtype=dtype)
    y = L.sin(x)
    a, b, c, d = (L.tensor(v, dtype=dtype) for v in (0.1, -0.2, 0.05, 0.01))
    lr = 1e-6
    for t in range(50):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum(); grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum(); grad_d = (grad_y_pred * x ** 3).sum()
        a -= lr * grad_a; b -= lr * grad_b; c -= lr * grad_c; d -= lr * grad_d
    return loss, a, b, c, d, f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3"


# ---- traced versions: eager vs traced (jitgrad only)
def traced(backend):
    import jitgrad as L
    import warnings
    F = L.nn.functional
    x_train, y_train, x_valid, y_valid = data(L)
    res = {}

    def mk_cnn():
        return copy_in(L, L.nn.Sequential(
            L.nn.Conv2d(1, 4, 3, stride=2, padding=1), L.nn.ReLU(),
            L.nn.Conv2d(4, 10, 3, stride=2, padding=1), L.nn.ReLU(),
            L.nn.AdaptiveAvgPool2d(1), L.nn.Flatten()))

    def mk_lin():
        return copy_in(L, L.nn.Linear(784, 10))

    for name, mk, shape, optf in (
        ("logistic+SGD", mk_lin, (-1, 784), lambda p: L.optim.SGD(p, lr=0.5)),
        ("cnn+SGDm", mk_cnn, (-1, 1, 28, 28), lambda p: L.optim.SGD(p, lr=0.1, momentum=0.9)),
        ("cnn+Adam+OneCycle", mk_cnn, (-1, 1, 28, 28), lambda p: L.optim.Adam(p, lr=0.01)),
    ):
        outs = []
        for mode in ("eager", "trace"):
            model = mk()
            opt = optf(model.parameters())
            sch = L.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20) if "OneCycle" in name else None

            def step(xb, yb):
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                opt.zero_grad()
                return loss

            if mode == "trace":
                step = L.trace(backend=backend)(step)
            losses = []
            for ep in range(2):
                for i in range(0, 64, 16):
                    xb, yb = x_train[i:i + 16].reshape(*shape), y_train[i:i + 16]
                    losses.append(float(step(xb, yb)))
                    if sch is not None:
                        sch.step()
            outs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
        (la, pa), (lb, pb) = outs
        ok = np.allclose(la, lb, rtol=1e-4, atol=1e-5) and all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(pa, pb))
        print(f"[traced {backend}] {name}: {'OK' if ok else 'DIFF'} max loss diff {max(abs(a - b) for a, b in zip(la, lb)):.2e}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("reference", "cpu"):
        traced(sys.argv[1])
    else:
        run(sys.argv[1:] or None)
