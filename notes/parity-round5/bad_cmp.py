# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round5.md."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from cmp import snip, run
import numpy as np


def a(L, x, dt=np.float32):
    return L.tensor(np.asarray(x, dtype=dt))


@snip
def kl_nolog(L):
    kl = L.nn.KLDivLoss(reduction="batchmean")
    return kl(a(L, [[-1.0, -2.0], [-0.5, -1.5]]), a(L, [[0.3, 0.7], [0.0, 1.0]]))


@snip
def kl_mean_warn(L):
    return L.nn.functional.kl_div(
        a(L, [[-1.0, -2.0]]), a(L, [[-0.3, -0.7]]), reduction="sum", log_target=True
    )


@snip
def bce_range(L):
    return L.nn.BCELoss()(a(L, [1.5, 0.2]), a(L, [1.0, 0.0]))


@snip
def bce_shape(L):
    return L.nn.BCELoss()(a(L, [0.5, 0.2]), a(L, [[1.0, 0.0]]))


@snip
def bce_zero(L):
    return L.nn.BCELoss()(a(L, [0.0, 1.0]), a(L, [1.0, 0.0]))


@snip
def smoothl1_beta(L):
    return [
        L.nn.SmoothL1Loss(beta=0.5)(a(L, [0.1, 2.0]), a(L, [0.0, 0.0])),
        L.nn.SmoothL1Loss(beta=0.0)(a(L, [0.1, 2.0]), a(L, [0.0, 0.0])),
    ]


@snip
def smoothl1_bcast(L):
    return L.nn.SmoothL1Loss()(a(L, [[0.1], [2.0]]), a(L, [0.0, 1.0]))


@snip
def gather_int32(L):
    return L.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, L.tensor([[0], [1]], dtype=L.int32))


@snip
def gather_oob(L):
    return L.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, L.tensor([[0], [2]]))


@snip
def max_ret(L):
    r = L.tensor([[1.0, 5.0], [3.0, 2.0]]).max(1)
    return [r.values, r.indices, r[0], float(type(r).__name__ == "max")]


@snip
def clip_nonfinite(L):
    p = L.nn.Parameter(L.ones(2))
    p.grad = L.tensor([float("inf"), 1.0])
    return L.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


@snip
def clip_inf_norm(L):
    p = L.nn.Parameter(L.ones(2))
    p.grad = L.tensor([3.0, -4.0])
    n = L.nn.utils.clip_grad_norm_([p], 1.0, norm_type="inf")
    return [n, p.grad]


@snip
def clip_empty(L):
    return L.nn.utils.clip_grad_norm_([], 1.0)


@snip
def steplr_float(L):
    p = L.nn.Parameter(L.ones(1))
    o = L.optim.SGD([p], lr=1.0)
    s = L.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
    out = []
    for _ in range(5):
        o.step()
        s.step()
        out.append(s.get_last_lr()[0])
    return out


@snip
def lbfgs_wolfe(L):
    x = L.nn.Parameter(L.tensor([1.5, -0.5], dtype=L.float64))
    o = L.optim.LBFGS([x], lr=1, line_search_fn="strong_wolfe", max_iter=10)

    def closure():
        o.zero_grad()
        l = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        l.backward()
        return l

    r = [float(o.step(closure)) for _ in range(3)]
    return r + [x]


@snip
def lbfgs_bad_ls(L):
    x = L.nn.Parameter(L.ones(2))
    return L.optim.LBFGS([x], line_search_fn="foo").step(lambda: (x**2).sum())


@snip
def post_hook_nonleaf(L):
    x = L.ones(2, requires_grad=True) * 2
    return x.register_post_accumulate_grad_hook(lambda p: None)


@snip
def post_hook_noreq(L):
    return L.ones(2).register_post_accumulate_grad_hook(lambda p: None)


@snip
def post_hook_order(L):
    p = L.nn.Parameter(L.tensor([1.0, 2.0]))
    seen = []
    p.register_post_accumulate_grad_hook(lambda t: seen.append(float(t.grad.sum())))
    (p * 3).sum().backward()
    (p * 2).sum().backward()
    return seen


@snip
def convT_outpad(L):
    return L.nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)(L.ones(1, 1, 3, 3))


@snip
def convT_outsize(L):
    m = L.nn.ConvTranspose2d(1, 1, 3, stride=2)
    L.manual_seed(0)
    return m(L.ones(1, 1, 3, 3), output_size=[8, 8]).shape


@snip
def gru_hidden_bad(L):
    return L.nn.GRU(3, 4, batch_first=True)(L.ones(2, 5, 3), L.zeros(1, 3, 4))


@snip
def gru_unbatched(L):
    g = L.nn.GRU(3, 4)
    L.manual_seed(0)
    o, h = g(L.ones(5, 3))
    return [o.shape, h.shape]


@snip
def tr_mask_bool(L):
    L.manual_seed(0)
    layer = L.nn.TransformerEncoderLayer(4, 2, 8, 0.0)
    with L.no_grad():
        for i, p in enumerate(layer.parameters()):
            p.copy_(
                L.tensor(np.sin(np.arange(p.numel()) + i).reshape(p.shape).astype(np.float32)) * 0.3
            )
    x = L.tensor(np.cos(np.arange(24)).reshape(3, 2, 4).astype(np.float32))
    m = L.nn.Transformer.generate_square_subsequent_mask(3)
    mb = m.isinf()
    return [layer(x, m), layer(x, mb), layer(x, src_mask=mb, is_causal=True), m]


@snip
def tr_mask_bad(L):
    layer = L.nn.TransformerEncoderLayer(4, 2, 8, 0.0)
    return layer(L.ones(3, 2, 4), L.zeros(2, 2))


@snip
def embedding_oob(L):
    return L.nn.Embedding(3, 2)(L.tensor([3]))


@snip
def nll_bad_target(L):
    return L.nn.NLLLoss()(L.log_softmax(L.ones(2, 3), 1), L.tensor([0, 3]))


@snip
def ce_label_smooth(L):
    return L.nn.CrossEntropyLoss(label_smoothing=0.1)(
        a(L, [[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]]), L.tensor([0, 2])
    )


@snip
def ce_prob_target(L):
    return L.nn.CrossEntropyLoss()(a(L, [[1.0, 2.0, 0.5]]), a(L, [[0.2, 0.5, 0.3]]))


@snip
def sign_grad(L):
    x = a(L, [-1.0, 0.0, 2.0]).requires_grad_()
    x.sign().sum().backward()
    return x.grad


@snip
def clamp_grad(L):
    x = a(L, [-1.0, 0.0, 0.5, 1.0, 2.0]).requires_grad_()
    x.clamp(0, 1).sum().backward()
    return x.grad


@snip
def clamp_tensor_bounds(L):
    x = a(L, [-1.0, 0.5, 2.0])
    return x.clamp(min=a(L, [0.0, 0.0, 0.0]), max=a(L, [1.0, 0.2, 3.0]))


@snip
def mse_bcast_warn(L):
    return L.nn.functional.mse_loss(a(L, [[1.0], [2.0]]), a(L, [1.0, 3.0]))


@snip
def gram_div(L):
    f = a(L, np.arange(12).reshape(1, 2, 2, 3))
    aa, b, c, d = f.size()
    ff = f.view(aa * b, c * d)
    return L.mm(ff, ff.t()).div(aa * b * c * d)


@snip
def state_dict_soft_update(L):
    p = L.nn.Linear(2, 2)
    t = L.nn.Linear(2, 2)
    t.load_state_dict(p.state_dict())
    sd = t.state_dict()
    sd["weight"] = sd["weight"] * 0.5
    r = t.load_state_dict(sd)
    return [t.weight, p.weight * 0.5, float(len(r.missing_keys))]


@snip
def load_sd_shape(L):
    t = L.nn.Linear(2, 2)
    sd = t.state_dict()
    sd["weight"] = L.ones(3, 2)
    return t.load_state_dict(sd)


@snip
def adam_amsgrad_bad(L):
    return L.optim.Adam([L.nn.Parameter(L.ones(1))], lr=-1)


@snip
def adam_betas_bad(L):
    return L.optim.Adam([L.nn.Parameter(L.ones(1))], betas=(1.0, 0.9))


@snip
def bn_eval_stats(L):
    bn = L.nn.BatchNorm2d(2, momentum=None)
    for i in range(3):
        bn(a(L, np.arange(16).reshape(2, 2, 2, 2) * (i + 1)))
    return [bn.running_mean, bn.running_var, bn.num_batches_tracked]


if __name__ == "__main__":
    run()
