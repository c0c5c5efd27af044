# ruff: noqa
"""Round 8 batch 4: optimizers (state_dict round trips), schedulers (get_last_lr), DataLoader."""
import sys, copy
import numpy as np
from harness import snip, run


def model(L):
    m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 1))
    rs = np.random.RandomState(0)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    return m


def batch(L, seed=1):
    rs = np.random.RandomState(seed)
    return L.tensor(rs.randn(8, 3).astype(np.float32)), L.tensor(rs.randn(8, 1).astype(np.float32))


def train(L, m, opt, steps=3, sched=None, seed=1):
    x, y = batch(L, seed)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = L.nn.functional.mse_loss(m(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return losses


OPTS = {
    "sgd": lambda L, p: L.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd_damp": lambda L, p: L.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, maximize=True),
    "adam": lambda L, p: L.optim.Adam(p, lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True),
    "adamw": lambda L, p: L.optim.AdamW(p, lr=0.01),
    "rmsprop": lambda L, p: L.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
    "adagrad": lambda L, p: L.optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "adadelta": lambda L, p: L.optim.Adadelta(p, lr=1.0, rho=0.8),
    "adamax": lambda L, p: L.optim.Adamax(p, lr=0.01),
    "nadam": lambda L, p: L.optim.NAdam(p, lr=0.01, decoupled_weight_decay=True, weight_decay=0.1),
    "radam": lambda L, p: L.optim.RAdam(p, lr=0.01),
    "asgd": lambda L, p: L.optim.ASGD(p, lr=0.01, t0=1),
    "rprop": lambda L, p: L.optim.Rprop(p, lr=0.01),
}


def _mk(name):
    def f(L):
        m = model(L); opt = OPTS[name](L, m.parameters())
        l1 = train(L, m, opt)
        sd = opt.state_dict()
        keys = sorted(sd["param_groups"][0].keys()), sorted(sd["state"][0].keys()) if sd["state"] else []
        # round trip: copy model+opt, continue both
        m2 = model(L); m2.load_state_dict(m.state_dict()); opt2 = OPTS[name](L, m2.parameters())
        opt2.load_state_dict(copy.deepcopy(sd))
        l2a = train(L, m, opt, 2); l2b = train(L, m2, opt2, 2)
        return l1, keys, l2a, l2b, list(m2.parameters()), [str(v.dtype) if hasattr(v, "dtype") else type(v).__name__ for v in sd["state"][0].values()] if sd["state"] else []
    f.__name__ = "o_" + name
    return f

for _n in OPTS:
    snip(_mk(_n))

@snip
def o_param_groups(L):
    m = model(L)
    opt = L.optim.SGD([{"params": m[0].parameters()}, {"params": m[2].parameters(), "lr": 0.5}], lr=0.1, momentum=0.9)
    l = train(L, m, opt); sd = opt.state_dict()
    return l, [g["params"] for g in sd["param_groups"]], [g["lr"] for g in sd["param_groups"]], sorted(sd["state"].keys())
@snip
def o_add_param_group(L):
    m = model(L); opt = L.optim.Adam(m[0].parameters(), lr=0.1); opt.add_param_group({"params": m[2].parameters(), "lr": 0.01})
    return train(L, m, opt), [len(g["params"]) for g in opt.param_groups], opt.param_groups[1]["betas"]
@snip
def o_dup_param(L):
    m = model(L); L.optim.SGD([m[0].weight, m[0].weight], lr=0.1)
@snip
def o_dup_group(L):
    m = model(L); L.optim.SGD([{"params": [m[0].weight]}, {"params": [m[0].weight]}], lr=0.1)
@snip
def o_bad_lr(L):
    m = model(L); L.optim.Adam(m.parameters(), lr=-1)
@snip
def o_bad_betas(L):
    m = model(L); L.optim.Adam(m.parameters(), betas=(1.0, 0.9))
@snip
def o_nesterov_bad(L):
    m = model(L); L.optim.SGD(m.parameters(), lr=0.1, nesterov=True)
@snip
def o_empty(L):
    L.optim.SGD([], lr=0.1)
@snip
def o_tensor_params(L):
    m = model(L); L.optim.SGD(m[0].weight, lr=0.1)
@snip
def o_no_lr_sgd(L):
    m = model(L); o = L.optim.SGD(m.parameters()); return o.param_groups[0]["lr"]
@snip
def o_load_wrong_groups(L):
    m = model(L); o = L.optim.SGD(m.parameters(), lr=0.1)
    o2 = L.optim.SGD([{"params": m[0].parameters()}, {"params": m[2].parameters()}], lr=0.1)
    o.load_state_dict(o2.state_dict())
@snip
def o_load_wrong_sizes(L):
    m = model(L); o = L.optim.SGD(m.parameters(), lr=0.1)
    o2 = L.optim.SGD(m[0].parameters(), lr=0.1)
    o.load_state_dict(o2.state_dict())
@snip
def o_lr_change(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9); a = train(L, m, opt, 2)
    for g in opt.param_groups: g["lr"] = 0.01
    return a, train(L, m, opt, 2)
@snip
def o_skip_none_grad(L):
    m = model(L); opt = L.optim.Adam(m.parameters(), lr=0.1); m[2].requires_grad_(False)
    l = train(L, m, opt, 2); return l, len(opt.state), list(m.parameters())
@snip
def o_zero_grad_default(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); train(L, m, opt, 1); opt.zero_grad(); return [p.grad for p in m.parameters()]
@snip
def o_step_closure(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); x, y = batch(L)
    def closure():
        opt.zero_grad(); l = L.nn.functional.mse_loss(m(x), y); l.backward(); return l
    return opt.step(closure), opt.step(closure)
@snip
def o_repr(L):
    m = model(L); return repr(L.optim.Adam(m.parameters(), lr=0.1)), repr(L.optim.SGD(m.parameters(), lr=0.1))
@snip
def o_lbfgs(L):
    m = model(L); opt = L.optim.LBFGS(m.parameters(), lr=0.5, max_iter=5, history_size=3); x, y = batch(L)
    def closure():
        opt.zero_grad(); l = L.nn.functional.mse_loss(m(x), y); l.backward(); return l
    r = [opt.step(closure) for _ in range(2)]; return r, list(m.parameters())
@snip
def o_adam_capturable_state(L):
    m = model(L); opt = L.optim.Adam(m.parameters(), lr=0.1); train(L, m, opt, 1); st = opt.state[m[0].weight]
    return st["step"], sorted(st.keys())

# ---- schedulers
def sched_seq(L, mk, n=8, opt_kw=None, metric=None):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    s = mk(L, opt); out = [s.get_last_lr()]
    for i in range(n):
        opt.step()
        if metric is not None:
            s.step(metric[i])
        else:
            s.step()
        out.append(list(s.get_last_lr()) if metric is None else [g["lr"] for g in opt.param_groups])
    return out

S = {
    "step": lambda L, o: L.optim.lr_scheduler.StepLR(o, 3, gamma=0.5),
    "multistep": lambda L, o: L.optim.lr_scheduler.MultiStepLR(o, [2, 5], gamma=0.1),
    "exp": lambda L, o: L.optim.lr_scheduler.ExponentialLR(o, 0.9),
    "cos": lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.01),
    "linear": lambda L, o: L.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
    "const": lambda L, o: L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3),
    "lambda": lambda L, o: L.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)),
    "poly": lambda L, o: L.optim.lr_scheduler.PolynomialLR(o, total_iters=5, power=2.0),
    "onecycle": lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10),
    "cyclic": lambda L, o: L.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3),
    "warm": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "seq": lambda L, o: L.optim.lr_scheduler.SequentialLR(o, [L.optim.lr_scheduler.LinearLR(o, 0.1, total_iters=3), L.optim.lr_scheduler.ExponentialLR(o, 0.9)], milestones=[3]),
    "chain": lambda L, o: L.optim.lr_scheduler.ChainedScheduler([L.optim.lr_scheduler.ConstantLR(o, 0.5, total_iters=2), L.optim.lr_scheduler.ExponentialLR(o, 0.9)]),
}
def _mks(name):
    def f(L):
        return sched_seq(L, S[name])
    f.__name__ = "s_" + name
    return f
for _n in S:
    snip(_mks(_n))
@snip
def s_plateau(L):
    return sched_seq(L, lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o, patience=1, factor=0.5), metric=[1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7])
@snip
def s_plateau_last_lr(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); s = L.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    s.step(1.0); s.step(2.0); return s.get_last_lr()
@snip
def s_get_lr_warn(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); s = L.optim.lr_scheduler.StepLR(opt, 2); opt.step(); s.step(); return s.get_lr()
@snip
def s_state_dict(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); s = L.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
    for _ in range(3):
        opt.step(); s.step()
    sd = s.state_dict(); return sorted(sd.keys()), sd["last_epoch"], sd["_last_lr"], sd["base_lrs"]
@snip
def s_resume(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); s = L.optim.lr_scheduler.CosineAnnealingLR(opt, 6)
    for _ in range(3):
        opt.step(); s.step()
    sd_o, sd_s = opt.state_dict(), s.state_dict()
    m2 = model(L); opt2 = L.optim.SGD(m2.parameters(), lr=0.1); opt2.load_state_dict(sd_o); s2 = L.optim.lr_scheduler.CosineAnnealingLR(opt2, 6); s2.load_state_dict(sd_s)
    out = []
    for _ in range(3):
        opt2.step(); s2.step(); out.append(s2.get_last_lr())
    return out
@snip
def s_last_epoch(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); L.optim.lr_scheduler.StepLR(opt, 2, last_epoch=3)
@snip
def s_initial_lr(L):
    m = model(L); opt = L.optim.SGD(m.parameters(), lr=0.1); s = L.optim.lr_scheduler.StepLR(opt, 2); return opt.param_groups[0]["initial_lr"], s.last_epoch, s.base_lrs

# ---- DataLoader
@snip
def d_basic(L):
    ds = L.utils.data.TensorDataset(L.arange(10.).reshape(10, 1), L.arange(10))
    dl = L.utils.data.DataLoader(ds, batch_size=4)
    return [(x, y) for x, y in dl], len(dl), len(ds)
@snip
def d_drop_last(L):
    ds = L.utils.data.TensorDataset(L.arange(10.).reshape(10, 1), L.arange(10))
    dl = L.utils.data.DataLoader(ds, batch_size=4, drop_last=True)
    return [y.shape for _, y in dl], len(dl)
@snip
def d_shuffle_shapes(L):
    ds = L.utils.data.TensorDataset(L.arange(10.).reshape(10, 1), L.arange(10))
    dl = L.utils.data.DataLoader(ds, batch_size=3, shuffle=True)
    b = list(dl); return [tuple(x.shape) for x, _ in b], sorted(L.cat([y for _, y in b]).tolist()), [y.dtype for _, y in b][:1]
@snip
def d_shuffle_generator(L):
    ds = L.utils.data.TensorDataset(L.arange(10))
    g = L.Generator().manual_seed(3)
    a = [x[0].tolist() for x in L.utils.data.DataLoader(ds, batch_size=5, shuffle=True, generator=g)]
    g.manual_seed(3)
    b = [x[0].tolist() for x in L.utils.data.DataLoader(ds, batch_size=5, shuffle=True, generator=g)]
    return a == b
@snip
def d_shuffle_seed_repeat(L):
    ds = L.utils.data.TensorDataset(L.arange(10))
    L.manual_seed(5); a = [x[0].tolist() for x in L.utils.data.DataLoader(ds, batch_size=5, shuffle=True)]
    L.manual_seed(5); b = [x[0].tolist() for x in L.utils.data.DataLoader(ds, batch_size=5, shuffle=True)]
    return a == b
@snip
def d_collate_fn(L):
    class DS(L.utils.data.Dataset):
        def __len__(self): return 5
        def __getitem__(self, i): return {"x": L.ones(i + 1) * i, "y": i}
    def collate(b): return [d["x"] for d in b], L.tensor([d["y"] for d in b])
    return list(L.utils.data.DataLoader(DS(), batch_size=2, collate_fn=collate))
@snip
def d_default_collate_dict(L):
    class DS(L.utils.data.Dataset):
        def __len__(self): return 4
        def __getitem__(self, i): return {"x": L.ones(2) * i, "y": i, "f": float(i), "s": str(i), "n": np.array([i, i])}
    return list(L.utils.data.DataLoader(DS(), batch_size=3))
@snip
def d_tuple_samples(L):
    data = [(np.float32(i), i, (i, [i, i])) for i in range(4)]
    return list(L.utils.data.DataLoader(data, batch_size=2))
@snip
def d_ragged_err(L):
    data = [L.ones(i + 1) for i in range(4)]
    return list(L.utils.data.DataLoader(data, batch_size=2))
@snip
def d_batch_none(L):
    data = [L.ones(2) * i for i in range(3)]
    return list(L.utils.data.DataLoader(data, batch_size=None))
@snip
def d_iterable(L):
    class It(L.utils.data.IterableDataset):
        def __iter__(self): return iter(range(7))
    return list(L.utils.data.DataLoader(It(), batch_size=3)), list(L.utils.data.DataLoader(It(), batch_size=3, drop_last=True))
@snip
def d_iterable_shuffle(L):
    class It(L.utils.data.IterableDataset):
        def __iter__(self): return iter(range(7))
    L.utils.data.DataLoader(It(), batch_size=3, shuffle=True)
@snip
def d_iterable_len(L):
    class It(L.utils.data.IterableDataset):
        def __iter__(self): return iter(range(7))
    return len(L.utils.data.DataLoader(It(), batch_size=3))
@snip
def d_sampler_and_shuffle(L):
    ds = list(range(5)); L.utils.data.DataLoader(ds, sampler=L.utils.data.SequentialSampler(ds), shuffle=True)
@snip
def d_tensordataset_mismatch(L):
    L.utils.data.TensorDataset(L.ones(3), L.ones(4))
@snip
def d_random_split(L):
    a, b = L.utils.data.random_split(range(10), [0.7, 0.3], generator=L.Generator().manual_seed(0)); return len(a), len(b), type(a).__name__
@snip
def d_random_split_bad(L):
    L.utils.data.random_split(range(10), [3, 3])
@snip
def d_dataloader_attrs(L):
    dl = L.utils.data.DataLoader(list(range(10)), batch_size=4, drop_last=True)
    return dl.batch_size, dl.drop_last, type(dl.sampler).__name__, type(dl.batch_sampler).__name__, len(dl.dataset)
@snip
def d_iter_next(L):
    dl = L.utils.data.DataLoader(list(range(10)), batch_size=4); it = iter(dl); return next(it), next(it), len(it) if hasattr(it, "__len__") else -1
@snip
def d_sampler_subset(L):
    dl = L.utils.data.DataLoader(list(range(10)), batch_size=3, sampler=L.utils.data.SubsetRandomSampler([1, 5, 7]))
    return sorted(L.cat(list(dl)).tolist())
@snip
def d_num_workers(L):
    dl = L.utils.data.DataLoader(list(range(6)), batch_size=2, num_workers=0, pin_memory=False); return list(dl)
@snip
def d_int_dtype(L):
    return list(L.utils.data.DataLoader([1, 2, 3, 4], batch_size=2)), list(L.utils.data.DataLoader([1.0, 2.0], batch_size=2)), list(L.utils.data.DataLoader([True, False], batch_size=2))

if __name__ == "__main__":
    run(sys.argv[1:] or None)
