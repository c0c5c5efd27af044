# ruff: noqa
"""Parity scratch script (imports torch; run by hand): result dtypes of ops the tutorials use."""

import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmp import run

CASES = {
    "arange_mul_float": lambda L: L.arange(0, 8, 2) * (-0.5),
    "exp_int": lambda L: L.exp(L.arange(3)),
    "int_div": lambda L: L.tensor([1, 2]) / L.tensor([2, 2]),
    "int_floordiv": lambda L: L.tensor([3, 4]) // 2,
    "bool_sum": lambda L: (L.tensor([1, 2]) == L.tensor([1, 3])).sum(),
    "argmax": lambda L: L.tensor([[1.0, 3.0]]).argmax(1),
    "max_idx": lambda L: L.tensor([[1.0, 3.0]]).max(1)[1],
    "sign_int": lambda L: L.tensor([-2, 0, 3]).sign(),
    "int_mean_err": lambda L: L.tensor([1, 2]).mean(),
    "float_int_add": lambda L: L.tensor([1.0]) + L.tensor([1]),
    "int_plus_pyfloat": lambda L: L.tensor([1]) + 0.5,
    "f64_plus_f32": lambda L: L.tensor([1.0], dtype=L.float64) + L.tensor([1.0]),
    "f32_times_f64_0d": lambda L: L.tensor([1.0]) * L.tensor(2.0, dtype=L.float64),
    "int_pow_float": lambda L: L.tensor([2]) ** 0.5,
    "int_pow_int": lambda L: L.tensor([2]) ** 2,
    "softmax_int_err": lambda L: L.softmax(L.tensor([1, 2]), 0),
    "cumsum_int": lambda L: L.tensor([1, 2]).cumsum(0),
    "cumsum_bool": lambda L: L.tensor([True, False]).cumsum(0),
    "prod_int": lambda L: L.tensor([2, 3], dtype=L.int32).prod(),
    "sum_int32": lambda L: L.tensor([2, 3], dtype=L.int32).sum(),
    "mean_f16": lambda L: L.tensor([2.0, 3.0], dtype=L.float16).mean(),
    "where_mixed": lambda L: L.where(L.tensor([True, False]), L.tensor([1]), L.tensor([2.5])),
    "where_scalar": lambda L: L.where(L.tensor([True, False]), L.tensor([1.0]), 0),
    "clamp_int_float": lambda L: L.tensor([1, 5]).clamp(0, 2.5),
    "masked_fill_int": lambda L: L.tensor([1, 2]).masked_fill(L.tensor([True, False]), 0.5),
    "full_int_default": lambda L: L.full((2,), 3),
    "full_bool": lambda L: L.full((2,), True),
    "zeros_like_int": lambda L: L.zeros_like(L.tensor([1, 2]), dtype=L.float64),
    "rand_like_int_err": lambda L: L.rand_like(L.tensor([1, 2])),
    "randint": lambda L: L.randint(0, 3, (2,)),
    "linspace": lambda L: L.linspace(0, 1, 3),
    "tensor_bool_list": lambda L: L.tensor([True, 1]),
    "tensor_mixed_list": lambda L: L.tensor([1, 2.0]),
    "one_hot": lambda L: L.nn.functional.one_hot(L.tensor([0, 2]), 3),
    "bincount": lambda L: L.bincount(L.tensor([0, 2, 2])),
    "topk_idx": lambda L: L.tensor([3.0, 1.0, 2.0]).topk(2).indices,
    "sort_idx": lambda L: L.tensor([3.0, 1.0, 2.0]).sort().indices,
    "nonzero": lambda L: L.nonzero(L.tensor([0, 1, 1])),
    "floor_int": lambda L: L.floor(L.tensor([1, 2])),
    "abs_bool_err": lambda L: L.abs(L.tensor([True])),
    "neg_bool_err": lambda L: -L.tensor([True]),
    "sub_bool_err": lambda L: L.tensor([True]) - L.tensor([False]),
    "bool_add": lambda L: L.tensor([True]) + L.tensor([True]),
    "uint8_add_int": lambda L: L.tensor([250], dtype=L.uint8) + 10,
    "int8_mul_big": lambda L: L.tensor([100], dtype=L.int8) * 3,
    "div_floor_mode": lambda L: L.div(L.tensor([7, -7]), 2, rounding_mode="floor"),
    "div_trunc_mode": lambda L: L.div(L.tensor([7, -7]), 2, rounding_mode="trunc"),
    "remainder_neg": lambda L: L.remainder(L.tensor([-7, 7]), 3),
    "fmod_neg": lambda L: L.fmod(L.tensor([-7, 7]), 3),
    "true_div_scalar": lambda L: L.tensor([3]) / 2,
    "bitwise": lambda L: L.tensor([5]) & 3,
    "mm_int": lambda L: L.mm(L.tensor([[1, 2]]), L.tensor([[3], [4]])),
    "mm_mixed_err": lambda L: L.mm(L.tensor([[1.0, 2]]), L.tensor([[3], [4]])),
    "cat_mixed": lambda L: L.cat([L.tensor([1]), L.tensor([2.0])]),
    "stack_mixed": lambda L: L.stack([L.tensor([1]), L.tensor([2.0], dtype=L.float64)]),
    "mse_int_err": lambda L: L.nn.functional.mse_loss(L.tensor([1]), L.tensor([2])),
    "ce_int_input_err": lambda L: L.nn.functional.cross_entropy(L.tensor([[1, 2]]), L.tensor([0])),
    "ce_float_target": lambda L: L.nn.functional.cross_entropy(
        L.tensor([[1.0, 2.0]]), L.tensor([0.0])
    ),
    "embedding_float_idx_err": lambda L: L.nn.Embedding(3, 2)(L.tensor([0.0])),
    "gather_float_idx_err": lambda L: L.tensor([1.0, 2.0]).gather(0, L.tensor([0.0])),
    "index_float_err": lambda L: L.tensor([1.0, 2.0])[L.tensor([0.0])],
    "linear_int_err": lambda L: L.nn.Linear(2, 1)(L.tensor([[1, 2]])),
}
import cmp as _c

for k, f in CASES.items():
    _c.SNIPS[k] = (lambda f: lambda L: f(L))(f)

if __name__ == "__main__":
    run()
