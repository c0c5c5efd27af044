# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected): schedulers, data utilities."""
import sys, os, collections
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity-round6"))
from cmp import snip, run, compare_errors
import numpy as np


def _opt(L, lr=0.1, **kw):
    w = L.nn.Parameter(L.ones(2))
    return w, L.optim.SGD([w], lr=lr, momentum=0.9, **kw)


def _lrs(L, opt, sch, n, metric=None):
    out = []
    for i in range(n):
        opt.step()
        if metric is None:
            sch.step()
        else:
            sch.step(metric[i])
        out.append([g["lr"] for g in opt.param_groups] + [g.get("momentum", 0) for g in opt.param_groups])
    return out


@snip
def onecycle(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=12)
    r = _lrs(L, o, s, 11)
    return r, s.get_last_lr()


@snip
def onecycle_linear_three(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.5], epochs=2, steps_per_epoch=5, anneal_strategy="linear", three_phase=True, div_factor=10, final_div_factor=100)
    return _lrs(L, o, s, 9)


@snip
def onecycle_adam(L):
    w = L.nn.Parameter(L.ones(2))
    o = L.optim.Adam([w], lr=0.1)
    s = L.optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=6)
    out = []
    for i in range(5):
        o.step(); s.step()
        out.append([o.param_groups[0]["lr"], *o.param_groups[0]["betas"]])
    return out


@snip
def onecycle_too_many(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=3)
    for i in range(4):
        o.step(); s.step()
    return o.param_groups[0]["lr"]


@snip
def cawr(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)
    return _lrs(L, o, s, 12)


@snip
def cawr_float_epoch(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=1)
    out = []
    for epoch in range(2):
        for i in range(4):
            o.step()
            s.step(epoch + i / 4)
            out.append(o.param_groups[0]["lr"])
    return out, s.T_cur, s.T_i


@snip
def plateau(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1, threshold=0.1, cooldown=1, min_lr=0.01)
    m = [1.0, 0.95, 0.94, 0.93, 0.5, 0.49, 0.48, 0.47, 0.46, 0.45, 0.44]
    r = _lrs(L, o, s, len(m), m)
    return r, s.num_bad_epochs, s.best, s.get_last_lr()


@snip
def plateau_max_abs(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=0, threshold=0.05, threshold_mode="abs")
    m = [1.0, 1.02, 1.1, 1.12, 1.2]
    return _lrs(L, o, s, len(m), m)


@snip
def plateau_tensor_metric(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0)
    m = [L.tensor(1.0), L.tensor(2.0), L.tensor(3.0)]
    return _lrs(L, o, s, 3, m)


@snip
def plateau_state(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.ReduceLROnPlateau(o, patience=1)
    for m in [1.0, 2.0]:
        s.step(m)
    sd = s.state_dict()
    keys = sorted(k for k in sd)
    return keys, sd["best"], sd["num_bad_epochs"], sd["last_epoch"]


@snip
def lambdalr(L):
    w = L.nn.Parameter(L.ones(2)); b = L.nn.Parameter(L.ones(1))
    o = L.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    s = L.optim.lr_scheduler.LambdaLR(o, lr_lambda=[lambda e: 0.9 ** e, lambda e: 1 / (e + 1)])
    r = _lrs(L, o, s, 4)
    return r, s.base_lrs, s.last_epoch


@snip
def multiplicative(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.MultiplicativeLR(o, lr_lambda=lambda e: 0.5)
    return _lrs(L, o, s, 3)


@snip
def sequential(L):
    w, o = _opt(L)
    a = L.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3)
    b = L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)
    s = L.optim.lr_scheduler.SequentialLR(o, schedulers=[a, b], milestones=[3])
    r = [o.param_groups[0]["lr"]] + [x[0] for x in _lrs(L, o, s, 7)]
    return r, s.get_last_lr()


@snip
def sequential_cos(L):
    w, o = _opt(L)
    a = L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=2)
    b = L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4)
    s = L.optim.lr_scheduler.SequentialLR(o, schedulers=[a, b], milestones=[2])
    return [x[0] for x in _lrs(L, o, s, 7)]


@snip
def chained(L):
    w, o = _opt(L, lr=1.0)
    a = L.optim.lr_scheduler.ConstantLR(o, factor=0.1, total_iters=2)
    b = L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)
    s = L.optim.lr_scheduler.ChainedScheduler([a, b])
    r = [x[0] for x in _lrs(L, o, s, 5)]
    return r, s.get_last_lr()


@snip
def chained_state(L):
    w, o = _opt(L, lr=1.0)
    a = L.optim.lr_scheduler.StepLR(o, step_size=2)
    b = L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)
    s = L.optim.lr_scheduler.ChainedScheduler([a, b])
    for i in range(3):
        o.step(); s.step()
    sd = s.state_dict()
    return sorted(sd), len(sd["_schedulers"]), sd["_schedulers"][1]["last_epoch"]


@snip
def cyclic_tri(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3)
    return _lrs(L, o, s, 10)


@snip
def cyclic_tri2(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3, mode="triangular2")
    return _lrs(L, o, s, 12)


@snip
def cyclic_exp(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, mode="exp_range", gamma=0.9, cycle_momentum=False)
    return [x[0] for x in _lrs(L, o, s, 8)]


@snip
def cyclic_scale_fn(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=lambda x: 1 / x, scale_mode="iterations")
    return [x[0] for x in _lrs(L, o, s, 8)]


@snip
def cyclic_init(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1)
    return o.param_groups[0]["lr"], o.param_groups[0]["momentum"], s.last_epoch, s.get_last_lr()


@snip
def cyclic_state(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3)
    for i in range(4):
        o.step(); s.step()
    sd = s.state_dict()
    w2, o2 = _opt(L)
    s2 = L.optim.lr_scheduler.CyclicLR(o2, base_lr=0.01, max_lr=0.1, step_size_up=3)
    s2.load_state_dict(sd)
    o2.step(); s2.step(); o.step(); s.step()
    return o2.param_groups[0]["lr"], o.param_groups[0]["lr"], s2.last_epoch


@snip
def onecycle_state_resume(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10)
    for i in range(4):
        o.step(); s.step()
    sd = s.state_dict(); osd = o.state_dict()
    w2, o2 = _opt(L)
    o2.load_state_dict(osd)
    s2 = L.optim.lr_scheduler.OneCycleLR(o2, max_lr=1.0, total_steps=10, last_epoch=-1)
    s2.load_state_dict(sd)
    out = []
    for i in range(3):
        o2.step(); s2.step(); out.append(o2.param_groups[0]["lr"])
    return out, s2.last_epoch


@snip
def steplr_last_epoch_resume(L):
    w, o = _opt(L)
    o.param_groups[0]["initial_lr"] = 0.1
    s = L.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5, last_epoch=3)
    o.step(); s.step()
    return o.param_groups[0]["lr"], s.last_epoch


@snip
def polynomial(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.PolynomialLR(o, total_iters=4, power=2.0)
    return [x[0] for x in _lrs(L, o, s, 6)]


@snip
def multistep(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 2, 4], gamma=0.5)
    return [x[0] for x in _lrs(L, o, s, 6)]


# ---------------- data
def _ds(L, n=10):
    return L.utils.data.TensorDataset(L.arange(n).float().reshape(n, 1), L.arange(n))


@snip
def random_split_frac(L):
    g = L.Generator().manual_seed(42)
    parts = L.utils.data.random_split(range(10), [0.3, 0.3, 0.4], generator=g)
    return [len(p) for p in parts], type(parts[0]).__name__


@snip
def random_split_frac_rem(L):
    g = L.Generator().manual_seed(0)
    parts = L.utils.data.random_split(range(11), [0.5, 0.5], generator=g)
    return [len(p) for p in parts], sorted(list(parts[0]) + list(parts[1]))


@snip
def random_split_frac_rem3(L):
    parts = L.utils.data.random_split(range(7), [0.2, 0.2, 0.6])
    return [len(p) for p in parts]


@snip
def subset(L):
    ds = _ds(L)
    s = L.utils.data.Subset(ds, [3, 1, 7])
    return len(s), s[0], s[2], s.indices


@snip
def subset_getitems(L):
    ds = _ds(L)
    s = L.utils.data.Subset(ds, [3, 1, 7])
    dl = L.utils.data.DataLoader(s, batch_size=2)
    return [b for b in dl]


@snip
def concat(L):
    a = _ds(L, 3); b = _ds(L, 4)
    c = L.utils.data.ConcatDataset([a, b])
    return len(c), c[3], c[-1], c.cumulative_sizes, a + b is not None


@snip
def concat_add(L):
    a = _ds(L, 3); b = _ds(L, 4)
    c = a + b
    return type(c).__name__, len(c)


@snip
def batch_sampler(L):
    bs = L.utils.data.BatchSampler(L.utils.data.SequentialSampler(range(7)), batch_size=3, drop_last=False)
    bs2 = L.utils.data.BatchSampler(range(7), batch_size=3, drop_last=True)
    return list(bs), len(bs), list(bs2), len(bs2)


@snip
def loader_batch_sampler(L):
    ds = _ds(L, 7)
    bs = L.utils.data.BatchSampler(L.utils.data.SequentialSampler(ds), batch_size=3, drop_last=False)
    dl = L.utils.data.DataLoader(ds, batch_sampler=bs)
    return [b for b in dl], len(dl)


@snip
def weighted_sampler_len(L):
    s = L.utils.data.WeightedRandomSampler([0.1, 0.9, 0.0, 0.5], num_samples=20, replacement=True)
    idx = list(s)
    return len(s), len(idx), 2 in idx, type(idx[0]).__name__


@snip
def weighted_sampler_norepl(L):
    s = L.utils.data.WeightedRandomSampler([0.1, 0.9, 0.2, 0.5], num_samples=4, replacement=False)
    return sorted(list(s))


@snip
def weighted_sampler_tensor(L):
    s = L.utils.data.WeightedRandomSampler(L.tensor([1.0, 0.0, 0.0]), num_samples=5)
    return list(s)


@snip
def default_collate_dict(L):
    from_ = L.utils.data.default_collate
    batch = [{"x": L.tensor([1.0, 2.0]), "y": 1, "n": "a", "f": 0.5}, {"x": L.tensor([3.0, 4.0]), "y": 2, "n": "b", "f": 1.5}]
    out = from_(batch)
    return sorted(out), out["x"], out["y"], out["n"], out["f"], out["y"].dtype, out["f"].dtype


@snip
def default_collate_tuple(L):
    out = L.utils.data.default_collate([(L.tensor(1.0), np.array([1, 2])), (L.tensor(2.0), np.array([3, 4]))])
    return type(out).__name__, out[0], out[1], out[1].dtype


@snip
def default_collate_namedtuple(L):
    P = collections.namedtuple("P", ["a", "b"])
    out = L.utils.data.default_collate([P(1, L.tensor([1.0])), P(2, L.tensor([2.0]))])
    return type(out).__name__, out.a, out.b


@snip
def default_collate_nested(L):
    out = L.utils.data.default_collate([{"a": (1, [2.0, 3.0])}, {"a": (4, [5.0, 6.0])}])
    return out["a"][0], out["a"][1][0], out["a"][1][1], type(out["a"]).__name__, type(out["a"][1]).__name__


@snip
def default_collate_np_scalar(L):
    out = L.utils.data.default_collate([np.float32(1.5), np.float32(2.5)])
    out2 = L.utils.data.default_collate([np.int64(1), np.int64(2)])
    return out, out.dtype, out2, out2.dtype


@snip
def default_collate_bool(L):
    out = L.utils.data.default_collate([True, False])
    return out, out.dtype


@snip
def default_convert(L):
    out = L.utils.data.default_convert({"a": np.array([1.0, 2.0]), "b": [np.array([1])]})
    return type(out["a"]).__name__, out["a"], type(out["b"]).__name__


@snip
def collate_fn_custom(L):
    ds = [(L.tensor([1.0] * (i + 1)), i) for i in range(4)]
    def collate(batch):
        xs, ys = zip(*batch)
        lens = L.tensor([len(x) for x in xs])
        return L.nn.utils.rnn.pad_sequence(list(xs), batch_first=True, padding_value=-1.0), lens, L.tensor(ys)
    dl = L.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    return [b for b in dl]


@snip
def loader_none_batch(L):
    ds = _ds(L, 3)
    dl = L.utils.data.DataLoader(ds, batch_size=None)
    return [b for b in dl], len(dl)


@snip
def pad_seq(L):
    a, b, c = L.ones(3, 2), 2 * L.ones(1, 2), 3 * L.ones(2, 2)
    p = L.nn.utils.rnn.pad_sequence([a, b, c])
    p2 = L.nn.utils.rnn.pad_sequence([a, b, c], batch_first=True, padding_value=9)
    return p, p2, p.shape


@snip
def pad_seq_left(L):
    a, b = L.tensor([1.0, 2.0, 3.0]), L.tensor([4.0])
    return L.nn.utils.rnn.pad_sequence([a, b], batch_first=True, padding_side="left")


@snip
def packed_rnn(L):
    L.manual_seed(0)
    rnn_t = L.nn.LSTM(2, 3, batch_first=True)
    rng = np.random.default_rng(0)
    for p in rnn_t.parameters():
        p.data.copy_(L.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    x = L.tensor(rng.standard_normal((3, 4, 2)).astype(np.float32), requires_grad=True)
    lens = L.tensor([4, 2, 3])
    pk = L.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    out, (h, c) = rnn_t(pk)
    pad, ol = L.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=5)
    loss = pad.sum() + h.sum() * 2
    loss.backward()
    return pk.batch_sizes, pk.sorted_indices, pk.unsorted_indices, pad, ol, h, c, x.grad, rnn_t.weight_hh_l0.grad


@snip
def packed_gru_sorted(L):
    rnn_t = L.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(1)
    for p in rnn_t.parameters():
        p.data.copy_(L.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    x = L.tensor(rng.standard_normal((4, 3, 2)).astype(np.float32), requires_grad=True)
    pk = L.nn.utils.rnn.pack_padded_sequence(x, [4, 3, 1])
    out, h = rnn_t(pk)
    pad, ol = L.nn.utils.rnn.pad_packed_sequence(out, padding_value=-1.0)
    (pad.clamp(min=-0.5).sum() + h[-1].sum()).backward()
    return pk.data.shape, pad, ol, h, x.grad


@snip
def pack_sequence(L):
    a, b = L.tensor([1.0, 2.0, 3.0]), L.tensor([4.0, 5.0])
    pk = L.nn.utils.rnn.pack_sequence([b, a], enforce_sorted=False)
    seqs = L.nn.utils.rnn.unpack_sequence(pk)
    return pk.data, pk.batch_sizes, seqs


@snip
def packed_rnn_tanh(L):
    rnn_t = L.nn.RNN(2, 2)
    rng = np.random.default_rng(2)
    for p in rnn_t.parameters():
        p.data.copy_(L.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    pk = L.nn.utils.rnn.pack_sequence([L.ones(3, 2), L.ones(2, 2), L.ones(1, 2)])
    h0 = L.zeros(1, 3, 2)
    out, h = rnn_t(pk, h0)
    return out.data, h, type(out).__name__


def errs():
    E = {}
    def opt(L):
        w = L.nn.Parameter(L.ones(2))
        return L.optim.SGD([w], lr=0.1)
    E["onecycle_no_total"] = lambda L: L.optim.lr_scheduler.OneCycleLR(opt(L), max_lr=1.0)
    E["onecycle_bad_total"] = lambda L: L.optim.lr_scheduler.OneCycleLR(opt(L), max_lr=1.0, total_steps=0)
    E["onecycle_bad_anneal"] = lambda L: L.optim.lr_scheduler.OneCycleLR(opt(L), max_lr=1.0, total_steps=5, anneal_strategy="x")
    E["onecycle_maxlr_len"] = lambda L: L.optim.lr_scheduler.OneCycleLR(opt(L), max_lr=[1.0, 2.0], total_steps=5)
    E["cawr_T0"] = lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt(L), T_0=0)
    E["cawr_Tmult"] = lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt(L), T_0=2, T_mult=0)
    E["cawr_Tmult_float"] = lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt(L), T_0=2, T_mult=1.5)
    E["cawr_neg_epoch"] = lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt(L), T_0=2).step(-1)
    E["plateau_factor"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L), factor=1.0)
    E["plateau_mode"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L), mode="x")
    E["plateau_tmode"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L), threshold_mode="x")
    E["plateau_minlr_len"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L), min_lr=[0.1, 0.2])
    E["plateau_not_opt"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(object())
    E["lambda_len"] = lambda L: L.optim.lr_scheduler.LambdaLR(opt(L), [lambda e: 1, lambda e: 2])
    E["seq_milestones"] = lambda L: (lambda o: L.optim.lr_scheduler.SequentialLR(o, [L.optim.lr_scheduler.StepLR(o, 2), L.optim.lr_scheduler.StepLR(o, 2)], milestones=[1, 2]))(opt(L))
    E["seq_other_opt"] = lambda L: (lambda o, o2: L.optim.lr_scheduler.SequentialLR(o, [L.optim.lr_scheduler.StepLR(o, 2), L.optim.lr_scheduler.StepLR(o2, 2)], milestones=[1]))(opt(L), opt(L))
    E["chained_other_opt"] = lambda L: (lambda o, o2: L.optim.lr_scheduler.ChainedScheduler([L.optim.lr_scheduler.StepLR(o, 2), L.optim.lr_scheduler.StepLR(o2, 2)]))(opt(L), opt(L))
    E["cyclic_mode"] = lambda L: L.optim.lr_scheduler.CyclicLR(opt(L), 0.1, 1.0, mode="x")
    E["cyclic_no_momentum"] = lambda L: L.optim.lr_scheduler.CyclicLR(L.optim.Adam([L.nn.Parameter(L.ones(1))]), 0.1, 1.0)
    E["steplr_last_epoch_no_initial"] = lambda L: L.optim.lr_scheduler.StepLR(opt(L), 2, last_epoch=3)
    E["sched_not_opt"] = lambda L: L.optim.lr_scheduler.StepLR(object(), 2)
    E["split_bad_sum"] = lambda L: L.utils.data.random_split(range(10), [3, 3])
    E["split_bad_frac"] = lambda L: L.utils.data.random_split(range(10), [0.5, 0.6])
    E["split_neg"] = lambda L: L.utils.data.random_split(range(10), [-1, 11])
    E["wrs_neg"] = lambda L: list(L.utils.data.WeightedRandomSampler([1.0, -1.0], 3))
    E["wrs_nan"] = lambda L: list(L.utils.data.WeightedRandomSampler([1.0, float("nan")], 3))
    E["wrs_zero"] = lambda L: list(L.utils.data.WeightedRandomSampler([0.0, 0.0], 3))
    E["wrs_2d"] = lambda L: list(L.utils.data.WeightedRandomSampler([[1.0, 2.0]], 3))
    E["wrs_numsamples"] = lambda L: L.utils.data.WeightedRandomSampler([1.0], 0)
    E["wrs_norepl_too_many"] = lambda L: list(L.utils.data.WeightedRandomSampler([1.0, 2.0], 3, replacement=False))
    E["wrs_repl_type"] = lambda L: L.utils.data.WeightedRandomSampler([1.0], 2, replacement=1)
    E["wrs_empty"] = lambda L: list(L.utils.data.WeightedRandomSampler([], 2))
    E["bs_size0"] = lambda L: L.utils.data.BatchSampler(range(3), 0, False)
    E["bs_drop_type"] = lambda L: L.utils.data.BatchSampler(range(3), 2, 1)
    E["dl_bs_and_shuffle"] = lambda L: L.utils.data.DataLoader(range(4), batch_sampler=[[0, 1]], shuffle=True)
    E["dl_bs_and_batch_size"] = lambda L: L.utils.data.DataLoader(range(4), batch_sampler=[[0, 1]], batch_size=2)
    E["dl_sampler_and_shuffle"] = lambda L: L.utils.data.DataLoader(range(4), sampler=[0, 1], shuffle=True)
    E["dl_drop_last_none"] = lambda L: L.utils.data.DataLoader(range(4), batch_size=None, drop_last=True)
    E["subset_oob"] = lambda L: L.utils.data.Subset(range(3), [5])[0]
    E["concat_empty"] = lambda L: L.utils.data.ConcatDataset([])
    E["concat_oob"] = lambda L: L.utils.data.ConcatDataset([range(2), range(3)])[5]
    E["concat_neg_oob"] = lambda L: L.utils.data.ConcatDataset([range(2), range(3)])[-6]
    E["collate_mixed_len"] = lambda L: L.utils.data.default_collate([(1, 2), (3,)])
    E["collate_shape"] = lambda L: L.utils.data.default_collate([L.ones(2), L.ones(3)])
    E["collate_obj"] = lambda L: L.utils.data.default_collate([object(), object()])
    E["pad_seq_empty"] = lambda L: L.nn.utils.rnn.pad_sequence([])
    E["pad_seq_trailing"] = lambda L: L.nn.utils.rnn.pad_sequence([L.ones(2, 3), L.ones(2, 4)])
    E["pack_unsorted"] = lambda L: L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [2, 3])
    E["pack_len_zero"] = lambda L: L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [3, 0])
    E["pack_len_too_long"] = lambda L: L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [4, 2])
    E["pack_len_count"] = lambda L: L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [3, 2, 1])
    E["pack_len_cuda_tensor_2d"] = lambda L: L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), L.tensor([[3, 2]]))
    E["pad_packed_total_short"] = lambda L: L.nn.utils.rnn.pad_packed_sequence(L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [3, 2]), total_length=2)
    E["rnn_packed_wrong_feat"] = lambda L: L.nn.LSTM(3, 2)(L.nn.utils.rnn.pack_padded_sequence(L.ones(3, 2, 1), [3, 2]))
    E["sched_step_before_opt"] = lambda L: None
    return E


if __name__ == "__main__":
    run(sys.argv[1:] or None)
    print("---- errors")
    compare_errors(errs())
