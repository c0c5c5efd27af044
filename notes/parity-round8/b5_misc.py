# ruff: noqa
"""Round 8 batch 5: printing, factories, everyday ops (torch vs jitgrad)."""
import sys
import numpy as np
from harness import snip, run

# ---- repr / str
@snip
def r_repr_basic(L): return repr(L.tensor([1.0, 2.5, -3.0])), str(L.tensor([1, 2])), repr(L.tensor(3.0)), repr(L.tensor(True))
@snip
def r_repr_grad(L):
    x = L.tensor([1.0, 2.0], requires_grad=True); return repr(x), repr(x * 2), repr(x.sum()), repr((x * 2).detach())
@snip
def r_repr_dtypes(L): return [repr(L.ones(2, dtype=d)) for d in (L.float64, L.float16, L.int32, L.int8, L.uint8, L.bool, L.int16)]
@snip
def r_repr_sci(L): return repr(L.tensor([1e-8, 1.0, 1e8])), repr(L.tensor([1e-3, 1.0])), repr(L.tensor([123456.0, 1.0]))
@snip
def r_repr_nan(L): return repr(L.tensor([float("nan"), float("inf"), -float("inf"), 1.5]))
@snip
def r_repr_empty(L): return repr(L.zeros(0)), repr(L.zeros(2, 0)), repr(L.zeros(0, dtype=L.long)), repr(L.zeros(0, 3, requires_grad=True))
@snip
def r_repr_int_neg(L): return repr(L.tensor([[-1, 200], [3, 4]]))
@snip
def r_repr_big(L): return repr(L.arange(2000.)), repr(L.arange(1200).reshape(40, 30))
@snip
def r_repr_3d(L): return repr(L.arange(8.).reshape(2, 2, 2))
@snip
def r_repr_float_ints(L): return repr(L.tensor([1.0, 2.0])), repr(L.tensor([100.0, 2.0])), repr(L.tensor([0.1, 20.0]))
@snip
def r_repr_f64_prec(L): return repr(L.tensor([1 / 3], dtype=L.float64)), repr(L.tensor(1 / 3))
@snip
def r_print_options(L):
    L.set_printoptions(precision=2); a = repr(L.tensor([1 / 3, 2 / 3])); L.set_printoptions(profile="default"); return a, repr(L.tensor([1 / 3]))
@snip
def r_size_repr(L): return repr(L.ones(2, 3).shape), str(L.ones(2, 3).size()), L.ones(2, 3).shape == (2, 3), repr(L.Size([2]))
@snip
def r_dtype_repr(L): return repr(L.float32), str(L.int64), L.float32.is_floating_point, L.int8.itemsize, L.bool.is_signed
@snip
def r_format(L): return f"{L.tensor(1.23456):.2f}", "{}".format(L.tensor([1])), f"{L.tensor(3)}"
@snip
def r_format_bad(L): return f"{L.tensor([1.0, 2.0]):.2f}"
@snip
def r_param_repr(L): return repr(L.nn.Parameter(L.ones(2))), repr(L.nn.Parameter(L.ones(2), requires_grad=False))
@snip
def r_repr_grad_fn(L):
    x = L.ones(2, requires_grad=True); return repr((x * 2).grad_fn).split(" object")[0], repr(x.exp().mean())
@snip
def r_repr_half_prec(L): return repr(L.tensor([1 / 3, 1000.5], dtype=L.float16))

# ---- factories
@snip
def f_arange_float(L): return L.arange(0, 1, 0.1), L.arange(5), L.arange(1.0, 4), L.arange(0, 10, 3)
@snip
def f_arange_dtype(L): return L.arange(5, dtype=L.float32), L.arange(0.5, 3, dtype=L.long) if False else L.arange(2.5)
@snip
def f_arange_bad(L): return L.arange(0, 10, -1)
@snip
def f_arange_zero(L): return L.arange(0, 10, 0)
@snip
def f_linspace(L): return L.linspace(0, 1, 5), L.linspace(0, 10, 1), L.linspace(0, 1, 0), L.linspace(0, 10, 5, dtype=L.long)
@snip
def f_logspace(L): return L.logspace(0, 2, 3), L.logspace(0, 2, 3, base=2)
@snip
def f_full_infer(L): return L.full((2,), 3), L.full((2,), 3.0), L.full((2,), True), L.full((2, 2), 7, dtype=L.float32)
@snip
def f_zeros_tuple(L): return L.zeros((2, 3)).shape, L.zeros([2, 3]).shape, L.zeros(L.Size([2])).shape, L.zeros(()).shape, L.ones(2, 3).shape
@snip
def f_zeros_neg(L): return L.zeros(-1)
@snip
def f_zeros_float_size(L): return L.zeros(2.0)
@snip
def f_like(L):
    x = L.ones(2, 3, dtype=L.int32)
    return L.zeros_like(x), L.ones_like(x, dtype=L.float32), L.full_like(x, 2.7), L.empty_like(x).shape, L.rand_like(x.float()).shape
@snip
def f_eye(L): return L.eye(2), L.eye(2, 3), L.eye(3, dtype=L.long)
@snip
def f_randint(L):
    r = L.randint(0, 5, (3,)); r2 = L.randint(5, (2, 2)); r3 = L.randint(0, 5, (2,), dtype=L.int32); return r.dtype, r.shape, r2.shape, r3.dtype, bool((r >= 0).all() and (r < 5).all())
@snip
def f_rand_shapes(L): return L.rand(2, 3).shape, L.randn((2,)).shape, L.rand(2, dtype=L.float64).dtype, L.randperm(5).dtype, sorted(L.randperm(5).tolist()), L.randn(()).shape
@snip
def f_normal(L): return L.normal(0.0, 1.0, size=(3,)).shape, L.normal(L.zeros(2), 1.0).shape, L.empty(3).normal_().shape, L.empty(2).uniform_(0, 1).shape
@snip
def f_seed_repeat(L):
    L.manual_seed(3); a = L.randn(3); L.manual_seed(3); b = L.randn(3); g = L.Generator().manual_seed(1); c = L.rand(2, generator=g); g.manual_seed(1); d = L.rand(2, generator=g)
    return L.equal(a, b), L.equal(c, d), type(L.manual_seed(0)).__name__, L.initial_seed()
@snip
def f_rng_state(L):
    s = L.get_rng_state(); a = L.rand(3); L.set_rng_state(s); b = L.rand(3); return L.equal(a, b), s.dtype
@snip
def f_from_numpy_share(L):
    a = np.zeros(3, dtype=np.float32); t = L.from_numpy(a); a[0] = 5; t[1] = 7; return t, a.tolist(), t.numpy() is a
@snip
def f_as_tensor_share(L):
    a = np.zeros(3); t = L.as_tensor(a); a[0] = 1; t2 = L.as_tensor(a, dtype=L.float32); a[1] = 2; return t, t2
@snip
def f_numpy_f64_default(L): return L.tensor(np.zeros(2)).dtype, L.from_numpy(np.zeros(2, dtype=np.int32)).dtype, L.tensor(np.float64(1.0)).dtype, L.tensor([np.float32(1.0)]).dtype
@snip
def f_numpy_uint16(L): return L.from_numpy(np.zeros(2, dtype=np.uint16))
@snip
def f_tensor_of_tensor_list(L): return L.tensor([L.tensor([1, 2]), L.tensor([3, 4])])
@snip
def f_stack_scalars(L): return L.stack([L.tensor(1.0), L.tensor(2.0)])
@snip
def f_empty_strided(L): return L.empty(2, 3).shape, L.empty((0,)).shape
@snip
def f_default_dtype(L):
    L.set_default_dtype(L.float64); a = L.tensor([1.0]).dtype, L.ones(1).dtype, L.arange(1.0).dtype, L.tensor([1]).dtype, (L.tensor([1]) * 0.5).dtype
    L.set_default_dtype(L.float32); return a, L.get_default_dtype()
@snip
def f_tensor_legacy(L): return L.Tensor([1, 2]).dtype, L.Tensor(2, 3).shape, L.FloatTensor([1]).dtype, L.LongTensor([1.7]).tolist()

# ---- everyday ops
@snip
def o_one_hot(L): return L.nn.functional.one_hot(L.tensor([0, 2, 1])), L.nn.functional.one_hot(L.tensor([0, 2]), num_classes=4)
@snip
def o_one_hot_bad(L): return L.nn.functional.one_hot(L.tensor([0.0, 1.0]))
@snip
def o_one_hot_neg(L): return L.nn.functional.one_hot(L.tensor([-1, 1]))
@snip
def o_topk(L): return L.tensor([3.0, 1.0, 4.0, 1.0, 5.0]).topk(2), L.tensor([[3.0, 1.0], [0.0, 4.0]]).topk(1, dim=0, largest=False)
@snip
def o_sort_stable(L): return L.tensor([2, 1, 2, 1, 0]).sort(stable=True), L.tensor([2.0, 1.0, 3.0]).sort(descending=True)
@snip
def o_argsort(L): return L.tensor([3, 1, 2]).argsort(), L.tensor([[3, 1], [0, 5]]).argsort(dim=0, descending=True)
@snip
def o_unique(L): return L.unique(L.tensor([3, 1, 3, 2])), L.tensor([3, 1, 3, 2]).unique(return_inverse=True, return_counts=True), L.unique(L.tensor([[1, 2], [1, 2], [0, 1]]), dim=0)
@snip
def o_unique_consecutive(L): return L.unique_consecutive(L.tensor([1, 1, 2, 2, 1]), return_counts=True)
@snip
def o_bincount(L): return L.bincount(L.tensor([0, 1, 1, 3])), L.bincount(L.tensor([0, 1]), weights=L.tensor([0.5, 1.0]), minlength=4)
@snip
def o_histc(L): return L.histc(L.tensor([1.0, 2.0, 1.0, 4.0]), bins=4, min=0, max=4)
@snip
def o_einsum(L):
    a = L.arange(6.).reshape(2, 3); b = L.arange(12.).reshape(3, 4); return L.einsum("ij,jk->ik", a, b), L.einsum("ii", L.eye(3)), L.einsum("bi,bi->b", a, a), L.einsum("i,j", L.ones(2), L.ones(3)).shape
@snip
def o_repeat(L): return L.tensor([1, 2]).repeat(2, 2), L.tensor([1, 2]).repeat_interleave(2), L.tensor([[1, 2]]).tile(2), L.repeat_interleave(L.tensor([1, 2]), L.tensor([1, 3]))
@snip
def o_gather(L): return L.tensor([[1, 2], [3, 4]]).gather(1, L.tensor([[0, 0], [1, 0]]))
@snip
def o_gather_bad(L): return L.tensor([[1, 2], [3, 4]]).gather(1, L.tensor([[0, 2]]))
@snip
def o_gather_int32(L): return L.tensor([[1, 2], [3, 4]]).gather(1, L.tensor([[0, 1]], dtype=L.int32))
@snip
def o_scatter(L): return L.zeros(2, 3).scatter(1, L.tensor([[0], [2]]), 5.0), L.zeros(3).scatter_add(0, L.tensor([0, 0, 2]), L.tensor([1.0, 2.0, 3.0])), L.zeros(3).scatter(0, L.tensor([1]), L.tensor([4.0]), reduce="add")
@snip
def o_index_select(L): return L.arange(6.).reshape(2, 3).index_select(1, L.tensor([2, 0]))
@snip
def o_take_along(L): return L.take_along_dim(L.tensor([[10, 30, 20]]), L.tensor([[0, 2]]), dim=1)
@snip
def o_nonzero(L): return L.tensor([[0, 1], [2, 0]]).nonzero(), L.nonzero(L.tensor([0, 3]), as_tuple=True), L.argwhere(L.tensor([1, 0, 1]))
@snip
def o_clamp_t(L): return L.clamp(L.tensor([1.0, 5.0, -2.0]), min=L.tensor([0.0, 0.0, 0.0]), max=4), L.tensor([1, 5]).clamp(min=2)
@snip
def o_round(L): return L.tensor([0.5, 1.5, 2.5, -0.5]).round(), L.tensor([1.2345]).round(decimals=2), L.tensor([1.7, -1.7]).trunc(), L.tensor([1.7, -1.7]).fix() if hasattr(L.Tensor, "fix") else 0
@snip
def o_div_modes(L): return L.div(L.tensor([-7, 7]), 2, rounding_mode="floor"), L.div(L.tensor([-7, 7]), 2, rounding_mode="trunc"), L.tensor([-7.0]) // 2, L.tensor([-7]) % 3, L.fmod(L.tensor([-7]), 3), L.remainder(L.tensor([-7.0]), 3)
@snip
def o_isclose(L): return L.isclose(L.tensor([1.0, float("nan")]), L.tensor([1.0 + 1e-9, float("nan")]), equal_nan=True), L.allclose(L.ones(2), L.ones(2) + 1e-7), L.equal(L.ones(2), L.ones(2, dtype=L.long)) if False else 0
@snip
def o_matmul_shapes(L): return (L.ones(3) @ L.ones(3)).shape, (L.ones(2, 3) @ L.ones(3)).shape, (L.ones(3) @ L.ones(3, 2)).shape, (L.ones(4, 2, 3) @ L.ones(3, 5)).shape, (L.ones(4, 1, 2, 3) @ L.ones(5, 3, 2)).shape
@snip
def o_matmul_bad(L): return L.ones(2, 3) @ L.ones(2, 3)
@snip
def o_matmul_int(L): return L.tensor([[1, 2]]) @ L.tensor([[3], [4]])
@snip
def o_matmul_mixed(L): return L.tensor([[1, 2]]) @ L.tensor([[3.0], [4.0]])
@snip
def o_mm_bad(L): return L.mm(L.ones(3), L.ones(3))
@snip
def o_bmm_bad(L): return L.bmm(L.ones(2, 2, 3), L.ones(3, 3, 2))
@snip
def o_dot_bad(L): return L.dot(L.ones(2), L.ones(3))
@snip
def o_cumsum(L): return L.tensor([1, 2, 3]).cumsum(0), L.tensor([True, True]).cumsum(0), L.tensor([1.0, 2.0]).cumprod(0), L.tensor([3, 1, 2]).cummax(0), L.tensor([1.0, 2.0]).cumsum(0, dtype=L.float64)
@snip
def o_diff(L): return L.tensor([1, 4, 9]).diff(), L.tensor([[1, 2], [4, 8]]).diff(dim=0)
@snip
def o_flip_roll(L): return L.arange(6).reshape(2, 3).flip(1), L.arange(6).roll(2), L.arange(6).reshape(2, 3).roll(1, 1), L.arange(4).reshape(2, 2).rot90()
@snip
def o_tril(L): return L.ones(3, 3).tril(-1), L.ones(2, 3).triu(1), L.tril_indices(3, 3), L.triu_indices(2, 3, 1)
@snip
def o_meshgrid(L): return L.meshgrid(L.arange(2), L.arange(3), indexing="ij"), L.meshgrid(L.arange(2), L.arange(3), indexing="xy")
@snip
def o_cartesian(L): return L.cartesian_prod(L.tensor([1, 2]), L.tensor([3, 4])), L.combinations(L.tensor([1, 2, 3]))
@snip
def o_where_1arg(L): return L.where(L.tensor([[0, 1], [1, 1]]))
@snip
def o_max_elementwise(L): return L.max(L.tensor([1, 5]), L.tensor([3, 2])), L.tensor([[1, 5], [7, 2]]).max(), L.tensor([[1, 5], [7, 2]]).max(1, keepdim=True), L.tensor([1.0, float("nan")]).max()
@snip
def o_min_ret(L):
    r = L.tensor([[1, 5], [7, 2]]).min(dim=0); return type(r).__name__, r.values, r.indices, r[0]
@snip
def o_aminmax(L): return L.aminmax(L.tensor([[1, 5], [7, 2]]), dim=1)
@snip
def o_norms(L): return L.tensor([3.0, 4.0]).norm(), L.tensor([[3.0, 4.0]]).norm(p=1, dim=1), L.linalg.norm(L.tensor([[1.0, 2.0], [3.0, 4.0]])), L.linalg.vector_norm(L.tensor([3.0, -4.0]), ord=float("inf"))
@snip
def o_norm_int(L): return L.tensor([3, 4]).norm()
@snip
def o_softmax_int(L): return L.tensor([1, 2]).softmax(0)
@snip
def o_softmax_dtype(L): return L.tensor([1, 2]).softmax(0, dtype=L.float64), L.log_softmax(L.tensor([1.0, 2.0]), 0, dtype=L.float64)
@snip
def o_softmax_nodim(L): return L.nn.functional.softmax(L.tensor([[1.0, 2.0]]))
@snip
def o_sigmoid_int(L): return L.tensor([0, 1]).sigmoid(), L.tensor([1, 4]).sqrt(), L.tensor([1, 2]).exp(), L.tensor([True]).float()
@snip
def o_neg_bool(L): return ~L.tensor([True, False]), ~L.tensor([1, 0]), L.logical_not(L.tensor([1, 0])), L.tensor([1, 0]).logical_and(L.tensor([1, 1]))
@snip
def o_bitwise(L): return L.tensor([5]) & 3, L.tensor([5]) | L.tensor([2]), L.tensor([5]) ^ 1, L.tensor([True]) & L.tensor([False]), L.tensor([1]) << 2
@snip
def o_float_bitwise(L): return L.tensor([1.0]) & 1
@snip
def o_chunks_uneven(L): return L.arange(7).chunk(3), L.arange(7).tensor_split(3), L.arange(7).split(3)
@snip
def o_squeeze_all(L): return L.ones(1, 2, 1, 3).squeeze().shape, L.ones(1).squeeze().shape, L.ones(2, 1).squeeze(-1).shape
@snip
def o_type_as(L): return L.ones(2).type_as(L.ones(1, dtype=L.long)), L.tensor([1.7]).int(), L.tensor([-1.7]).long(), L.tensor([300]).to(L.uint8), L.tensor([2.5]).to(L.bool)
@snip
def o_item_errs(L): return L.ones(2).item()
@snip
def o_bool_ambig(L): return bool(L.ones(2))
@snip
def o_len_0d(L): return len(L.tensor(1.0))
@snip
def o_iter_0d(L): return list(L.tensor(1.0))
@snip
def o_iter(L): return [t for t in L.arange(3)], list(L.ones(2, 2))
@snip
def o_contains(L): return 2 in L.tensor([1, 2]), 5 in L.tensor([1, 2])
@snip
def o_hash_eq(L):
    a = L.ones(1); return len({a, a}), (a == a).tolist(), a is a
@snip
def o_numpy_grad_err(L): return L.ones(2, requires_grad=True).numpy()
@snip
def o_numpy_force(L): return L.ones(2, requires_grad=True).numpy(force=True)
@snip
def o_np_ufunc(L): return np.exp(L.tensor([0.0, 1.0])), np.asarray(L.tensor([1, 2])).dtype
@snip
def o_radd_np(L): return type(np.float32(2.0) * L.tensor([1.0])).__name__, (np.float64(2.0) * L.tensor([1.0])).dtype
@snip
def o_tensor_np_scalar_mul(L): return (L.tensor([1.0]) * np.float64(2.0)).dtype, (L.tensor([1]) * np.int64(2)).dtype, (L.tensor([1]) * np.float32(2.5)).dtype
@snip
def o_tolist(L): return L.tensor([[1.5, 2]]).tolist(), L.tensor(3).tolist(), L.tensor([True]).tolist(), type(L.tensor([1.0]).tolist()[0]).__name__
@snip
def o_apply_along(L): return L.stack([L.ones(2), L.zeros(2)], dim=1), L.hstack([L.ones(2), L.zeros(1)]), L.vstack([L.ones(2), L.zeros(2)]), L.dstack([L.ones(2), L.zeros(2)]).shape, L.column_stack([L.ones(2), L.zeros(2)])
@snip
def o_cat_neg_dim(L): return L.cat([L.ones(2, 1), L.zeros(2, 2)], dim=-1), L.cat((L.ones(1), L.zeros(1)))
@snip
def o_cat_dtype_bool(L): return L.cat([L.tensor([True]), L.tensor([2])])
@snip
def o_cat_bad_dim(L): return L.cat([L.ones(2, 1), L.zeros(3, 2)], dim=1)
@snip
def o_outer(L): return L.outer(L.tensor([1, 2]), L.tensor([1.0, 3.0])), L.ger(L.ones(2), L.ones(2)) if hasattr(L, "ger") else 0, L.cross(L.tensor([1.0, 0, 0]), L.tensor([0.0, 1, 0]), dim=0)
@snip
def o_cdist(L): return L.cdist(L.tensor([[0.0, 0.0], [1.0, 1.0]]), L.tensor([[1.0, 0.0]]))
@snip
def o_searchsorted(L): return L.searchsorted(L.tensor([1, 3, 5]), L.tensor([0, 3, 6])), L.searchsorted(L.tensor([1, 3, 5]), L.tensor([3]), right=True), L.bucketize(L.tensor([0.5, 3.0]), L.tensor([1.0, 3.0]))
@snip
def o_kthvalue(L): return L.tensor([3.0, 1.0, 2.0]).kthvalue(2), L.quantile(L.tensor([1.0, 2.0, 3.0, 4.0]), 0.5), L.nanmean(L.tensor([1.0, float("nan")])), L.nansum(L.tensor([1.0, float("nan")]))
@snip
def o_var_mean(L): return L.var_mean(L.tensor([1.0, 2.0, 4.0])), L.std_mean(L.tensor([[1.0, 2.0], [3.0, 5.0]]), dim=0)
@snip
def o_lerp_addcmul(L): return L.lerp(L.zeros(2), L.ones(2), 0.25), L.addcmul(L.ones(2), L.ones(2), L.ones(2), value=2), L.addcdiv(L.ones(2), L.ones(2), L.ones(2) * 2, value=0.5), L.addmm(L.zeros(2, 2), L.ones(2, 3), L.ones(3, 2), beta=0.5, alpha=2)
@snip
def o_logical_mask_sum(L):
    m = L.tensor([True, False, True]); return m.sum(), m.float().mean(), (m * 1).dtype, m.int().dtype, m.any(), m.all(), m.nonzero().shape
@snip
def o_amax_int_bool(L): return L.tensor([True, False]).amax(), L.tensor([1, 3]).amax(), L.tensor([True, False]).max()

if __name__ == "__main__":
    run(sys.argv[1:] or None)
