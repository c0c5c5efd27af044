# ruff: noqa
"""Bad-input sweep, torch vs jitgrad side by side (imports torch; run by hand, never collected):
   cd /work/wt-B && PYTHONPATH=$PWD python notes/bad-inputs-round6/sweep.py [substring...]
Prints per case: torch's outcome and jitgrad's; tags [TYPE] (jitgrad's class is not torch's class or a
subclass), [NOERR] (torch raises, jitgrad does not), [EXTRA] (jitgrad raises, torch does not),
[WARN] (warning differs), [msg] (same class, different message; read by eye)."""

import sys, warnings
import numpy as np

import torch, jitgrad

CASES = {}


def case(name):
    def deco(f):
        CASES[name] = f
        return f

    return deco


def c(name, f):
    CASES[name] = f


def T(L, *shape, dt=None, rg=False):
    x = L.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    if dt is not None:
        x = x.to(dt)
    if rg:
        x.requires_grad_(True)
    return x


# ---- elementwise / broadcast
c("add_bcast", lambda L: T(L, 2, 3) + T(L, 4))
c("mul_bcast", lambda L: L.mul(T(L, 2, 3), T(L, 3, 2)))
c("iadd_bcast_grow", lambda L: T(L, 3).add_(T(L, 2, 3)))
c("where_shape", lambda L: L.where(T(L, 2) > 0, T(L, 3), T(L, 2)))
c("maximum_bcast", lambda L: L.maximum(T(L, 2), T(L, 3)))
c("bool_sub", lambda L: L.tensor([True]) - L.tensor([False]))
c("bool_neg", lambda L: -L.tensor([True]))
c("int_pow_neg", lambda L: L.tensor([2]) ** -1)
c("int_exp", lambda L: L.exp(L.tensor([1, 2])))
c("int_sqrt", lambda L: L.tensor([4]).sqrt())
c("int_idiv_", lambda L: L.tensor([4]).div_(2))
c("int_iadd_float", lambda L: L.tensor([4]).add_(1.5))
c("bitand_float", lambda L: T(L, 2) & T(L, 2))
c("lshift_float", lambda L: T(L, 2) << 1)
c("int_softmax", lambda L: L.tensor([1, 2]).softmax(0))
c("int_mean", lambda L: L.tensor([1, 2]).mean())
c("int_rg", lambda L: L.tensor([1, 2], requires_grad=True))
c("int_rg_", lambda L: L.tensor([1, 2]).requires_grad_())
c("int_zeros_rg", lambda L: L.zeros(2, dtype=L.int64, requires_grad=True))
c("long_to_rg", lambda L: L.arange(3).requires_grad_(True))
c("nonleaf_rg_false", lambda L: (T(L, 2, rg=True) * 2).requires_grad_(False))
c("float_floor_divide_zero", lambda L: L.tensor([1]) // L.tensor([0]))
c("int_div_zero_mod", lambda L: L.tensor([1]) % L.tensor([0]))
c("clamp_none", lambda L: T(L, 2).clamp())
c("clamp_int_float", lambda L: L.tensor([1, 2]).clamp_(0.5, 1.5))
c("lerp_int", lambda L: L.lerp(L.tensor([1]), L.tensor([2]), 0.5))
# ---- matmul family
c("matmul_inner", lambda L: T(L, 2, 3) @ T(L, 4, 5))
c("matmul_0d", lambda L: T(L) @ T(L, 3))
c("mm_3d", lambda L: L.mm(T(L, 2, 3, 4), T(L, 4, 2)))
c("mm_inner", lambda L: L.mm(T(L, 2, 3), T(L, 2, 3)))
c("bmm_2d", lambda L: L.bmm(T(L, 2, 3), T(L, 3, 2)))
c("bmm_batch", lambda L: L.bmm(T(L, 2, 3, 4), T(L, 3, 4, 2)))
c("bmm_inner", lambda L: L.bmm(T(L, 2, 3, 4), T(L, 2, 3, 2)))
c("mv_shape", lambda L: L.mv(T(L, 2, 3), T(L, 2)))
c("dot_shape", lambda L: L.dot(T(L, 2), T(L, 3)))
c("dot_2d", lambda L: L.dot(T(L, 2, 2), T(L, 2, 2)))
c("matmul_dtype", lambda L: T(L, 2, 2) @ L.ones(2, 2, dtype=L.float64))
c("matmul_int_float", lambda L: L.ones(2, 2, dtype=L.int64) @ T(L, 2, 2))
c("einsum_shape", lambda L: L.einsum("ij,jk->ik", T(L, 2, 3), T(L, 4, 5)))
c("einsum_nops", lambda L: L.einsum("ij,jk->ik", T(L, 2, 3)))
c("einsum_ndim", lambda L: L.einsum("ij->i", T(L, 2, 3, 4)))
c("einsum_badout", lambda L: L.einsum("ij->k", T(L, 2, 3)))
c("einsum_rep_out", lambda L: L.einsum("ij->ii", T(L, 2, 3)))
c("linear_shape", lambda L: L.nn.functional.linear(T(L, 2, 3), T(L, 4, 5)))
c("linear_bias", lambda L: L.nn.functional.linear(T(L, 2, 3), T(L, 4, 3), T(L, 5)))
c("linear_0d", lambda L: L.nn.Linear(3, 2)(T(L)))
c("addmm_shape", lambda L: L.addmm(T(L, 3), T(L, 2, 3), T(L, 3, 4)))
c("outer_2d", lambda L: L.outer(T(L, 2, 2), T(L, 2)))
# ---- reshape / view
c("reshape_numel", lambda L: T(L, 2, 3).reshape(4, 2))
c("reshape_two_neg", lambda L: T(L, 6).reshape(-1, -1))
c("reshape_neg2", lambda L: T(L, 6).reshape(-2, 3))
c("reshape_infer_bad", lambda L: T(L, 6).reshape(-1, 4))
c("view_noncontig", lambda L: T(L, 2, 3).t().view(6))
c("view_noncontig_ok", lambda L: T(L, 2, 3).t().view(3, 2).shape)
c("view_expand", lambda L: T(L, 3).expand(2, 3).view(6))
c("view_dtype_size", lambda L: T(L, 3).view(L.float64))
c("expand_bad", lambda L: T(L, 2, 3).expand(3, 3))
c("expand_fewer", lambda L: T(L, 2, 3).expand(3))
c("expand_neg", lambda L: T(L, 3).expand(-1, 3))
c("expand_neg2", lambda L: T(L, 3).expand(2, -2))
c("permute_dup", lambda L: T(L, 2, 3).permute(0, 0))
c("permute_len", lambda L: T(L, 2, 3).permute(0))
c("permute_range", lambda L: T(L, 2, 3).permute(0, 2))
c("squeeze_range", lambda L: T(L, 2, 3).squeeze(3))
c("unflatten_bad", lambda L: T(L, 6).unflatten(0, (4, 2)))
c("flatten_order", lambda L: T(L, 2, 3, 4).flatten(2, 1))
c("repeat_fewer", lambda L: T(L, 2, 3).repeat(2))
c("repeat_neg", lambda L: T(L, 2).repeat(-1))
c("movedim_dup", lambda L: T(L, 2, 3).movedim((0, 1), (0, 0)))
c("t_3d", lambda L: T(L, 2, 3, 4).t())
c("diagonal_same", lambda L: T(L, 2, 3).diagonal(0, 0, 0))
c("unfold_big", lambda L: T(L, 4).unfold(0, 5, 1))
c("narrow_big", lambda L: T(L, 4).narrow(0, 2, 3))
c("narrow_neglen", lambda L: T(L, 4).narrow(0, 0, -1))
c("select_range", lambda L: T(L, 4).select(0, 4))
c("roll_shifts", lambda L: T(L, 4, 2).roll((1, 2), (0,)))
c("flip_dup", lambda L: T(L, 4, 2).flip(0, 0))
c("tile_neg", lambda L: T(L, 4).tile(-1))
# ---- cat / stack / split
c("cat_empty", lambda L: L.cat([]))
c("cat_shape", lambda L: L.cat([T(L, 2, 3), T(L, 2, 4)]))
c("cat_ndim", lambda L: L.cat([T(L, 2, 3), T(L, 3)]))
c("cat_dim", lambda L: L.cat([T(L, 2), T(L, 2)], 1))
c("cat_0d", lambda L: L.cat([T(L), T(L)]))
c("cat_tensor_not_list", lambda L: L.cat(T(L, 2, 3)))
c("cat_dtype_mix", lambda L: L.cat([T(L, 2), L.tensor([1, 2])]).dtype)
c("stack_shape", lambda L: L.stack([T(L, 2), T(L, 3)]))
c("stack_empty", lambda L: L.stack([]))
c("split_zero", lambda L: T(L, 4).split(0))
c("split_sizes_sum", lambda L: T(L, 4).split([1, 2]))
c("split_neg", lambda L: T(L, 4).split([5, -1]))
c("chunk_zero", lambda L: T(L, 4).chunk(0))
c("chunk_neg", lambda L: T(L, 4).chunk(-1))
c("tensor_split_0", lambda L: T(L, 4).tensor_split(0))
c("unbind_range", lambda L: T(L, 4).unbind(1))
# ---- index_select / gather / scatter / index_add
c("isel_2d_index", lambda L: T(L, 3, 3).index_select(0, L.tensor([[0]])))
c("isel_float", lambda L: T(L, 3).index_select(0, L.tensor([0.0])))
c("isel_oob", lambda L: T(L, 3).index_select(0, L.tensor([3])))
c("isel_neg", lambda L: T(L, 3).index_select(0, L.tensor([-1])))
c("isel_list", lambda L: T(L, 3).index_select(0, [0]))
c("gather_ndim", lambda L: T(L, 3, 3).gather(1, L.tensor([0])))
c("gather_oob", lambda L: T(L, 3, 3).gather(1, L.tensor([[3]])))
c("gather_size", lambda L: T(L, 2, 2).gather(1, L.tensor([[0], [0], [0]])))
c("gather_float", lambda L: T(L, 2, 2).gather(1, L.tensor([[0.0]])))
c("gather_int32", lambda L: T(L, 2, 2).gather(1, L.tensor([[0]], dtype=L.int32)).tolist())
c("gather_dim", lambda L: T(L, 2, 2).gather(2, L.tensor([[0]])))
c("scatter_oob", lambda L: L.zeros(3).scatter(0, L.tensor([3]), T(L, 1)))
c("scatter_neg", lambda L: L.zeros(3).scatter(0, L.tensor([-1]), T(L, 1)))
c("scatter_float_idx", lambda L: L.zeros(3).scatter(0, L.tensor([0.0]), T(L, 1)))
c("scatter_src_small", lambda L: L.zeros(3).scatter(0, L.tensor([0, 1]), T(L, 1)))
c("scatter_dtype", lambda L: L.zeros(3).scatter(0, L.tensor([0]), L.ones(1, dtype=L.float64)))
c("scatter_ndim", lambda L: L.zeros(3, 3).scatter(0, L.tensor([0]), T(L, 1)))
c("scatter_reduce_bad", lambda L: L.zeros(3).scatter(0, L.tensor([0]), T(L, 1), reduce="max"))
c("scatter_add_oob", lambda L: L.zeros(3).scatter_add(0, L.tensor([5]), T(L, 1)))
c("scatter_value_oob", lambda L: L.zeros(3).scatter(0, L.tensor([5]), 1.0))
c("scatter__oob_state", lambda L: _scatter_inplace_state(L))
c("sreduce_bad", lambda L: L.zeros(3).scatter_reduce(0, L.tensor([0]), T(L, 1), "foo"))
c("index_add_oob", lambda L: L.zeros(3).index_add(0, L.tensor([3]), T(L, 1)))
c("index_add_len", lambda L: L.zeros(3).index_add(0, L.tensor([0, 1]), T(L, 1)))
c("index_add_dtype", lambda L: L.zeros(3).index_add(0, L.tensor([0]), L.ones(1, dtype=L.float64)))
c("index_add_float_idx", lambda L: L.zeros(3).index_add(0, L.tensor([0.0]), T(L, 1)))
c("index_copy_oob", lambda L: L.zeros(3).index_copy(0, L.tensor([3]), T(L, 1)))
c("index_fill_oob", lambda L: L.zeros(3).index_fill(0, L.tensor([3]), 1.0))
c("take_oob", lambda L: T(L, 3).take(L.tensor([3])))
c("masked_fill_shape", lambda L: T(L, 3).masked_fill(L.tensor([True, False]), 0.0))
c("masked_fill_float_mask", lambda L: T(L, 3).masked_fill(T(L, 3), 0.0))
c("masked_fill_tensor_val", lambda L: T(L, 3).masked_fill(T(L, 3) > 0, T(L, 2)))
c("masked_select_shape", lambda L: T(L, 3).masked_select(L.tensor([True, False])))
c("masked_scatter_small", lambda L: T(L, 3).masked_scatter(L.tensor([True, True, True]), T(L, 2)))
c("put_oob", lambda L: L.zeros(3).put_(L.tensor([3]), T(L, 1)))


def _scatter_inplace_state(L):
    z = L.zeros(3)
    try:
        z.scatter_(0, L.tensor([0, 5]), L.ones(2))
    except Exception as e:
        return f"{type(e).__name__} after={z.tolist()}"
    return "no error"


# ---- indexing / setitem
c("getitem_oob", lambda L: T(L, 3)[3])
c("getitem_neg_oob", lambda L: T(L, 3)[-4])
c("getitem_too_many", lambda L: T(L, 3)[0, 0])
c("getitem_tensor_oob", lambda L: T(L, 3)[L.tensor([5])])
c("getitem_float_idx", lambda L: T(L, 3)[L.tensor([0.0])])
c("getitem_float", lambda L: T(L, 3)[1.0])
c("getitem_str", lambda L: T(L, 3)["a"])
c("getitem_bool_shape", lambda L: T(L, 3)[L.tensor([True, False])])
c("getitem_bool2d_shape", lambda L: T(L, 2, 3)[L.tensor([[True, False]])])
c("getitem_bool_list_shape", lambda L: T(L, 3)[[True, False]])
c("getitem_step0", lambda L: T(L, 3)[::0])
c("getitem_negstep", lambda L: T(L, 3)[::-1])
c("getitem_0d", lambda L: T(L)[0])
c("getitem_2ellipsis", lambda L: T(L, 3, 3)[..., ...])
c("getitem_bcast_idx", lambda L: T(L, 3, 3)[L.tensor([0, 1]), L.tensor([0, 1, 2])])
c("setitem_oob", lambda L: T(L, 3).__setitem__(3, 1.0))
c("setitem_shape", lambda L: T(L, 3).__setitem__(slice(None), T(L, 2)))
c("setitem_bool_shape", lambda L: T(L, 3).__setitem__(L.tensor([True, False]), 1.0))
c("setitem_mask_vals", lambda L: T(L, 3).__setitem__(L.tensor([True, True, False]), T(L, 3)))
c("setitem_tensor_oob", lambda L: T(L, 3).__setitem__(L.tensor([0, 7]), 1.0))
c("setitem_leaf_rg", lambda L: T(L, 3, rg=True).__setitem__(0, 1.0))
c("setitem_float_idx", lambda L: T(L, 3).__setitem__(L.tensor([0.0]), 1.0))
c("setitem_grow", lambda L: T(L, 2, 3).__setitem__(0, T(L, 2, 3)))
c("setitem_str_val", lambda L: T(L, 2).__setitem__(0, "a"))
c("item_multi", lambda L: T(L, 2).item())
c("float_multi", lambda L: float(T(L, 2)))
c("int_multi", lambda L: int(T(L, 2)))
c("bool_multi", lambda L: bool(T(L, 2)))
c("bool_empty", lambda L: bool(T(L, 0)))
c("len_0d", lambda L: len(T(L)))
c("iter_0d", lambda L: list(T(L)))
c("numpy_rg", lambda L: T(L, 2, rg=True).numpy())
c("tolist_ok", lambda L: T(L, 2, rg=True).tolist())
# ---- reductions
c("sum_dim", lambda L: T(L, 2, 3).sum(2))
c("sum_dup", lambda L: T(L, 2, 3).sum((0, 0)))
c("mean_dim", lambda L: T(L, 2, 3).mean(-3))
c("max_dim", lambda L: T(L, 2, 3).max(2))
c("max_empty_dim", lambda L: L.zeros(0, 3).max(0))
c("max_empty_dim_ok", lambda L: L.zeros(0, 3).max(1).values.shape)
c("amax_empty", lambda L: L.zeros(0, 3).amax(0))
c("argmax_empty", lambda L: L.zeros(0).argmax())
c("min_empty", lambda L: L.zeros(0).min())
c("std_dim", lambda L: T(L, 2, 3).std(5))
c("var_int", lambda L: L.tensor([1, 2]).var())
c("prod_dim", lambda L: T(L, 2).prod(1))
c("cumsum_dim", lambda L: T(L, 2).cumsum(1))
c("cumsum_nodim", lambda L: T(L, 2).cumsum())
c("norm_p_str", lambda L: T(L, 2).norm(p="foo"))
c("topk_big", lambda L: T(L, 3).topk(4))
c("topk_neg", lambda L: T(L, 3).topk(-1))
c("kthvalue_big", lambda L: T(L, 3).kthvalue(4))
c("kthvalue_zero", lambda L: T(L, 3).kthvalue(0))
c("sort_dim", lambda L: T(L, 3).sort(1))
c("median_empty", lambda L: L.zeros(0).median())
c("logsumexp_nodim", lambda L: T(L, 3).logsumexp())
c("all_dim", lambda L: L.tensor([True]).all(1))
c("count_nonzero_dim", lambda L: T(L, 3).count_nonzero(1))
c("mode_dim", lambda L: T(L, 3).mode(2))
c("quantile_q", lambda L: T(L, 3).quantile(1.5))
c("quantile_int", lambda L: L.tensor([1, 2]).quantile(0.5))
c("bincount_neg", lambda L: L.bincount(L.tensor([-1, 0])))
c("bincount_float", lambda L: L.bincount(T(L, 3)))
c("histc_bad", lambda L: L.histc(T(L, 3), bins=-1))
# ---- creation
c("zeros_neg", lambda L: L.zeros(-1))
c("ones_neg", lambda L: L.ones(2, -3))
c("empty_neg", lambda L: L.empty(-2))
c("full_neg", lambda L: L.full((-1,), 1.0))
c("randn_neg", lambda L: L.randn(-1))
c("rand_float", lambda L: L.rand(2.5))
c("randint_lowhigh", lambda L: L.randint(5, 2, (3,)))
c("randint_nosize", lambda L: L.randint(5))
c("randperm_neg", lambda L: L.randperm(-1))
c("arange_zero_step", lambda L: L.arange(0, 5, 0))
c("arange_wrong_sign", lambda L: L.arange(0, 5, -1))
c("arange_nan", lambda L: L.arange(0, float("nan")))
c("linspace_neg", lambda L: L.linspace(0, 1, -1))
c("eye_neg", lambda L: L.eye(-1))
c("zeros_dtype_str", lambda L: L.zeros(2, dtype="float32"))
c("zeros_dtype_np", lambda L: L.zeros(2, dtype=np.float32).dtype)
c("zeros_dtype_bad", lambda L: L.zeros(2, dtype="foo"))
c("zeros_dtype_int", lambda L: L.zeros(2, dtype=3))
c("tensor_ragged", lambda L: L.tensor([[1, 2], [3]]))
c("tensor_str", lambda L: L.tensor(["a"]))
c("tensor_none", lambda L: L.tensor(None))
c("tensor_obj", lambda L: L.tensor([object()]))
c("tensor_dict", lambda L: L.tensor({1: 2}))
c("tensor_mixed_tensors", lambda L: L.tensor([L.ones(2), L.ones(3)]))
c("to_dtype_bad", lambda L: T(L, 2).to("foo"))
c("to_device_bad", lambda L: T(L, 2).to("nodevice"))
c("type_bad", lambda L: T(L, 2).type("foo"))
c("full_like_bad", lambda L: L.full_like(T(L, 2), "a"))
c("normal_neg_std", lambda L: L.normal(0.0, -1.0, (2,)))
c("normal__neg_std", lambda L: T(L, 2).normal_(0, -1))
c("uniform_bad", lambda L: T(L, 2).uniform_(2, 1))
c("multinomial_neg", lambda L: L.multinomial(L.tensor([-1.0, 2.0]), 1))
c("multinomial_many", lambda L: L.multinomial(L.tensor([1.0, 2.0]), 3))
c("bernoulli_bad", lambda L: L.bernoulli(L.tensor([1.5])))
c("manual_seed_str", lambda L: L.manual_seed("a"))
# ---- nn layers
c("Linear_in", lambda L: L.nn.Linear(4, 2)(T(L, 2, 3)))
c("Linear_neg", lambda L: L.nn.Linear(-1, 2))
c("Conv1d_ndim", lambda L: L.nn.Conv1d(2, 3, 3)(T(L, 2, 2, 5, 5)))
c("Conv1d_ch", lambda L: L.nn.Conv1d(2, 3, 3)(T(L, 1, 3, 5)))
c("Conv2d_ndim", lambda L: L.nn.Conv2d(2, 3, 3)(T(L, 2, 5)))
c("Conv2d_ch", lambda L: L.nn.Conv2d(2, 3, 3)(T(L, 1, 3, 5, 5)))
c("Conv2d_small", lambda L: L.nn.Conv2d(2, 3, 5)(T(L, 1, 2, 3, 3)))
c("Conv2d_groups", lambda L: L.nn.Conv2d(3, 4, 3, groups=2))
c("Conv2d_pad_str", lambda L: L.nn.Conv2d(2, 2, 3, padding="foo"))
c("Conv2d_same_stride", lambda L: L.nn.Conv2d(2, 2, 3, padding="same", stride=2))
c("Conv2d_int_input", lambda L: L.nn.Conv2d(1, 1, 1)(L.ones(1, 1, 2, 2, dtype=L.int64)))
c("Conv2d_f64_input", lambda L: L.nn.Conv2d(1, 1, 1)(L.ones(1, 1, 2, 2, dtype=L.float64)))
c("Conv3d_ndim", lambda L: L.nn.Conv3d(2, 3, 1)(T(L, 2, 2, 2)))
c("ConvT2d_ch", lambda L: L.nn.ConvTranspose2d(2, 3, 3)(T(L, 1, 3, 4, 4)))
c("MaxPool2d_big", lambda L: L.nn.MaxPool2d(5)(T(L, 1, 1, 3, 3)))
c("MaxPool2d_pad", lambda L: L.nn.MaxPool2d(2, padding=2)(T(L, 1, 1, 4, 4)))
c("MaxPool2d_ndim", lambda L: L.nn.MaxPool2d(2)(T(L, 4)))
c("AvgPool1d_ndim", lambda L: L.nn.AvgPool1d(2)(T(L, 1, 1, 4, 4)))
c("BN1d_ch", lambda L: L.nn.BatchNorm1d(4)(T(L, 2, 3)))
c("BN1d_ndim", lambda L: L.nn.BatchNorm1d(4)(T(L, 2, 4, 2, 2)))
c("BN2d_ndim", lambda L: L.nn.BatchNorm2d(4)(T(L, 2, 4)))
c("BN2d_ch", lambda L: L.nn.BatchNorm2d(4)(T(L, 2, 3, 2, 2)))
c("BN1d_batch1", lambda L: L.nn.BatchNorm1d(4)(T(L, 1, 4)))
c("BN_state_after_err", lambda L: _bn_state(L))
c("LN_shape", lambda L: L.nn.LayerNorm(4)(T(L, 2, 3)))
c("GN_div", lambda L: L.nn.GroupNorm(3, 4))
c("GN_ch", lambda L: L.nn.GroupNorm(2, 4)(T(L, 2, 6, 3)))
c("IN2d_ch", lambda L: L.nn.InstanceNorm2d(4, affine=True)(T(L, 1, 3, 2, 2)))
c("LSTM_in", lambda L: L.nn.LSTM(4, 3)(T(L, 5, 2, 3)))
c("LSTM_ndim", lambda L: L.nn.LSTM(4, 3)(T(L, 5, 2, 4, 1)))
c("LSTM_h0", lambda L: L.nn.LSTM(4, 3)(T(L, 5, 2, 4), (T(L, 1, 2, 2), T(L, 1, 2, 3))))
c("LSTM_h0_batch", lambda L: L.nn.LSTM(4, 3)(T(L, 5, 2, 4), (T(L, 1, 3, 3), T(L, 1, 3, 3))))
c("GRU_in", lambda L: L.nn.GRU(4, 3)(T(L, 5, 2, 3)))
c("GRU_h0", lambda L: L.nn.GRU(4, 3)(T(L, 5, 2, 4), T(L, 2, 2, 3)))
c("RNN_in", lambda L: L.nn.RNN(4, 3)(T(L, 5, 2, 3)))
c("LSTMCell_in", lambda L: L.nn.LSTMCell(4, 3)(T(L, 2, 3)))
c("LSTM_dropout", lambda L: L.nn.LSTM(4, 3, dropout=2.0))
c("Embedding_oob", lambda L: L.nn.Embedding(3, 2)(L.tensor([3])))
c("Embedding_neg", lambda L: L.nn.Embedding(3, 2)(L.tensor([-1])))
c("Embedding_float", lambda L: L.nn.Embedding(3, 2)(L.tensor([1.0])))
c("Embedding_int32", lambda L: L.nn.Embedding(3, 2)(L.tensor([1], dtype=L.int32)).shape)
c("Embedding_pad_oob", lambda L: L.nn.Embedding(3, 2, padding_idx=3))
c("EmbeddingBag_offsets", lambda L: L.nn.EmbeddingBag(3, 2)(L.tensor([0, 1]), L.tensor([1, 0])))
c("MHA_embed_div", lambda L: L.nn.MultiheadAttention(5, 2))
c("MHA_shape", lambda L: (lambda m, x: m(x, x, x))(L.nn.MultiheadAttention(4, 2), T(L, 3, 2, 5)))
c(
    "MHA_kv_len",
    lambda L: (lambda m: m(T(L, 3, 2, 4), T(L, 4, 2, 4), T(L, 5, 2, 4)))(
        L.nn.MultiheadAttention(4, 2)
    ),
)
c(
    "MHA_batch",
    lambda L: (lambda m: m(T(L, 3, 2, 4), T(L, 4, 3, 4), T(L, 4, 3, 4)))(
        L.nn.MultiheadAttention(4, 2)
    ),
)
c(
    "MHA_mask_shape",
    lambda L: (lambda m, x: m(x, x, x, attn_mask=L.zeros(2, 2)))(
        L.nn.MultiheadAttention(4, 2), T(L, 3, 2, 4)
    ),
)
c(
    "MHA_kpm_shape",
    lambda L: (lambda m, x: m(x, x, x, key_padding_mask=L.zeros(2, 2, dtype=L.bool)))(
        L.nn.MultiheadAttention(4, 2), T(L, 3, 2, 4)
    ),
)
c("MHA_4d", lambda L: (lambda m, x: m(x, x, x))(L.nn.MultiheadAttention(4, 2), T(L, 3, 2, 2, 4)))
c("TEL_dmodel", lambda L: L.nn.TransformerEncoderLayer(4, 2, 8)(T(L, 3, 2, 5)))
c("TEL_nhead", lambda L: L.nn.TransformerEncoderLayer(5, 2, 8))
c("Transformer_dmodel", lambda L: L.nn.Transformer(4, 2, 1, 1, 8)(T(L, 3, 2, 4), T(L, 3, 2, 5)))
c("Transformer_batch", lambda L: L.nn.Transformer(4, 2, 1, 1, 8)(T(L, 3, 2, 4), T(L, 3, 3, 4)))
c(
    "sdpa_shape",
    lambda L: L.nn.functional.scaled_dot_product_attention(
        T(L, 2, 3, 4), T(L, 2, 3, 5), T(L, 2, 3, 5)
    ),
)
c("Dropout_p", lambda L: L.nn.Dropout(-0.1))
c("F_dropout_p", lambda L: L.nn.functional.dropout(T(L, 2), 1.5))
c("Flatten_dim", lambda L: L.nn.Flatten(2)(T(L, 2, 3)))
c("Unflatten_bad", lambda L: L.nn.Unflatten(1, (2, 2))(T(L, 2, 3)))
c("softmax_nodim", lambda L: L.nn.functional.softmax(T(L, 2, 3)).shape)
c("pad_odd", lambda L: L.nn.functional.pad(T(L, 2, 3), (1,)))
c("pad_too_many", lambda L: L.nn.functional.pad(T(L, 3), (1, 1, 1, 1)))
c("pad_reflect_big", lambda L: L.nn.functional.pad(T(L, 1, 1, 3), (3, 3), mode="reflect"))
c("pad_mode_bad", lambda L: L.nn.functional.pad(T(L, 1, 1, 3), (1, 1), mode="foo"))
c("interp_nosize", lambda L: L.nn.functional.interpolate(T(L, 1, 1, 3)))
c("interp_mode", lambda L: L.nn.functional.interpolate(T(L, 1, 1, 3), size=4, mode="bilinear"))
c("one_hot_oob", lambda L: L.nn.functional.one_hot(L.tensor([3]), 3))
c("one_hot_float", lambda L: L.nn.functional.one_hot(L.tensor([1.0]), 3))
c("one_hot_neg", lambda L: L.nn.functional.one_hot(L.tensor([-1]), 3))
c("Sequential_bad", lambda L: L.nn.Sequential(1))
c("ModuleList_bad", lambda L: L.nn.ModuleList([1]))
c("add_module_dot", lambda L: L.nn.Module().add_module("a.b", L.nn.Linear(1, 1)))
c("register_buffer_bad", lambda L: L.nn.Module().register_buffer("a", 3))
c("register_param_bad", lambda L: L.nn.Module().register_parameter("a", L.ones(1)))
c("setattr_param_tensor", lambda L: _setattr_param(L))
c("Parameter_int", lambda L: L.nn.Parameter(L.tensor([1, 2])))
c("clip_grad_bad", lambda L: L.nn.utils.clip_grad_norm_([T(L, 2, rg=True)], -1.0))
c("clip_grad_nonfinite", lambda L: _clip_nonfinite(L))


def _setattr_param(L):
    m = L.nn.Linear(2, 2)
    m.weight = L.ones(2, 2)


def _clip_nonfinite(L):
    p = T(L, 2, rg=True)
    p.grad = L.tensor([float("inf"), 1.0])
    return L.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def _bn_state(L):
    bn = L.nn.BatchNorm2d(3)
    try:
        bn(T(L, 2, 4, 2, 2))
    except Exception:
        pass
    return [bn.num_batches_tracked.item(), bn.running_mean.tolist()]


# ---- losses
F_ = lambda L: L.nn.functional
c("ce_oob", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 3])))
c("ce_neg", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, -1])))
c("ce_float_target_shape", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0.0, 1.0])))
c("ce_probs_shape", lambda L: F_(L).cross_entropy(T(L, 2, 3), T(L, 2, 4)))
c("ce_batch", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 1, 2])))
c("ce_int32", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 1], dtype=L.int32)))
c("ce_2d_target", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([[0, 1]])))
c("ce_int_input", lambda L: F_(L).cross_entropy(L.tensor([[1, 2]]), L.tensor([0])))
c("ce_4d_target", lambda L: F_(L).cross_entropy(T(L, 2, 3, 4), L.zeros(2, 5, dtype=L.long)))
c("ce_weight_len", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 1]), weight=T(L, 2)))
c("ce_reduction", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 1]), reduction="foo"))
c("ce_smoothing", lambda L: F_(L).cross_entropy(T(L, 2, 3), L.tensor([0, 1]), label_smoothing=1.5))
c("ce_0d_input", lambda L: F_(L).cross_entropy(T(L), L.tensor(0)))
c("nll_oob", lambda L: F_(L).nll_loss(T(L, 2, 3), L.tensor([0, 3])))
c("nll_float", lambda L: F_(L).nll_loss(T(L, 2, 3), L.tensor([0.0, 1.0])))
c("nll_batch", lambda L: F_(L).nll_loss(T(L, 2, 3), L.tensor([0])))
c("nll_3d_input_target", lambda L: F_(L).nll_loss(T(L, 2, 3, 4), L.tensor([0, 1])))
c("bce_range", lambda L: F_(L).binary_cross_entropy(L.tensor([1.5]), L.tensor([1.0])))
c("bce_neg", lambda L: F_(L).binary_cross_entropy(L.tensor([-0.5]), L.tensor([1.0])))
c("bce_shape", lambda L: F_(L).binary_cross_entropy(L.tensor([0.5, 0.2]), L.tensor([[1.0, 0.0]])))
c("bce_target_range", lambda L: F_(L).binary_cross_entropy(L.tensor([0.5]), L.tensor([2.0])).item())
c("bce_int_target", lambda L: F_(L).binary_cross_entropy(L.tensor([0.5]), L.tensor([1])))
c("bcelogits_shape", lambda L: F_(L).binary_cross_entropy_with_logits(T(L, 2), T(L, 3)))
c("bcelogits_int", lambda L: F_(L).binary_cross_entropy_with_logits(T(L, 2), L.tensor([1, 0])))
c("mse_bcast_warn", lambda L: F_(L).mse_loss(T(L, 2, 1), T(L, 2)).shape)
c("mse_bad", lambda L: F_(L).mse_loss(T(L, 2, 3), T(L, 4, 3)))
c("l1_bcast_warn", lambda L: F_(L).l1_loss(T(L, 2, 1), T(L, 2)).shape)
c("smoothl1_bcast_warn", lambda L: F_(L).smooth_l1_loss(T(L, 2, 1), T(L, 2)).shape)
c("huber_bcast_warn", lambda L: F_(L).huber_loss(T(L, 2, 1), T(L, 2)).shape)
c("mse_int_target", lambda L: F_(L).mse_loss(T(L, 2), L.tensor([1, 2])))
c("mse_reduction", lambda L: F_(L).mse_loss(T(L, 2), T(L, 2), reduction="foo"))
c("kl_shape", lambda L: F_(L).kl_div(T(L, 2, 3), T(L, 2, 4)))
c("huber_delta", lambda L: F_(L).huber_loss(T(L, 2), T(L, 2), delta=-1.0))
c("smoothl1_beta", lambda L: F_(L).smooth_l1_loss(T(L, 2), T(L, 2), beta=-1.0))
c("margin_rank_shape", lambda L: F_(L).margin_ranking_loss(T(L, 2), T(L, 3), T(L, 2)))
c("cosine_emb_target", lambda L: F_(L).cosine_embedding_loss(T(L, 2, 3), T(L, 2, 3), T(L, 3)))
c("triplet_shape", lambda L: F_(L).triplet_margin_loss(T(L, 2, 3), T(L, 2, 4), T(L, 2, 3)))
c(
    "ctc_len",
    lambda L: F_(L).ctc_loss(
        T(L, 5, 2, 4).log_softmax(2), L.tensor([[1, 2], [1, 1]]), L.tensor([6, 5]), L.tensor([2, 2])
    ),
)
c("poisson_nll_shape", lambda L: F_(L).poisson_nll_loss(T(L, 2), T(L, 3)))
c("gaussian_nll_var", lambda L: F_(L).gaussian_nll_loss(T(L, 2), T(L, 2), -L.ones(2)))
c(
    "multilabel_margin",
    lambda L: F_(L).multilabel_margin_loss(T(L, 2, 3), L.tensor([[0, 5, -1], [1, -1, 0]])),
)


# ---- autograd misuse
def _bw_twice(L):
    x = T(L, 2, rg=True)
    y = (x.exp() * 2).sum()
    y.backward()
    y.backward()


def _bw_nonscalar(L):
    x = T(L, 2, rg=True)
    (x * 2).backward()


def _bw_nograd(L):
    T(L, 2).sum().backward()


def _bw_grad_shape(L):
    x = T(L, 2, rg=True)
    (x * 2).backward(T(L, 3))


def _bw_grad_dtype(L):
    x = T(L, 2, rg=True)
    (x * 2).backward(L.ones(2, dtype=L.float64))
    return x.grad.dtype


def _inplace_leaf(L):
    x = T(L, 2, rg=True)
    x.add_(1)


def _inplace_leaf_nograd_ok(L):
    x = T(L, 2, rg=True)
    with L.no_grad():
        x.add_(1)
    return x.requires_grad


def _saved_modified(L):
    x = T(L, 2, rg=True)
    y = x * 1
    z = y.exp()
    y.add_(1)
    z.sum().backward()


def _saved_modified_sigmoid(L):
    x = T(L, 2, rg=True)
    z = x.sigmoid()
    w = z * 2
    z.mul_(2)
    w.sum().backward()


def _saved_view_modified(L):
    x = T(L, 2, 2, rg=True)
    y = x * 1
    z = (y[0] ** 2).sum()
    y[0].zero_()
    z.backward()


def _grad_unused(L):
    x = T(L, 2, rg=True)
    w = T(L, 2, rg=True)
    return L.autograd.grad((x * 2).sum(), [x, w])


def _grad_unused_ok(L):
    x = T(L, 2, rg=True)
    w = T(L, 2, rg=True)
    return L.autograd.grad((x * 2).sum(), [x, w], allow_unused=True)[1]


def _grad_unused_zero(L):
    x = T(L, 2, rg=True)
    w = T(L, 2, rg=True)
    return L.autograd.grad((x * 2).sum(), [x, w], allow_unused=True, materialize_grads=True)[1]


def _grad_no_rg(L):
    x = T(L, 2)
    return L.autograd.grad((x * 2).sum(), [x])


def _grad_nonscalar(L):
    x = T(L, 2, rg=True)
    return L.autograd.grad(x * 2, [x])


def _grad_twice(L):
    x = T(L, 2, rg=True)
    y = (x.exp()).sum()
    L.autograd.grad(y, [x])
    L.autograd.grad(y, [x])


def _grad_outputs_shape(L):
    x = T(L, 2, rg=True)
    return L.autograd.grad(x * 2, [x], grad_outputs=T(L, 3))


def _grad_input_nonleaf_unrelated(L):
    x = T(L, 2, rg=True)
    y = T(L, 2, rg=True) * 3
    return L.autograd.grad((x * 2).sum(), [y])


def _detach_inplace_view(L):
    x = T(L, 2, rg=True)
    y = x * 2
    v = y[:1]
    v.detach_()
    return v.requires_grad


def _leaf_grad_assign_shape(L):
    x = T(L, 2, rg=True)
    x.grad = L.ones(3)


def _leaf_grad_assign_dtype(L):
    x = T(L, 2, rg=True)
    x.grad = L.ones(2, dtype=L.float64)


def _nonleaf_grad_warn(L):
    x = T(L, 2, rg=True)
    y = x * 2
    y.sum().backward()
    return y.grad


def _retain_grad_ok(L):
    x = T(L, 2, rg=True)
    y = x * 2
    y.retain_grad()
    y.sum().backward()
    return y.grad


def _inplace_view_of_leaf(L):
    x = T(L, 2, 2, rg=True)
    x[0].mul_(2)


def _nograd_backward(L):
    x = T(L, 2, rg=True)
    with L.no_grad():
        y = (x * 2).sum()
    y.backward()


def _backward_inputs_bad(L):
    x = T(L, 2, rg=True)
    (x * 2).sum().backward(inputs=[T(L, 2)])


def _hook_bad_shape(L):
    x = T(L, 2, rg=True)
    x.register_hook(lambda g: L.ones(3))
    (x * 2).sum().backward()


def _hook_nograd(L):
    T(L, 2).register_hook(lambda g: g)


def _custom_fn_wrong_count(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    x = T(L, 2, rg=True)
    F.apply(x, T(L, 2, rg=True)).sum().backward()


def _custom_fn_wrong_shape(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    x = T(L, 2, rg=True)
    F.apply(x).sum().backward()


for k, f in list(globals().items()):
    if (
        k.startswith("_")
        and callable(f)
        and k not in ("_setattr_param", "_clip_nonfinite", "_bn_state", "_scatter_inplace_state")
        and f.__module__ == "__main__"
        and not k.startswith("__")
    ):
        CASES["ag" + k] = f


# ---- optimizers
def _opt_nonleaf(L):
    x = T(L, 2, rg=True) * 2
    return L.optim.SGD([x], lr=0.1)


def _opt_empty(L):
    return L.optim.SGD([], lr=0.1)


def _opt_lr_neg(L):
    return L.optim.Adam([T(L, 2, rg=True)], lr=-1)


def _opt_betas(L):
    return L.optim.Adam([T(L, 2, rg=True)], betas=(1.5, 0.9))


def _opt_eps(L):
    return L.optim.Adam([T(L, 2, rg=True)], eps=-1)


def _opt_wd(L):
    return L.optim.AdamW([T(L, 2, rg=True)], weight_decay=-1)


def _opt_momentum(L):
    return L.optim.SGD([T(L, 2, rg=True)], lr=0.1, momentum=-1)


def _opt_nesterov(L):
    return L.optim.SGD([T(L, 2, rg=True)], lr=0.1, nesterov=True)


def _opt_dup(L):
    p = T(L, 2, rg=True)
    return len(L.optim.SGD([p, p], lr=0.1).param_groups[0]["params"])


def _opt_dup_groups(L):
    p = T(L, 2, rg=True)
    return L.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def _opt_tensor_param(L):
    return L.optim.SGD(T(L, 2, rg=True), lr=0.1)


def _opt_set_param(L):
    return L.optim.SGD({T(L, 2, rg=True)}, lr=0.1)


def _opt_int_param(L):
    return L.optim.SGD([L.tensor([1, 2])], lr=0.1)


def _opt_no_lr(L):
    return L.optim.SGD([T(L, 2, rg=True)])


def _opt_rmsprop_alpha(L):
    return L.optim.RMSprop([T(L, 2, rg=True)], alpha=-1)


def _opt_sd_bad(L):
    p = T(L, 2, rg=True)
    o = L.optim.SGD([p], lr=0.1)
    o.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]})


def _opt_step_closure_none(L):
    p = T(L, 2, rg=True)
    o = L.optim.LBFGS([p])
    o.step()


def _opt_add_group_dup(L):
    p = T(L, 2, rg=True)
    o = L.optim.SGD([p], lr=0.1)
    o.add_param_group({"params": [p]})


def _opt_sparse_adam(L):
    return L.optim.Adam([T(L, 2, rg=True)], lr=0.1, amsgrad="x").defaults["amsgrad"]


def _sched_bad(L):
    o = L.optim.SGD([T(L, 2, rg=True)], lr=0.1)
    return L.optim.lr_scheduler.StepLR(o, step_size=0)


def _sched_not_opt(L):
    return L.optim.lr_scheduler.StepLR(object(), step_size=1)


for k, f in list(globals().items()):
    if (k.startswith("_opt") or k.startswith("_sched")) and callable(f):
        CASES["opt" + k] = f


# ---- load_state_dict: module left unchanged on error
def _lsd(L, sd, strict=True):
    m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.BatchNorm1d(2))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    try:
        r = m.load_state_dict(sd(L, m), strict=strict)
        res = f"ok {r}"
    except Exception as e:
        res = f"{type(e).__name__}: {e}"
    changed = [k for k, v in m.state_dict().items() if not bool((v == before[k]).all())]
    return f"{res[:250]} | changed={changed}"


def _sd_missing(L, m):
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    del sd["1.weight"]
    return sd


def _sd_unexpected(L, m):
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["foo"] = L.ones(1)
    return sd


def _sd_shape(L, m):
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["1.weight"] = L.ones(3)
    return sd


def _sd_not_tensor(L, m):
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["1.weight"] = [1.0, 2.0]
    return sd


def _sd_dtype(L, m):
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["0.weight"] = sd["0.weight"].double()
    return sd


c("lsd_missing", lambda L: _lsd(L, _sd_missing))
c("lsd_unexpected", lambda L: _lsd(L, _sd_unexpected))
c("lsd_shape", lambda L: _lsd(L, _sd_shape))
c("lsd_shape_nonstrict", lambda L: _lsd(L, _sd_shape, strict=False))
c("lsd_missing_nonstrict", lambda L: _lsd(L, _sd_missing, strict=False))
c("lsd_not_tensor", lambda L: _lsd(L, _sd_not_tensor))
c("lsd_dtype", lambda L: _lsd(L, _sd_dtype))
c("lsd_not_dict", lambda L: L.nn.Linear(2, 2).load_state_dict([1, 2]))


# ---- data
DL = lambda L: L.utils.data
c("dl_bs0", lambda L: DL(L).DataLoader([1, 2], batch_size=0))
c("dl_bs_neg", lambda L: DL(L).DataLoader([1, 2], batch_size=-1))
c("dl_bs_float", lambda L: DL(L).DataLoader([1, 2], batch_size=1.5))
c("dl_shuffle_sampler", lambda L: DL(L).DataLoader([1, 2], shuffle=True, sampler=[0, 1]))
c("dl_batch_sampler_bs", lambda L: DL(L).DataLoader([1, 2], batch_size=2, batch_sampler=[[0, 1]]))
c("dl_workers_neg", lambda L: DL(L).DataLoader([1, 2], num_workers=-1))
c("dl_collate_shapes", lambda L: next(iter(DL(L).DataLoader([L.ones(2), L.ones(3)], batch_size=2))))
c(
    "dl_collate_np_shapes",
    lambda L: next(iter(DL(L).DataLoader([np.ones(2), np.ones(3)], batch_size=2))),
)
c(
    "dl_collate_dict_keys",
    lambda L: next(iter(DL(L).DataLoader([{"a": 1}, {"b": 2}], batch_size=2))),
)
c("dl_collate_obj", lambda L: next(iter(DL(L).DataLoader([object(), object()], batch_size=2))))
c("dl_collate_tuple_len", lambda L: next(iter(DL(L).DataLoader([(1, 2), (1,)], batch_size=2))))
c("dl_no_len", lambda L: len(DL(L).DataLoader(iter([1, 2]))))
c("tds_len", lambda L: DL(L).TensorDataset(L.ones(2), L.ones(3)))
c("random_split_sum", lambda L: DL(L).random_split([1, 2, 3], [1, 1]))
c("random_split_frac", lambda L: DL(L).random_split([1, 2, 3], [0.5, 0.6]))
c("subset_oob", lambda L: DL(L).Subset([1, 2], [5])[0])
c("dataset_getitem", lambda L: DL(L).Dataset()[0])


# ---- traced steps (same bad input inside @jitgrad.trace)
def _traced(L, body, backend=None, args=()):
    if L is torch:
        return body(L, *args)
    kw = {} if backend is None else {"backend": backend}
    step = jitgrad.trace(**kw)(lambda *a: body(L, *a))
    step(*args)
    return step(*args)


def _tb_bcast(L, a, b):
    return (a + b).sum()


def _tb_mm(L, a, b):
    return (a @ b).sum()


def _tb_lin(L, m, x):
    return m(x).sum()


def _tb_ce(L, x, y):
    return L.nn.functional.cross_entropy(x, y)


def _tb_view(L, a):
    return a.t().view(6).sum()


def _tb_emb(L, m, i):
    return m(i).sum()


def _tb_bw_nonscalar(L, w):
    y = w * 2
    y.backward()
    return w.grad


def _tb_bw_twice(L, w):
    y = (w.exp()).sum()
    y.backward()
    y.backward()
    return w.grad


def _tb_isel(L, a, i):
    return a.index_select(0, i).sum()


def _tb_getitem(L, a):
    return a[5].sum()


def _tb_reshape(L, a):
    return a.reshape(4, 2).sum()


def _tb_sum_dim(L, a):
    return a.sum(3)


def _tb_cat(L, a, b):
    return L.cat([a, b]).sum()


def _tb_inplace_leaf(L, w):
    w.add_(1)
    return w.sum()


def _tb_gather(L, a, i):
    return a.gather(1, i).sum()


def _tb_conv(L, m, x):
    return m(x).sum()


def _tb_bce(L, p, t):
    return L.nn.functional.binary_cross_entropy(p, t)


def _tb_step_train(L, m, opt, x, y):
    opt.zero_grad()
    loss = L.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    return loss


TRACED = {
    "bcast": (_tb_bcast, lambda L: (T(L, 2, 3), T(L, 4))),
    "mm": (_tb_mm, lambda L: (T(L, 2, 3), T(L, 4, 2))),
    "linear": (_tb_lin, lambda L: (L.nn.Linear(4, 2), T(L, 2, 3))),
    "ce_oob": (_tb_ce, lambda L: (T(L, 2, 3), L.tensor([0, 3]))),
    "ce_float": (_tb_ce, lambda L: (T(L, 2, 3), L.tensor([0.0, 1.0]))),
    "ce_batch": (_tb_ce, lambda L: (T(L, 2, 3), L.tensor([0, 1, 2]))),
    "view_nc": (_tb_view, lambda L: (T(L, 2, 3),)),
    "emb_oob": (_tb_emb, lambda L: (L.nn.Embedding(3, 2), L.tensor([3]))),
    "emb_float": (_tb_emb, lambda L: (L.nn.Embedding(3, 2), L.tensor([1.0]))),
    "bw_nonscalar": (_tb_bw_nonscalar, lambda L: (T(L, 2, rg=True),)),
    "bw_twice": (_tb_bw_twice, lambda L: (T(L, 2, rg=True),)),
    "isel_oob": (_tb_isel, lambda L: (T(L, 3), L.tensor([3]))),
    "getitem_oob": (_tb_getitem, lambda L: (T(L, 3),)),
    "reshape": (_tb_reshape, lambda L: (T(L, 2, 3),)),
    "sum_dim": (_tb_sum_dim, lambda L: (T(L, 2, 3),)),
    "cat": (_tb_cat, lambda L: (T(L, 2, 3), T(L, 2, 4))),
    "inplace_leaf": (_tb_inplace_leaf, lambda L: (T(L, 2, rg=True),)),
    "gather_oob": (_tb_gather, lambda L: (T(L, 2, 2), L.tensor([[0], [2]]))),
    "conv_ch": (_tb_conv, lambda L: (L.nn.Conv2d(2, 2, 1), T(L, 1, 3, 2, 2))),
    "bce_range": (_tb_bce, lambda L: (L.tensor([1.5]), L.tensor([1.0]))),
    "train_ce_oob": (
        _tb_step_train,
        lambda L: (
            lambda m: (m, L.optim.SGD(m.parameters(), lr=0.1), T(L, 2, 3), L.tensor([0, 5]))
        )(L.nn.Linear(3, 3)),
    ),
}
for _name, (_body, _args) in TRACED.items():
    for _be in ("reference", None):
        CASES[f"trace_{_be or 'cpu'}_{_name}"] = (
            lambda body, argf, be: lambda L: _traced(L, body, be, argf(L))
        )(_body, _args, _be)


def outcome(f, L):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = f(L)
            out = ("ok", None, str(r)[:100])
        except Exception as e:
            out = ("err", type(e), str(e).replace("\n", " ")[:300])
    ws = sorted(
        {
            type(x.message).__name__ + ":" + str(x.message)[:80]
            for x in w
            if "deprecat" not in str(x.message).lower() and x.category is not DeprecationWarning
        }
    )
    return out, ws


def main(filters):
    counts = {}
    for name, f in CASES.items():
        if filters and not any(s in name for s in filters):
            continue
        np.random.seed(0)
        (tk, tc, tm), tw = outcome(f, torch)
        (jk, jc, jm), jw = outcome(f, jitgrad)
        if tk == "err" and jk == "err":
            # exception classes: torch's builtin class (or a subclass) must catch jitgrad's
            tag = (
                "ok"
                if issubclass(jc, tc)
                or (tc.__module__ != "builtins" and issubclass(jc, tc.__mro__[1]))
                else "TYPE"
            )
            if tag == "ok" and tm != jm:
                tag = "msg"
        elif tk == "err":
            tag = "NOERR"
        elif jk == "err":
            tag = "EXTRA"
        else:
            tag = "ok" if tm == jm else "value?"
        tws = [x for x in tw if "UserWarning" in x]
        jws = [x for x in jw if "UserWarning" in x]
        if tag in ("ok", "value?") and bool(tws) != bool(jws):
            tag = "WARN"
        counts[tag] = counts.get(tag, 0) + 1
        if tag == "ok":
            continue
        print(f"[{tag}] {name}")
        print(f"   torch: {tc.__name__ + ': ' if tc else 'no error: '}{tm}  {tw if tw else ''}")
        print(f"   jg:    {jc.__name__ + ': ' if jc else 'no error: '}{jm}  {jw if jw else ''}")
    print(counts, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
