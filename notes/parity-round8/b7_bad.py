# ruff: noqa
"""Round 8 batch 7: bad inputs a user plausibly writes (torch vs jitgrad: error class, message)."""
import sys
import numpy as np
from harness import snip, run

@snip
def b_sum_dim_str(L): return L.ones(2, 3).sum(dim="a")
@snip
def b_view_float(L): return L.ones(4).view(2, 2.0)
@snip
def b_reshape_two_neg(L): return L.ones(4).reshape((2, -1, -1))
@snip
def b_cat_tensor(L): return L.cat(L.ones(2, 2))
@snip
def b_stack_empty(L): return L.stack([])
@snip
def b_cat_empty(L): return L.cat([])
@snip
def b_expand_smaller(L): return L.ones(2, 3).expand(2)
@snip
def b_permute_3_on_2(L): return L.ones(2, 3).permute(0, 1, 2)
@snip
def b_transpose_oob(L): return L.ones(2, 3).transpose(0, 2)
@snip
def b_matmul_scalar(L): return L.matmul(L.ones(2), 2)
@snip
def b_matmul_0d(L): return L.ones(2) @ L.tensor(2.0)
@snip
def b_linear_float(L): return L.nn.Linear(2.5, 3)
@snip
def b_linear_neg(L): return L.nn.Linear(-1, 3)
@snip
def b_sgd_lr_str(L):
    p = L.nn.Parameter(L.ones(1)); return L.optim.SGD([p], lr="0.1")
@snip
def b_sgd_no_params_list(L): return L.optim.SGD(L.nn.Linear(1, 1), lr=0.1)
@snip
def b_mean_dim_oob(L): return L.ones(2).mean(dim=2)
@snip
def b_index_col_oob(L): return L.zeros(2, 3)[:, 3]
@snip
def b_index_mask_short(L): return L.arange(5)[L.tensor([True])]
@snip
def b_backward_nonscalar(L): return L.ones(3, requires_grad=True).backward()
@snip
def b_item_empty(L): return L.zeros(0).item()
@snip
def b_add_shape(L): return L.ones(2, 3) + L.ones(3, 2)
@snip
def b_add_shape3(L): return L.ones(2, 3, 4) + L.ones(2, 4)
@snip
def b_add_list(L): return L.ones(2) + [1, 2]
@snip
def b_add_none(L): return L.ones(2) + None
@snip
def b_add_str(L): return L.ones(2) + "a"
@snip
def b_mul_np(L): return L.ones(2) * np.ones(2)
@snip
def b_np_mul_tensor(L): return type(np.ones(2) * L.ones(2)).__name__
@snip
def b_tensor_none(L): return L.tensor(None)
@snip
def b_tensor_dict(L): return L.tensor({"a": 1})
@snip
def b_tensor_set(L): return L.tensor({1, 2})
@snip
def b_tensor_gen(L): return L.tensor(x for x in range(3))
@snip
def b_tensor_range(L): return L.tensor(range(3))
@snip
def b_ones_str(L): return L.ones("3")
@snip
def b_ones_list_float(L): return L.ones([2, 2.5])
@snip
def b_randn_neg(L): return L.randn(-2)
@snip
def b_randint_bad(L): return L.randint(5, 2, (3,))
@snip
def b_randint_noshape(L): return L.randint(0, 5)
@snip
def b_arange_dtype_str(L): return L.arange(3, dtype="float32")
@snip
def b_to_str_dtype(L): return L.ones(2).to("float64")
@snip
def b_to_bad_device(L): return L.ones(2).to("gpu")
@snip
def b_view_dtype_bad(L): return L.ones(3, dtype=L.float32).view(L.float64)
@snip
def b_squeeze_oob(L): return L.ones(1, 2).squeeze(2)
@snip
def b_unsqueeze_none(L): return L.ones(2).unsqueeze()
@snip
def b_gather_dim_mismatch(L): return L.ones(2, 3).gather(1, L.tensor([0, 1]))
@snip
def b_scatter_float_idx(L): return L.zeros(3).scatter(0, L.tensor([0.0]), 1.0)
@snip
def b_index_select_2d(L): return L.ones(3).index_select(0, L.tensor([[0]]))
@snip
def b_softmax_no_dim_kw(L): return L.softmax(L.ones(2))
@snip
def b_ce_wrong_order(L): return L.nn.functional.cross_entropy(L.tensor([0, 1]), L.ones(2, 3))
@snip
def b_ce_module_call_args(L): return L.nn.CrossEntropyLoss()(L.ones(2, 3))
@snip
def b_mse_shape_warn(L): return L.nn.functional.mse_loss(L.ones(2, 1), L.ones(2))
@snip
def b_nll_3d_target(L): return L.nn.functional.nll_loss(L.ones(2, 3), L.tensor([[0], [1]]))
@snip
def b_module_call_kw(L): return L.nn.Linear(2, 2)(x=L.ones(2))
@snip
def b_module_call_extra(L): return L.nn.Linear(2, 2)(L.ones(2), L.ones(2))
@snip
def b_sequential_multi_in(L): return L.nn.Sequential(L.nn.Linear(2, 2))(L.ones(2), L.ones(2))
@snip
def b_param_int(L): return L.nn.Parameter(L.ones(2, dtype=L.long))
@snip
def b_param_of_nonleaf(L):
    x = L.ones(2, requires_grad=True) * 2; p = L.nn.Parameter(x); return p.is_leaf, p.requires_grad, p.grad_fn
@snip
def b_setattr_module_none(L):
    m = L.nn.Sequential(L.nn.Linear(1, 1)); m[0] = None; return len(m)
@snip
def b_moduledict_bad_key(L): return L.nn.ModuleDict({1: L.nn.ReLU()})
@snip
def b_modulelist_nonmodule(L): return L.nn.ModuleList([1])
@snip
def b_sequential_nonmodule(L): return L.nn.Sequential(lambda x: x)
@snip
def b_seq_index_oob(L): return L.nn.Sequential(L.nn.ReLU())[3]
@snip
def b_load_missing_file(L): return L.load("/nonexistent/xx.pt")
@snip
def b_dataloader_bs0(L): return L.utils.data.DataLoader([1, 2], batch_size=0)
@snip
def b_dataloader_bs_float(L): return L.utils.data.DataLoader([1, 2], batch_size=1.5)
@snip
def b_grad_of_int(L): return L.autograd.grad(L.ones(2).sum(), L.ones(2, dtype=L.long))
@snip
def b_inplace_broadcast_bad(L):
    a = L.ones(3); a += L.ones(2, 3); return a
@snip
def b_inplace_broadcast_ok(L):
    a = L.ones(2, 3); a += L.ones(3); return a
@snip
def b_copy_bad(L): return L.ones(3).copy_(L.ones(2))
@snip
def b_copy_bcast(L): return L.ones(2, 3).copy_(L.tensor([1.0, 2.0, 3.0]))
@snip
def b_copy_dtype(L): return L.ones(2, dtype=L.long).copy_(L.tensor([1.7, -1.7]))
@snip
def b_fill_tensor(L): return L.ones(2).fill_(L.tensor(3.0)), L.ones(2).fill_(L.tensor([3.0]))
@snip
def b_fill_tensor_bad(L): return L.ones(2).fill_(L.tensor([3.0, 4.0]))
@snip
def b_zero_grad_none(L): return L.ones(2, requires_grad=True).grad.zero_()
@snip
def b_numpy_int_index(L): return L.arange(5)[np.int64(2)], L.arange(5)[np.array([1, 2])], L.arange(5)[np.array(True)] if False else 0
@snip
def b_bool_np_index(L): return L.arange(3)[np.array([True, False, True])]
@snip
def b_split_zero(L): return L.arange(5).split(0)
@snip
def b_chunk_zero(L): return L.arange(5).chunk(0)
@snip
def b_repeat_fewer(L): return L.ones(2, 3).repeat(2)
@snip
def b_max_two_dims(L): return L.ones(2, 3).max(0, 1)
@snip
def b_topk_too_big(L): return L.ones(3).topk(4)
@snip
def b_multinomial_neg(L): return L.multinomial(L.tensor([0.5, -0.1]), 1)
@snip
def b_multinomial_too_many(L): return L.multinomial(L.tensor([0.5, 0.5]), 3)
@snip
def b_one_hot_small(L): return L.nn.functional.one_hot(L.tensor([3]), 2)
@snip
def b_conv_input_2d(L): return L.nn.Conv2d(1, 1, 3)(L.ones(5, 5))
@snip
def b_maxpool_too_big(L): return L.nn.MaxPool2d(5)(L.ones(1, 1, 3, 3))
@snip
def b_bn_eval_no_stats(L):
    bn = L.nn.BatchNorm1d(2, track_running_stats=False); bn.eval(); return bn(L.tensor([[1.0, 2.0], [3.0, 5.0]]))
@snip
def b_embedding_neg(L): return L.nn.Embedding(3, 2)(L.tensor([-1]))
@snip
def b_lstm_h0_bad(L): return L.nn.LSTM(2, 3)(L.ones(4, 1, 2), (L.zeros(1, 1, 2), L.zeros(1, 1, 3)))
@snip
def b_lr_sched_bad_opt(L): return L.optim.lr_scheduler.StepLR(None, 1)
@snip
def b_clip_grad_str(L): return L.nn.utils.clip_grad_norm_(L.nn.Linear(1, 1).parameters(), "a")
@snip
def b_where_cond_float(L): return L.where(L.tensor([1.0, 0.0]), L.ones(2), L.zeros(2))
@snip
def b_tensor_bool_index_assign(L):
    x = L.zeros(3); x[L.tensor([True, False, True])] = L.tensor([1.0, 2.0, 3.0]); return x
@snip
def b_requires_grad_kw_factory(L): return L.zeros(2, requires_grad=True).requires_grad, L.arange(3.0, requires_grad=True).is_leaf

if __name__ == "__main__":
    run(sys.argv[1:] or None)
