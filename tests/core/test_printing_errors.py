"""Printing like PyTorch (outputs checked against torch 2.13) and bad-input errors."""

import pytest

import jitgrad as jg

T = jg


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("T.tensor([1., 2.], requires_grad=True)", "tensor([1., 2.], requires_grad=True)"),
        ("T.tensor(2.0, requires_grad=True).exp()", "tensor(7.3891, grad_fn=<ExpBackward0>)"),
        ("T.tensor([1., 2.], requires_grad=True) * 2", "tensor([2., 4.], grad_fn=<MulBackward0>)"),
        (
            "T.tensor([1., 2.], requires_grad=True).mean()",
            "tensor(1.5000, grad_fn=<MeanBackward0>)",
        ),
        ("T.tensor([1., 2.], requires_grad=True).sum()", "tensor(3., grad_fn=<SumBackward0>)"),
        ("T.tensor([1., 2.], requires_grad=True) + 2", "tensor([3., 4.], grad_fn=<AddBackward0>)"),
        ("T.tensor([1., 2.], requires_grad=True)[0]", "tensor(1., grad_fn=<SelectBackward0>)"),
        (
            "T.tensor([1., 2.], requires_grad=True).softmax(0)",
            "tensor([0.2689, 0.7311], grad_fn=<SoftmaxBackward0>)",
        ),
        (
            "T.tensor([[1., 2.]], requires_grad=True) @ T.tensor([[1.], [2.]])",
            "tensor([[5.]], grad_fn=<MmBackward0>)",
        ),
        ("T.tensor([1, 2, 3])", "tensor([1, 2, 3])"),
        ("T.tensor([-1, 20, 300])", "tensor([ -1,  20, 300])"),
        ("T.tensor([True, False])", "tensor([ True, False])"),
        (
            "T.tensor([1.5, 2.25], dtype=T.float64)",
            "tensor([1.5000, 2.2500], dtype=jitgrad.float64)",
        ),
        ("T.tensor([1, 2], dtype=T.int32)", "tensor([1, 2], dtype=jitgrad.int32)"),
        (
            "T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True) * 2",
            "tensor([2., 4.], dtype=jitgrad.float64, grad_fn=<MulBackward0>)",
        ),
        ("T.tensor([1e10, 1.0])", "tensor([1.0000e+10, 1.0000e+00])"),
        ("T.tensor([1e-5, 1.0])", "tensor([1.0000e-05, 1.0000e+00])"),
        ("T.tensor([0.0001, 1.0])", "tensor([1.0000e-04, 1.0000e+00])"),
        ("T.tensor([123456.7, 1.5])", "tensor([1.2346e+05, 1.5000e+00])"),
        ("T.tensor([1000.0, 1.0])", "tensor([1000.,    1.])"),
        ("T.tensor([1001.0, 1.0])", "tensor([1.0010e+03, 1.0000e+00])"),
        ("T.tensor([1.2345678, 2.0])", "tensor([1.2346, 2.0000])"),
        ("T.tensor([0.1, 0.25, 100.5])", "tensor([1.0000e-01, 2.5000e-01, 1.0050e+02])"),
        ("T.tensor([0.1, 0.25, 10.5])", "tensor([ 0.1000,  0.2500, 10.5000])"),
        ("T.tensor([float('nan'), 1.0, float('inf')])", "tensor([nan, 1., inf])"),
        ("T.tensor([-0.0, 1.0])", "tensor([-0., 1.])"),
        ("T.tensor([1.0, -2.0])", "tensor([ 1., -2.])"),
        ("T.tensor([[1., 2.], [3., 4.]])", "tensor([[1., 2.],\n        [3., 4.]])"),
        (
            "T.tensor([[[1., 2.], [3., 4.]], [[5, 6], [7, 8]]])",
            "tensor([[[1., 2.],\n         [3., 4.]],\n\n        [[5., 6.],\n         [7., 8.]]])",
        ),
        ("T.zeros(0)", "tensor([])"),
        ("T.zeros(2, 0)", "tensor([], size=(2, 0))"),
        ("T.zeros(0, dtype=T.int64)", "tensor([], dtype=jitgrad.int64)"),
        ("T.tensor(3)", "tensor(3)"),
        ("T.tensor(3.5)", "tensor(3.5000)"),
        ("T.tensor(True)", "tensor(True)"),
        ("T.tensor(1e-7)", "tensor(1.0000e-07)"),
        ("T.tensor(123456789.0)", "tensor(1.2346e+08)"),
        (
            "T.arange(2000.)",
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, "
            "1.9980e+03,\n        1.9990e+03])",
        ),
        ("T.arange(2000)", "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
        (
            "T.arange(1200.).reshape(40, 30)",
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 2.7000e+01, 2.8000e+01,\n"
            "         2.9000e+01],\n"
            "        [3.0000e+01, 3.1000e+01, 3.2000e+01,  ..., 5.7000e+01, 5.8000e+01,\n"
            "         5.9000e+01],\n"
            "        [6.0000e+01, 6.1000e+01, 6.2000e+01,  ..., 8.7000e+01, 8.8000e+01,\n"
            "         8.9000e+01],\n"
            "        ...,\n"
            "        [1.1100e+03, 1.1110e+03, 1.1120e+03,  ..., 1.1370e+03, 1.1380e+03,\n"
            "         1.1390e+03],\n"
            "        [1.1400e+03, 1.1410e+03, 1.1420e+03,  ..., 1.1670e+03, 1.1680e+03,\n"
            "         1.1690e+03],\n"
            "        [1.1700e+03, 1.1710e+03, 1.1720e+03,  ..., 1.1970e+03, 1.1980e+03,\n"
            "         1.1990e+03]])",
        ),
        (
            "T.arange(1200).reshape(40, 30)",
            "tensor([[   0,    1,    2,  ...,   27,   28,   29],\n"
            "        [  30,   31,   32,  ...,   57,   58,   59],\n"
            "        [  60,   61,   62,  ...,   87,   88,   89],\n"
            "        ...,\n"
            "        [1110, 1111, 1112,  ..., 1137, 1138, 1139],\n"
            "        [1140, 1141, 1142,  ..., 1167, 1168, 1169],\n"
            "        [1170, 1171, 1172,  ..., 1197, 1198, 1199]])",
        ),
        (
            "T.arange(30.) / 7",
            "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
            "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
            "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
            "        3.8571, 4.0000, 4.1429])",
        ),
        ("T.zeros(2, 3).size()", "jitgrad.Size([2, 3])"),
        ("T.float32", "jitgrad.float32"),
    ],
)
def test_repr_like_torch(expr, expected):
    assert repr(eval(expr)) == expected
    assert str(eval(expr)) == expected


@pytest.mark.parametrize(
    "fn, exc, fragments",
    [
        (lambda: jg.ones(2, 3) + jg.ones(4), RuntimeError, ["add", "(2, 3)", "(4,)"]),
        (lambda: jg.mul(jg.ones(2, 3), jg.ones(2)), RuntimeError, ["mul", "(2, 3)", "(2,)"]),
        (lambda: jg.ones(2, 3) @ jg.ones(4, 2), RuntimeError, ["matmul", "2x3", "4x2"]),
        (lambda: jg.mm(jg.ones(2, 3), jg.ones(2, 2)), RuntimeError, ["mm", "2x3", "2x2"]),
        (lambda: jg.matmul(jg.ones(3), jg.ones(4)), RuntimeError, ["matmul", "[3]", "[4]"]),
        (lambda: jg.bmm(jg.ones(2, 2, 3), jg.ones(3, 3, 2)), RuntimeError, ["bmm", "2", "3"]),
        (
            lambda: jg.cat([jg.ones(2, 3), jg.ones(2, 4)]),
            RuntimeError,
            ["cat", "[2, 3]", "[2, 4]", "Sizes of tensors must match"],
        ),
        (lambda: jg.cat([jg.ones(2, 3), jg.ones(2)]), RuntimeError, ["cat", "same number of dim"]),
        (
            lambda: jg.stack([jg.ones(2, 3), jg.ones(2, 4)]),
            RuntimeError,
            ["stack", "[2, 3]", "[2, 4]"],
        ),
        (lambda: jg.ones(2, 3).sum(2), IndexError, ["sum", "Dimension out of range", "[-2, 1]"]),
        (lambda: jg.ones(2, 3).softmax(5), IndexError, ["softmax", "Dimension out of range"]),
        (lambda: jg.ones(2, 3).transpose(0, 3), IndexError, ["transpose", "out of range"]),
        (lambda: jg.ones(2, 3).reshape(4, 2), RuntimeError, ["reshape", "[4, 2]", "size 6"]),
        (lambda: jg.ones(2, 3).view(5), RuntimeError, ["view", "[5]", "size 6"]),
        (
            lambda: jg.ones(2, 3).t().view(6),
            RuntimeError,
            ["view size is not compatible", "reshape"],
        ),
        (lambda: jg.ones(2, 3).expand(3, 3), RuntimeError, ["expand", "[3, 3]", "[2, 3]"]),
        (  # PyTorch reports the last mismatching dimension first
            lambda: jg.ones(2, 3).expand(4, 4),
            RuntimeError,
            ["tensor (4) must match the existing size (3) at non-singleton dimension 1"],
        ),
        (lambda: jg.ones(2, 3)[5], IndexError, ["index 5 is out of bounds", "size 2"]),
        (lambda: jg.ones(2, 3)[0, 0, 0], IndexError, ["too many indices"]),
        (lambda: jg.ones(2, 3).gather(1, jg.tensor([[5]])), RuntimeError, ["gather", "index 5"]),
        (lambda: jg.dot(jg.ones(2, 2), jg.ones(2)), RuntimeError, ["dot", "1D tensors expected"]),
        (
            lambda: jg.ones(2, 2) @ jg.ones(2, 2, dtype=jg.float64),
            RuntimeError,
            ["matmul", "float32", "float64"],
        ),
        (lambda: jg.ones(3).narrow(0, 2, 5), IndexError, ["narrow", "(2)", "(5)", "(3)"]),
        (lambda: jg.ones(3).split([1, 1]), RuntimeError, ["split", "[1, 1]", "3"]),
        (lambda: jg.ones(2, 3).permute(0), RuntimeError, ["permute", "[2, 3]"]),
        (
            lambda: jg.ones(2, 3).masked_fill(jg.ones(2, 2, dtype=jg.bool), 0.0),
            RuntimeError,
            ["masked_fill", "[2, 2]", "[2, 3]"],
        ),
        (
            lambda: jg.ones(3).masked_fill(jg.ones(2, 3, dtype=jg.bool), 0.0),
            RuntimeError,
            ["masked_fill", "[2, 3]", "[3]"],
        ),
        (lambda: jg.ones(2).item(), RuntimeError, ["cannot be converted to Scalar"]),
        (lambda: bool(jg.ones(2)), RuntimeError, ["ambiguous"]),
        (lambda: jg.ones(2, dtype=jg.int64).mean(), RuntimeError, ["mean", "floating point"]),
        (lambda: jg.ones(2) + "a", TypeError, []),
        (lambda: jg.add(jg.ones(2), [1, 2]), TypeError, ["add", "list"]),
        (lambda: jg.ones(2).clamp(), RuntimeError, ["clamp", "min", "max"]),
        (lambda: jg.tensor([1, 2]) ** -1, RuntimeError, ["Integers to negative integer powers"]),
    ],
)
def test_bad_input_errors(fn, exc, fragments):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
