# ruff: noqa
"""Round 8 batch 3: nn.Module API, losses, optimizers, schedulers, DataLoader (torch vs jitgrad)."""
import sys
import numpy as np
from harness import snip, run


def net(L):
    L.manual_seed(0)
    m = L.nn.Sequential(L.nn.Linear(4, 3), L.nn.ReLU(), L.nn.BatchNorm1d(3), L.nn.Dropout(0.5), L.nn.Linear(3, 2))
    rs = np.random.RandomState(0)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor(rs.randn(*p.shape).astype(np.float32)))
    return m


def data(L, n=6, k=4, seed=1):
    rs = np.random.RandomState(seed)
    return L.tensor(rs.randn(n, k).astype(np.float32)), L.tensor(rs.randint(0, 2, n))


@snip
def m_repr(L):
    return repr(net(L))
@snip
def m_repr_custom(L):
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = L.nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False)
            self.pool = L.nn.MaxPool2d(2)
            self.fc = L.nn.Linear(8, 2)
            self.drop = L.nn.Dropout(p=0.1)
            self.act = L.nn.LeakyReLU(0.2)
            self.ln = L.nn.LayerNorm([4, 2])
            self.emb = L.nn.Embedding(10, 3, padding_idx=0)
            self.lstm = L.nn.LSTM(3, 5, num_layers=2, batch_first=True, dropout=0.1)
            self.ml = L.nn.ModuleList([L.nn.Identity(), L.nn.Tanh()])
            self.md = L.nn.ModuleDict({"a": L.nn.GELU(approximate="tanh"), "b": L.nn.Softmax(dim=1)})
            self.flat = L.nn.Flatten()
            self.bn = L.nn.BatchNorm2d(4, momentum=None, affine=False)
            self.gn = L.nn.GroupNorm(2, 4)
            self.up = L.nn.Upsample(scale_factor=2, mode="nearest")
            self.ce = L.nn.CrossEntropyLoss(label_smoothing=0.1)
            self.p = L.nn.Parameter(L.ones(2))
    return repr(Net())
@snip
def m_named_modules(L):
    m = net(L); return [n for n, _ in m.named_modules()], [n for n, _ in m.named_children()]
@snip
def m_named_modules_prefix(L):
    m = net(L); return [n for n, _ in m.named_modules(prefix="model")]
@snip
def m_named_parameters(L):
    m = net(L); return [(n, tuple(p.shape)) for n, p in m.named_parameters()]
@snip
def m_named_buffers(L):
    m = net(L); return [(n, tuple(p.shape), str(p.dtype)) for n, p in m.named_buffers()]
@snip
def m_state_dict_keys(L):
    m = net(L); return list(m.state_dict().keys())
@snip
def m_shared_params(L):
    lin = L.nn.Linear(2, 2)
    m = L.nn.Sequential(lin, L.nn.ReLU(), lin)
    return len(list(m.parameters())), [n for n, _ in m.named_parameters()], list(m.state_dict().keys()), len(list(m.modules())), [n for n, _ in m.named_modules()]
@snip
def m_shared_params_nodedup(L):
    lin = L.nn.Linear(2, 2)
    m = L.nn.Sequential(lin, L.nn.ReLU(), lin)
    return [n for n, _ in m.named_parameters(remove_duplicate=False)]
@snip
def m_tied(L):
    class T(L.nn.Module):
        def __init__(self):
            super().__init__(); self.emb = L.nn.Embedding(5, 3); self.out = L.nn.Linear(3, 5, bias=False); self.out.weight = self.emb.weight
    m = T(); return [n for n, _ in m.named_parameters()], list(m.state_dict().keys())
@snip
def m_buffer_nonpersistent(L):
    class B(L.nn.Module):
        def __init__(self):
            super().__init__(); self.register_buffer("a", L.ones(2)); self.register_buffer("b", L.zeros(2), persistent=False); self.register_buffer("c", None)
    m = B(); return list(m.state_dict().keys()), [n for n, _ in m.named_buffers()], m.c
@snip
def m_register_buffer_bad(L):
    m = L.nn.Module(); m.register_buffer("x.y", L.ones(1))
@snip
def m_register_buffer_notensor(L):
    m = L.nn.Module(); m.register_buffer("x", [1, 2])
@snip
def m_register_param_bad(L):
    m = L.nn.Module(); m.register_parameter("w", L.ones(2))
@snip
def m_assign_tensor_to_param(L):
    m = L.nn.Linear(2, 2); m.weight = L.ones(2, 2)
@snip
def m_assign_none_param(L):
    m = L.nn.Linear(2, 2); m.bias = None; return [n for n, _ in m.named_parameters()], list(m.state_dict().keys()), repr(m)
@snip
def m_load_strict_false(L):
    m = net(L); sd = m.state_dict(); sd["extra"] = L.ones(1); del sd["0.bias"]
    r = m.load_state_dict(sd, strict=False); return r.missing_keys, r.unexpected_keys, str(r), repr(r)
@snip
def m_load_strict_true(L):
    m = net(L); sd = m.state_dict(); sd["extra"] = L.ones(1); del sd["0.bias"]
    m.load_state_dict(sd)
@snip
def m_load_shape_mismatch(L):
    m = L.nn.Linear(2, 3); sd = {"weight": L.ones(3, 3), "bias": L.ones(3)}; m.load_state_dict(sd)
@snip
def m_load_ok_ret(L):
    m = L.nn.Linear(2, 3); r = m.load_state_dict(L.nn.Linear(2, 3).state_dict()); return str(r), r.missing_keys
@snip
def m_load_keeps_identity(L):
    m = L.nn.Linear(2, 3); w = m.weight; m.load_state_dict({"weight": L.ones(3, 2), "bias": L.zeros(3)}); return m.weight is w, m.weight
@snip
def m_load_dtype(L):
    m = L.nn.Linear(2, 3); m.load_state_dict({"weight": L.ones(3, 2, dtype=L.float64), "bias": L.zeros(3, dtype=L.float64)}); return m.weight
@snip
def m_state_dict_detached(L):
    m = L.nn.Linear(2, 3); sd = m.state_dict(); return sd["weight"].requires_grad, sd["weight"].data_ptr() == m.weight.data_ptr()
@snip
def m_zero_grad(L):
    m = net(L); x, y = data(L); m(x).sum().backward(); m.zero_grad(); a = [p.grad for p in m.parameters()]
    m(x).sum().backward(); m.zero_grad(set_to_none=False); return a, [p.grad for p in m.parameters()]
@snip
def m_train_eval(L):
    m = net(L); m.eval(); a = [mm.training for mm in m.modules()]; m.train(); b = [mm.training for mm in m.modules()]
    m[2].eval(); c = [mm.training for mm in m.modules()]; r = m.train(False); return a, b, c, r is m
@snip
def m_train_bad(L):
    m = net(L); m.train("yes")
@snip
def m_eval_values(L):
    m = net(L); x, _ = data(L); m(x); m(x); m.eval(); return m(x), m[2].running_mean, m[2].running_var, m[2].num_batches_tracked
@snip
def m_apply(L):
    m = net(L); names = []
    def f(mod):
        names.append(type(mod).__name__)
        if isinstance(mod, L.nn.Linear):
            L.nn.init.constant_(mod.weight, 0.5); L.nn.init.zeros_(mod.bias)
    r = m.apply(f); return names, r is m, m[0].weight
@snip
def m_requires_grad_(L):
    m = net(L); m[0].requires_grad_(False); x, _ = data(L); m(x).sum().backward(); return [p.grad is None for p in m.parameters()], [p.requires_grad for p in m.parameters()]
@snip
def m_children_len(L):
    m = net(L); return len(m), len(list(m.children())), type(m[1:]).__name__, len(m[1:]), type(m[-1]).__name__
@snip
def m_seq_append(L):
    m = net(L); m.append(L.nn.Sigmoid()); m.insert(0, L.nn.Identity()); return [type(x).__name__ for x in m]
@snip
def m_seq_del(L):
    m = net(L); del m[1]; return [n for n, _ in m.named_children()]
@snip
def m_modulelist_ops(L):
    ml = L.nn.ModuleList([L.nn.Linear(1, 1) for _ in range(3)]); ml.extend([L.nn.ReLU()]); ml += [L.nn.Tanh()]
    return len(ml), [n for n, _ in ml.named_children()], type(ml[1:]).__name__, len(list(ml.parameters()))
@snip
def m_getattr_err(L):
    m = L.nn.Linear(2, 2); m.foo
@snip
def m_forward_missing(L):
    class M(L.nn.Module):
        pass
    M()(L.ones(1))
@snip
def m_super_init_missing(L):
    class M(L.nn.Module):
        def __init__(self):
            self.l = L.nn.Linear(1, 1)
    M()
@snip
def m_extra_repr(L):
    class M(L.nn.Module):
        def __init__(self):
            super().__init__(); self.l = L.nn.Linear(1, 1)
        def extra_repr(self):
            return "k=3"
    return repr(M())
@snip
def m_get_submodule(L):
    m = net(L); return type(m.get_submodule("0")).__name__, tuple(m.get_parameter("0.weight").shape)
@snip
def m_get_submodule_bad(L):
    m = net(L); m.get_submodule("9")
@snip
def m_half_double(L):
    m = net(L).double(); return [str(p.dtype) for p in m.parameters()], str(m[2].num_batches_tracked.dtype)
@snip
def m_to_dtype(L):
    m = net(L).to(L.float64); x, _ = data(L); return m(x.double()).dtype
@snip
def m_dtype_mismatch(L):
    m = L.nn.Linear(2, 2); m(L.ones(1, 2, dtype=L.float64))
@snip
def m_linear_bad_shape(L):
    m = L.nn.Linear(3, 2); m(L.ones(4, 2))
@snip
def m_deepcopy(L):
    import copy
    m = net(L); m2 = copy.deepcopy(m); return m2[0].weight is m[0].weight, L.equal(m2[0].weight, m[0].weight), m2[0].weight.requires_grad
@snip
def m_num_params(L):
    m = net(L); return sum(p.numel() for p in m.parameters()), sum(p.numel() for p in m.parameters() if p.requires_grad)
@snip
def m_hooks_forward(L):
    m = L.nn.Linear(2, 2); out = []
    h = m.register_forward_hook(lambda mod, i, o: out.append((type(i).__name__, len(i), tuple(o.shape))))
    m(L.ones(3, 2)); h.remove(); m(L.ones(3, 2)); return out

# ---- losses
def logits(L, n=5, c=4, seed=2, rg=True):
    return L.tensor(np.random.RandomState(seed).randn(n, c).astype(np.float32), requires_grad=rg)

def lossg(L, f):
    x = logits(L); l = f(x); l.sum().backward() if l.ndim else l.backward(); return l, x.grad

T = [0, 3, 1, 1, 2]
@snip
def l_ce_mean(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T)))
@snip
def l_ce_none(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T), reduction="none"))
@snip
def l_ce_sum(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T), reduction="sum"))
@snip
def l_ce_weight(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T), weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_ce_ignore(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, -100, 1, 1, -100])))
@snip
def l_ce_ignore_custom(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, 3, 1, 1, 3]), ignore_index=3, weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_ce_all_ignored(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([-100] * 5)))
@snip
def l_ce_ls(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T), label_smoothing=0.2))
@snip
def l_ce_ls_weight_ignore(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, -100, 1, 1, 2]), label_smoothing=0.2, weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_ce_ls_none(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, -100, 1, 1, 2]), label_smoothing=0.2, reduction="none"))
@snip
def l_ce_probs(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.softmax(L.arange(20.).reshape(5, 4) / 7, 1)))
@snip
def l_ce_probs_ls_w(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.softmax(L.arange(20.).reshape(5, 4) / 7, 1), label_smoothing=0.1, weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_ce_3d(L):
    x = L.tensor(np.random.RandomState(3).randn(2, 4, 3).astype(np.float32), requires_grad=True)
    l = L.nn.functional.cross_entropy(x, L.tensor([[0, 1, 2], [3, -100, 0]]), weight=L.tensor([1.0, 2.0, 0.5, 3.0])); l.backward(); return l, x.grad
@snip
def l_ce_bad_target(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, 4, 1, 1, 2])))
@snip
def l_ce_float_target_shape(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0.0, 1.0, 1.0, 1.0, 2.0])))
@snip
def l_ce_int32_target(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor(T, dtype=L.int32)))
@snip
def l_ce_batch_mismatch(L): return lossg(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([0, 1])))
@snip
def l_ce_1d(L):
    x = L.tensor([1.0, 2.0, 0.5], requires_grad=True); l = L.nn.functional.cross_entropy(x, L.tensor(1)); l.backward(); return l, x.grad
@snip
def l_nll_weight(L): return lossg(L, lambda x: L.nn.functional.nll_loss(L.log_softmax(x, 1), L.tensor(T), weight=L.tensor([1.0, 2.0, 0.5, 3.0]), reduction="sum"))
@snip
def l_bce(L): return lossg(L, lambda x: L.nn.functional.binary_cross_entropy(L.sigmoid(x), L.ones(5, 4) * 0.3, weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_bce_logits_pw(L): return lossg(L, lambda x: L.nn.functional.binary_cross_entropy_with_logits(x, L.ones(5, 4) * 0.3, pos_weight=L.tensor([1.0, 2.0, 0.5, 3.0]), reduction="sum"))
@snip
def l_bce_target_int(L): return lossg(L, lambda x: L.nn.functional.binary_cross_entropy_with_logits(x, L.ones(5, 4, dtype=L.long)))
@snip
def l_bce_shape(L): return lossg(L, lambda x: L.nn.functional.binary_cross_entropy_with_logits(x, L.ones(5)))
@snip
def l_bce_out_of_range(L): return lossg(L, lambda x: L.nn.functional.binary_cross_entropy(x, L.ones(5, 4)))
@snip
def l_mse_bcast(L): return lossg(L, lambda x: L.nn.functional.mse_loss(x, L.ones(4)))
@snip
def l_mse_none(L): return lossg(L, lambda x: L.nn.MSELoss(reduction="none")(x, L.ones(5, 4)))
@snip
def l_l1_int_target(L): return lossg(L, lambda x: L.nn.functional.l1_loss(x, L.ones(5, 4, dtype=L.long)))
@snip
def l_smooth_l1_beta(L): return lossg(L, lambda x: L.nn.functional.smooth_l1_loss(x, L.zeros(5, 4), beta=0.5))
@snip
def l_huber(L): return lossg(L, lambda x: L.nn.functional.huber_loss(x, L.zeros(5, 4), delta=0.5, reduction="sum"))
@snip
def l_kl(L): return lossg(L, lambda x: L.nn.functional.kl_div(L.log_softmax(x, 1), L.softmax(L.arange(20.).reshape(5, 4) / 7, 1), reduction="batchmean"))
@snip
def l_kl_mean_warn(L): return lossg(L, lambda x: L.nn.functional.kl_div(L.log_softmax(x, 1), L.softmax(L.arange(20.).reshape(5, 4) / 7, 1)))
@snip
def l_bad_reduction(L): return lossg(L, lambda x: L.nn.functional.mse_loss(x, L.ones(5, 4), reduction="avg"))
@snip
def l_size_average(L): return lossg(L, lambda x: L.nn.MSELoss(size_average=False)(x, L.ones(5, 4)))
@snip
def l_ce_module_repr(L): return repr(L.nn.CrossEntropyLoss(weight=L.ones(3), ignore_index=2, label_smoothing=0.1)), L.nn.CrossEntropyLoss().reduction
@snip
def l_margin_ranking(L): return lossg(L, lambda x: L.nn.functional.margin_ranking_loss(x[:, 0], x[:, 1], L.tensor([1.0, -1.0, 1.0, -1.0, 1.0]), margin=0.1))
@snip
def l_cosine_emb(L): return lossg(L, lambda x: L.nn.functional.cosine_embedding_loss(x[:, :2], x[:, 2:], L.tensor([1.0, -1.0, 1.0, -1.0, 1.0]), margin=0.1))
@snip
def l_triplet(L): return lossg(L, lambda x: L.nn.functional.triplet_margin_loss(x[:, :2], x[:, 2:], x[:, 1:3], margin=0.5))
@snip
def l_poisson(L): return lossg(L, lambda x: L.nn.functional.poisson_nll_loss(x, L.ones(5, 4) * 2))
@snip
def l_gauss(L): return lossg(L, lambda x: L.nn.functional.gaussian_nll_loss(x, L.zeros(5, 4), L.ones(5, 4) * 0.5))
@snip
def l_soft_margin(L): return lossg(L, lambda x: L.nn.functional.soft_margin_loss(x, L.ones(5, 4)))
@snip
def l_multi_margin(L): return lossg(L, lambda x: L.nn.functional.multi_margin_loss(x, L.tensor(T), margin=0.5, weight=L.tensor([1.0, 2.0, 0.5, 3.0])))
@snip
def l_ctc_shape(L):
    x = L.tensor(np.random.RandomState(3).randn(6, 2, 4).astype(np.float32), requires_grad=True)
    l = L.nn.functional.ctc_loss(L.log_softmax(x, 2), L.tensor([[1, 2], [3, 3]]), L.tensor([6, 5]), L.tensor([2, 2])); l.backward(); return l, x.grad

if __name__ == "__main__":
    run(sys.argv[1:] or None)
