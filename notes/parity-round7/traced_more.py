# ruff: noqa
"""Eager vs @jitgrad.trace for more of this round's programs (jitgrad only; run by hand):
`python traced_more.py {reference|cpu}`."""
import sys, warnings
import numpy as np
import jitgrad as L

F = L.nn.functional
backend = sys.argv[1] if len(sys.argv) > 1 else "reference"
rng = np.random.default_rng(0)


def fill(m, seed=0):
    r = np.random.default_rng(seed)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor((r.standard_normal(tuple(p.shape)) * 0.3).astype(np.float32)))
    return m


def compare(name, make, batches, steps=4):
    """``extra`` runs after each step; it gets the step's returned loss when it takes one."""
    outs = []
    for mode in ("eager", "trace"):
        model, opt, step, extra = make()
        if mode == "trace":
            step = L.trace(backend=backend)(step)
        losses = []
        try:
            for k in range(steps):
                loss = step(*batches[k % len(batches)])
                losses.append(float(loss))
                if extra is not None:
                    extra(loss) if getattr(extra, "takes_loss", False) else extra()
        except Exception as e:
            print(f"[{backend}] {name}: {mode} raised {type(e).__name__}: {str(e)[:300]}")
            return
        outs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    (la, pa), (lb, pb) = outs
    ok = np.allclose(la, lb, rtol=1e-4, atol=1e-5) and all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(pa, pb))
    print(f"[{backend}] {name}: {'OK' if ok else 'DIFF'} losses {np.round(la, 5).tolist()} vs {np.round(lb, 5).tolist()}")


def enc_step():
    m = fill(L.nn.TransformerEncoderLayer(4, 2, 6, 0.0, batch_first=True, norm_first=True))
    head = fill(L.nn.Linear(4, 3), 1)
    params = list(m.parameters()) + list(head.parameters())
    opt = L.optim.AdamW(params, lr=0.01)
    sch = L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
    mask = L.nn.Transformer.generate_square_subsequent_mask(5)

    class Both(L.nn.Module):
        def __init__(s):
            super().__init__(); s.m = m; s.head = head

    def step(x, kpm, y):
        h = m(x, src_mask=mask, src_key_padding_mask=kpm, is_causal=True)
        loss = F.cross_entropy(head(h).reshape(-1, 3), y.reshape(-1))
        loss.backward(); opt.step(); opt.zero_grad()
        return loss
    return Both(), opt, step, sch.step


def tr_step():
    m = fill(L.nn.Transformer(4, 2, 1, 1, 6, 0.0, batch_first=True))
    opt = L.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    tmask = m.generate_square_subsequent_mask(3)

    def step(src, tgt, kpm):
        y = m(src, tgt, tgt_mask=tmask, src_key_padding_mask=kpm, memory_key_padding_mask=kpm, tgt_is_causal=True)
        loss = y.pow(2).mean()
        loss.backward(); opt.step(); opt.zero_grad()
        return loss
    return m, opt, step, None


def dict_step():
    class M(L.nn.Module):
        def __init__(s):
            super().__init__()
            s.layers = L.nn.ModuleDict({"inp": L.nn.Linear(3, 4), "out": L.nn.Linear(4, 2)})
            s.scales = L.nn.ParameterDict({"a": L.nn.Parameter(L.ones(4)), "b": L.nn.Parameter(L.zeros(2))})
            s.extra = L.nn.ParameterList([L.nn.Parameter(L.ones(2))])
        def forward(s, x):
            h = L.tanh(s.layers["inp"](x) * s.scales["a"])
            return s.layers["out"](h) + s.scales["b"] * s.extra[0]
    m = fill(M())
    rec = []
    m.layers["inp"].register_full_backward_hook(lambda mod, gi, go: rec.append(1))
    m.layers["out"].register_forward_pre_hook(lambda mod, a, k: ((a[0] * 2,), k), with_kwargs=True)
    m.layers["out"].register_forward_hook(lambda mod, a, o: o + 1)
    opt = L.optim.RMSprop(m.parameters(), lr=0.01)
    sch = L.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10)

    def step(x, y):
        loss = F.mse_loss(m(x), y)
        loss.backward(); opt.step(); opt.zero_grad()
        return loss
    return m, opt, step, sch.step


def tied_step():
    class LM(L.nn.Module):
        def __init__(s):
            super().__init__()
            s.emb = L.nn.Embedding(7, 4)
            s.rnn = L.nn.GRU(4, 4, batch_first=True)
            s.out = L.nn.Linear(4, 7)
            s.out.weight = s.emb.weight
        def forward(s, i):
            h, _ = s.rnn(s.emb(i))
            return s.out(h)
    m = fill(LM())
    opt = L.optim.Adam(m.parameters(), lr=0.01)
    sch = L.optim.lr_scheduler.CyclicLR(opt, 0.001, 0.01, step_size_up=2, cycle_momentum=False)

    def step(i, t):
        loss = F.cross_entropy(m(i).reshape(-1, 7), t.reshape(-1))
        loss.backward()
        L.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step(); opt.zero_grad()
        return loss
    return m, opt, step, sch.step


def plateau_step():
    m = fill(L.nn.Linear(3, 1))
    opt = L.optim.SGD(m.parameters(), lr=0.1)
    sch = L.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    # the metric is the returned loss: a list written inside the step would keep the traced
    # call's tensor (a Python side effect a compiled call does not repeat)
    def step(x, y):
        loss = F.mse_loss(m(x), y)
        loss.backward(); opt.step(); opt.zero_grad()
        return loss

    def after(loss):
        sch.step(float(loss))
    after.takes_loss = True
    return m, opt, step, after


x = L.tensor(rng.standard_normal((2, 5, 4)).astype(np.float32))
kpm = L.tensor(np.array([[False] * 5, [False] * 3 + [True] * 2]))
y = L.tensor(rng.integers(0, 3, (2, 5)))
x2 = L.tensor(rng.standard_normal((2, 5, 4)).astype(np.float32))
compare("TransformerEncoderLayer norm_first+masks, AdamW, CosineAnnealingWarmRestarts", enc_step, [(x, kpm, y), (x2, kpm, y)])
tgt = L.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
compare("nn.Transformer masks, SGD momentum", tr_step, [(x, tgt, kpm), (x2, tgt, kpm)])
xb = L.tensor(rng.standard_normal((5, 3)).astype(np.float32)); yb = L.tensor(rng.standard_normal((5, 2)).astype(np.float32))
compare("ModuleDict/ParameterDict/ParameterList + hooks, RMSprop, OneCycleLR", dict_step, [(xb, yb)])
ii = L.tensor(rng.integers(0, 7, (2, 4))); tt = L.tensor(rng.integers(0, 7, (2, 4)))
compare("tied embedding/GRU LM, clip_grad_norm_, Adam, CyclicLR", tied_step, [(ii, tt)])
xs = [(L.tensor(rng.standard_normal((4, 3)).astype(np.float32)), L.tensor(rng.standard_normal((4, 1)).astype(np.float32))) for _ in range(2)]
compare("ReduceLROnPlateau from the returned loss", plateau_step, xs, steps=6)
