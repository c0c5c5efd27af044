# ruff: noqa
"""Round 8 batch 6: gradients at corner points (ties, zeros, infs) and everyday nn pieces."""
import sys
import numpy as np
from harness import snip, run


def G(L, f, *vals, dtype=None):
    xs = [L.tensor(v, dtype=dtype or L.float32, requires_grad=True) for v in vals]
    y = f(*xs)
    if y.ndim:
        y.sum().backward()
    else:
        y.backward()
    return (y,) + tuple(x.grad for x in xs)

@snip
def k_max_ties(L): return G(L, lambda x: x.max(), [1.0, 3.0, 3.0])
@snip
def k_max_dim_ties(L): return G(L, lambda x: x.max(dim=0).values, [[1.0, 3.0], [1.0, 2.0]])
@snip
def k_amax_ties(L): return G(L, lambda x: x.amax(), [1.0, 3.0, 3.0])
@snip
def k_min_ties(L): return G(L, lambda x: x.min(), [1.0, 1.0, 3.0])
@snip
def k_maximum_eq(L): return G(L, lambda x, y: L.maximum(x, y), [1.0, 2.0], [1.0, 3.0])
@snip
def k_abs0(L): return G(L, lambda x: x.abs(), [0.0, -1.0])
@snip
def k_relu0(L): return G(L, lambda x: x.relu(), [0.0, 1.0])
@snip
def k_sqrt0(L): return G(L, lambda x: x.sqrt(), [0.0, 4.0])
@snip
def k_norm0(L): return G(L, lambda x: x.norm(), [0.0, 0.0])
@snip
def k_vnorm0(L): return G(L, lambda x: L.linalg.vector_norm(x), [0.0, 0.0])
@snip
def k_norm1_0(L): return G(L, lambda x: x.norm(p=1), [0.0, 2.0])
@snip
def k_clamp_edge(L): return G(L, lambda x: x.clamp(0.0, 1.0), [0.0, 1.0, 0.5, 2.0])
@snip
def k_clamp_min_t(L): return G(L, lambda x, m: L.clamp(x, min=m), [0.0, 1.0], [0.0, 0.5])
@snip
def k_where_nan(L): return G(L, lambda x: L.where(x > 0, x.log(), L.zeros_like(x)), [0.0, 1.0])
@snip
def k_pow00(L): return G(L, lambda x: x ** 0, [0.0, 2.0])
@snip
def k_pow_base0(L): return G(L, lambda x, y: x ** y, [0.0, 2.0], [2.0, 0.5])
@snip
def k_pow_neg_base(L): return G(L, lambda x, y: x ** y, [-2.0], [2.0])
@snip
def k_prod_zero(L): return G(L, lambda x: x.prod(), [0.0, 2.0, 3.0])
@snip
def k_prod_two_zeros(L): return G(L, lambda x: x.prod(), [0.0, 0.0, 3.0])
@snip
def k_prod_dim_zero(L): return G(L, lambda x: x.prod(1), [[0.0, 2.0], [3.0, 4.0]])
@snip
def k_cumprod_zero(L): return G(L, lambda x: x.cumprod(0), [2.0, 0.0, 3.0])
@snip
def k_logsumexp_inf(L): return G(L, lambda x: x.logsumexp(0), [-float("inf"), -float("inf")])
@snip
def k_softmax_inf_row(L): return G(L, lambda x: (x.softmax(-1) * L.tensor([1.0, 2.0])).sum(), [[-float("inf"), 0.0], [1.0, 2.0]])
@snip
def k_ce_inf(L): return G(L, lambda x: L.nn.functional.cross_entropy(x, L.tensor([1, 0])), [[-float("inf"), 0.0], [1.0, 2.0]])
@snip
def k_log0(L): return G(L, lambda x: x.log(), [0.0, 1.0])
@snip
def k_std1(L): return G(L, lambda x: x.std(), [1.0])
@snip
def k_var1_dim(L): return G(L, lambda x: x.var(0), [[1.0, 2.0]])
@snip
def k_std_const(L): return G(L, lambda x: x.std(), [1.0, 1.0])
@snip
def k_sort_grad(L): return G(L, lambda x: x.sort().values * L.tensor([1.0, 2.0, 3.0]), [3.0, 1.0, 2.0])
@snip
def k_topk_grad(L): return G(L, lambda x: x.topk(2).values * L.tensor([1.0, 2.0]), [3.0, 1.0, 2.0])
@snip
def k_median_grad(L): return G(L, lambda x: x.median(), [3.0, 1.0, 2.0, 5.0])
@snip
def k_median_ties(L): return G(L, lambda x: x.median(), [2.0, 2.0, 2.0])
@snip
def k_atan2(L): return G(L, lambda y, x: L.atan2(y, x), [0.0, 1.0], [0.0, 0.0])
@snip
def k_sign(L): return G(L, lambda x: x.sign() * x, [0.0, -2.0])
@snip
def k_floor_grad(L): return G(L, lambda x: x.floor() + x.round() + x.ceil(), [1.5])
@snip
def k_remainder_grad(L): return G(L, lambda x, y: L.remainder(x, y), [5.0, -5.0], [3.0, 3.0])
@snip
def k_fmod_grad(L): return G(L, lambda x, y: L.fmod(x, y), [5.0, -5.0], [3.0, 3.0])
@snip
def k_div_floor_grad(L): return G(L, lambda x, y: L.div(x, y, rounding_mode="floor"), [5.0], [3.0])
@snip
def k_hardtanh_edge(L): return G(L, lambda x: L.nn.functional.hardtanh(x), [-1.0, 1.0, 0.5])
@snip
def k_leaky0(L): return G(L, lambda x: L.nn.functional.leaky_relu(x, 0.1), [0.0, -1.0])
@snip
def k_elu(L): return G(L, lambda x: L.nn.functional.elu(x), [0.0, -1.0])
@snip
def k_gelu(L): return G(L, lambda x: L.nn.functional.gelu(x, approximate="tanh"), [0.0, -1.0, 2.0])
@snip
def k_silu_mish(L): return G(L, lambda x: L.nn.functional.silu(x) + L.nn.functional.mish(x), [0.0, -1.0, 2.0])
@snip
def k_softplus_thr(L): return G(L, lambda x: L.nn.functional.softplus(x, beta=2, threshold=1), [0.0, 0.6, 2.0])
@snip
def k_hardswish(L): return G(L, lambda x: L.nn.functional.hardswish(x) + L.nn.functional.hardsigmoid(x), [-3.0, 3.0, 0.0, 1.0])
@snip
def k_relu6(L): return G(L, lambda x: L.nn.functional.relu6(x), [0.0, 6.0, 3.0])
@snip
def k_threshold(L): return G(L, lambda x: L.nn.functional.threshold(x, 1.0, -5.0), [1.0, 2.0])
@snip
def k_prelu(L):
    x = L.tensor([[-1.0, 2.0], [-3.0, 0.0]], requires_grad=True); w = L.tensor([0.25, 0.5], requires_grad=True)
    y = L.nn.functional.prelu(x, w); y.sum().backward(); return y, x.grad, w.grad
@snip
def k_dist(L): return G(L, lambda x, y: L.dist(x, y), [1.0, 2.0], [1.0, 2.0])
@snip
def k_cos_sim0(L): return G(L, lambda x, y: L.nn.functional.cosine_similarity(x, y, dim=0), [0.0, 0.0], [1.0, 2.0])
@snip
def k_normalize0(L): return G(L, lambda x: L.nn.functional.normalize(x, dim=0), [0.0, 0.0])
@snip
def k_pdist(L): return G(L, lambda x: L.nn.functional.pairwise_distance(x, x), [[1.0, 2.0]])
@snip
def k_layer_norm_const(L): return G(L, lambda x: L.nn.functional.layer_norm(x, (3,)) * L.tensor([1.0, 2.0, 3.0]), [[1.0, 1.0, 1.0]])
@snip
def k_bn_train_single(L): return G(L, lambda x: L.nn.functional.batch_norm(x, None, None, training=True), [[1.0, 2.0]])
@snip
def k_index_dup_grad(L): return G(L, lambda x: x[L.tensor([0, 0, 1])] * L.tensor([1.0, 2.0, 3.0]), [1.0, 2.0])
@snip
def k_expand_grad(L): return G(L, lambda x: x.expand(3, 2) * L.arange(6.).reshape(3, 2), [[1.0, 2.0]])
@snip
def k_masked_select_grad(L): return G(L, lambda x: x.masked_select(x > 1.5) * 2, [1.0, 2.0, 3.0])
@snip
def k_embedding_pad(L):
    w = L.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3), requires_grad=True)
    y = L.nn.functional.embedding(L.tensor([[0, 1, 1], [2, 0, 3]]), w, padding_idx=1); y.sum().backward(); return y, w.grad
@snip
def k_embedding_maxnorm(L):
    w = L.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3), requires_grad=False)
    e = L.nn.Embedding.from_pretrained(w.clone(), max_norm=1.0, freeze=False); y = e(L.tensor([0, 2])); return y, e.weight
@snip
def k_mse_int(L): return L.nn.functional.mse_loss(L.tensor([1, 2]), L.tensor([1, 3]))
@snip
def k_l1_mixed_dtype(L): return G(L, lambda x: L.nn.functional.l1_loss(x, L.tensor([1.0, 2.0], dtype=L.float64)), [1.0, 3.0])
@snip
def k_mse_f64_target(L): return G(L, lambda x: L.nn.functional.mse_loss(x, L.tensor([1.0, 2.0], dtype=L.float64)), [1.0, 3.0])

# ---- nn pieces
@snip
def n_pad_modes(L):
    x = L.arange(6.).reshape(1, 2, 3)
    F = L.nn.functional
    return F.pad(x, (1, 2)), F.pad(x, (1, 1), mode="reflect"), F.pad(x, (2, 1), mode="replicate"), F.pad(x, (1, 1), mode="circular"), F.pad(x, (1, 1, 1, 0), value=-1.0), F.pad(x, (-1, 0))
@snip
def n_pad_reflect_bad(L): return L.nn.functional.pad(L.arange(3.).reshape(1, 1, 3), (3, 0), mode="reflect")
@snip
def n_interp(L):
    x = L.arange(8.).reshape(1, 2, 4); F = L.nn.functional
    return F.interpolate(x, size=6, mode="linear", align_corners=False), F.interpolate(x, scale_factor=2, mode="nearest"), F.interpolate(x, size=3, mode="linear", align_corners=True)
@snip
def n_interp2d(L):
    x = L.arange(16.).reshape(1, 1, 4, 4); F = L.nn.functional
    return F.interpolate(x, size=(2, 3), mode="bilinear"), F.interpolate(x, scale_factor=0.5, mode="area"), F.interpolate(x, size=(3, 3), mode="nearest-exact")
@snip
def n_dropout_eval(L):
    d = L.nn.Dropout(0.5); d.eval(); x = L.ones(4); return d(x), L.nn.functional.dropout(x, 0.5, training=False)
@snip
def n_dropout_stats(L):
    y = L.nn.functional.dropout(L.ones(10000), 0.3); return bool(((y == 0) | (abs(y - 1 / 0.7) < 1e-5)).all()), abs(float((y == 0).float().mean()) - 0.3) < 0.03
@snip
def n_dropout_bad(L): return L.nn.Dropout(1.5)
@snip
def n_init(L):
    w = L.empty(3, 4); L.nn.init.kaiming_uniform_(w, a=5 ** 0.5); a = bool((w.abs() <= 1 / 2).all())
    L.nn.init.xavier_normal_(w); L.nn.init.orthogonal_(w); o = L.allclose(w @ w.T, L.eye(3), atol=1e-5)
    L.nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04); t = bool((w.abs() <= 0.04).all())
    return a, o, t, L.nn.init.calculate_gain("leaky_relu", 0.2), L.nn.init.calculate_gain("tanh"), L.nn.init._calculate_fan_in_and_fan_out(L.empty(3, 4, 5))
@snip
def n_init_nograd(L):
    w = L.nn.Parameter(L.ones(2, 2)); L.nn.init.uniform_(w); return w.requires_grad, w.is_leaf, w.grad_fn
@snip
def n_linear_init_bounds(L):
    L.manual_seed(0); m = L.nn.Linear(16, 4); return bool((m.weight.abs() <= 0.25).all()), bool((m.bias.abs() <= 0.25).all()), m.weight.dtype
@snip
def n_linear_dtype(L): return L.nn.Linear(2, 2, dtype=L.float64).weight.dtype, L.nn.Linear(2, 2, bias=False).bias
@snip
def n_flatten_unflatten(L):
    x = L.ones(2, 3, 4); return L.nn.Flatten()(x).shape, L.nn.Flatten(0, 1)(x).shape, L.nn.Unflatten(1, (3, 1))(x).shape
@snip
def n_identity_args(L): return L.nn.Identity(54, unused="x")(L.ones(1))
@snip
def n_softmax_module(L): return L.nn.Softmax(dim=-1)(L.tensor([[1.0, 2.0]])), L.nn.LogSoftmax(1)(L.tensor([[1.0, 2.0]]))
@snip
def n_embedding_bad_idx(L): return L.nn.Embedding(3, 2)(L.tensor([3]))
@snip
def n_embedding_float_idx(L): return L.nn.Embedding(3, 2)(L.tensor([1.0]))
@snip
def n_bn_eval_stats(L):
    bn = L.nn.BatchNorm1d(2); x = L.tensor([[1.0, 2.0], [3.0, 6.0]]); bn(x); bn(x * 2); bn.eval(); return bn(x), bn.running_mean, bn.running_var, bn.num_batches_tracked
@snip
def n_bn_1sample(L): return L.nn.BatchNorm1d(2)(L.ones(1, 2))
@snip
def n_bn_3d(L):
    bn = L.nn.BatchNorm1d(2); x = L.arange(12.).reshape(2, 2, 3); return bn(x), bn.running_var
@snip
def n_bn_wrong_ch(L): return L.nn.BatchNorm1d(3)(L.ones(2, 2))
@snip
def n_ln_elementwise(L):
    ln = L.nn.LayerNorm(3, elementwise_affine=False); return ln(L.tensor([[1.0, 2.0, 4.0]])), list(ln.parameters()), repr(ln)
@snip
def n_ln_bias_false(L):
    ln = L.nn.LayerNorm(3, bias=False); return [n for n, _ in ln.named_parameters()]
@snip
def n_groupnorm(L): return L.nn.GroupNorm(2, 4)(L.arange(16.).reshape(2, 4, 2))
@snip
def n_rmsnorm(L): return L.nn.RMSNorm(3)(L.tensor([[1.0, 2.0, 4.0]])), L.nn.functional.rms_norm(L.tensor([[1.0, 2.0]]), (2,), eps=1e-6)
@snip
def n_conv_shapes(L):
    c = L.nn.Conv2d(2, 4, 3, padding="same"); c2 = L.nn.Conv2d(2, 4, (3, 1), stride=(2, 1), dilation=1, padding=(1, 0)); x = L.ones(1, 2, 5, 5)
    return c(x).shape, c2(x).shape, L.nn.Conv1d(2, 3, 2)(L.ones(2, 2, 5)).shape, L.nn.Conv2d(2, 4, 3)(L.ones(2, 5, 5)).shape
@snip
def n_conv_bad_ch(L): return L.nn.Conv2d(3, 4, 3)(L.ones(1, 2, 5, 5))
@snip
def n_conv_small(L): return L.nn.Conv2d(2, 4, 3)(L.ones(1, 2, 2, 2))
@snip
def n_pool_shapes(L):
    x = L.arange(50.).reshape(1, 2, 5, 5); F = L.nn.functional
    return F.max_pool2d(x, 2).shape, F.max_pool2d(x, 2, ceil_mode=True).shape, F.avg_pool2d(x, 3, stride=2, padding=1).shape, F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False), F.adaptive_avg_pool2d(x, (2, 3)), F.adaptive_max_pool2d(x, 1).shape
@snip
def n_maxpool_indices(L): return L.nn.functional.max_pool2d(L.arange(16.).reshape(1, 1, 4, 4), 2, return_indices=True)
@snip
def n_rnn_shapes(L):
    L.manual_seed(0); r = L.nn.LSTM(3, 4, 2, batch_first=True); o, (h, c) = r(L.ones(2, 5, 3))
    g = L.nn.GRU(3, 4, bidirectional=True); o2, h2 = g(L.ones(5, 2, 3))
    return o.shape, h.shape, c.shape, o2.shape, h2.shape, [n for n, _ in r.named_parameters()][:4]
@snip
def n_rnn_bad_input(L): return L.nn.LSTM(3, 4)(L.ones(2, 5, 2))
@snip
def n_rnn_unbatched(L): return L.nn.GRU(3, 4)(L.ones(5, 3))[0].shape, L.nn.GRU(3, 4)(L.ones(5, 3))[1].shape
@snip
def n_rnncell(L): return L.nn.LSTMCell(3, 4)(L.ones(2, 3))[0].shape, L.nn.GRUCell(3, 4)(L.ones(3)).shape
@snip
def n_mha_shapes(L):
    m = L.nn.MultiheadAttention(4, 2, batch_first=True); q = L.ones(2, 3, 4); o, w = m(q, q, q); o2, w2 = m(q, q, q, need_weights=True, average_attn_weights=False); _, w3 = m(q, q, q, need_weights=False)
    return o.shape, w.shape, w2.shape, w3
@snip
def n_param_vector(L):
    m = L.nn.Linear(2, 2); v = L.nn.utils.parameters_to_vector(m.parameters()); L.nn.utils.vector_to_parameters(v * 0 + 1, m.parameters()); return v.shape, m.weight
@snip
def n_clip_value(L):
    p = L.nn.Parameter(L.ones(3)); p.grad = L.tensor([-2.0, 0.5, 3.0]); L.nn.utils.clip_grad_value_([p], 1.0); return p.grad
@snip
def n_clip_norm_ret(L):
    p = L.nn.Parameter(L.ones(2)); p.grad = L.tensor([3.0, 4.0]); n = L.nn.utils.clip_grad_norm_([p], 1.0); return n, p.grad, L.nn.utils.clip_grad_norm_([p], 1.0, norm_type="inf")
@snip
def n_clip_norm_nograd(L):
    p = L.nn.Parameter(L.ones(2)); return L.nn.utils.clip_grad_norm_([p], 1.0)
@snip
def n_clip_nonfinite(L):
    p = L.nn.Parameter(L.ones(2)); p.grad = L.tensor([float("inf"), 1.0]); return L.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)

if __name__ == "__main__":
    run(sys.argv[1:] or None)
