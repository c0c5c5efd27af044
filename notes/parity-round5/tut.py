# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

"""Tutorial training steps side by side: torch eager, jitgrad eager, jitgrad traced."""
import sys, math, warnings, traceback
import numpy as np

warnings.simplefilter("ignore")
import os

DT = np.float64 if os.environ.get("F64") else np.float32


def init(L, *mods, seed=0, scale=0.3):
    rs = np.random.RandomState(seed)
    with L.no_grad():
        for m in mods:
            for p in m.parameters():
                p.copy_(L.tensor((rs.randn(*p.shape) * scale).astype(DT)))


def arr(L, a, dtype=None):
    return L.tensor(np.asarray(a, dtype=DT if dtype is None else dtype))


def T(L, traced, fn, backend):
    if not traced:
        return fn
    import jitgrad

    return jitgrad.trace(
        fn, backend=backend, async_compile=False if os.environ.get("SYNC") else None
    )


PROGS = {}


def prog(f):
    PROGS[f.__name__] = f
    return f


@prog
def dcgan(L, traced, be):
    nn = L.nn
    G = nn.Sequential(
        nn.ConvTranspose2d(4, 6, 4, 1, 0, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(True),
        nn.ConvTranspose2d(6, 1, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 6, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(6, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    init(L, G, D)
    crit = nn.BCELoss()
    oD = L.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    oG = L.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    rs = np.random.RandomState(1)

    def step(real, noise):
        D.zero_grad()
        label = L.full((real.shape[0],), 1.0)
        out = D(real).view(-1)
        errD_real = crit(out, label)
        errD_real.backward()
        fake = G(noise)
        label.fill_(0.0)
        out = D(fake.detach()).view(-1)
        errD_fake = crit(out, label)
        errD_fake.backward()
        oD.step()
        G.zero_grad()
        label.fill_(1.0)
        out = D(fake).view(-1)
        errG = crit(out, label)
        errG.backward()
        oG.step()
        return errD_real + errD_fake, errG

    step = T(L, traced, step, be)
    res = []
    for i in range(3):
        real = arr(L, np.tanh(rs.randn(3, 1, 8, 8)))
        noise = arr(L, rs.randn(3, 4, 1, 1))
        res.append([float(v) for v in step(real, noise)])
    return res, [p for p in list(G.parameters()) + list(D.parameters())] + [
        G[1].running_mean,
        G[1].running_var,
    ]


@prog
def vae(L, traced, be):
    nn, F = L.nn, L.nn.functional

    class VAE(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc1 = nn.Linear(16, 8)
            s.fc21 = nn.Linear(8, 2)
            s.fc22 = nn.Linear(8, 2)
            s.fc3 = nn.Linear(2, 8)
            s.fc4 = nn.Linear(8, 16)

        def encode(s, x):
            h1 = F.relu(s.fc1(x))
            return s.fc21(h1), s.fc22(h1)

        def reparameterize(s, mu, logvar, eps):
            std = L.exp(0.5 * logvar)
            return mu + eps * std

        def decode(s, z):
            return L.sigmoid(s.fc4(F.relu(s.fc3(z))))

        def forward(s, x, eps):
            mu, logvar = s.encode(x.view(-1, 16))
            z = s.reparameterize(mu, logvar, eps)
            return s.decode(z), mu, logvar

    m = VAE()
    init(L, m)
    opt = L.optim.Adam(m.parameters(), lr=1e-2)

    def step(x, eps):
        opt.zero_grad()
        recon, mu, logvar = m(x, eps)
        BCE = F.binary_cross_entropy(recon, x.view(-1, 16), reduction="sum")
        KLD = -0.5 * L.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = BCE + KLD
        loss.backward()
        opt.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(2)
    res = []
    for i in range(3):
        x = arr(L, rs.rand(4, 1, 4, 4))
        eps = arr(L, rs.randn(4, 2))
        res.append(float(step(x, eps)))
    return res, list(m.parameters())


@prog
def seq2seq(L, traced, be):
    nn, F = L.nn, L.nn.functional
    V, H = 7, 6

    class Enc(nn.Module):
        def __init__(s):
            super().__init__()
            s.embedding = nn.Embedding(V, H)
            s.gru = nn.GRU(H, H, batch_first=True)
            s.dropout = nn.Dropout(0.0)

        def forward(s, x):
            e = s.dropout(s.embedding(x))
            return s.gru(e)

    class Attn(nn.Module):
        def __init__(s):
            super().__init__()
            s.Wa = nn.Linear(H, H)
            s.Ua = nn.Linear(H, H)
            s.Va = nn.Linear(H, 1)

        def forward(s, query, keys):
            scores = s.Va(L.tanh(s.Wa(query) + s.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)
            weights = F.softmax(scores, dim=-1)
            return L.bmm(weights, keys), weights

    class Dec(nn.Module):
        def __init__(s):
            super().__init__()
            s.embedding = nn.Embedding(V, H)
            s.attention = Attn()
            s.gru = nn.GRU(2 * H, H, batch_first=True)
            s.out = nn.Linear(H, V)
            s.dropout = nn.Dropout(0.0)

        def forward_step(s, input, hidden, enc):
            emb = s.dropout(s.embedding(input))
            query = hidden.permute(1, 0, 2)
            context, w = s.attention(query, enc)
            out, hidden = s.gru(L.cat((emb, context), dim=2), hidden)
            return s.out(out), hidden, w

        def forward(s, enc, hidden, target):
            B = enc.size(0)
            dec_in = L.empty(B, 1, dtype=L.long).fill_(0)
            outs = []
            for i in range(target.size(1)):
                o, hidden, _ = s.forward_step(dec_in, hidden, enc)
                outs.append(o)
                dec_in = target[:, i].unsqueeze(1)  # teacher forcing
            outs = L.cat(outs, dim=1)
            return F.log_softmax(outs, dim=-1), hidden

    enc, dec = Enc(), Dec()
    init(L, enc, dec)
    oe = L.optim.Adam(enc.parameters(), lr=1e-2)
    od = L.optim.Adam(dec.parameters(), lr=1e-2)
    crit = nn.NLLLoss()

    def step(src, tgt):
        oe.zero_grad()
        od.zero_grad()
        eo, eh = enc(src)
        do, _ = dec(eo, eh, tgt)
        loss = crit(do.view(-1, do.size(-1)), tgt.view(-1))
        loss.backward()
        oe.step()
        od.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(3)
    res = []
    for i in range(3):
        src = L.tensor(rs.randint(0, V, (2, 4)).astype(np.int64))
        tgt = L.tensor(rs.randint(0, V, (2, 3)).astype(np.int64))
        res.append(float(step(src, tgt)))
    return res, list(enc.parameters()) + list(dec.parameters())


@prog
def transformer_lm(L, traced, be):
    nn = L.nn
    ntok, d = 11, 8

    class PE(nn.Module):
        def __init__(s, d, maxlen=16):
            super().__init__()
            pos = L.arange(maxlen).unsqueeze(1)
            div = L.exp(L.arange(0, d, 2) * (-math.log(10000.0) / d))
            pe = L.zeros(maxlen, 1, d)
            pe[:, 0, 0::2] = L.sin(pos * div)
            pe[:, 0, 1::2] = L.cos(pos * div)
            s.register_buffer("pe", pe)

        def forward(s, x):
            return x + s.pe[: x.size(0)]

    class TM(nn.Module):
        def __init__(s):
            super().__init__()
            s.pos = PE(d)
            layer = nn.TransformerEncoderLayer(d, 2, 16, 0.0)
            s.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            s.embedding = nn.Embedding(ntok, d)
            s.d = d
            s.linear = nn.Linear(d, ntok)

        def forward(s, src, mask):
            src = s.embedding(src) * math.sqrt(s.d)
            src = s.pos(src)
            return s.linear(s.enc(src, mask))

    m = TM()
    init(L, m)
    crit = nn.CrossEntropyLoss()
    opt = L.optim.SGD(m.parameters(), lr=0.5)
    sched = L.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.95)
    mask = nn.Transformer.generate_square_subsequent_mask(5)

    def step(data, targets):
        out = m(data, mask)
        loss = crit(out.view(-1, ntok), targets)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        opt.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(4)
    res = []
    for i in range(3):
        data = L.tensor(rs.randint(0, ntok, (5, 2)).astype(np.int64))
        tg = L.tensor(rs.randint(0, ntok, (10,)).astype(np.int64))
        res.append(float(step(data, tg)))
        sched.step()
    return res + [sched.get_last_lr()[0]], list(m.parameters()) + [mask]


@prog
def dqn(L, traced, be):
    nn = L.nn

    def net():
        return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

    policy, target = net(), net()
    init(L, policy)
    target.load_state_dict(policy.state_dict())
    opt = L.optim.AdamW(policy.parameters(), lr=1e-2, amsgrad=True)
    crit = nn.SmoothL1Loss()

    def step(s, a, r, s2, nonfinal):
        q = policy(s).gather(1, a)
        nv = L.zeros(s.shape[0])
        with L.no_grad():
            nv[nonfinal] = target(s2[nonfinal]).max(1).values
        expected = (nv * 0.99) + r
        loss = crit(q, expected.unsqueeze(1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(policy.parameters(), 100)
        opt.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(5)
    res = []
    for i in range(3):
        s = arr(L, rs.randn(6, 4))
        a = L.tensor(rs.randint(0, 2, (6, 1)).astype(np.int64))
        r = arr(L, rs.randn(6))
        s2 = arr(L, rs.randn(6, 4))
        nf = L.tensor(np.array([1, 1, 0, 1, 0, 1], dtype=bool))
        res.append(float(step(s, a, r, s2, nf)))
        tsd, psd = target.state_dict(), policy.state_dict()
        for k in psd:
            tsd[k] = psd[k] * 0.005 + tsd[k] * (1 - 0.005)
        target.load_state_dict(tsd)
    return res, list(policy.parameters()) + list(target.parameters())


@prog
def fgsm(L, traced, be):
    nn, F = L.nn, L.nn.functional
    m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    init(L, m)
    m.eval()

    def attack(x, y, eps):
        x = x.clone().requires_grad_(True)
        out = F.log_softmax(m(x), dim=1)
        loss = F.nll_loss(out, y)
        m.zero_grad()
        loss.backward()
        pert = x + eps * x.grad.data.sign()
        pert = L.clamp(pert, 0, 1)
        out2 = m(pert)
        return pert, out2.max(1, keepdim=True)[1], loss

    att = T(L, traced, attack, be)
    rs = np.random.RandomState(6)
    res = []
    for i in range(3):
        x = arr(L, rs.rand(2, 1, 6, 6))
        y = L.tensor(rs.randint(0, 4, (2,)).astype(np.int64))
        p, pred, loss = att(x, y, 0.1)
        res += [float(loss)] + pred.reshape(-1).tolist() + [float(p.sum())]
    return res, list(m.parameters())


@prog
def distill(L, traced, be):
    nn, F = L.nn, L.nn.functional
    teacher = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
    student = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    init(L, teacher, seed=7)
    init(L, student, seed=8)
    teacher.eval()
    student.train()
    ce = nn.CrossEntropyLoss()
    kl = nn.KLDivLoss(reduction="batchmean", log_target=True)
    opt = L.optim.Adam(student.parameters(), lr=1e-2)
    Tt = 2.0

    def step(x, y):
        opt.zero_grad()
        with L.no_grad():
            tl = teacher(x)
        sl = student(x)
        soft_targets = F.softmax(tl / Tt, dim=-1)
        soft_prob = F.log_softmax(sl / Tt, dim=-1)
        soft_loss = (
            L.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * (Tt**2)
        )
        kl_loss = kl(F.log_softmax(sl / Tt, dim=-1), F.log_softmax(tl / Tt, dim=-1)) * Tt**2
        loss = 0.25 * soft_loss + 0.25 * kl_loss + 0.5 * ce(sl, y)
        loss.backward()
        opt.step()
        return loss, kl_loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(9)
    res = []
    for i in range(3):
        x = arr(L, rs.randn(5, 6))
        y = L.tensor(rs.randint(0, 3, (5,)).astype(np.int64))
        res.append([float(v) for v in step(x, y)])
    return res, list(student.parameters())


@prog
def style_lbfgs(L, traced, be):
    nn, F = L.nn, L.nn.functional
    feat = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    init(L, feat)
    feat.eval().requires_grad_(False)

    def gram(x):
        a, b, c, d = x.size()
        f = x.view(a * b, c * d)
        G = L.mm(f, f.t())
        return G.div(a * b * c * d)

    rs = np.random.RandomState(10)
    content = arr(L, rs.rand(1, 3, 6, 6))
    style = arr(L, rs.rand(1, 3, 6, 6))
    ct = feat(content).detach()
    st = gram(feat(style)).detach()
    img = content.clone().requires_grad_(True)
    opt = L.optim.LBFGS([img])

    def closure():
        with L.no_grad():
            img.clamp_(0, 1)
        opt.zero_grad()
        f = feat(img)
        loss = 1e4 * F.mse_loss(gram(f), st) + F.mse_loss(f, ct)
        loss.backward()
        return loss

    res = []

    def step():
        return opt.step(closure)

    step = T(L, traced, step, be)
    for i in range(2):
        res.append(float(step()))
    with L.no_grad():
        img.clamp_(0, 1)
    return res, [img]


@prog
def opt_in_backward(L, traced, be):
    nn = L.nn
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    init(L, m)
    opts = {p: L.optim.Adam([p], lr=1e-2) for p in m.parameters()}

    def hook(p):
        opts[p].step()
        opts[p].zero_grad()

    for p in m.parameters():
        p.register_post_accumulate_grad_hook(hook)

    def step(x, y):
        loss = nn.functional.mse_loss(m(x), y)
        loss.backward()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(11)
    res = []
    for i in range(3):
        res.append(float(step(arr(L, rs.randn(3, 4)), arr(L, rs.randn(3, 2)))))
    return res, list(m.parameters()) + [
        p.grad if p.grad is not None else L.zeros(1) for p in m.parameters()
    ]


def flat(x):
    if isinstance(x, (list, tuple)):
        return [v for e in x for v in flat(e)]
    return [x]


def cmp(a, b, rtol=1e-4, atol=1e-5):
    la, pa = a
    lb, pb = b
    la, lb = np.asarray(flat(la), float), np.asarray(flat(lb), float)
    bad = []
    if la.shape != lb.shape or not np.allclose(la, lb, rtol=rtol, atol=atol):
        bad.append(f"losses {la} vs {lb}")
    if len(pa) != len(pb):
        bad.append(f"nparams {len(pa)} vs {len(pb)}")
    for i, (x, y) in enumerate(zip(pa, pb)):
        x = np.asarray(x.detach().numpy(), float)
        y = np.asarray(y.detach().numpy(), float)
        if x.shape != y.shape or not np.allclose(x, y, rtol=rtol, atol=atol):
            bad.append(
                f"param {i} {x.shape}/{y.shape} maxdiff {np.abs(x - y).max() if x.shape == y.shape else 'shape'}"
            )
    return bad


def main(progs):
    """Run the named programs (argv: backend, names...) with torch, jitgrad and jitgrad traced."""
    import torch, jitgrad

    names = sys.argv[2:] or list(progs)
    be = sys.argv[1]
    for n in names:
        out = {}
        for key, L, tr in (("torch", torch, False), ("jg", jitgrad, False), ("jgT", jitgrad, True)):
            if key == "jgT" and be == "none":
                continue
            try:
                L.manual_seed(0)
                L.set_default_dtype(L.float64 if os.environ.get("F64") else L.float32)
                out[key] = progs[n](L, tr, be)
            except Exception as e:
                out[key] = e
                print(f"  {n} {key}: {type(e).__name__}: {str(e)[:600]}")
                if "-v" in sys.argv[1:2]:
                    traceback.print_exc()

        def show(a, b):
            if (
                isinstance(out.get(a), Exception)
                or isinstance(out.get(b), Exception)
                or a not in out
                or b not in out
            ):
                return "n/a"
            r = cmp(out[a], out[b])
            return "OK" if not r else "; ".join(r)[:600]

        print(f"{n}: torch-vs-jg {show('torch', 'jg')} | eager-vs-traced {show('jg', 'jgT')}")


if __name__ == "__main__":
    main(PROGS)
