# ruff: noqa
"""Round 9 batch 1: tutorial-style programs (torch vs jitgrad)."""
import sys
import numpy as np
from harness import snip, run


def fill(L, m, seed=0, scale=0.3):
    rs = np.random.RandomState(seed)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor((rs.randn(*p.shape) * scale).astype(np.float32)))
    return m


def arr(*shape, seed=1):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@snip
def nn_really_manual(L):
    x = L.tensor(arr(16, 8)); y = L.tensor(np.random.RandomState(2).randint(0, 3, 16))
    w = L.tensor(arr(8, 3, seed=3) / 3, requires_grad=True)
    b = L.zeros(3, requires_grad=True)
    out = []
    for i in range(3):
        xb = x[i * 5:i * 5 + 5]; yb = y[i * 5:i * 5 + 5]
        pred = xb @ w + b
        pred = pred - pred.exp().sum(-1).log().unsqueeze(-1)
        loss = -pred[range(yb.shape[0]), yb].mean()
        loss.backward()
        with L.no_grad():
            w -= w.grad * 0.5
            b -= b.grad * 0.5
            w.grad.zero_(); b.grad.zero_()
        out.append(loss.item())
    return out, w, b


@snip
def nn_really_module_dl(L):
    from_ = L.utils.data
    x = L.tensor(arr(20, 8)); y = L.tensor(np.random.RandomState(2).randint(0, 3, 20))
    ds = from_.TensorDataset(x, y)
    dl = from_.DataLoader(ds, batch_size=6)
    class M(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = L.nn.Linear(8, 3)
        def forward(self, xb):
            return self.lin(xb)
    m = fill(L, M())
    opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for ep in range(2):
        m.train()
        for xb, yb in dl:
            loss = L.nn.functional.cross_entropy(m(xb), yb)
            loss.backward(); opt.step(); opt.zero_grad()
            losses.append(loss.item())
        m.eval()
        with L.no_grad():
            vl = sum(L.nn.functional.cross_entropy(m(xb), yb) for xb, yb in dl) / len(dl)
        losses.append(vl.item())
    return losses, [len(b[0]) for b in dl], len(dl)


@snip
def transfer_frozen(L):
    back = fill(L, L.nn.Sequential(L.nn.Linear(6, 5), L.nn.ReLU(), L.nn.Linear(5, 4)))
    for p in back.parameters():
        p.requires_grad_(False)
    head = fill(L, L.nn.Linear(4, 2), seed=3)
    model = L.nn.Sequential(back, head)
    opt = L.optim.SGD([{"params": head.parameters()}, {"params": back[2].parameters(), "lr": 0.01}], lr=0.1, momentum=0.9)
    sch = L.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    x = L.tensor(arr(8, 6)); y = L.tensor(np.random.RandomState(4).randint(0, 2, 8))
    lrs, ls = [], []
    for ep in range(5):
        opt.zero_grad()
        loss = L.nn.CrossEntropyLoss()(model(x), y)
        loss.backward(); opt.step(); sch.step()
        lrs.append(sch.get_last_lr()); ls.append(loss.item())
    return lrs, ls, [p.grad is None for p in back.parameters()], sum(p.numel() for p in model.parameters() if p.requires_grad)


@snip
def transfer_unfreeze_later(L):
    back = fill(L, L.nn.Linear(4, 4))
    back.requires_grad_(False)
    head = fill(L, L.nn.Linear(4, 1), seed=3)
    opt = L.optim.Adam(head.parameters(), lr=0.01)
    x = L.tensor(arr(5, 4))
    for i in range(2):
        opt.zero_grad(); head(back(x)).pow(2).mean().backward(); opt.step()
    back.requires_grad_(True)
    opt.add_param_group({"params": back.parameters(), "lr": 1e-3})
    for i in range(2):
        opt.zero_grad(); head(back(x)).pow(2).mean().backward(); opt.step()
    return back.weight, head.weight, len(opt.param_groups), opt.param_groups[1]["betas"]


def gen_disc(L):
    G = L.nn.Sequential(
        L.nn.ConvTranspose2d(4, 6, 4, 1, 0, bias=False), L.nn.BatchNorm2d(6), L.nn.ReLU(True),
        L.nn.ConvTranspose2d(6, 1, 4, 2, 1, bias=False), L.nn.Tanh())
    D = L.nn.Sequential(
        L.nn.Conv2d(1, 4, 4, 2, 1, bias=False), L.nn.LeakyReLU(0.2, inplace=True),
        L.nn.Conv2d(4, 1, 4, 1, 0, bias=False), L.nn.Sigmoid())
    def winit(m):
        cn = type(m).__name__
        if "Conv" in cn:
            L.nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif "BatchNorm" in cn:
            L.nn.init.normal_(m.weight.data, 1.0, 0.02)
            L.nn.init.constant_(m.bias.data, 0)
    G.apply(winit); D.apply(winit)
    fill(L, G, 5, 0.1); fill(L, D, 6, 0.1)
    return G, D


@snip
def dcgan_loop(L):
    G, D = gen_disc(L)
    crit = L.nn.BCELoss()
    oD = L.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    oG = L.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    real = L.tensor(arr(3, 1, 8, 8))
    noise = L.tensor(arr(3, 4, 1, 1, seed=7))
    out = []
    for it in range(2):
        D.zero_grad()
        label = L.full((3,), 1.0, dtype=L.float)
        o = D(real).view(-1)
        eD = crit(o, label); eD.backward()
        fake = G(noise)
        label.fill_(0.0)
        o = D(fake.detach()).view(-1)
        eDf = crit(o, label); eDf.backward()
        oD.step()
        G.zero_grad()
        label.fill_(1.0)
        o = D(fake).view(-1)
        eG = crit(o, label); eG.backward(); oG.step()
        out.append([eD.item(), eDf.item(), eG.item(), o.mean().item()])
    return out, G[1].running_mean, G[1].running_var, G[1].num_batches_tracked, fake.shape


@snip
def dcgan_bcelogits(L):
    G, D = gen_disc(L)
    D = D[:-1]
    crit = L.nn.BCEWithLogitsLoss(pos_weight=L.tensor([2.0]))
    real = L.tensor(arr(3, 1, 8, 8))
    fake = G(L.tensor(arr(3, 4, 1, 1, seed=7)))
    l = crit(D(real).view(-1), L.ones(3)) + crit(D(fake.detach()).view(-1), L.zeros(3))
    l.backward()
    return l, D[0].weight.grad, G[0].weight.grad


@snip
def char_rnn_lstm(L):
    emb = fill(L, L.nn.Embedding(10, 4), 1)
    rnn = fill(L, L.nn.LSTM(4, 5, num_layers=2, batch_first=True), 2)
    fc = fill(L, L.nn.Linear(5, 10), 3)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(fc.parameters())
    opt = L.optim.Adam(params, lr=0.01)
    seq = L.tensor(np.random.RandomState(3).randint(0, 10, (2, 7)))
    out = []
    h = None
    for it in range(2):
        opt.zero_grad()
        o, h = rnn(emb(seq[:, :-1]), h)
        h = tuple(t.detach() for t in h)
        logits = fc(o)
        loss = L.nn.functional.cross_entropy(logits.reshape(-1, 10), seq[:, 1:].reshape(-1))
        loss.backward()
        n = L.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        out.append([loss.item(), n.item()])
    return out, h[0].shape, fc.weight


@snip
def gru_seq_cls_packed(L):
    rnn = fill(L, L.nn.GRU(3, 4, batch_first=True, bidirectional=True), 2)
    x = L.tensor(arr(3, 5, 3))
    lens = L.tensor([5, 3, 2])
    P = L.nn.utils.rnn
    packed = P.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=True)
    o, h = rnn(packed)
    pad, ln = P.pad_packed_sequence(o, batch_first=True)
    loss = h.sum() + pad.pow(2).sum()
    loss.backward()
    return pad, ln, h, rnn.weight_ih_l0.grad, packed.batch_sizes


@snip
def packed_unsorted(L):
    rnn = fill(L, L.nn.RNN(3, 4, nonlinearity="relu"), 2)
    x = L.tensor(arr(5, 3, 3))
    lens = L.tensor([2, 5, 3])
    P = L.nn.utils.rnn
    packed = P.pack_padded_sequence(x, lens, enforce_sorted=False)
    o, h = rnn(packed)
    pad, ln = P.pad_packed_sequence(o, total_length=6)
    return pad, ln, h, packed.sorted_indices, packed.unsorted_indices


@snip
def pad_sequence_(L):
    P = L.nn.utils.rnn
    seqs = [L.tensor(arr(n, 2, seed=n)) for n in (3, 1, 2)]
    return P.pad_sequence(seqs), P.pad_sequence(seqs, batch_first=True, padding_value=-1.0)


@snip
def rnn_cell_loop(L):
    cell = fill(L, L.nn.LSTMCell(3, 4), 1)
    x = L.tensor(arr(4, 2, 3))
    h = L.zeros(2, 4); c = L.zeros(2, 4)
    outs = []
    for t in range(4):
        h, c = cell(x[t], (h, c))
        outs.append(h)
    s = L.stack(outs).sum()
    s.backward()
    return s, cell.weight_hh.grad


@snip
def tiny_transformer(L):
    layer = L.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
    enc = L.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    fill(L, enc, 1, 0.2)
    x = L.tensor(arr(2, 5, 8))
    mask = L.nn.Transformer.generate_square_subsequent_mask(5)
    kpm = L.tensor([[False] * 5, [False, False, False, True, True]])
    y = enc(x, mask=mask, src_key_padding_mask=kpm, is_causal=True)
    y.sum().backward()
    return y, mask, enc.layers[0].self_attn.in_proj_weight.grad


@snip
def tiny_transformer_norm_first(L):
    layer = L.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, norm_first=True, activation="gelu")
    fill(L, layer, 1, 0.2)
    x = L.tensor(arr(5, 2, 8))
    y = layer(x)
    return y


@snip
def mha_masks(L):
    mha = fill(L, L.nn.MultiheadAttention(6, 2, batch_first=True), 1, 0.3)
    q = L.tensor(arr(2, 4, 6)); k = L.tensor(arr(2, 3, 6, seed=2))
    kpm = L.tensor([[False, False, True], [False, False, False]])
    am = L.tensor([[0.0, -1.0, 0.0]] * 4)
    o, w = mha(q, k, k, key_padding_mask=kpm, attn_mask=am)
    o2, w2 = mha(q, k, k, need_weights=True, average_attn_weights=False)
    o3, w3 = mha(q, k, k, need_weights=False)
    return o, w, w2.shape, w3, o3


@snip
def mha_bool_attn_mask(L):
    mha = fill(L, L.nn.MultiheadAttention(4, 1), 1, 0.3)
    q = L.tensor(arr(3, 2, 4))
    am = L.triu(L.ones(3, 3, dtype=L.bool), diagonal=1)
    o, w = mha(q, q, q, attn_mask=am)
    return o, w


@snip
def sdpa_causal(L):
    q = L.tensor(arr(2, 2, 4, 3)); k = L.tensor(arr(2, 2, 4, 3, seed=2)); v = L.tensor(arr(2, 2, 4, 3, seed=3))
    F = L.nn.functional
    return F.scaled_dot_product_attention(q, k, v, is_causal=True), F.scaled_dot_product_attention(q, k, v, attn_mask=L.ones(4, 4, dtype=L.bool).tril())


if __name__ == "__main__":
    run(sys.argv[1:])
