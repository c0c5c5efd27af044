"""Round 8 parity: grad_fn classes named like torch's nodes, full backward pre-hooks with an
unused output. Expectations restated from torch's behaviour (checked side by side); no torch
import."""

import numpy as np
import pytest

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
    # ... whose one edge is its input's node (torch: ((MulBackward0, 0),)), not the sum inside
    m = (x * 2).mean()
    assert [type(n).__name__ for n, _ in m.grad_fn.next_functions] == ["MulBackward0"]
    assert [type(n).__name__ for n, _ in x.mean(0).grad_fn.next_functions] == ["AccumulateGrad"]
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


# composites built from several jitgrad ops: torch's one node, whose edges are the
# composite's operands (torch 2.13, side by side: each lists its input's MulBackward0 here)
_COMPOSITES = {
    "var": (lambda a, b: a.var(1), "VarBackward0", 1),
    "std": (lambda a, b: a.std(), "StdBackward0", 1),
    "logsumexp": (lambda a, b: a.logsumexp(1), "LogsumexpBackward0", 1),
    "softmax": (lambda a, b: a.softmax(1), "SoftmaxBackward0", 1),
    "log_softmax": (lambda a, b: a.log_softmax(1), "LogSoftmaxBackward0", 1),
    "norm": (lambda a, b: a.norm(), "LinalgVectorNormBackward0", 1),
    "vector_norm": (lambda a, b: jitgrad.linalg.vector_norm(a), "LinalgVectorNormBackward0", 1),
    "max": (lambda a, b: a.max(), "MaxBackward1", 1),
    "max_dim": (lambda a, b: a.max(1).values, "MaxBackward0", 1),
    "sort": (lambda a, b: a.sort(1).values, "SortBackward0", 1),
    "topk": (lambda a, b: a.topk(2).values, "TopkBackward0", 1),
    "kthvalue": (lambda a, b: a.kthvalue(2).values, "KthvalueBackward0", 1),
    "median": (lambda a, b: a.median(), "MedianBackward0", 1),
    "median_dim": (lambda a, b: a.median(1).values, "MedianBackward1", 1),
    "roll": (lambda a, b: a.roll(1, 0), "RollBackward0", 1),
    "tril": (lambda a, b: a.tril(), "TrilBackward0", 1),
    "triu": (lambda a, b: a.triu(), "TriuBackward0", 1),
    "diagonal": (lambda a, b: a.diagonal(), "DiagonalBackward0", 1),
    "diag_embed": (lambda a, b: jitgrad.diag_embed(a), "DiagEmbedBackward0", 1),
    "trace": (lambda a, b: a.trace(), "TraceBackward0", 1),
    "frac": (lambda a, b: a.frac(), "FracBackward0", 1),
    "copysign": (lambda a, b: a.copysign(b), "CopysignBackward0", 2),
    "dot": (lambda a, b: jitgrad.dot(a, b), "DotBackward0", 2),
}


@pytest.mark.parametrize("name", sorted(_COMPOSITES))
def test_composite_nodes_list_their_operands_as_next_functions(name):
    fn, node, n_edges = _COMPOSITES[name]
    shape = (20,) if name == "dot" else (4, 5)
    x = jitgrad.randn(*shape, requires_grad=True, dtype=jitgrad.float64)
    w = jitgrad.randn(*shape, requires_grad=True, dtype=jitgrad.float64)
    a, b = x * 2, w * 3
    y = fn(a, b)
    assert type(y.grad_fn).__name__ == node
    edges = [n for n, _ in y.grad_fn.next_functions]
    assert edges == [a.grad_fn, b.grad_fn][:n_edges]
    # the graph still reaches the leaves through the shown edges, and backward is unchanged
    assert edges[0].next_functions[0][0].variable is x
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


_ACTIVATIONS = {
    "silu": ("SiluBackward0", lambda a: F.silu(a)),
    "elu": ("EluBackward0", lambda a: F.elu(a)),
    "selu": ("EluBackward0", lambda a: F.selu(a)),
    "leaky_relu": ("LeakyReluBackward0", lambda a: nn.LeakyReLU(0.1)(a)),
    "softplus": ("SoftplusBackward0", lambda a: F.softplus(a)),
    "hardtanh": ("HardtanhBackward0", lambda a: F.hardtanh(a)),
    "relu6": ("HardtanhBackward0", lambda a: F.relu6(a)),
    "mish": ("MishBackward0", lambda a: F.mish(a)),
    "logsigmoid": ("LogSigmoidBackward0", lambda a: F.logsigmoid(a)),
    "hardswish": ("HardswishBackward0", lambda a: F.hardswish(a)),
    "hardsigmoid": ("HardsigmoidBackward0", lambda a: F.hardsigmoid(a)),
    "glu": ("GluBackward0", lambda a: F.glu(a)),
}


@pytest.mark.parametrize("name", sorted(_ACTIVATIONS))
def test_activation_nodes_list_only_their_input(name):
    node, fn = _ACTIVATIONS[name]
    x = jitgrad.randn(3, 4, requires_grad=True)
    a = x * 2
    y = fn(a)
    assert type(y.grad_fn).__name__ == node
    assert [n for n, _ in y.grad_fn.next_functions] == [a.grad_fn]


def test_conv_and_norm_nodes_list_input_weight_and_bias():
    x = jitgrad.randn(2, 4, 6, 6, requires_grad=True)
    a = x * 2

    def edges(y):
        return [type(n).__name__ if n is not None else None for n, _ in y.grad_fn.next_functions]

    conv = nn.Conv2d(4, 3, 3)
    y = conv(a)  # torch adds the bias inside its one node: not an AddBackward0 on top
    assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
    assert y.grad_fn.next_functions[0][0] is a.grad_fn
    assert edges(y) == ["MulBackward0", "AccumulateGrad", "AccumulateGrad"]
    assert y.grad_fn.next_functions[2][0].variable is conv.bias
    assert edges(F.conv2d(a, conv.weight.detach())) == ["MulBackward0", None, None]
    t = F.conv_transpose2d(a, jitgrad.randn(4, 2, 3, 3), jitgrad.randn(2))
    assert type(t.grad_fn).__name__ == "ConvolutionBackward0"
    assert edges(t) == ["MulBackward0", None, None]
    assert edges(nn.BatchNorm2d(4)(a)) == ["MulBackward0", "AccumulateGrad", "AccumulateGrad"]
    assert edges(F.batch_norm(a, None, None, training=True)) == ["MulBackward0", None, None]
    assert edges(nn.GroupNorm(2, 4)(a)) == ["MulBackward0", "AccumulateGrad", "AccumulateGrad"]
    # the gradients are the same with the bias inside the shown node
    y.sum().backward()
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(3, 2 * 4 * 4.0))


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


# ---- full backward pre-hooks -------------------------------------------------------------
class _Two(nn.Module):
    def forward(self, a):
        return a * 2, a * 3


def _hooked(pre=None, post=None):
    m, rec = _Two(), []

    def ph(mod, go):
        rec.append(("pre", [None if g is None else g.tolist() for g in go]))
        return pre(go) if pre is not None else None

    m.register_full_backward_pre_hook(ph)
    if post:
        m.register_full_backward_hook(lambda mod, gi, go: rec.append(("post", gi, go)))
    return m, rec


def _run(m, use):
    a = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    out = m(a)
    sum(out[i].sum() * (i + 1) for i in use).backward()
    return a.grad.tolist()


def test_backward_pre_hook_runs_once_with_none_for_an_unused_output():
    m, rec = _hooked()
    assert _run(m, [0]) == [2, 2]
    assert rec == [("pre", [[1, 1], None])]
    m, rec = _hooked()
    assert _run(m, [1]) == [6, 6]  # d(2 * sum(3a))/da
    assert rec == [("pre", [None, [2, 2]])]
    m, rec = _hooked()
    assert _run(m, [0, 1]) == [8, 8]
    assert rec == [("pre", [[1, 1], [2, 2]])]


def test_backward_pre_hook_return_replaces_every_slot_of_grad_output():
    # torch: a.grad = 2 * 10 * 1 + 3 * 100 * 2 (both replacements reach the input)
    m, _ = _hooked(pre=lambda go: (go[0] * 10, go[1] * 100))
    assert _run(m, [0, 1]) == [620, 620]
    m, _ = _hooked(pre=lambda go: (go[0] * 10, None))  # a None slot stays None
    assert _run(m, [0]) == [20, 20]
    m, _ = _hooked(pre=lambda go: (None, go[1] * 100))
    assert _run(m, [1]) == [600, 600]
    # a gradient given to the unused output flows into it: 2 * 1 + 3 * 1
    m, _ = _hooked(pre=lambda go: (go[0], jitgrad.ones(2)))
    assert _run(m, [0]) == [5, 5]
    # a gradient dropped by the hook: zeros flow on (torch's a.grad is zeros, not None)
    m, _ = _hooked(pre=lambda go: (None, None))
    assert _run(m, [0]) == [0, 0]
    m, _ = _hooked(pre=lambda go: (go[0],))
    try:
        _run(m, [0])
    except RuntimeError as e:
        assert "invalid number of grad_output, got 1, but expected 2" in str(e)
    else:
        raise AssertionError("a pre-hook returning 1 of 2 gradients must raise")


def test_backward_pre_hook_then_full_hook_see_the_replaced_grad_output():
    m, rec = _hooked(pre=lambda go: (go[0] * 10, go[1] * 100), post=True)
    assert _run(m, [0, 1]) == [620, 620]
    (_, pre), (_, gi, go) = rec
    assert pre == [[1, 1], [2, 2]]
    assert gi[0].tolist() == [620, 620] and [g.tolist() for g in go] == [[10, 10], [200, 200]]
    m, rec = _hooked(post=True)
    assert _run(m, [1]) == [6, 6]
    assert rec[0] == ("pre", [None, [2, 2]]) and rec[1][2][0] is None


def test_backward_pre_hook_after_tensor_hooks_on_outputs_and_without_input_grads():
    m, rec = _hooked()
    a = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    out = m(a)
    assert type(out[0].grad_fn).__name__ == "BackwardHookFunctionBackward"
    out[0].register_hook(lambda g: rec.append(("tensor", g.tolist())))
    out[0].sum().backward()
    assert rec == [("tensor", [1, 1]), ("pre", [[1, 1], None])]  # torch's order

    class Scaled(nn.Module):  # only a parameter needs a gradient
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(jitgrad.ones(2))

        def forward(self, a):
            return a * self.w, a * self.w * 3

    s, rec = Scaled(), []
    s.register_full_backward_pre_hook(lambda mod, go: rec.append(("pre", go)))
    s.register_full_backward_hook(lambda mod, gi, go: rec.append(("post", gi, go)))
    out = s(jitgrad.tensor([1.0, 2.0]))
    with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are comp"):
        out[1].sum().backward()
    assert [r[0] for r in rec] == ["pre", "post"] and rec[0][1][0] is None
    assert rec[1][1] == (None,) and s.w.grad.tolist() == [3, 6]


def test_backward_hooks_run_again_in_each_backward_pass():
    m, rec = _hooked()
    m.register_full_backward_hook(lambda mod, gi, go: rec.append(("post", [gi[0].tolist()])))
    a = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    out = m(a)
    out[0].sum().backward(retain_graph=True)
    (out[1].sum() * 2).backward()
    assert [r[1] for r in rec if r[0] == "pre"] == [[[1, 1], None], [None, [2, 2]]]
    assert [r[1][0] for r in rec if r[0] == "post"] == [[2, 2], [6, 6]]
    assert a.grad.tolist() == [8, 8]  # 2 from the first pass, 3 * 2 from the second


def test_nodes_list_no_edge_for_index_and_mask_operands():
    x = jitgrad.randn(4, 6, requires_grad=True)
    a = x * 2

    def edges(y):
        return [n for n, _ in y.grad_fn.next_functions]

    idx = jitgrad.tensor([0, 2])
    # torch lists the differentiable operands only: no (None, 0) for an index or a mask
    assert edges(a.gather(1, jitgrad.tensor([[0], [1], [2], [3]]))) == [a.grad_fn]
    assert edges(a.index_select(0, idx)) == [a.grad_fn]
    assert edges(a[idx]) == [a.grad_fn]
    assert edges(a[x > 0]) == [a.grad_fn]
    assert edges(a.masked_fill(x > 0, 0.0)) == [a.grad_fn]
    b = x * 3
    assert edges(jitgrad.where(x > 0, a, b)) == [a.grad_fn, b.grad_fn]
    assert edges(jitgrad.where(x > 0, a, 0.0)) == [a.grad_fn, None]  # a scalar: (None, 0)
    assert edges(F.max_pool2d(a.reshape(1, 1, 4, 6), 2))[0].name() == "ViewBackward0"
    assert len(edges(F.max_pool2d(a.reshape(1, 1, 4, 6), 2))) == 1
    assert edges(jitgrad.stack([a, b])) == [a.grad_fn, b.grad_fn]
    assert edges(a.repeat(2, 1)) == [a.grad_fn]
    assert edges(a * 2)[1] is None  # a Python scalar operand keeps its (None, 0), as in torch
    # a frozen Linear weight: torch has no TBackward0 node for it
    lin = nn.Linear(6, 3)
    lin.weight.requires_grad_(False)
    y = lin(a)
    assert [type(n).__name__ if n else None for n in edges(y)] == [
        "AccumulateGrad",
        "MulBackward0",
        None,
    ]


def test_squeeze_node_names_follow_the_dim_argument():
    x = jitgrad.randn(2, 1, 1, requires_grad=True) * 2
    names = [type(y.grad_fn).__name__ for y in (x.squeeze(), x.squeeze(1), x.squeeze((1, 2)))]
    assert names == ["SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2"]


_NAMED = {
    "avg_pool2d": ("AvgPool2DBackward0", lambda a: F.avg_pool2d(a, 2)),
    "AvgPool2d": ("AvgPool2DBackward0", lambda a: nn.AvgPool2d(2)(a)),
    "avg_pool3d": (
        "AvgPool3DBackward0",
        lambda a: F.avg_pool3d(a[:, :, None].expand(1, 2, 2, 4, 4), 2),
    ),
    "adaptive_avg_1x1": ("MeanBackward1", lambda a: nn.AdaptiveAvgPool2d((1, 1))(a)),
    "adaptive_avg": ("AdaptiveAvgPool2DBackward0", lambda a: F.adaptive_avg_pool2d(a, 2)),
    "adaptive_max": ("AdaptiveMaxPool2DBackward0", lambda a: F.adaptive_max_pool2d(a, 2, True)[0]),
    "max_pool3d": (
        "MaxPool3DWithIndicesBackward0",
        lambda a: F.max_pool3d(a[:, :, None], (1, 2, 2)),
    ),
    "upsample": ("UpsampleNearest2DBackward0", lambda a: nn.Upsample(scale_factor=2)(a)),
    "bilinear": (
        "UpsampleBilinear2DBackward0",
        lambda a: F.interpolate(a, size=5, mode="bilinear"),
    ),
    "bicubic": ("UpsampleBicubic2DBackward0", lambda a: F.interpolate(a, size=5, mode="bicubic")),
    "area": ("AdaptiveAvgPool2DBackward0", lambda a: F.interpolate(a, size=(3, 2), mode="area")),
    "pixel_shuffle": ("PixelShuffleBackward0", lambda a: F.pixel_shuffle(a.reshape(1, 8, 2, 2), 2)),
    "rpow": ("PowBackward2", lambda a: 2**a),
    "bmm": ("BmmBackward0", lambda a: jitgrad.bmm(a[0], a[0])),
    "unbind": ("UnbindBackward0", lambda a: a.unbind(1)[1]),
}


@pytest.mark.parametrize("name", sorted(_NAMED))
def test_pool_upsample_and_product_nodes_are_named_like_torch(name):
    node, fn = _NAMED[name]
    x = jitgrad.randn(1, 2, 4, 4, requires_grad=True)
    a = x * 2
    y = fn(a)
    assert type(y.grad_fn).__name__ == node
    first = y.grad_fn.next_functions[0][0]
    views = ("ExpandBackward0", "UnsqueezeBackward0", "ViewBackward0", "SelectBackward0")
    assert first is a.grad_fn or type(first).__name__ in views
    y.sum().backward()  # the graph under the shown node is the real one
    assert x.grad is not None and x.grad.shape == x.shape


def test_addmm_node_lists_input_and_both_matrices():
    a, b, c = (jitgrad.randn(3, 3, requires_grad=True) * 2 for _ in range(3))
    y = jitgrad.addmm(a, b, c)
    assert type(y.grad_fn).__name__ == "AddmmBackward0"
    assert [n for n, _ in y.grad_fn.next_functions] == [a.grad_fn, b.grad_fn, c.grad_fn]
