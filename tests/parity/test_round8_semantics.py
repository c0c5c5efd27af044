"""Round 8 parity: grad_fn classes named like torch's nodes, full backward pre-hooks with an
unused output. Expectations restated from torch's behaviour (checked side by side); no torch
import."""

import numpy as np

import jitgrad
import jitgrad.nn as nn
import jitgrad.nn.functional as F
from jitgrad.autograd import Function
from jitgrad.autograd.graph import Node


# ---- type(grad_fn).__name__ ------------------------------------------------------------
def test_grad_fn_class_is_named_like_torch_node():
    x = jitgrad.randn(3, requires_grad=True)
    y = (x * 2).sum()
    assert type(y.grad_fn).__name__ == "SumBackward0"
    mul = y.grad_fn.next_functions[0][0]
    assert type(mul).__name__ == "MulBackward0"
    assert type(mul.next_functions[0][0]).__name__ == "AccumulateGrad"
    assert type(F.mse_loss(x, x.detach()).grad_fn).__name__ == "MseLossBackward0"
    # composites report torch's one node: mean is a div here, torch has MeanBackward0
    assert type(x.mean().grad_fn).__name__ == "MeanBackward0"
    assert type((x / 3).grad_fn).__name__ == "DivBackward0"
    assert type(x.view(3).grad_fn).__name__ == "ViewBackward0"
    assert type(x[1:].grad_fn).__name__ == "SliceBackward0"
    # display-only nodes too (torch's Linear: AddmmBackward0(bias, x, TBackward0(weight)))
    o = nn.Linear(3, 2)(x[None])
    assert type(o.grad_fn).__name__ == "AddmmBackward0"
    names = [type(n).__name__ for n, _ in o.grad_fn.next_functions]
    assert names == ["AccumulateGrad", "UnsqueezeBackward0", "TBackward0"]
    for n in (y.grad_fn, mul, x.mean().grad_fn):
        assert type(n).__name__ == n.name() and repr(n).startswith(f"<{n.name()} object")


def test_grad_fn_class_is_one_per_name_and_a_graph_node():
    x = jitgrad.randn(3, requires_grad=True)
    a, b = (x * 2).grad_fn, (x * 3).grad_fn
    assert type(a) is type(b) and type(a) is not type(x.sum().grad_fn)
    acc = a.next_functions[0][0]
    t_node = nn.Linear(3, 2)(x[None]).grad_fn.next_functions[2][0]
    for n in (a, acc, t_node):
        assert isinstance(n, Node) and issubclass(type(n), Node)
    assert not isinstance(x, Node) and not isinstance(3, Node)


def test_custom_function_node_class_and_backward_after_inspection():
    class Cube(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * a**2 * g

    x = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    z = Cube.apply(x)
    assert type(z.grad_fn).__name__ == "CubeBackward" and isinstance(z.grad_fn, Node)
    # looking at nodes changes nothing in the gradients
    y = (z * x).sum()
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "MulBackward0"
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.array([1.0, 2.0]) ** 3)
