# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected): saving/loading, module API,
hooks, autograd.functional, Transformer layers."""
import sys, os, io, collections, warnings
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity-round6"))
from cmp import snip, run, compare_errors
import numpy as np


def fill(L, m, seed=0):
    rng = np.random.default_rng(seed)
    with L.no_grad():
        for p in m.parameters():
            p.copy_(L.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return m


class _M:
    pass


def net(L):
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = L.nn.Linear(3, 4)
            self.bn = L.nn.BatchNorm1d(4)
            self.fc2 = L.nn.Linear(4, 2)
            self.register_buffer("step", L.zeros(()))
            self.register_buffer("cache", L.ones(2), persistent=False)
        def forward(self, x):
            return self.fc2(L.relu(self.bn(self.fc1(x))))
    return Net()


@snip
def sd_keys(L):
    m = net(L)
    sd = m.state_dict()
    return list(sd), [tuple(v.shape) for v in sd.values()], [n for n, _ in m.named_buffers()]


@snip
def sd_strict_false(L):
    m = net(L)
    sd = m.state_dict()
    del sd["fc2.bias"]
    sd["extra"] = L.ones(1)
    r = m.load_state_dict(sd, strict=False)
    return type(r).__name__, r.missing_keys, r.unexpected_keys, list(r), str(r)


@snip
def sd_strict_true_ok(L):
    m = net(L)
    r = m.load_state_dict(net(L).state_dict())
    return str(r), list(r), bool(r.missing_keys)


@snip
def sd_roundtrip(L):
    m = fill(L, net(L))
    x = L.tensor(np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32))
    o = L.optim.Adam(m.parameters(), lr=0.01)
    for i in range(2):
        o.zero_grad(); m(x).pow(2).mean().backward(); o.step()
    buf = io.BytesIO()
    L.save({"model": m.state_dict(), "opt": o.state_dict(), "epoch": 2}, buf)
    buf.seek(0)
    ck = L.load(buf)
    m2 = net(L); o2 = L.optim.Adam(m2.parameters(), lr=0.5)
    m2.load_state_dict(ck["model"]); o2.load_state_dict(ck["opt"])
    for mm, oo in ((m, o), (m2, o2)):
        oo.zero_grad(); mm(x).pow(2).mean().backward(); oo.step()
    osd = o2.state_dict()
    return ([p for p in m.parameters()], [p for p in m2.parameters()], m2.bn.running_mean, m2.bn.num_batches_tracked,
            sorted(osd), osd["param_groups"][0]["lr"], osd["param_groups"][0]["params"], sorted(osd["state"][0]), osd["state"][0]["step"], ck["epoch"])


@snip
def opt_sd_sgd(L):
    w = L.nn.Parameter(L.ones(2)); b = L.nn.Parameter(L.ones(1))
    o = L.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    (w.sum() + b.sum()).backward(); o.step()
    sd = o.state_dict()
    return sorted(sd["param_groups"][1]), sd["param_groups"][1]["params"], sorted(sd["state"]), sd["state"][0]["momentum_buffer"]


@snip
def opt_sd_load_groups(L):
    w = L.nn.Parameter(L.ones(2))
    o = L.optim.SGD([w], lr=0.1)
    sd = o.state_dict()
    w2 = L.nn.Parameter(L.ones(2)); b2 = L.nn.Parameter(L.ones(1))
    o2 = L.optim.SGD([{"params": [w2]}, {"params": [b2]}], lr=0.1)
    o2.load_state_dict(sd)


@snip
def opt_sd_load_sizes(L):
    w = L.nn.Parameter(L.ones(2))
    o = L.optim.SGD([w], lr=0.1)
    sd = o.state_dict()
    o2 = L.optim.SGD([L.nn.Parameter(L.ones(2)), L.nn.Parameter(L.ones(1))], lr=0.1)
    o2.load_state_dict(sd)


@snip
def sd_prefix_sequential(L):
    m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Sequential(L.nn.Linear(2, 1)))
    return list(m.state_dict()), [n for n, _ in m.named_modules()], [n for n, _ in m.named_children()]


@snip
def named_modules_order(L):
    class B(L.nn.Module):
        def __init__(self, shared):
            super().__init__()
            self.z = L.nn.Linear(1, 1)
            self.a = shared
    class A(L.nn.Module):
        def __init__(self):
            super().__init__()
            s = L.nn.Linear(1, 1)
            self.b = B(s)
            self.s = s
            self.c = L.nn.ModuleList([L.nn.ReLU(), s])
    m = A()
    return ([n for n, _ in m.named_modules()], [n for n, _ in m.named_modules(remove_duplicate=False)],
            [n for n, _ in m.named_parameters()], [n for n, _ in m.named_parameters(remove_duplicate=False)],
            list(m.state_dict()), [n for n, _ in m.named_modules(prefix="root")])


@snip
def weight_tying(L):
    class LM(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = L.nn.Embedding(5, 3)
            self.out = L.nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight
        def forward(self, i):
            return self.out(self.emb(i))
    m = fill(L, LM())
    y = m(L.tensor([1, 2, 2]))
    L.nn.functional.cross_entropy(y, L.tensor([0, 1, 4])).backward()
    return len(list(m.parameters())), list(m.state_dict()), m.emb.weight.grad, m.out.weight is m.emb.weight


@snip
def moduledict(L):
    d = L.nn.ModuleDict({"b": L.nn.Linear(1, 2), "a": L.nn.ReLU()})
    d["c"] = L.nn.Tanh()
    d.update([("d", L.nn.Sigmoid())])
    p = d.pop("a")
    return list(d.keys()), [type(v).__name__ for v in d.values()], "b" in d, len(d), type(p).__name__, list(d.state_dict())


@snip
def paramlist(L):
    pl = L.nn.ParameterList([L.nn.Parameter(L.ones(2)), L.nn.Parameter(L.zeros(1))])
    pl.append(L.nn.Parameter(L.ones(3)))
    pl.extend([L.nn.Parameter(L.ones(1))])
    pl.append(L.ones(2))
    class M(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.pl = pl
    m = M()
    return len(pl), [n for n, _ in m.named_parameters()], type(pl[4]).__name__, pl[4].requires_grad, pl[-1].shape


@snip
def paramdict(L):
    pd = L.nn.ParameterDict({"w": L.nn.Parameter(L.ones(2)), "b": L.nn.Parameter(L.zeros(1))})
    pd["c"] = L.ones(1)
    pd.update({"d": L.nn.Parameter(L.ones(3))})
    class M(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.pd = pd
    m = M()
    return list(pd.keys()), [n for n, _ in m.named_parameters()], type(pd["c"]).__name__, "w" in pd, list(m.state_dict())


@snip
def apply_init(L):
    m = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.ReLU(), L.nn.Sequential(L.nn.Linear(3, 1)))
    seen = []
    def init(mod):
        seen.append(type(mod).__name__)
        if isinstance(mod, L.nn.Linear):
            L.nn.init.constant_(mod.weight, 0.5)
            L.nn.init.zeros_(mod.bias)
    r = m.apply(init)
    return seen, r is m, m[0].weight, m[2][0].bias


@snip
def full_backward_hook(L):
    m = fill(L, L.nn.Linear(3, 2))
    rec = []
    def hook(mod, gin, gout):
        rec.append(("b", type(mod).__name__, [None if g is None else g.clone() for g in gin], [g.clone() for g in gout]))
    def prehook(mod, gout):
        rec.append(("pre", [g.clone() for g in gout]))
        return (gout[0] * 2,)
    h1 = m.register_full_backward_hook(hook)
    h2 = m.register_full_backward_pre_hook(prehook)
    x = L.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    m(x).sum().backward()
    h1.remove(); h2.remove()
    m(x).sum().backward()
    return rec, x.grad, m.weight.grad


@snip
def full_backward_hook_no_input_grad(L):
    m = fill(L, L.nn.Linear(3, 2))
    rec = []
    m.register_full_backward_hook(lambda mod, gin, gout: rec.append((len(gin), gin[0] is None, gout[0].shape)))
    m(L.ones(1, 3)).sum().backward()
    return rec


@snip
def full_backward_hook_replace(L):
    m = L.nn.ReLU()
    m.register_full_backward_hook(lambda mod, gin, gout: (gin[0] * 10,))
    x = L.tensor([-1.0, 2.0], requires_grad=True)
    m(x).sum().backward()
    return x.grad


@snip
def forward_pre_hook_kwargs(L):
    class M(L.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale
    m = M()
    def pre(mod, args, kwargs):
        return (args[0] + 1,), {"scale": kwargs.get("scale", 1.0) * 3}
    def post(mod, args, kwargs, out):
        return out + kwargs["scale"]
    m.register_forward_pre_hook(pre, with_kwargs=True)
    m.register_forward_hook(post, with_kwargs=True)
    return m(L.tensor([1.0]), scale=2.0), m(L.tensor([1.0]))


@snip
def forward_hooks_order(L):
    m = L.nn.Identity()
    rec = []
    m.register_forward_pre_hook(lambda mod, a: rec.append("pre1"))
    m.register_forward_pre_hook(lambda mod, a: rec.append("pre0"), prepend=True)
    m.register_forward_hook(lambda mod, a, o: rec.append("post1"))
    m.register_forward_hook(lambda mod, a, o: rec.append("post0"), prepend=True)
    m.register_forward_hook(lambda mod, a, o: rec.append("always"), always_call=True)
    m(L.ones(1))
    return rec


@snip
def forward_pre_hook_single(L):
    m = L.nn.Linear(1, 1)
    L.nn.init.ones_(m.weight); L.nn.init.zeros_(m.bias)
    m.register_forward_pre_hook(lambda mod, a: a[0] * 2)
    return m(L.ones(1, 1))


@snip
def global_hook(L):
    rec = []
    h = L.nn.modules.module.register_module_forward_hook(lambda mod, a, o: rec.append(type(mod).__name__))
    try:
        L.nn.Sequential(L.nn.ReLU(), L.nn.Tanh())(L.ones(1))
    finally:
        h.remove()
    return rec


@snip
def state_dict_hooks(L):
    m = L.nn.Linear(1, 1)
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: None)
    rec = []
    m.register_load_state_dict_post_hook(lambda mod, keys: rec.append((keys.missing_keys, keys.unexpected_keys)))
    m.load_state_dict({"weight": L.ones(1, 1), "bias": L.ones(1), "x": L.ones(1)}, strict=False)
    return rec


# autograd.functional
def f1(L, x):
    return (x ** 2 * x.sin()).sum()


def f2(L, x, y):
    return L.stack([x[0] * y[1], x[1].exp() + y[0] ** 2, (x * y).sum()])


@snip
def jac(L):
    x = L.tensor([0.5, -1.0], dtype=L.float64); y = L.tensor([2.0, 3.0], dtype=L.float64)
    j = L.autograd.functional.jacobian(lambda a, b: f2(L, a, b), (x, y))
    j2 = L.autograd.functional.jacobian(lambda a: f2(L, a, y), x, vectorize=True)
    j3 = L.autograd.functional.jacobian(lambda a, b: f2(L, a, b), (x, y), strategy="forward-mode", vectorize=True)
    return j, j2, j3, type(j).__name__, j[0].requires_grad


@snip
def jac_multi_out(L):
    x = L.tensor([0.5, -1.0])
    j = L.autograd.functional.jacobian(lambda a: (a * 2, a.sum()), x)
    return j, type(j).__name__


@snip
def jac_create_graph(L):
    x = L.tensor([0.5, -1.0], requires_grad=True)
    j = L.autograd.functional.jacobian(lambda a: a ** 3, x, create_graph=True)
    j.sum().backward()
    return j, x.grad, j.requires_grad


@snip
def hess(L):
    x = L.tensor([0.5, -1.0, 2.0], dtype=L.float64)
    h = L.autograd.functional.hessian(lambda a: f1(L, a), x)
    y = L.tensor([1.0, 2.0], dtype=L.float64)
    h2 = L.autograd.functional.hessian(lambda a, b: (a[:2] * b).prod() + a.pow(3).sum(), (x, y))
    return h, h2, type(h2).__name__, type(h2[0]).__name__


@snip
def vjp_jvp(L):
    x = L.tensor([0.5, -1.0]); v = L.tensor([1.0, 2.0, 3.0])
    y = L.tensor([2.0, 3.0])
    out, g = L.autograd.functional.vjp(lambda a, b: f2(L, a, b), (x, y), v)
    out2, t = L.autograd.functional.jvp(lambda a: f2(L, a, y), x, L.tensor([1.0, 0.0]))
    out3, t3 = L.autograd.functional.jvp(lambda a: a * 3, L.tensor([2.0]))
    return out, g, out2, t, out3, t3


@snip
def hvp_vhp(L):
    x = L.tensor([0.5, -1.0, 2.0]); v = L.tensor([1.0, 0.0, -1.0])
    o, h = L.autograd.functional.hvp(lambda a: f1(L, a), x, v)
    o2, h2 = L.autograd.functional.vhp(lambda a: f1(L, a), x, v)
    return o, h, o2, h2


@snip
def jac_strict(L):
    x = L.tensor([1.0, 2.0])
    return L.autograd.functional.jacobian(lambda a: L.ones(2), x)


@snip
def gradcheck_ok(L):
    x = L.tensor([0.5, 1.5], dtype=L.float64, requires_grad=True)
    return L.autograd.gradcheck(lambda a: (a.sin() * a).sum(), (x,)), L.autograd.gradgradcheck(lambda a: (a.sin() * a), (x,))


@snip
def gradcheck_fail_raise(L):
    class Bad(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2
        @staticmethod
        def backward(ctx, g):
            return g * 3
    x = L.tensor([0.5], dtype=L.float64, requires_grad=True)
    return L.autograd.gradcheck(Bad.apply, (x,), raise_exception=False)


@snip
def gradcheck_f32_warn(L):
    x = L.tensor([0.5], requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = L.autograd.gradcheck(lambda a: a * 2, (x,), raise_exception=False)
        except Exception as e:
            r = type(e).__name__
    return r, len(w) > 0


@snip
def legendre(L):
    class LegendrePolynomial3(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)
        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)
    dtype = L.float
    x = L.linspace(-np.pi, np.pi, 200, dtype=dtype)
    y = L.sin(x)
    a = L.full((), 0.0, dtype=dtype, requires_grad=True)
    b = L.full((), -1.0, dtype=dtype, requires_grad=True)
    c = L.full((), 0.0, dtype=dtype, requires_grad=True)
    d = L.full((), 0.3, dtype=dtype, requires_grad=True)
    lr = 5e-6
    out = []
    for t in range(300):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            out.append(loss.item())
        loss.backward()
        with L.no_grad():
            a -= lr * a.grad; b -= lr * b.grad; c -= lr * c.grad; d -= lr * d.grad
            a.grad = None; b.grad = None; c.grad = None; d.grad = None
    return out, a, b, c, d, str(y_pred.grad_fn.__class__.__name__)


@snip
def dynamic_net(L):
    import random, math
    class DynamicNet(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = L.nn.Parameter(L.tensor(0.1)); self.b = L.nn.Parameter(L.tensor(0.2))
            self.c = L.nn.Parameter(L.tensor(-0.1)); self.d = L.nn.Parameter(L.tensor(0.05))
            self.e = L.nn.Parameter(L.tensor(0.01))
        def forward(self, x, k):
            y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
            for exp in range(4, k):
                y = y + self.e * x ** exp
            return y
        def string(self):
            return f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?"
    x = L.linspace(-math.pi, math.pi, 50); y = L.sin(x)
    m = DynamicNet()
    crit = L.nn.MSELoss(reduction="sum")
    opt = L.optim.SGD(m.parameters(), lr=1e-5, momentum=0.9)
    ks = [4, 5, 6, 4, 6, 5] * 10
    for t, k in enumerate(ks):
        loss = crit(m(x, k), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return loss, list(m.parameters()), m.string()


@snip
def poly_nn(L):
    x = L.linspace(-3, 3, 20)
    p = L.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    model = L.nn.Sequential(L.nn.Linear(3, 1), L.nn.Flatten(0, 1))
    fill(L, model)
    loss_fn = L.nn.MSELoss(reduction="sum")
    opt = L.optim.RMSprop(model.parameters(), lr=1e-3)
    for t in range(20):
        loss = loss_fn(model(xx), L.sin(x)); opt.zero_grad(); loss.backward(); opt.step()
    linear_layer = model[0]
    return loss, linear_layer.bias.item(), linear_layer.weight[:, 0].item(), xx.shape, str(model)


# transformer
def tr_layer(L, cls, **kw):
    m = cls(d_model=4, nhead=2, dim_feedforward=6, dropout=0.0, **kw)
    return fill(L, m)


@snip
def enc_layer(L):
    rng = np.random.default_rng(5)
    src = L.tensor(rng.standard_normal((3, 2, 4)).astype(np.float32), requires_grad=True)
    out = []
    for nf in (False, True):
        m = tr_layer(L, L.nn.TransformerEncoderLayer, norm_first=nf)
        mask = L.nn.Transformer.generate_square_subsequent_mask(3)
        kpm = L.tensor([[False, False, True], [False, False, False]])
        y = m(src, src_mask=mask, src_key_padding_mask=kpm)
        y.sum().backward()
        out += [y, m.self_attn.in_proj_weight.grad, m.linear1.weight.grad]
    return out + [src.grad, mask]


@snip
def enc_layer_bf_gelu(L):
    rng = np.random.default_rng(6)
    src = L.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    m = tr_layer(L, L.nn.TransformerEncoderLayer, batch_first=True, activation="gelu", norm_first=True)
    m2 = tr_layer(L, L.nn.TransformerEncoderLayer, batch_first=True, activation=L.nn.functional.gelu)
    return m(src, is_causal=True, src_mask=L.nn.Transformer.generate_square_subsequent_mask(3)), m2(src)


@snip
def encoder_stack(L):
    rng = np.random.default_rng(7)
    src = L.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    layer = L.nn.TransformerEncoderLayer(4, 2, 6, 0.0, batch_first=True)
    enc = L.nn.TransformerEncoder(layer, num_layers=2, norm=L.nn.LayerNorm(4), enable_nested_tensor=False)
    fill(L, enc)
    kpm = L.tensor([[False, False, True], [False, False, False]])
    y = enc(src, src_key_padding_mask=kpm)
    return y, [n for n, _ in enc.named_parameters()][:6], len(list(enc.parameters()))


@snip
def dec_layer(L):
    rng = np.random.default_rng(8)
    tgt = L.tensor(rng.standard_normal((3, 2, 4)).astype(np.float32))
    mem = L.tensor(rng.standard_normal((5, 2, 4)).astype(np.float32))
    out = []
    for nf in (False, True):
        m = tr_layer(L, L.nn.TransformerDecoderLayer, norm_first=nf)
        y = m(tgt, mem, tgt_mask=L.nn.Transformer.generate_square_subsequent_mask(3),
              memory_key_padding_mask=L.tensor([[False] * 4 + [True], [False] * 5]), tgt_is_causal=True)
        out.append(y)
    return out


@snip
def full_transformer(L):
    rng = np.random.default_rng(9)
    m = L.nn.Transformer(d_model=4, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=6, dropout=0.0, batch_first=True)
    fill(L, m)
    src = L.tensor(rng.standard_normal((2, 5, 4)).astype(np.float32))
    tgt = L.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    y = m(src, tgt, tgt_mask=m.generate_square_subsequent_mask(3), src_key_padding_mask=L.tensor([[False] * 5, [False] * 3 + [True] * 2]),
          memory_key_padding_mask=L.tensor([[False] * 5, [False] * 3 + [True] * 2]))
    y.pow(2).mean().backward()
    return y, m.encoder.layers[0].self_attn.out_proj.weight.grad, m.decoder.norm.weight.grad, len(list(m.parameters()))


@snip
def gen_mask(L):
    m = L.nn.Transformer.generate_square_subsequent_mask(3)
    m2 = L.nn.Transformer.generate_square_subsequent_mask(2, dtype=L.float64)
    return m, m.dtype, m2.dtype


def errs():
    E = {}
    def m(L):
        return net(L)
    def sd_bad_shape(L):
        mm = m(L); sd = mm.state_dict(); sd["fc1.weight"] = L.ones(2, 2); mm.load_state_dict(sd)
    def sd_missing(L):
        mm = m(L); sd = mm.state_dict(); del sd["fc1.weight"]; sd["zz"] = L.ones(1); mm.load_state_dict(sd)
    def sd_shape_nonstrict(L):
        mm = m(L); sd = mm.state_dict(); sd["fc1.weight"] = L.ones(2, 2); mm.load_state_dict(sd, strict=False)
    def sd_not_tensor(L):
        mm = m(L); sd = mm.state_dict(); sd["fc1.weight"] = [1.0]; mm.load_state_dict(sd)
    def sd_not_mapping(L):
        m(L).load_state_dict([1, 2])
    def sd_nonpersistent(L):
        mm = m(L); sd = mm.state_dict(); sd["cache"] = L.ones(2); mm.load_state_dict(sd)
    E["sd_bad_shape"] = sd_bad_shape
    E["sd_missing"] = sd_missing
    E["sd_shape_nonstrict"] = sd_shape_nonstrict
    E["sd_not_tensor"] = sd_not_tensor
    E["sd_not_mapping"] = sd_not_mapping
    E["sd_nonpersistent"] = sd_nonpersistent
    E["opt_sd_groups"] = opt_sd_load_groups
    E["opt_sd_sizes"] = opt_sd_load_sizes
    E["buffer_bad_name"] = lambda L: L.nn.Module().register_buffer("a.b", L.ones(1))
    E["buffer_not_tensor"] = lambda L: L.nn.Module().register_buffer("a", [1])
    E["buffer_exists"] = lambda L: (lambda mm: (setattr(mm, "a", 1), mm.register_buffer("a", L.ones(1))))(L.nn.Module())
    E["param_not_param"] = lambda L: L.nn.Module().register_parameter("a", L.ones(1))
    E["param_empty_name"] = lambda L: L.nn.Module().register_parameter("", L.nn.Parameter(L.ones(1)))
    E["assign_tensor_to_param"] = lambda L: setattr(L.nn.Linear(1, 1), "weight", L.ones(1, 1))
    E["moduledict_bad"] = lambda L: L.nn.ModuleDict({"a": 1})
    E["moduledict_key"] = lambda L: L.nn.ModuleDict()["x"]
    E["modulelist_idx"] = lambda L: L.nn.ModuleList([L.nn.ReLU()])[3]
    E["seq_idx"] = lambda L: L.nn.Sequential(L.nn.ReLU())[3]
    E["paramlist_idx"] = lambda L: L.nn.ParameterList([L.nn.Parameter(L.ones(1))])[2]
    E["paramdict_key"] = lambda L: L.nn.ParameterDict()["x"]
    E["add_module_bad"] = lambda L: L.nn.Module().add_module("x", 3)
    E["get_submodule"] = lambda L: L.nn.Sequential(L.nn.ReLU()).get_submodule("1")
    E["get_parameter"] = lambda L: L.nn.Linear(1, 1).get_parameter("foo")
    E["hook_bad_return"] = lambda L: (lambda mm: (mm.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True), mm(L.ones(1))))(L.nn.Identity())
    E["full_bw_hook_wrong_n"] = lambda L: (lambda mm: (mm.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0])), mm(L.ones(1, requires_grad=True)).sum().backward()))(L.nn.ReLU())
    E["jac_strict"] = lambda L: L.autograd.functional.jacobian(lambda a: L.ones(2), L.tensor([1.0, 2.0]), strict=True)
    E["jac_not_tensor"] = lambda L: L.autograd.functional.jacobian(lambda a: a, [1.0])
    E["jac_out_not_tensor"] = lambda L: L.autograd.functional.jacobian(lambda a: 1.0, L.ones(1))
    E["hess_nonscalar"] = lambda L: L.autograd.functional.hessian(lambda a: a * 2, L.ones(2))
    E["vjp_bad_v"] = lambda L: L.autograd.functional.vjp(lambda a: a * 2, L.ones(2), L.ones(3))
    E["vjp_no_v"] = lambda L: L.autograd.functional.vjp(lambda a: a * 2, L.ones(2))
    E["jvp_bad_v"] = lambda L: L.autograd.functional.jvp(lambda a: a * 2, L.ones(2), L.ones(3))
    E["hvp_nonscalar"] = lambda L: L.autograd.functional.hvp(lambda a: a * 2, L.ones(2), L.ones(2))
    E["jac_strategy"] = lambda L: L.autograd.functional.jacobian(lambda a: a, L.ones(1), strategy="x")
    E["jac_fwd_novec"] = lambda L: L.autograd.functional.jacobian(lambda a: a, L.ones(1), strategy="forward-mode")
    E["gradcheck_fail"] = lambda L: L.autograd.gradcheck(lambda a: L.tensor(a.detach().numpy() * 2, requires_grad=True) if False else a.detach() * 2, (L.ones(1, dtype=L.float64, requires_grad=True),))
    E["gradcheck_no_rg"] = lambda L: L.autograd.gradcheck(lambda a: a * 2, (L.ones(1, dtype=L.float64),))
    def tr(L):
        return L.nn.TransformerEncoderLayer(4, 2, 6, 0.0)
    E["enc_bad_dmodel"] = lambda L: tr(L)(L.ones(3, 2, 5))
    E["enc_2d_ok"] = lambda L: tuple(tr(L)(L.ones(3, 4)).shape)
    E["enc_bad_mask"] = lambda L: tr(L)(L.ones(3, 2, 4), src_mask=L.zeros(2, 2))
    E["enc_bad_kpm"] = lambda L: tr(L)(L.ones(3, 2, 4), src_key_padding_mask=L.zeros(3, 2, dtype=L.bool))
    E["enc_kpm_float_mask_bool"] = lambda L: tr(L)(L.ones(3, 2, 4), src_mask=L.zeros(3, 3, dtype=L.bool), src_key_padding_mask=L.zeros(2, 3))
    E["enc_mask_int"] = lambda L: tr(L)(L.ones(3, 2, 4), src_mask=L.zeros(3, 3, dtype=L.int64))
    E["enc_nhead"] = lambda L: L.nn.TransformerEncoderLayer(5, 2)
    E["enc_activation"] = lambda L: L.nn.TransformerEncoderLayer(4, 2, activation="tanh")
    E["tr_batch_mismatch"] = lambda L: L.nn.Transformer(4, 2, 1, 1, 6, 0.0)(L.ones(3, 2, 4), L.ones(3, 3, 4))
    E["tr_feat_mismatch"] = lambda L: L.nn.Transformer(4, 2, 1, 1, 6, 0.0)(L.ones(3, 2, 4), L.ones(3, 2, 5))
    E["tr_bad_tgt_mask"] = lambda L: L.nn.Transformer(4, 2, 1, 1, 6, 0.0)(L.ones(3, 2, 4), L.ones(2, 2, 4), tgt_mask=L.zeros(3, 3))
    E["dec_bad_mem"] = lambda L: L.nn.TransformerDecoderLayer(4, 2, 6, 0.0)(L.ones(3, 2, 4), L.ones(5, 2, 3))
    E["dec_is_causal_no_mask"] = lambda L: tuple(L.nn.TransformerDecoderLayer(4, 2, 6, 0.0)(L.ones(3, 2, 4), L.ones(5, 2, 4), tgt_is_causal=True).shape)
    E["enc_stack_bad_layers"] = lambda L: L.nn.TransformerEncoder(tr(L), num_layers=0)(L.ones(3, 2, 4)).shape
    return E


if __name__ == "__main__":
    run(sys.argv[1:] or None)
    print("---- errors")
    compare_errors(errs())
