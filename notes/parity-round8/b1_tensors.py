# ruff: noqa
"""Round 8 batch 1: creation, promotion, indexing, views, in-place (torch vs jitgrad)."""

import sys
import numpy as np
from harness import snip, run


# ---- creation / promotion
@snip
def t_mixed_list(L):
    return L.tensor([1, 2.5, True])


@snip
def t_bool_int_list(L):
    return L.tensor([True, 2])


@snip
def t_nested_tensors(L):
    return L.tensor([L.tensor(1.0), L.tensor(2.0)])


@snip
def t_nested_0d_int(L):
    return L.tensor([L.tensor(1), 2])


@snip
def t_ragged(L):
    return L.tensor([[1, 2], [3]])


@snip
def t_empty_nested(L):
    return L.tensor([[], []])


@snip
def t_empty(L):
    return L.tensor([])


@snip
def t_tuple_of_lists(L):
    return L.tensor(([1, 2], [3, 4]), dtype=L.float16)


@snip
def t_np_scalar(L):
    return L.tensor(np.float32(2.0))


@snip
def t_np_int32(L):
    return L.tensor(np.array([1, 2], dtype=np.int32))


@snip
def t_big_int(L):
    return L.tensor(2**63)


@snip
def t_complex_int(L):
    return L.tensor([1, 2], dtype=L.int8) + 200


@snip
def p_int_float0d(L):
    return L.tensor([1, 2]) * L.tensor(1.5)


@snip
def p_int_pyfloat(L):
    return L.tensor([1, 2]) + 1.5


@snip
def p_f16_f32_0d(L):
    return L.tensor([1.0], dtype=L.float16) + L.tensor(1.0)


@snip
def p_f16_f32_1d(L):
    return L.tensor([1.0], dtype=L.float16) + L.tensor([1.0])


@snip
def p_int8_int64_0d(L):
    return L.tensor([1], dtype=L.int8) + L.tensor(1000)


@snip
def p_uint8_int8(L):
    return L.tensor([1], dtype=L.uint8) + L.tensor([1], dtype=L.int8)


@snip
def p_bool_bool_add(L):
    return L.tensor([True, False]) + L.tensor([True, True])


@snip
def p_bool_mul_float(L):
    return L.tensor([True, False]) * 2.5


@snip
def p_int_div(L):
    return L.tensor([3, 4]) / 2


@snip
def p_int_floordiv(L):
    return L.tensor([-3, 4]) // 2


@snip
def p_int_floordiv_f(L):
    return L.tensor([-3, 4]) // 2.0


@snip
def p_int_pow_neg(L):
    return L.tensor([2, 3]) ** -1


@snip
def p_int_pow_float(L):
    return L.tensor([2, 3]) ** 0.5


@snip
def p_pyint_pow_tensor(L):
    return 2 ** L.tensor([1, 2])


@snip
def p_rsub(L):
    return 1 - L.tensor([1, 2])


@snip
def p_rdiv_int(L):
    return 1 / L.tensor([1, 2])


@snip
def p_0d_0d(L):
    return L.tensor(1, dtype=L.int32) + L.tensor(1.0, dtype=L.float64)


@snip
def p_inplace_int_float(L):
    a = L.tensor([1, 2])
    a += 1.5
    return a


@snip
def p_inplace_int_tfloat(L):
    a = L.tensor([1, 2])
    a.mul_(L.tensor([1.5, 2.0]))
    return a


@snip
def p_inplace_float_int(L):
    a = L.tensor([1.0, 2.0])
    a += L.tensor([1, 2])
    return a


@snip
def p_inplace_bool(L):
    a = L.tensor([True, False])
    a += 1
    return a


@snip
def p_inplace_div_int(L):
    a = L.tensor([1, 2])
    a /= 2
    return a


@snip
def p_where_scalar(L):
    return L.where(L.tensor([True, False]), L.tensor([1, 2]), 0.5)


@snip
def p_where_scalar2(L):
    return L.where(L.tensor([True, False]), 1.0, 0)


@snip
def p_clamp_int_float(L):
    return L.clamp(L.tensor([1, 5]), min=2.5)


@snip
def p_maximum_mix(L):
    return L.maximum(L.tensor([1, 5]), L.tensor([2.0, 3.0]))


@snip
def p_eq_mix(L):
    return L.tensor([1, 2]) == L.tensor([1.0, 2.5])


@snip
def p_sum_bool(L):
    return L.tensor([True, True]).sum()


@snip
def p_mean_int(L):
    return L.tensor([1, 2]).mean()


@snip
def p_mean_int_dtype(L):
    return L.tensor([1, 2]).mean(dtype=L.float64)


@snip
def p_sum_int32(L):
    return L.tensor([1, 2], dtype=L.int32).sum()


@snip
def p_prod_bool(L):
    return L.tensor([True, True]).prod()


@snip
def p_cumsum_int8(L):
    return L.tensor([1, 2], dtype=L.int8).cumsum(0)


@snip
def p_std_int(L):
    return L.tensor([1, 2]).std()


@snip
def p_max_dim_bool(L):
    return L.tensor([[True, False]]).max(dim=1)


@snip
def p_argmax_keep(L):
    return L.tensor([[1.0, 3.0], [4.0, 2.0]]).argmax(dim=1, keepdim=True)


@snip
def r_sum_tuple(L):
    return L.arange(24.0).reshape(2, 3, 4).sum(dim=(0, 2), keepdim=True)


@snip
def r_sum_neg_tuple(L):
    return L.arange(24.0).reshape(2, 3, 4).sum((-1, 0))


@snip
def r_sum_dup(L):
    return L.arange(24.0).reshape(2, 3, 4).sum((1, 1))


@snip
def r_mean_empty_tuple(L):
    return L.arange(6.0).reshape(2, 3).mean(dim=())


@snip
def r_sum_empty_list(L):
    return L.arange(6.0).reshape(2, 3).sum(dim=[])


@snip
def r_amax_tuple(L):
    return L.arange(24.0).reshape(2, 3, 4).amax(dim=(0, 1))


@snip
def r_max_tuple_err(L):
    return L.arange(24.0).reshape(2, 3, 4).max(dim=(0, 1))


@snip
def r_std_tuple(L):
    return L.arange(24.0).reshape(2, 3, 4).std(dim=(0, 2), correction=0)


@snip
def r_var_unbiased(L):
    return L.arange(6.0).reshape(2, 3).var(1, unbiased=False, keepdim=True)


@snip
def r_sum_dtype(L):
    return L.tensor([1, 2]).sum(dtype=L.float32)


@snip
def r_sum_oob(L):
    return L.ones(2, 3).sum(2)


@snip
def r_norm_dim(L):
    return L.arange(6.0).reshape(2, 3).norm(dim=1)


@snip
def r_logsumexp(L):
    return L.arange(6.0).reshape(2, 3).logsumexp(dim=(0, 1))


@snip
def r_0d_dim(L):
    return L.tensor(3.0).sum(0)


@snip
def r_0d_dim_neg(L):
    return L.tensor(3.0).sum(-1)


@snip
def r_0d_dim1(L):
    return L.tensor(3.0).sum(1)


@snip
def r_median(L):
    return L.tensor([[1.0, 4.0, 2.0, 3.0]]).median(dim=1)


@snip
def r_median_all(L):
    return L.tensor([1.0, 4.0, 2.0, 3.0]).median()


@snip
def r_mode(L):
    return L.tensor([1, 2, 2, 3, 3]).mode()


@snip
def r_all_int(L):
    return L.tensor([1, 0]).all()


@snip
def r_any_dim(L):
    return L.tensor([[1, 0], [0, 0]]).any(dim=1)


@snip
def r_count_nonzero(L):
    return L.tensor([[1, 0], [2, 0]]).count_nonzero(dim=0)


@snip
def r_sum_empty(L):
    return L.zeros(0, 3).sum(0)


@snip
def r_max_empty(L):
    return L.zeros(0, 3).max()


@snip
def r_mean_empty(L):
    return L.zeros(0).mean()


@snip
def r_argmax_empty(L):
    return L.zeros(0).argmax()


# ---- indexing
@snip
def i_bool_mask(L):
    x = L.arange(12.0).reshape(3, 4)
    return x[x > 5]


@snip
def i_bool_row(L):
    x = L.arange(12.0).reshape(3, 4)
    return x[L.tensor([True, False, True])]


@snip
def i_bool_wrong(L):
    x = L.arange(12.0).reshape(3, 4)
    return x[L.tensor([True, False])]


@snip
def i_adv_basic(L):
    x = L.arange(24.0).reshape(2, 3, 4)
    return x[:, [0, 2], 1:3]


@snip
def i_adv_sep(L):
    x = L.arange(24.0).reshape(2, 3, 4)
    return x[[0, 1], :, [1, 2]]


@snip
def i_adv_bcast(L):
    x = L.arange(12.0).reshape(3, 4)
    return x[L.tensor([[0], [2]]), L.tensor([1, 3])]


@snip
def i_neg_step(L):
    x = L.arange(5.0)
    return x[::-1]


@snip
def i_step0(L):
    x = L.arange(5.0)
    return x[::0]


@snip
def i_none_ellipsis(L):
    x = L.arange(24.0).reshape(2, 3, 4)
    return x[None, ..., 0, None].shape


@snip
def i_oob(L):
    x = L.arange(5.0)
    return x[5]


@snip
def i_oob_adv(L):
    x = L.arange(5.0)
    return x[L.tensor([0, 5])]


@snip
def i_float_tensor(L):
    x = L.arange(5.0)
    return x[L.tensor([0.0, 1.0])]


@snip
def i_0d_index(L):
    x = L.arange(5.0)
    return x[L.tensor(2)]


@snip
def i_list_bools(L):
    x = L.arange(3.0)
    return x[[True, False, True]]


@snip
def i_empty_list(L):
    x = L.arange(3.0)
    return x[[]]


@snip
def i_int_on_0d(L):
    return L.tensor(1.0)[0]


@snip
def i_slice_oob(L):
    return L.arange(5.0)[3:10]


@snip
def i_too_many(L):
    return L.arange(5.0)[0, 0]


@snip
def s_setitem_bcast(L):
    x = L.zeros(3, 4)
    x[:, 1] = L.tensor([1.0, 2.0, 3.0])
    return x


@snip
def s_setitem_bcast_row(L):
    x = L.zeros(3, 4)
    x[[0, 2]] = L.tensor([1.0, 2.0, 3.0, 4.0])
    return x


@snip
def s_setitem_mask_scalar(L):
    x = L.arange(6.0).reshape(2, 3)
    x[x > 2] = -1
    return x


@snip
def s_setitem_mask_vals(L):
    x = L.arange(6.0).reshape(2, 3)
    x[x > 2] = L.tensor([7.0, 8.0, 9.0])
    return x


@snip
def s_setitem_mask_badcount(L):
    x = L.arange(6.0).reshape(2, 3)
    x[x > 2] = L.tensor([7.0, 8.0])
    return x


@snip
def s_setitem_badshape(L):
    x = L.zeros(3, 4)
    x[:, 1] = L.tensor([1.0, 2.0])
    return x


@snip
def s_setitem_float_into_int(L):
    x = L.zeros(3, dtype=L.long)
    x[0] = 2.7
    return x


@snip
def s_setitem_tensor_float_into_int(L):
    x = L.zeros(3, dtype=L.long)
    x[0:2] = L.tensor([1.7, -1.7])
    return x


@snip
def s_setitem_dup(L):
    x = L.zeros(3)
    x[[0, 0, 1]] = L.tensor([1.0, 2.0, 3.0])
    return x[1:]


@snip
def s_index_put_acc(L):
    x = L.zeros(3)
    x.index_put_((L.tensor([0, 0, 1]),), L.tensor([1.0, 2.0, 3.0]), accumulate=True)
    return x


@snip
def s_index_put_bcast(L):
    x = L.zeros(2, 3)
    x.index_put_((L.tensor([0, 1]),), L.tensor(5.0))
    return x


@snip
def s_index_put_grad(L):
    w = L.ones(4, requires_grad=True)
    v = L.tensor([2.0, 3.0], requires_grad=True)
    y = w * 1
    y = y.index_put((L.tensor([1, 1]),), v, accumulate=True)
    (y * L.arange(4.0)).sum().backward()
    return w.grad, v.grad


@snip
def s_setitem_grad(L):
    w = L.ones(4, requires_grad=True)
    v = L.tensor([2.0, 3.0], requires_grad=True)
    y = w * 2
    y[1:3] = v * v
    (y * L.arange(4.0)).sum().backward()
    return w.grad, v.grad


@snip
def s_setitem_leaf(L):
    w = L.ones(4, requires_grad=True)
    w[0] = 2.0
    return w


@snip
def s_setitem_leaf_nograd(L):
    w = L.ones(4, requires_grad=True)
    with L.no_grad():
        w[0] = 2.0
    return w


@snip
def s_masked_fill_bcast(L):
    x = L.zeros(2, 3)
    return x.masked_fill(L.tensor([True, False, True]), 1.5)


@snip
def s_masked_fill_tensor_val(L):
    return L.zeros(2, 3).masked_fill(L.tensor([True, False, True]), L.tensor(2.0))


@snip
def s_masked_fill_1d_val(L):
    return L.zeros(2, 3).masked_fill(L.tensor([True, False, True]), L.tensor([2.0]))


@snip
def s_masked_fill_int_mask(L):
    return L.zeros(3).masked_fill(L.tensor([1, 0, 1]), 1.0)


# ---- in-place / versions
@snip
def v_leaf_inplace(L):
    w = L.ones(3, requires_grad=True)
    w.add_(1)
    return w


@snip
def v_leaf_view_inplace(L):
    w = L.ones(3, requires_grad=True)
    w[:2].mul_(2)
    return w


@snip
def v_modified(L):
    a = L.ones(3, requires_grad=True)
    b = a.sigmoid()
    c = b * 2
    b.add_(1)
    c.sum().backward()
    return a.grad


@snip
def v_modified_exp(L):
    a = L.ones(3, requires_grad=True)
    b = a.exp()
    b.add_(1)
    b.sum().backward()
    return a.grad


@snip
def v_version(L):
    a = L.ones(3)
    v0 = a._version
    a.add_(1)
    a[0] = 3
    b = a.view(3)
    b.mul_(2)
    return v0, a._version, b._version


@snip
def v_inplace_on_view_grad(L):
    a = L.ones(3, requires_grad=True)
    b = a * 1
    v = b[1:]
    v.mul_(3)
    b.sum().backward()
    return a.grad


@snip
def v_relu_inplace(L):
    a = L.tensor([-1.0, 2.0], requires_grad=True)
    b = a * 2
    L.relu_(b)
    b.sum().backward()
    return a.grad


@snip
def v_detach_inplace_shared(L):
    a = L.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    d = b.detach()
    d.zero_()
    return b, a.requires_grad


@snip
def v_detach_then_modify_saved(L):
    a = L.tensor([1.0, 2.0], requires_grad=True)
    b = a.exp()
    b.detach().zero_()
    b.sum().backward()
    return a.grad


@snip
def v_data_modify(L):
    a = L.tensor([1.0, 2.0], requires_grad=True)
    b = a.exp()
    b.data.zero_()
    b.sum().backward()
    return a.grad


@snip
def v_nograd_inplace_leaf_ok(L):
    w = L.ones(3, requires_grad=True)
    with L.no_grad():
        w.mul_(2)
    return w, w.requires_grad, w.is_leaf


@snip
def v_out_requires_grad(L):
    a = L.ones(2, requires_grad=True)
    o = L.empty(2)
    return L.add(a, 1, out=o)


# ---- views
@snip
def w_view_noncontig(L):
    return L.arange(6.0).reshape(2, 3).t().view(6)


@snip
def w_view_noncontig_ok(L):
    return L.arange(6.0).reshape(2, 3).t().view(3, 2)


@snip
def w_reshape_noncontig(L):
    x = L.arange(6.0).reshape(2, 3)
    y = x.t().reshape(6)
    y[0] = 100
    return x


@snip
def w_view_bad(L):
    return L.arange(6.0).view(4, -1)


@snip
def w_view_two_neg(L):
    return L.arange(6.0).view(-1, -1)


@snip
def w_expand(L):
    return L.tensor([[1.0], [2.0]]).expand(2, 3)


@snip
def w_expand_neg(L):
    return L.tensor([[1.0], [2.0]]).expand(-1, 3)


@snip
def w_expand_bad(L):
    return L.tensor([[1.0], [2.0]]).expand(3, 3)


@snip
def w_expand_fewer(L):
    return L.ones(2, 3).expand(3)


@snip
def w_expand_inplace(L):
    x = L.tensor([[1.0], [2.0]]).expand(2, 3)
    x.add_(1)
    return x


@snip
def w_unsqueeze_oob(L):
    return L.ones(2, 3).unsqueeze(3)


@snip
def w_unsqueeze_neg(L):
    return L.ones(2, 3).unsqueeze(-1).shape


@snip
def w_squeeze_tuple(L):
    return L.ones(1, 2, 1).squeeze((0, 2)).shape


@snip
def w_squeeze_nonone(L):
    return L.ones(1, 2, 1).squeeze(1).shape


@snip
def w_transpose_view_shared(L):
    x = L.zeros(2, 3)
    y = x.transpose(0, 1)
    y[0, 1] = 5
    return x, y.is_contiguous()


@snip
def w_contig_view(L):
    return L.arange(6.0).reshape(2, 3).t().contiguous().view(6)


@snip
def w_flatten_noncontig(L):
    x = L.arange(6.0).reshape(2, 3).t()
    return x.flatten()


@snip
def w_permute_bad(L):
    return L.ones(2, 3).permute(0, 0)


@snip
def w_permute_short(L):
    return L.ones(2, 3).permute(0)


@snip
def w_narrow(L):
    return L.arange(10.0).narrow(0, 2, 3)


@snip
def w_unflatten(L):
    return L.arange(12.0).unflatten(0, (3, -1)).shape


@snip
def w_movedim(L):
    return L.ones(2, 3, 4).movedim((0, 1), (2, 0)).shape


@snip
def w_view_dtype(L):
    return L.ones(2, dtype=L.float32).view(L.int32)


@snip
def w_chunk(L):
    return L.arange(5.0).chunk(3)


@snip
def w_split_list(L):
    return L.arange(5.0).split([2, 3])


@snip
def w_split_badlist(L):
    return L.arange(5.0).split([2, 2])


@snip
def w_stride(L):
    x = L.ones(2, 3, 4)
    return x.stride(), x.transpose(0, 2).stride(), x[:, 1].stride()


@snip
def w_storage_offset(L):
    x = L.arange(12.0).reshape(3, 4)
    return x[1:, 2:].storage_offset()


@snip
def w_cat_mixed(L):
    return L.cat([L.tensor([1, 2]), L.tensor([1.5])])


@snip
def w_cat_empty1d(L):
    return L.cat([L.ones(2, 3), L.tensor([])])


@snip
def w_stack_bad(L):
    return L.stack([L.ones(2), L.ones(3)])


@snip
def w_cat_0d(L):
    return L.cat([L.tensor(1.0), L.tensor(2.0)])


if __name__ == "__main__":
    run(sys.argv[1:] or None)
