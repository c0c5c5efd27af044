"""Bad inputs met in the tutorial programs (Transformer LM masks, optimizer-in-backward hooks):
torch's exception types and messages."""
# ruff: noqa: E501  (the error table keeps one case a line)

import numpy as np
import pytest

import jitgrad
from jitgrad import nn


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        ({"attn_mask": jitgrad.zeros(2, 2)}, RuntimeError, r"2D attn_mask is .*\[2, 2\].*should be \(3, 3\)"),
        ({"attn_mask": jitgrad.zeros(5, 3, 3)}, RuntimeError, r"3D attn_mask .* should be \(4, 3, 3\)"),
        ({"attn_mask": jitgrad.zeros(2, 3, 3, 1)}, AssertionError, "2-D or 3-D but found 4-D"),
        ({"attn_mask": jitgrad.zeros(3, 3, dtype=jitgrad.int64)}, AssertionError, "only bool and floating"),
        ({"key_padding_mask": jitgrad.zeros(2, 4, dtype=jitgrad.bool)}, AssertionError, r"shape\[1\] to be 3, but got 4"),
        ({"key_padding_mask": jitgrad.zeros(3, 3, dtype=jitgrad.bool)}, AssertionError, r"shape\[0\] to be 2, but got 3"),
    ],
)  # fmt: skip
def test_attention_mask_shapes_checked_like_torch(kw, exc, msg):
    m = nn.MultiheadAttention(4, 2)
    x = jitgrad.ones(3, 2, 4)
    with pytest.raises(exc, match=msg):
        m(x, x, x, **kw)


def test_valid_masks_still_apply():
    jitgrad.manual_seed(0)
    m = nn.MultiheadAttention(4, 2)
    x = jitgrad.randn(3, 2, 4)
    causal = nn.Transformer.generate_square_subsequent_mask(3)
    a, _ = m(x, x, x, attn_mask=causal)
    b, _ = m(x, x, x, attn_mask=causal.isinf())
    c, _ = m(x, x, x, attn_mask=jitgrad.zeros(4, 3, 3))
    d, _ = m(x, x, x)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), d.detach().numpy(), rtol=1e-6)
    # the first query position sees only the first key: its output ignores keys 1 and 2
    y = x.clone()
    y[1:] = 5.0
    e, _ = m(y, y, y, attn_mask=causal)
    np.testing.assert_allclose(e[0].detach().numpy(), a[0].detach().numpy(), rtol=1e-5)
    xu = jitgrad.ones(3, 4)
    with pytest.raises(AssertionError, match=r"Expected `attn_mask` shape to be \(2, 3, 3\)"):
        m(xu, xu, xu, attn_mask=jitgrad.zeros(1, 3, 3))


def test_post_accumulate_grad_hook_needs_a_leaf_that_requires_grad():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        jitgrad.ones(2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="non-leaf tensors"):
        (jitgrad.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print)
    p = nn.Parameter(jitgrad.tensor([1.0, 2.0]))
    seen = []
    p.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().tolist()))
    (p * 3).sum().backward()
    (p * 2).sum().backward()
    assert seen == [[3.0, 3.0], [5.0, 5.0]]


def test_square_subsequent_mask_dtype_and_fill_overflow():
    m = nn.Transformer.generate_square_subsequent_mask(3, dtype=jitgrad.float64)
    assert m.dtype == jitgrad.float64
    np.testing.assert_array_equal(m.numpy(), np.triu(np.full((3, 3), -np.inf), 1))
    assert nn.Transformer.generate_square_subsequent_mask(2).dtype == jitgrad.float32
    with pytest.raises(RuntimeError, match="cannot be converted to type int64_t without overflow"):
        nn.Transformer.generate_square_subsequent_mask(2, dtype=jitgrad.int64)
    with pytest.raises(RuntimeError, match="type uint8_t without overflow"):
        jitgrad.full((2,), 300, dtype=jitgrad.uint8)
    with pytest.raises(RuntimeError, match="type int without overflow"):
        jitgrad.zeros(2, dtype=jitgrad.int32).fill_(float("nan"))
    with pytest.raises(RuntimeError, match="type float without overflow"):
        jitgrad.full((1,), 1e40)
    assert jitgrad.full((2,), -1, dtype=jitgrad.uint8).numpy().tolist() == [255, 255]
    assert jitgrad.full((1,), 2.5, dtype=jitgrad.int64).numpy().tolist() == [2]
    assert np.isinf(jitgrad.full((1,), float("inf")).numpy()).all()
    assert jitgrad.full((2,), True).numpy().tolist() == [True, True]
    assert jitgrad.full((2,), 1.5, dtype=jitgrad.float16).numpy().tolist() == [1.5, 1.5]
    assert jitgrad.zeros(2, dtype=jitgrad.bool).fill_(True).numpy().all()


def test_random_float_draws_refuse_integer_dtypes():
    with pytest.raises(
        NotImplementedError, match="check_uniform_bounds\" not implemented for 'Long'"
    ):
        jitgrad.rand(2, dtype=jitgrad.int64)
    with pytest.raises(NotImplementedError, match="normal_kernel_cpu\" not implemented for 'Long'"):
        jitgrad.randn_like(jitgrad.tensor([1]))
    assert jitgrad.randn(3, dtype=jitgrad.float64).dtype == jitgrad.float64


def test_bool_negation_and_subtraction_refused_as_torch():
    t, f = jitgrad.tensor([True]), jitgrad.tensor([False])
    for call, msg in [
        (lambda: -t, "Negation, the `-` operator, on a bool tensor"),
        (lambda: t - f, "with two bool tensors is not supported"),
        (lambda: t - 1, "with a bool tensor is not supported"),
        (lambda: 1 - t, "with a bool tensor is not supported"),
        (lambda: jitgrad.tensor([3]) - t, "with a bool tensor is not supported"),
    ]:
        with pytest.raises(RuntimeError, match=msg):
            call()
    assert (jitgrad.tensor([3]) - 1).numpy().tolist() == [2]
    assert (t + t).numpy().tolist() == [True] and (~t).numpy().tolist() == [False]
    with pytest.raises(NotImplementedError, match="abs_cpu\" not implemented for 'Bool'"):
        t.abs()
    assert jitgrad.tensor([-1, 2]).abs().numpy().tolist() == [1, 2]
