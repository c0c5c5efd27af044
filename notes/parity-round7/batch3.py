# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected): custom schedulers,
printed reprs, state dict contents, loader lengths, more bad inputs."""
import sys, os, io
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity-round6"))
from cmp import snip, run, compare_errors
import numpy as np


def _opt(L, lr=0.1):
    w = L.nn.Parameter(L.ones(2))
    return w, L.optim.SGD([w], lr=lr)


@snip
def custom_sched(L):
    class Warmup(L.optim.lr_scheduler.LRScheduler):
        def __init__(self, optimizer, warm, last_epoch=-1):
            self.warm = warm
            super().__init__(optimizer, last_epoch)
        def get_lr(self):
            f = min(1.0, (self.last_epoch + 1) / self.warm)
            return [b * f for b in self.base_lrs]
    w, o = _opt(L)
    s = Warmup(o, 4)
    out = [o.param_groups[0]["lr"]]
    for i in range(5):
        o.step(); s.step(); out.append(s.get_last_lr()[0])
    return out, sorted(s.state_dict()), o.param_groups[0]["initial_lr"]


@snip
def lambda_state(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.LambdaLR(o, lambda e: 0.5 ** e)
    o.step(); s.step()
    sd = s.state_dict()
    return sorted(sd), sd["lr_lambdas"], sd["last_epoch"], sd["_step_count"], sd["base_lrs"], sd["_last_lr"]


@snip
def steplr_state(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.StepLR(o, 2, 0.5)
    o.step(); s.step()
    sd = s.state_dict()
    return sorted(sd), sd["step_size"], sd["gamma"], sd["_step_count"], sd["last_epoch"]


@snip
def onecycle_state(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=5)
    return sorted(s.state_dict()), sorted(o.param_groups[0])


@snip
def cyclic_state_keys(L):
    w, o = _opt(L)
    o.param_groups[0]["momentum"] = 0.9
    s = L.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1)
    return sorted(s.state_dict()), sorted(o.param_groups[0])


@snip
def get_last_lr_init(L):
    w, o = _opt(L)
    s = L.optim.lr_scheduler.ExponentialLR(o, 0.5)
    return s.get_last_lr(), s.last_epoch, s._step_count


@snip
def sgd_group_keys(L):
    w, o = _opt(L)
    return sorted(o.param_groups[0]), sorted(o.state_dict()["param_groups"][0]), sorted(o.defaults)


@snip
def adam_group_keys(L):
    w = L.nn.Parameter(L.ones(2))
    o = L.optim.Adam([w])
    w.grad = L.ones(2); o.step()
    sd = o.state_dict()
    return sorted(o.param_groups[0]), sorted(sd["state"][0]), sd["state"][0]["step"], sd["state"][0]["step"].dtype


@snip
def loader_lens(L):
    ds = L.utils.data.TensorDataset(L.arange(10.0))
    return (len(L.utils.data.DataLoader(ds, batch_size=3)), len(L.utils.data.DataLoader(ds, batch_size=3, drop_last=True)),
            len(L.utils.data.DataLoader(ds, batch_size=4, sampler=L.utils.data.WeightedRandomSampler([1.0] * 10, 7))),
            len(L.utils.data.DataLoader(ds, sampler=L.utils.data.SubsetRandomSampler([1, 2, 3]))))


@snip
def subset_of_subset(L):
    ds = L.utils.data.TensorDataset(L.arange(10.0), L.arange(10))
    s = L.utils.data.Subset(L.utils.data.Subset(ds, [9, 8, 7, 6]), [1, 3])
    return len(s), s[0], s[1], [b for b in L.utils.data.DataLoader(s, batch_size=2)]


@snip
def random_split_gen_disjoint(L):
    parts = L.utils.data.random_split(L.utils.data.TensorDataset(L.arange(10.0)), [0.5, 0.3, 0.2], generator=L.Generator().manual_seed(1))
    idx = sorted(i for p in parts for i in p.indices)
    return [len(p) for p in parts], idx, type(parts[0].indices).__name__, type(parts[0].indices[0]).__name__


@snip
def transformer_repr(L):
    m = L.nn.TransformerEncoderLayer(4, 2, 6, 0.1, batch_first=True)
    return str(m)


@snip
def transformer_decoder_repr(L):
    return str(L.nn.TransformerDecoder(L.nn.TransformerDecoderLayer(4, 2, 6), 2))


@snip
def mha_repr(L):
    return str(L.nn.MultiheadAttention(4, 2, kdim=3, vdim=5)), [n for n, _ in L.nn.MultiheadAttention(4, 2, kdim=3, vdim=5).named_parameters()]


@snip
def lstm_proj_packed(L):
    m = L.nn.LSTM(2, 4, proj_size=3, batch_first=True)
    r = np.random.default_rng(0)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor((r.standard_normal(tuple(p.shape)) * 0.3).astype(np.float32)))
    pk = L.nn.utils.rnn.pack_sequence([L.ones(3, 2), L.ones(1, 2) * 2, L.ones(2, 2) * -1], enforce_sorted=False)
    out, (h, c) = m(pk)
    pad, lens = L.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    return pad, lens, h, c, out.sorted_indices


@snip
def pad_seq_1d(L):
    return L.nn.utils.rnn.pad_sequence([L.tensor([1, 2, 3]), L.tensor([4])], batch_first=True), L.nn.utils.rnn.pad_sequence([L.tensor([1.0]), L.tensor([2.0, 3.0])])


@snip
def gradcheck_fast(L):
    x = L.tensor([0.3, 0.7], dtype=L.float64, requires_grad=True)
    return L.autograd.gradcheck(lambda a: a.exp() * a, (x,), fast_mode=True), L.autograd.gradcheck(lambda a, b: a * b, (x, L.tensor([1.0, 2.0], dtype=L.float64)))


@snip
def named_modules_memo(L):
    shared = L.nn.Linear(1, 1)
    m = L.nn.Sequential(shared, L.nn.Sequential(shared, L.nn.ReLU()))
    return [n for n, _ in m.named_modules()], [type(c).__name__ for c in m.modules()], len(list(m.parameters())), [n for n, _ in m.named_buffers()]


@snip
def module_train_eval_flags(L):
    m = L.nn.Sequential(L.nn.Dropout(0.5), L.nn.BatchNorm1d(2))
    r = m.eval()
    return r is m, [c.training for c in m.modules()], m.train(False) is m, m.training, [c.training for c in m.train().modules()]


@snip
def requires_grad_module(L):
    m = L.nn.Linear(2, 2)
    m.requires_grad_(False)
    return [p.requires_grad for p in m.parameters()], m.weight.grad


@snip
def zero_grad_set_none(L):
    m = L.nn.Linear(2, 1)
    m(L.ones(1, 2)).sum().backward()
    m.zero_grad()
    a = m.weight.grad
    m(L.ones(1, 2)).sum().backward()
    o = L.optim.SGD(m.parameters(), 0.1)
    o.zero_grad(set_to_none=False)
    return a, m.weight.grad


@snip
def sd_keep_vars(L):
    m = L.nn.Linear(2, 1)
    sd = m.state_dict(keep_vars=True)
    sd2 = m.state_dict()
    return sd["weight"].requires_grad, type(sd["weight"]).__name__, sd2["weight"].requires_grad, type(sd2["weight"]).__name__


@snip
def sd_load_assign(L):
    m = L.nn.Linear(2, 1)
    w = L.ones(1, 2)
    m.load_state_dict({"weight": w, "bias": L.zeros(1)}, assign=True)
    return type(m.weight).__name__, m.weight.requires_grad, m.weight


@snip
def save_load_model_whole(L):
    m = L.nn.Linear(2, 1)
    L.nn.init.ones_(m.weight)
    buf = io.BytesIO()
    L.save(m.state_dict(), buf); buf.seek(0)
    sd = L.load(buf, weights_only=True)
    return type(sd).__name__, list(sd), sd["weight"]


def errs():
    E = {}
    def opt(L):
        return L.optim.SGD([L.nn.Parameter(L.ones(2))], lr=0.1)
    E["sched_load_bad"] = lambda L: L.optim.lr_scheduler.StepLR(opt(L), 2).load_state_dict([1])
    E["plateau_step_no_metric"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L)).step()
    E["plateau_metric_str"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L)).step("a")
    E["plateau_metric_vec"] = lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(opt(L)).step(L.ones(2))
    E["steplr_step_size_float"] = lambda L: L.optim.lr_scheduler.StepLR(opt(L), 2.5).step()
    E["exp_gamma_str"] = lambda L: L.optim.lr_scheduler.ExponentialLR(opt(L), "a")
    E["cosine_Tmax0"] = lambda L: [L.optim.lr_scheduler.CosineAnnealingLR(o := opt(L), 0), o.step()]
    E["linear_factor"] = lambda L: L.optim.lr_scheduler.LinearLR(opt(L), start_factor=0)
    E["linear_factor2"] = lambda L: L.optim.lr_scheduler.LinearLR(opt(L), end_factor=2)
    E["constant_factor"] = lambda L: L.optim.lr_scheduler.ConstantLR(opt(L), factor=2)
    E["multistep_unsorted"] = lambda L: L.optim.lr_scheduler.MultiStepLR(opt(L), [3, 1]).milestones
    E["opt_empty"] = lambda L: L.optim.SGD([], lr=0.1)
    E["opt_tensor_params"] = lambda L: L.optim.SGD(L.ones(2), lr=0.1)
    E["opt_dup_params"] = lambda L: (lambda p: L.optim.SGD([p, p], lr=0.1))(L.nn.Parameter(L.ones(1)))
    E["opt_dup_groups"] = lambda L: (lambda p: L.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(L.nn.Parameter(L.ones(1)))
    E["opt_nonleaf"] = lambda L: L.optim.SGD([L.ones(1, requires_grad=True) * 2], lr=0.1)
    E["opt_lr_neg"] = lambda L: L.optim.Adam([L.nn.Parameter(L.ones(1))], lr=-1)
    E["opt_betas"] = lambda L: L.optim.Adam([L.nn.Parameter(L.ones(1))], betas=(1.0, 0.9))
    E["opt_no_lr_group"] = lambda L: L.optim.SGD([{"params": [L.nn.Parameter(L.ones(1))]}])
    E["opt_sd_missing_groups"] = lambda L: opt(L).load_state_dict({"state": {}})
    E["add_param_group_dup"] = lambda L: (lambda p: L.optim.SGD([p], lr=0.1).add_param_group({"params": [p]}))(L.nn.Parameter(L.ones(1)))
    E["nesterov_no_momentum"] = lambda L: L.optim.SGD([L.nn.Parameter(L.ones(1))], lr=0.1, nesterov=True)
    E["dl_bad_batch"] = lambda L: L.utils.data.DataLoader(range(3), batch_size=0)
    E["dl_bad_batch_neg"] = lambda L: L.utils.data.DataLoader(range(3), batch_size=-1)
    E["dl_collate_not_callable"] = lambda L: list(L.utils.data.DataLoader(range(3), collate_fn=5))
    E["tds_mismatch"] = lambda L: L.utils.data.TensorDataset(L.ones(3), L.ones(2))
    E["tds_not_tensor"] = lambda L: L.utils.data.TensorDataset([1, 2])
    E["subset_neg"] = lambda L: L.utils.data.Subset(range(3), [-1])[0]
    E["rs_bad"] = lambda L: L.utils.data.RandomSampler(range(3), num_samples=0)
    E["rs_repl_numsamples"] = lambda L: len(L.utils.data.RandomSampler(range(3), num_samples=5))
    E["sr_no_data"] = lambda L: list(L.utils.data.SequentialSampler(5))
    E["pad_seq_not_list"] = lambda L: L.nn.utils.rnn.pad_sequence(L.ones(2, 3))
    E["pad_seq_side"] = lambda L: L.nn.utils.rnn.pad_sequence([L.ones(2)], padding_side="middle")
    E["pad_seq_dtype_mix"] = lambda L: L.nn.utils.rnn.pad_sequence([L.ones(2), L.ones(3, dtype=L.int64)]).dtype
    E["pack_seq_empty"] = lambda L: L.nn.utils.rnn.pack_sequence([])
    E["tr_nhead_div"] = lambda L: L.nn.Transformer(d_model=5, nhead=2)
    E["tr_src_2d_tgt_3d"] = lambda L: L.nn.Transformer(4, 2, 1, 1, 6, 0.0)(L.ones(3, 4), L.ones(2, 1, 4))
    E["tr_kpm_wrong"] = lambda L: L.nn.Transformer(4, 2, 1, 1, 6, 0.0)(L.ones(3, 2, 4), L.ones(2, 2, 4), src_key_padding_mask=L.zeros(3, 2, dtype=L.bool))
    E["enc_layer_4d"] = lambda L: L.nn.TransformerEncoderLayer(4, 2, 6, 0.0)(L.ones(3, 2, 1, 4))
    E["mha_bad_kdim"] = lambda L: L.nn.MultiheadAttention(4, 2, kdim=3, vdim=3)(L.ones(2, 1, 4), L.ones(2, 1, 4), L.ones(2, 1, 3))
    E["mha_attn_mask_3d_bad"] = lambda L: L.nn.MultiheadAttention(4, 2)(L.ones(2, 1, 4), L.ones(2, 1, 4), L.ones(2, 1, 4), attn_mask=L.zeros(3, 2, 2))
    E["mha_kpm_float_shape"] = lambda L: L.nn.MultiheadAttention(4, 2)(L.ones(2, 1, 4), L.ones(2, 1, 4), L.ones(2, 1, 4), key_padding_mask=L.zeros(2, 2))
    E["gen_mask_neg"] = lambda L: L.nn.Transformer.generate_square_subsequent_mask(-1)
    E["emb_tied_shape"] = lambda L: setattr(L.nn.Linear(3, 5), "weight", L.nn.Embedding(4, 3).weight)
    E["moduledict_update_bad"] = lambda L: L.nn.ModuleDict().update(5)
    E["modulelist_extend_bad"] = lambda L: L.nn.ModuleList().extend(5)
    E["seq_bad_arg"] = lambda L: L.nn.Sequential(5)
    E["paramlist_setitem_bad"] = lambda L: L.nn.ParameterList([L.nn.Parameter(L.ones(1))]).__setitem__(5, L.nn.Parameter(L.ones(1)))
    E["apply_not_callable"] = lambda L: L.nn.Linear(1, 1).apply(5)
    E["hook_not_callable_fw"] = lambda L: (lambda m: (m.register_forward_hook(5), m(L.ones(1))))(L.nn.Identity())
    E["register_hook_no_grad"] = lambda L: L.ones(1).register_hook(lambda g: g)
    E["module_no_forward"] = lambda L: L.nn.Module()(L.ones(1))
    E["hessian_bad_out"] = lambda L: L.autograd.functional.hessian(lambda a: "x", L.ones(1))
    E["vhp_no_v_multi"] = lambda L: L.autograd.functional.vhp(lambda a: a.sum(), L.ones(2))
    E["gradcheck_int"] = lambda L: L.autograd.gradcheck(lambda a: a * 2, (L.ones(1, dtype=L.int64),))
    E["gradgradcheck_no_rg"] = lambda L: L.autograd.gradgradcheck(lambda a: a * 2, (L.ones(1, dtype=L.float64),))
    E["jac_vectorize_create"] = lambda L: L.autograd.functional.jacobian(lambda a: a * 2, L.ones(1), vectorize=True, create_graph=True, strategy="forward-mode")
    return E


if __name__ == "__main__":
    run(sys.argv[1:] or None)
    print("---- errors")
    compare_errors(errs())


@snip
def mha_kdim_values(L):
    m = L.nn.MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True)
    r = np.random.default_rng(4)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor((r.standard_normal(tuple(p.shape)) * 0.3).astype(np.float32)))
    q = L.tensor(r.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    k = L.tensor(r.standard_normal((2, 5, 3)).astype(np.float32))
    v = L.tensor(r.standard_normal((2, 5, 5)).astype(np.float32))
    out, w = m(q, k, v, key_padding_mask=L.tensor([[False] * 4 + [True], [False] * 5]))
    out.sum().backward()
    return out, w, q.grad, m.k_proj_weight.grad, m.in_proj_weight, [n for n, _ in m.named_parameters()], list(m.state_dict())


if __name__ == "__main__" and len(sys.argv) > 1:
    pass
