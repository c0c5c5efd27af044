# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys, io, copy, math

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from cmp import snip, run
import numpy as np


@snip
def dcgan_init(L):
    nn = L.nn

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.constant_(m.weight.data, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.constant_(m.weight.data, 1.5)
            nn.init.constant_(m.bias.data, 0)

    G = nn.Sequential(
        nn.ConvTranspose2d(3, 2, 4, 1, 0, bias=False), nn.BatchNorm2d(2), nn.ReLU(True)
    )
    G.apply(weights_init)
    return [G[0].weight, G[1].weight, G(L.ones(1, 3, 1, 1))]


@snip
def lm_batchify(L):
    data = L.arange(26)
    bsz = 4
    seq_len = data.size(0) // bsz
    d = data[: seq_len * bsz].view(bsz, seq_len).t().contiguous()
    i = 2
    sl = min(3, len(d) - 1 - i)
    return [d, d[i : i + sl], d[i + 1 : i + 1 + sl].reshape(-1), float(d.is_contiguous())]


@snip
def lm_init(L):
    emb = L.nn.Embedding(5, 3)
    lin = L.nn.Linear(3, 5)
    L.manual_seed(0)
    lin.bias.data.zero_()
    lin.weight.data.fill_(0.5)
    return [lin.bias, lin.weight, float(emb.weight.requires_grad)]


@snip
def save_load(L):
    m = L.nn.Linear(2, 2)
    with L.no_grad():
        m.weight.fill_(0.25)
        m.bias.fill_(1.0)
    buf = io.BytesIO()
    L.save(m.state_dict(), buf)
    buf.seek(0)
    sd = L.load(buf, weights_only=True)
    m2 = L.nn.Linear(2, 2)
    r = m2.load_state_dict(sd)
    m3 = copy.deepcopy(m)
    return [
        m2.weight,
        m2.bias,
        m3.weight,
        float(len(r.missing_keys) + len(r.unexpected_keys)),
        float(list(sd.keys()) == ["weight", "bias"]),
    ]


@snip
def dqn_select(L):
    net = L.nn.Linear(4, 2)
    with L.no_grad():
        net.weight.copy_(L.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0]]))
        net.bias.zero_()
    state = L.tensor([0.3, 0.5, 0.1, 0.2]).unsqueeze(0)
    with L.no_grad():
        a = net(state).max(1).indices.view(1, 1)
    b = L.tensor([[1]], dtype=L.long)
    batch = L.cat([a, b])
    return [a, batch, float(a.dtype == L.int64)]


@snip
def fgsm_bits(L):
    data = L.tensor(np.linspace(0, 1, 16).reshape(1, 1, 4, 4).astype(np.float32))
    data.requires_grad = True
    out = (data * 3).sum()
    out.backward()
    g = data.grad.data
    mean = L.tensor([0.1307]).view(1, -1, 1, 1)
    std = L.tensor([0.3081]).view(1, -1, 1, 1)
    den = data * std + mean
    p = L.clamp(den + 0.3 * g.sign(), 0, 1)
    return [
        p,
        p.squeeze().detach().cpu().numpy().shape,
        float(L.tensor([3]).item() != L.tensor([3]).item()),
    ]


@snip
def nst_seq(L):
    nn = L.nn

    class Normalization(nn.Module):
        def __init__(s, mean, std):
            super().__init__()
            s.mean = L.tensor(mean).view(-1, 1, 1)
            s.std = L.tensor(std).view(-1, 1, 1)

        def forward(s, img):
            return (img - s.mean) / s.std

    model = nn.Sequential(Normalization([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    i = 0
    for layer in [nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]:
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        else:
            name = f"pool_{i}"
        model.add_module(name, layer)
    for j in range(len(model) - 1, -1, -1):
        if isinstance(model[j], nn.ReLU):
            break
    model = model[: (j + 1)]
    return [
        float(len(model)),
        str(type(model[-1]).__name__),
        list(dict(model.named_children()).keys()).__len__(),
    ]


@snip
def lr_sched_chain(L):
    p = L.nn.Parameter(L.ones(1))
    o = L.optim.SGD([p], lr=5.0)
    s = L.optim.lr_scheduler.StepLR(o, 1.0, gamma=0.95)
    out = []
    for _ in range(3):
        o.step()
        s.step()
        out.append(o.param_groups[0]["lr"])
    return out + [s.get_last_lr()[0], s.last_epoch]


@snip
def gen_mask(L):
    return [
        L.nn.Transformer.generate_square_subsequent_mask(4),
        L.nn.Transformer.generate_square_subsequent_mask(3, dtype=L.float64),
    ]


@snip
def clip_returns(L):
    ps = [L.nn.Parameter(L.ones(2)), L.nn.Parameter(L.ones(3))]
    ps[0].grad = L.tensor([3.0, 4.0])
    ps[1].grad = L.tensor([0.0, 0.0, 12.0])
    n = L.nn.utils.clip_grad_norm_(ps, 0.5)
    return [n, ps[0].grad, ps[1].grad, float(n.dim())]


@snip
def kl_default_warn(L):
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = L.nn.KLDivLoss()(L.tensor([[-1.0, -2.0]]), L.tensor([[0.3, 0.7]]))
    return [r, float(any("batchmean" in str(x.message) for x in w))]


@snip
def smooth_l1_huber(L):
    x = L.tensor([0.1, 2.0, -3.0]).requires_grad_()
    y = L.zeros(3)
    l = L.nn.functional.smooth_l1_loss(x, y, beta=1.0)
    l.backward()
    return [l, x.grad, L.nn.functional.huber_loss(x.detach(), y, delta=2.0)]


@snip
def lbfgs_state(L):
    x = L.nn.Parameter(L.tensor([1.5, -0.5], dtype=L.float64))
    o = L.optim.LBFGS([x], lr=0.5, max_iter=5, history_size=3)

    def closure():
        o.zero_grad()
        l = (x**4).sum() + x[0] * x[1]
        l.backward()
        return l

    r = [float(o.step(closure)) for _ in range(3)]
    st = o.state[x]
    return r + [x, float(st["n_iter"]), float(st["func_evals"])]


if __name__ == "__main__":
    run()
