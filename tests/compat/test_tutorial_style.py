"""Tutorial-style programs (``import jitgrad as torch``), each asserting what it prints.

Expected numbers are derived here from NumPy or first principles, never pasted in.
"""

import io
import math
import os
import tempfile
from contextlib import redirect_stdout

import numpy as np

import jitgrad as torch
import jitgrad.nn as nn
import jitgrad.nn.functional as F
import jitgrad.optim as optim
from jitgrad.autograd import Variable


def _run(fn):
    buf = io.StringIO()
    with redirect_stdout(buf):
        fn()
    return buf.getvalue().splitlines()


def test_01_tensor_basics():
    def prog():
        x = torch.Tensor(2, 3)
        print(x.size())
        y = torch.ones(2, 3)
        print(torch.add(y, y))
        print(y[:, 1])
        print(y.view(6).shape, y.view(-1, 2).shape)

    out = _run(prog)
    assert out[0] == "jitgrad.Size([2, 3])"
    assert out[1:3] == ["tensor([[2., 2., 2.],", "        [2., 2., 2.]])"]
    assert out[3] == "tensor([1., 1.])"
    assert out[4] == "jitgrad.Size([6]) jitgrad.Size([3, 2])"


def test_02_numpy_bridge():
    a = torch.ones(5)
    b = a.numpy()
    a.add_(1)
    assert b.tolist() == [2.0] * 5
    c = np.ones(3)
    d = torch.from_numpy(c)
    np.add(c, 1, out=c)
    assert d.tolist() == [2.0] * 3 and str(d) == "tensor([2., 2., 2.], dtype=jitgrad.float64)"


def test_03_autograd_variable_legacy():
    def prog():
        x = Variable(torch.ones(2, 2), requires_grad=True)
        y = x + 2
        print(y.grad_fn.name())
        z = y * y * 3
        out = z.mean()
        print(z, out)
        out.backward()
        print(x.grad)

    out = _run(prog)
    assert out[0] == "AddBackward0"
    # z = 3 (x + 2)^2 = 27; d mean / dx = 6 (x + 2) / 4 = 4.5
    assert out[1] == "tensor([[27., 27.],"
    assert out[2].endswith("grad_fn=<MulBackward0>) tensor(27., grad_fn=<MeanBackward0>)")
    assert out[3:] == ["tensor([[4.5000, 4.5000],", "        [4.5000, 4.5000]])"]


def test_04_vector_jacobian_product():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.backward(torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float))
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([0.1, 1.0, 0.0001]), rtol=1e-6)


def test_05_custom_function():
    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            r = i.exp()
            ctx.save_for_backward(r)
            return r

        @staticmethod
        def backward(ctx, g):
            (r,) = ctx.saved_tensors
            return g * r

    x = torch.tensor([0.0, 1.0], requires_grad=True)
    Exp.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.0, 1.0]), rtol=1e-6)


def test_06_polynomial_fit_with_manual_updates():
    x = torch.linspace(-math.pi, math.pi, 200, dtype=torch.float64)
    y = torch.sin(x)
    a, b, c, d = (torch.zeros((), dtype=torch.float64, requires_grad=True) for _ in range(4))
    for _ in range(300):
        pred = a + b * x + c * x**2 + d * x**3
        loss = (pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
    # the same descent in NumPy
    xs, ys = x.numpy(), np.sin(x.numpy())
    w = np.zeros(4)
    basis = np.stack([np.ones_like(xs), xs, xs**2, xs**3])
    for _ in range(300):
        r = w @ basis - ys
        w -= 1e-6 * (2 * basis @ r)
    np.testing.assert_allclose([a.item(), b.item(), c.item(), d.item()], w, rtol=1e-9, atol=1e-15)


def test_07_nn_module_training_loop():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optim.Adam(net.parameters(), lr=0.05)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 < losses[0]
    assert ((net(x) > 0.5).float() == y).all()


def test_08_cross_entropy_classifier_prints():
    torch.manual_seed(1)
    logits = torch.randn(4, 3, requires_grad=True)
    target = torch.LongTensor([0, 2, 1, 2])
    loss = nn.CrossEntropyLoss()(logits, target)
    z = logits.detach().numpy().astype(np.float64)
    lse = np.log(np.exp(z).sum(1))
    ref = np.mean(lse - z[np.arange(4), [0, 2, 1, 2]])
    assert f"{loss.item():.4f}" == f"{ref:.4f}"
    assert repr(loss) == f"tensor({ref:.4f}, grad_fn=<NllLossBackward0>)"
    loss.backward()
    p = np.exp(z - lse[:, None])
    p[np.arange(4), [0, 2, 1, 2]] -= 1
    np.testing.assert_allclose(logits.grad.numpy(), p / 4, rtol=1e-5, atol=1e-7)


def test_09_rnn_name_classifier_style():
    torch.manual_seed(0)
    rnn = nn.RNN(5, 8, batch_first=True)
    fc = nn.Linear(8, 3)
    opt = optim.SGD(list(rnn.parameters()) + list(fc.parameters()), lr=0.5)
    x = torch.randn(6, 4, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    first = None
    for _ in range(30):
        opt.zero_grad()
        out, h = rnn(x)
        loss = F.cross_entropy(fc(h[-1]), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    np.testing.assert_allclose(out[:, -1].detach().numpy(), h[0].detach().numpy())


def test_10_lstm_tagger_shapes_and_log_softmax():
    torch.manual_seed(0)
    emb = nn.Embedding(10, 4)
    lstm = nn.LSTM(4, 6)
    tag = nn.Linear(6, 3)
    sent = torch.tensor([1, 4, 2, 7])
    out, (h, c) = lstm(emb(sent).view(len(sent), 1, -1))
    scores = F.log_softmax(tag(out.view(len(sent), -1)), dim=1)
    assert scores.shape == (4, 3) and h.shape == (1, 1, 6)
    np.testing.assert_allclose(scores.exp().sum(1).detach().numpy(), np.ones(4), rtol=1e-6)
    assert scores.argmax(1).shape == (4,)


def test_11_save_and_load_state_dict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3)).sum().backward()
    opt.step()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ckpt.pt")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
        ck = torch.load(path)
    m2 = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    m2.load_state_dict(ck["model"])
    o2 = optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    o2.load_state_dict(ck["opt"])
    x = torch.randn(4, 3)
    assert torch.equal(m2(x), model(x))
    assert list(ck["opt"]["param_groups"][0])[-4:] == [
        "foreach",
        "differentiable",
        "fused",
        "params",
    ]


def test_12_device_agnostic_code():
    def prog():
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        print(f"Using {device} device")
        model = nn.Linear(2, 1).to(device)
        x = torch.ones(3, 2, device=device)
        print(model(x).shape, x.device)

    out = _run(prog)
    expect = "cuda" if torch.cuda.is_available() else "cpu"
    if expect == "cpu":
        assert out == ["Using cpu device", "jitgrad.Size([3, 1]) cpu"]


def test_13_hooks_print_shapes():
    def prog():
        net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        h = net[0].register_forward_hook(lambda m, i, o: print("fwd", tuple(o.shape)))
        net[2].register_full_backward_hook(
            lambda m, gi, go: print("bwd", tuple(gi[0].shape), tuple(go[0].shape))
        )
        net(torch.randn(5, 4)).sum().backward()
        h.remove()
        net(torch.randn(5, 4))

    assert _run(prog) == ["fwd (5, 3)", "bwd (5, 3) (5, 2)"]


def test_14_lbfgs_closure_converges_to_least_squares():
    torch.manual_seed(0)
    A = torch.randn(8, 3, dtype=torch.float64)
    b = torch.randn(8, dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = optim.LBFGS(
        [x], lr=1, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15
    )

    def closure():
        opt.zero_grad()
        loss = ((A @ x - b) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(10):
        opt.step(closure)
    ref = np.linalg.lstsq(A.numpy(), b.numpy(), rcond=None)[0]
    np.testing.assert_allclose(x.detach().numpy(), ref, rtol=1e-5, atol=1e-7)


def test_15_indexing_and_legacy_types_in_data_prep():
    labels = torch.LongTensor([2, 0, 1, 2])
    onehot = torch.zeros(4, 3)
    onehot[range(4), labels] = 1
    assert onehot.tolist() == np.eye(3)[[2, 0, 1, 2]].tolist()
    vals, counts = torch.unique(labels, return_counts=True)
    assert dict(zip(vals.tolist(), counts.tolist())) == {0: 1, 1: 1, 2: 2}
    feats = torch.FloatTensor([[1, 2], [3, 4], [5, 6], [7, 8]])
    assert feats[[0, 3]].tolist() == [[1.0, 2.0], [7.0, 8.0]]
    mean, std = feats.mean(0), feats.std(0)
    np.testing.assert_allclose(mean.numpy(), [4.0, 5.0])
    np.testing.assert_allclose(std.numpy(), np.std([1, 3, 5, 7], ddof=1) * np.ones(2), rtol=1e-6)


def test_16_dataloader_and_scheduler_epoch_loop():
    from jitgrad.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x = torch.randn(20, 2)
    y = x @ torch.tensor([[2.0], [-1.0]]) + 0.5
    loader = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True)
    model = nn.Linear(2, 1)
    opt = optim.RAdam(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    for _ in range(60):
        for xb, yb in loader:
            opt.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            opt.step()
        sched.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), [[2.0, -1.0]], atol=2e-2)
    np.testing.assert_allclose(model.bias.item(), 0.5, atol=2e-2)
    assert sched.get_last_lr() == [0.1 * 0.5**3]


def test_17_profiler_table_in_a_tutorial():
    model = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with torch.autograd.profiler.profile() as prof:
        model(x).sum().backward()
    text = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=3)
    lines = text.splitlines()
    assert "Name" in lines[1] and lines[-1].startswith("Self CPU time total:")
    assert len(lines) == 3 + 5
