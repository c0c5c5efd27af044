# ruff: noqa
"""Eager vs @jitgrad.trace when something changes between calls (jitgrad only; run by hand):
`python traced_changes.py {reference|cpu} [names]`. Each scenario builds the same model twice,
runs `steps` calls eagerly and traced, applying `change(k, model, opt)` before call k."""
import sys, warnings
import numpy as np
import jitgrad as L

F = L.nn.functional
backend = sys.argv[1] if len(sys.argv) > 1 else "reference"
only = sys.argv[2:]
rng = np.random.default_rng(0)


def fill(m, seed=0):
    r = np.random.default_rng(seed)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor((r.standard_normal(tuple(p.shape)) * 0.3).astype(np.float32)))
    return m


def mlp(drop=0.0, bn=True):
    layers = [L.nn.Linear(3, 5)]
    if bn:
        layers.append(L.nn.BatchNorm1d(5))
    layers += [L.nn.ReLU(), L.nn.Dropout(drop), L.nn.Linear(5, 2)]
    return fill(L.nn.Sequential(*layers))


X = [L.tensor(rng.standard_normal((6, 3)).astype(np.float32)) for _ in range(3)]
Y = [L.tensor(rng.integers(0, 2, 6)) for _ in range(3)]
SCEN = {}


def scen(f):
    SCEN[f.__name__] = f
    return f


def run(name, make, steps=6):
    outs = []
    for mode in ("eager", "trace"):
        L.manual_seed(0)
        m, opt, step, change = make()
        if mode == "trace":
            step = L.trace(backend=backend)(step)
        losses = []
        try:
            for k in range(steps):
                if change is not None:
                    change(k, m, opt)
                out = step(X[k % 3], Y[k % 3])
                losses.append(np.asarray(out.detach().numpy() if isinstance(out, L.Tensor) else out, dtype=np.float64).copy())
        except Exception as e:
            print(f"[{backend}] {name}: {mode} raised {type(e).__name__}: {str(e)[:400]}")
            outs.append(None)
            continue
        state = [t.detach().numpy().copy() for t in m.state_dict().values()]
        grads = [None if p.grad is None else p.grad.numpy().copy() for p in m.parameters()]
        ost = [v.numpy().copy() for s in opt.state.values() for v in s.values() if isinstance(v, L.Tensor)]
        outs.append((losses, state, grads, ost))
    if outs[0] is None or outs[1] is None:
        return
    (la, sa, ga, oa), (lb, sb, gb, ob) = outs
    def eq(a, b):
        if a is None or b is None:
            return a is None and b is None
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6)
    ok = {
        "loss": all(eq(a, b) for a, b in zip(la, lb)),
        "state": len(sa) == len(sb) and all(eq(a, b) for a, b in zip(sa, sb)),
        "grad": all(eq(a, b) for a, b in zip(ga, gb)),
        "optstate": len(oa) == len(ob) and all(eq(a, b) for a, b in zip(oa, ob)),
    }
    bad = [k for k, v in ok.items() if not v]
    print(f"[{backend}] {name}: {'OK' if not bad else 'DIFF ' + str(bad)}  losses {[np.round(l, 4).tolist() for l in la]} | {[np.round(l, 4).tolist() for l in lb]}")


def std(model, opt, loss_fn=None, zero=True, set_to_none=True):
    loss_fn = loss_fn or (lambda o, y: F.cross_entropy(o, y))
    def step(x, y):
        if zero:
            opt.zero_grad(set_to_none=set_to_none)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


@scen
def lr_change():
    m = mlp(); opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    def ch(k, m, opt):
        if k == 2:
            for g in opt.param_groups: g["lr"] = 0.01
        if k == 4:
            opt.param_groups[0]["momentum"] = 0.5
    return m, opt, std(m, opt), ch

@scen
def adam_hparams():
    m = mlp(); opt = L.optim.Adam(m.parameters(), lr=0.01)
    def ch(k, m, opt):
        if k == 2: opt.param_groups[0]["betas"] = (0.5, 0.9)
        if k == 3: opt.param_groups[0]["weight_decay"] = 0.1
        if k == 4: opt.param_groups[0]["amsgrad"] = True
    return m, opt, std(m, opt), ch

@scen
def adamw_maximize_toggle():
    m = mlp(); opt = L.optim.AdamW(m.parameters(), lr=0.01)
    def ch(k, m, opt):
        if k == 3: opt.param_groups[0]["maximize"] = True
    return m, opt, std(m, opt), ch

@scen
def freeze_layer():
    m = mlp(); opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    def ch(k, m, opt):
        if k == 2: m[0].requires_grad_(False)
        if k == 4: m[0].requires_grad_(True)
    return m, opt, std(m, opt), ch

@scen
def freeze_layer_adam_no_zero_none():
    m = mlp(); opt = L.optim.Adam(m.parameters(), lr=0.01)
    def ch(k, m, opt):
        if k == 2: m[-1].weight.requires_grad_(False)
    return m, opt, std(m, opt, set_to_none=False), ch

@scen
def eval_toggle():
    m = mlp(drop=0.5); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 2: m.eval()
        if k == 4: m.train()
    return m, opt, std(m, opt), ch

@scen
def eval_one_submodule():
    m = mlp(drop=0.0); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 2: m[1].eval()
    return m, opt, std(m, opt), ch

@scen
def bn_momentum_change():
    m = mlp(); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 2: m[1].momentum = 0.5
        if k == 4: m[1].momentum = None
    return m, opt, std(m, opt), ch

@scen
def dropout_p_change():
    m = mlp(drop=0.0, bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 2: m[2].p = 1.0
        if k == 4: m[2].p = 0.0
    return m, opt, std(m, opt), ch

@scen
def loss_attr_change():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    crit = L.nn.CrossEntropyLoss()
    def ch(k, m, opt):
        if k == 2: crit.label_smoothing = 0.2
        if k == 3: crit.reduction = "sum"
        if k == 4: crit.weight = L.tensor([1.0, 3.0])
        if k == 5: crit.ignore_index = 1
    return m, opt, std(m, opt, loss_fn=crit), ch

@scen
def python_scale_attr():
    class M(L.nn.Module):
        def __init__(s):
            super().__init__(); s.l = L.nn.Linear(3, 2); s.scale = 1.0; s.use_tanh = False
        def forward(s, x):
            h = s.l(x) * s.scale
            return h.tanh() if s.use_tanh else h
    m = fill(M()); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 2: m.scale = 3.0
        if k == 4: m.use_tanh = True
    return m, opt, std(m, opt), ch

@scen
def grad_accumulation():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    return m, opt, std(m, opt, zero=False), None

@scen
def param_data_replaced():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    def ch(k, m, opt):
        if k == 2:
            with L.no_grad(): m[0].weight.mul_(0.5)
        if k == 3: m[0].bias.data = L.zeros(5)
        if k == 4: m[0].weight.data.fill_(0.1)
    return m, opt, std(m, opt), ch

@scen
def load_state_dict_between():
    m = mlp(); opt = L.optim.Adam(m.parameters(), lr=0.01)
    snap = {}
    def ch(k, m, opt):
        if k == 1:
            import copy
            snap["m"] = copy.deepcopy(m.state_dict()); snap["o"] = copy.deepcopy(opt.state_dict())
        if k == 4:
            m.load_state_dict(snap["m"]); opt.load_state_dict(snap["o"])
    return m, opt, std(m, opt), ch

@scen
def add_param_group_later():
    m = mlp(bn=False); opt = L.optim.SGD(m[0].parameters(), lr=0.1)
    def ch(k, m, opt):
        if k == 3: opt.add_param_group({"params": m[-1].parameters(), "lr": 0.05})
    return m, opt, std(m, opt), ch

@scen
def scheduler_inside():
    m = mlp(); opt = L.optim.SGD(m.parameters(), lr=0.1)
    sch = L.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
    base = std(m, opt)
    def step(x, y):
        l = base(x, y); sch.step(); return l
    return m, opt, step, None

@scen
def no_grad_part():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    target = fill(L.nn.Linear(3, 2), 3)
    def step(x, y):
        opt.zero_grad()
        with L.no_grad():
            t = target(x).softmax(-1)
        loss = F.kl_div(F.log_softmax(m(x), -1), t, reduction="batchmean")
        loss.backward(); opt.step()
        with L.no_grad():
            for pt, pm in zip(target.parameters(), m[-1].parameters()):
                pt.mul_(0.9).add_(0.1 * pm[:, :3] if pm.ndim == 2 and pm.shape[1] != 3 else 0.1 * pm[: pt.shape[0]] if pm.ndim == 1 else 0.0)
        return loss
    def ch(k, mm, o):
        pass
    class Both(L.nn.Module):
        def __init__(s):
            super().__init__(); s.m = m; s.t = target
    return Both(), opt, step, ch

@scen
def detach_and_retain_grad():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    def step(x, y):
        opt.zero_grad()
        h = m[0](x); h.retain_grad()
        out = m[2:](h.relu())
        loss = F.cross_entropy(out, y) + 0.1 * h.detach().pow(2).mean()
        loss.backward(); opt.step()
        return L.stack([loss, h.grad.abs().sum()])
    return m, opt, step, None

@scen
def clip_and_nan_guard():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.5)
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x) * 10, y); loss.backward()
        n = L.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        opt.step()
        return L.stack([loss, n])
    return m, opt, step, None

@scen
def int_cast_index():
    m = mlp(bn=False); opt = L.optim.SGD(m.parameters(), lr=0.1)
    emb = fill(L.nn.Embedding(4, 2), 5)
    def step(x, y):
        opt.zero_grad()
        o = m(x)
        idx = (o.detach().sigmoid() * 3.99).long()[:, 0]  # integer from float: no grad
        loss = F.cross_entropy(o + emb(idx), y)
        loss.backward(); opt.step()
        return loss
    class Both(L.nn.Module):
        def __init__(s):
            super().__init__(); s.m = m; s.e = emb
    opt = L.optim.SGD(list(m.parameters()) + list(emb.parameters()), lr=0.1)
    base_opt = opt
    def step2(x, y):
        base_opt.zero_grad()
        o = m(x)
        idx = (o.sigmoid() * 3.99).long()[:, 0]
        loss = F.cross_entropy(o + emb(idx), y)
        loss.backward(); base_opt.step()
        return loss
    return Both(), opt, step2, None

@scen
def masked_fill_setitem():
    m = mlp(bn=False); opt = L.optim.Adam(m.parameters(), lr=0.01)
    def step(x, y):
        opt.zero_grad()
        o = m(x)
        o = o.masked_fill(x[:, :2] > 1.0, -1e4)
        o2 = o.clone(); o2[:, 0] = o2[:, 0] * 2
        loss = F.cross_entropy(o2, y); loss.backward(); opt.step()
        return loss
    return m, opt, step, None

for name, f in SCEN.items():
    if only and name not in only:
        continue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(name, f)
