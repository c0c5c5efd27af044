# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round6.md.

Model-codebase patterns (round 6, item 4), value + gradient snippets through cmp.run."""

import sys, os
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from cmp import snip, run, compare_errors

R = np.random.RandomState(0)
X = R.randn(5, 3)
E = np.array([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])


def leaf(L, a):
    return L.tensor(np.asarray(a, np.float64), requires_grad=True)


@snip
def gnn_index_add(L):
    x = leaf(L, X)
    src, dst = L.tensor(E[0]), L.tensor(E[1])
    msg = x[src] * 2
    out = L.zeros(5, 3, dtype=L.float64).index_add_(0, dst, msg)
    out2 = L.zeros(5, 3, dtype=L.float64).index_add(0, dst, msg, alpha=0.5)
    (out.sin().sum() + out2.sum()).backward()
    return out, out2, x.grad


@snip
def gnn_scatter_add(L):
    x = leaf(L, X)
    src, dst = L.tensor(E[0]), L.tensor(E[1])
    msg = x[src]
    idx = dst.unsqueeze(-1).expand_as(msg)
    out = L.zeros(5, 3, dtype=L.float64).scatter_add_(0, idx, msg)
    deg = L.zeros(5, dtype=L.float64).scatter_add_(0, dst, L.ones(6, dtype=L.float64))
    mean = out / deg.clamp(min=1).unsqueeze(-1)
    (mean**2).sum().backward()
    return out, deg, mean, x.grad


@snip
def gnn_scatter_reduce(L):
    outs = []
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for inc in (True, False):
            x = leaf(L, X)
            src, dst = L.tensor(E[0]), L.tensor(E[1])
            msg = x[src]
            idx = dst.unsqueeze(-1).expand_as(msg)
            base = leaf(
                L, np.random.RandomState(9).randn(5, 3) * 0 + np.arange(15).reshape(5, 3) / 7.0
            )
            out = base.scatter_reduce(0, idx, msg, reduce=reduce, include_self=inc)
            (out * L.arange(15.0, dtype=L.float64).reshape(5, 3)).sum().backward()
            outs += [out, x.grad, base.grad]
    return outs


@snip
def gnn_scatter_reduce_ties(L):
    # amax ties: torch splits the gradient evenly over the tied elements
    base = leaf(L, [[1.0, 2.0], [0.0, 0.0]])
    src = leaf(L, [[1.0, 5.0], [1.0, 5.0]])
    idx = L.tensor([[0, 0], [0, 0]])
    out = base.scatter_reduce(0, idx, src, reduce="amax", include_self=True)
    out.sum().backward()
    return out, base.grad, src.grad


@snip
def gnn_gather(L):
    x = leaf(L, X)
    idx = L.tensor([[0, 1, 2], [4, 4, 0]])
    g = x.gather(0, idx)
    g2 = L.gather(x, 1, L.tensor([[0], [2], [1], [1], [0]]))
    (g.exp().sum() + (g2 * 3).sum()).backward()
    return g, g2, x.grad


@snip
def gnn_scatter_value(L):
    x = leaf(L, X)
    out = L.zeros(5, 3, dtype=L.float64).scatter(0, L.tensor([[1, 2, 0]]), x[:1])
    out2 = x.scatter(1, L.tensor([[0], [1], [2], [0], [1]]), 0.5)
    (out.sum() + (out2 * out2).sum()).backward()
    return out, out2, x.grad


def bag_data(L):
    return L.tensor([1, 2, 4, 5, 4, 3, 2, 9]), L.tensor([0, 4])


@snip
def embbag_mean(L):
    L.manual_seed(0)
    bag = L.nn.EmbeddingBag(10, 3, mode="mean")
    with L.no_grad():
        bag.weight.copy_(L.tensor(np.arange(30.0).reshape(10, 3) / 10))
    inp, off = bag_data(L)
    out = bag(inp, off)
    out.pow(2).sum().backward()
    return out, bag.weight.grad


@snip
def embbag_sum_weights(L):
    bag = L.nn.EmbeddingBag(10, 3, mode="sum")
    with L.no_grad():
        bag.weight.copy_(L.tensor(np.arange(30.0).reshape(10, 3) / 10))
    inp, off = bag_data(L)
    w = L.tensor(np.linspace(0.1, 0.8, 8).astype(np.float32), requires_grad=True)
    out = bag(inp, off, per_sample_weights=w)
    out.pow(2).sum().backward()
    return out, bag.weight.grad, w.grad


@snip
def embbag_max_2d(L):
    bag = L.nn.EmbeddingBag(10, 3, mode="max")
    with L.no_grad():
        bag.weight.copy_(L.tensor(np.random.RandomState(9).randn(10, 3).astype(np.float32)))
    out = bag(L.tensor([[1, 2, 4], [4, 3, 2]]))
    out.sum().backward()
    return out, bag.weight.grad


@snip
def embbag_last_offset_padding(L):
    bag = L.nn.EmbeddingBag(10, 3, mode="mean", include_last_offset=True, padding_idx=2)
    with L.no_grad():
        bag.weight.copy_(L.tensor(np.arange(30.0).reshape(10, 3) / 10))
    inp = L.tensor([1, 2, 4, 5, 2, 2, 2, 9])
    out = bag(inp, L.tensor([0, 4, 7, 7, 8]))
    out.sum().backward()
    return out, bag.weight.grad


@snip
def embbag_functional_empty(L):
    F = L.nn.functional
    w = leaf(L, np.arange(30.0).reshape(10, 3) / 10)
    out = F.embedding_bag(L.tensor([1, 2, 4, 5]), w, L.tensor([0, 0, 2, 4]), mode="sum")
    o2 = F.embedding_bag(L.tensor([1, 2, 4, 5]), w, L.tensor([0, 0, 2]), mode="mean")
    (out.sum() + o2.sum()).backward()
    return out, o2, w.grad


@snip
def embbag_from_pretrained(L):
    w = L.tensor(np.arange(12.0).reshape(4, 3).astype(np.float32))
    bag = L.nn.EmbeddingBag.from_pretrained(w, mode="sum")
    return bag(L.tensor([[0, 1], [2, 3]])), bag.weight.requires_grad


@snip
def text_classifier(L):
    nn = L.nn

    class TextClassificationModel(nn.Module):
        def __init__(self, vocab_size, embed_dim, num_class):
            super(TextClassificationModel, self).__init__()
            self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
            self.fc = nn.Linear(embed_dim, num_class)
            self.init_weights()

        def init_weights(self):
            initrange = 0.5
            self.embedding.weight.data.uniform_(-initrange, initrange)
            self.fc.weight.data.uniform_(-initrange, initrange)
            self.fc.bias.data.zero_()

        def forward(self, text, offsets):
            embedded = self.embedding(text, offsets)
            return self.fc(embedded)

    model = TextClassificationModel(10, 4, 3)
    rs = np.random.RandomState(1)
    with L.no_grad():
        for p in model.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    crit = nn.CrossEntropyLoss()
    opt = L.optim.SGD(model.parameters(), lr=5)
    sched = L.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.1)
    losses = []
    for i in range(3):
        text, off = bag_data(L)
        label = L.tensor([0, 2])
        opt.zero_grad()
        pred = model(text, off)
        loss = crit(pred, label)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()
        sched.step()
        losses.append(loss.item())
        acc = (pred.argmax(1) == label).sum().item()
    return losses, acc, list(model.parameters()), sched.get_last_lr()


@snip
def parametrize_symmetric(L):
    nn = L.nn
    P = nn.utils.parametrize

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    layer = nn.Linear(3, 3)
    with L.no_grad():
        layer.weight.copy_(L.tensor(np.random.RandomState(9).randn(3, 3).astype(np.float32)))
    P.register_parametrization(layer, "weight", Symmetric())
    A = layer.weight
    names = sorted(n for n, _ in layer.named_parameters())
    out = layer(L.ones(2, 3))
    out.sum().backward()
    g = layer.parametrizations.weight.original.grad
    return A, L.allclose(A, A.T), names, g, P.is_parametrized(layer), type(layer).__name__


@snip
def parametrize_right_inverse(L):
    nn = L.nn
    P = nn.utils.parametrize

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()

    class MatrixExponential(nn.Module):
        def forward(self, X):
            return L.matrix_exp(X)

    layer = nn.Linear(3, 3)
    P.register_parametrization(layer, "weight", Symmetric())
    X = L.tensor(np.random.RandomState(9).randn(3, 3).astype(np.float32))
    X = (X + X.T) / 2
    layer.weight = X
    w1 = layer.weight
    orig = layer.parametrizations.weight.original
    P.register_parametrization(layer, "weight", MatrixExponential())
    w2 = layer.weight
    with P.cached():
        a = layer.weight
        b = layer.weight
        same = a is b
    P.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return w1, orig, w2, same, layer.weight, P.is_parametrized(layer)


@snip
def parametrize_orthogonal(L):
    nn = L.nn
    lin = nn.Linear(4, 3)
    with L.no_grad():
        lin.weight.copy_(L.tensor(np.random.RandomState(9).randn(3, 4).astype(np.float32)))
    q = nn.utils.parametrizations.orthogonal(lin)
    W = q.weight
    eye = W @ W.T
    return L.allclose(eye, L.eye(3), atol=1e-5), W.shape


@snip
def parametrize_train(L):
    nn = L.nn
    P = nn.utils.parametrize

    class Sym(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    m = nn.Linear(3, 3)
    with L.no_grad():
        m.weight.copy_(L.tensor(np.random.RandomState(9).randn(3, 3).astype(np.float32)))
        m.bias.zero_()
    P.register_parametrization(m, "weight", Sym())
    opt = L.optim.SGD(m.parameters(), lr=0.1)
    x = L.tensor(np.random.RandomState(9).randn(4, 3).astype(np.float32))
    for i in range(2):
        opt.zero_grad()
        m(x).pow(2).sum().backward()
        opt.step()
    sd = sorted(m.state_dict().keys())
    return m.weight, sd


@snip
def swa(L):
    nn = L.nn
    swa_utils = L.optim.swa_utils
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    rs = np.random.RandomState(2)
    with L.no_grad():
        for p in model.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    swa_model = swa_utils.AveragedModel(model)
    scheduler = L.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    swa_scheduler = swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=2)
    lrs = []
    loader = [
        (L.tensor(rs.randn(4, 3).astype(np.float32)), L.tensor(rs.randn(4, 1).astype(np.float32)))
        for _ in range(2)
    ]
    for epoch in range(5):
        for x, y in loader:
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        if epoch >= 2:
            swa_model.update_parameters(model)
            swa_scheduler.step()
        else:
            scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    swa_utils.update_bn(loader, swa_model)
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9))
    ema.update_parameters(model)
    ema.update_parameters(model)
    out = swa_model(loader[0][0])
    return (
        lrs,
        list(swa_model.parameters()),
        swa_model.n_averaged,
        list(swa_model.module[1].buffers()),
        out,
        list(ema.parameters()),
    )


@snip
def checkpoint_step(L):
    nn = L.nn
    cp = L.utils.checkpoint
    blk1 = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 5))
    blk2 = nn.Sequential(nn.Linear(5, 5), nn.GELU(), nn.Linear(5, 2))
    rs = np.random.RandomState(3)
    with L.no_grad():
        for p in list(blk1.parameters()) + list(blk2.parameters()):
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    opt = L.optim.Adam(list(blk1.parameters()) + list(blk2.parameters()), lr=0.01)
    x = L.tensor(rs.randn(4, 3).astype(np.float32), requires_grad=True)
    losses = []
    for i in range(2):
        opt.zero_grad(set_to_none=True)
        h = cp.checkpoint(blk1, x, use_reentrant=False)
        h = cp.checkpoint_sequential(blk2, 2, h, use_reentrant=False)
        loss = h.pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, x.grad, list(blk1.parameters()), list(blk2.parameters())


@snip
def grad_accum(L):
    nn = L.nn
    m = nn.Linear(3, 2)
    rs = np.random.RandomState(4)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
    opt.zero_grad(set_to_none=True)
    nones = [p.grad is None for p in m.parameters()]
    accum = 3
    for i in range(6):
        x = L.tensor(rs.randn(2, 3).astype(np.float32))
        loss = m(x).pow(2).mean() / accum
        loss.backward()
        if (i + 1) % accum == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
    m.zero_grad()
    return nones, list(m.parameters()), [p.grad is None for p in m.parameters()]


@snip
def sdpa(L):
    F = L.nn.functional
    rs = np.random.RandomState(5)
    q = leaf(L, rs.randn(2, 2, 4, 3))
    k = leaf(L, rs.randn(2, 2, 5, 3))
    v = leaf(L, rs.randn(2, 2, 5, 3))
    o1 = F.scaled_dot_product_attention(q, k, v)
    o2 = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    bm = L.tensor(rs.rand(4, 5) > 0.3)
    o3 = F.scaled_dot_product_attention(q, k, v, attn_mask=bm)
    fm = L.tensor(rs.randn(2, 1, 4, 5))
    o4 = F.scaled_dot_product_attention(q, k, v, attn_mask=fm, scale=0.7)
    (o1.sum() + (o2 * o2).sum() + o3.sin().sum() + o4.sum()).backward()
    return o1, o2, o3, o4, q.grad, k.grad, v.grad


@snip
def sdpa_gqa_fullmask(L):
    F = L.nn.functional
    rs = np.random.RandomState(6)
    q = leaf(L, rs.randn(1, 4, 3, 2))
    k = leaf(L, rs.randn(1, 2, 3, 2))
    v = leaf(L, rs.randn(1, 2, 3, 2))
    o = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    m = L.tensor([[True, False, False], [False, False, False], [True, True, True]])
    o2 = F.scaled_dot_product_attention(q[:, :2], k, v, attn_mask=m)
    o.sum().backward()
    return o, o2, q.grad, k.grad


@snip
def mha_vs_sdpa(L):
    nn = L.nn
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    rs = np.random.RandomState(7)
    with L.no_grad():
        for p in mha.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    x = L.tensor(rs.randn(2, 3, 4).astype(np.float32))
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    out, w = mha(x, x, x, attn_mask=mask, need_weights=True)
    out2, w2 = mha(x, x, x, is_causal=True, attn_mask=mask, need_weights=False)
    return out, w, out2, w2 is None, mask


if __name__ == "__main__":
    run(sys.argv[1:] or None)
