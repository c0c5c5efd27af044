"""nn.Module API: registration, traversal, modes, state_dict, repr, hooks, dtype."""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))
        self.fc = nn.Linear(8, 3)
        self.scale = nn.Parameter(jg.ones(1))
        self.register_buffer("steps", jg.zeros(1))
        self.register_buffer("scratch", jg.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(self.conv1(x).flatten(1)) * self.scale


def test_named_parameters_dotted_and_ordered():
    names = [n for n, _ in Net().named_parameters()]
    assert names == [
        "scale",
        "conv1.0.weight",
        "conv1.0.bias",
        "conv1.2.weight",
        "conv1.2.bias",
        "fc.weight",
        "fc.bias",
    ]
    assert [n for n, _ in Net().named_parameters(recurse=False)] == ["scale"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in Net().parameters())


def test_buffers_children_modules():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == [
        "steps",
        "scratch",
        "conv1.2.running_mean",
        "conv1.2.running_var",
        "conv1.2.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_children()] == ["conv1", "fc"]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "conv1",
        "conv1.0",
        "conv1.1",
        "conv1.2",
        "fc",
    ]
    assert len(list(net.modules())) == 6
    assert net.conv1[2].num_batches_tracked.dtype == jg.int64


def test_shared_parameter_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_setattr_rules_and_errors():
    net = Net()
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'scale'"):
        net.scale = jg.ones(1)
    net.scale = None
    assert "scale" not in [n for n, _ in net.named_parameters()]
    net.extra = nn.Linear(1, 1)
    assert "extra" in dict(net.named_children())
    del net.extra
    assert "extra" not in dict(net.named_children())
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        _ = net.nope
    with pytest.raises(KeyError, match="buffer name can"):
        net.register_buffer("a.b", jg.zeros(1))
    with pytest.raises(TypeError, match="buffer 'steps'"):
        net.steps = 3.0

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(jg.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_train_eval_propagates():
    net = Net()
    assert net.training and net.conv1[2].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad_freezing():
    net = Net()
    net(jg.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.conv1.requires_grad_(False)
    before = net.conv1[0].weight.detach().numpy().copy()
    net(jg.randn(2, 1, 4, 4)).sum().backward()
    assert net.conv1[0].weight.grad is None and net.fc.weight.grad is not None
    np.testing.assert_array_equal(net.conv1[0].weight.detach().numpy(), before)


def test_state_dict_round_trip():
    jg.manual_seed(0)
    a, b = Net(), Net()
    a.train()(jg.randn(4, 1, 4, 4))  # changes running stats
    sd = a.state_dict()
    assert list(sd) == [
        "scale",
        "steps",
        "conv1.0.weight",
        "conv1.0.bias",
        "conv1.2.weight",
        "conv1.2.bias",
        "conv1.2.running_mean",
        "conv1.2.running_var",
        "conv1.2.num_batches_tracked",
        "fc.weight",
        "fc.bias",
    ]
    assert "scratch" not in sd
    assert not any(t.requires_grad for t in sd.values())
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    x = jg.randn(3, 1, 4, 4)
    a.eval(), b.eval()
    np.testing.assert_allclose(a(x).detach().numpy(), b(x).detach().numpy())
    # loading copies: later changes to the source do not leak
    with jg.no_grad():
        a.fc.weight.add_(1.0)
    assert not np.allclose(a.fc.weight.detach().numpy(), b.fc.weight.detach().numpy())


def test_load_state_dict_strict_errors():
    net = Net()
    sd = net.state_dict()
    del sd["fc.bias"]
    sd["fc.extra"] = jg.zeros(1)
    with pytest.raises(
        RuntimeError,
        match=r"Error\(s\) in loading state_dict for Net:\n\t"
        r'Missing key\(s\) in state_dict: "fc.bias"\. \n\t'
        r'Unexpected key\(s\) in state_dict: "fc.extra"\.',
    ):
        net.load_state_dict(sd)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc.bias"] and res.unexpected_keys == ["fc.extra"]
    sd = net.state_dict()
    sd["fc.weight"] = jg.zeros(2, 2)
    with pytest.raises(
        RuntimeError,
        match=r"size mismatch for fc\.weight: copying a param "
        r"with shape jitgrad\.Size\(\[2, 2\]\) from checkpoint, the shape in "
        r"current model is jitgrad\.Size\(\[3, 8\]\)",
    ):
        net.load_state_dict(sd, strict=False)


def test_repr_like_torch():
    net = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10, bias=False)
    )
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=256, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.2, inplace=False)\n"
        "  (3): Linear(in_features=256, out_features=10, bias=False)\n"
        ")"
    )
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2)))
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "    (1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.BatchNorm2d(4)) == (
        "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.LayerNorm(5)) == "LayerNorm((5,), eps=1e-05, elementwise_affine=True, bias=True)"
    p = nn.Parameter(jg.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"


def test_sequential_indexing_and_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()][-1] == "3"
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    y = seq(jg.randn(5, 2))
    assert tuple(y.shape) == (5, 1) and float(y.min()) >= 0
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(list(ml.parameters())) == 6 and len(ml) == 3
    md = nn.ModuleDict({"a": nn.Linear(1, 2)})
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    assert nn.Identity(3, foo=1)(jg.ones(2)).tolist() == [1.0, 1.0]


def test_apply_hooks_and_dtype():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Sequential"]

    def zero(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    net.apply(zero)
    assert not net[0].weight.detach().numpy().any()
    h = net.register_forward_hook(lambda m, args, out: out * 0 + 7)
    assert net(jg.ones(1, 2)).item() == 7
    h.remove()
    assert net(jg.ones(1, 2)).item() != 7
    net.double()
    assert all(p.dtype == jg.float64 for p in net.parameters())
    assert isinstance(net[0].weight, nn.Parameter)
    assert net(jg.ones(1, 2, dtype=jg.float64)).dtype == jg.float64
    bn = nn.BatchNorm1d(2).to(jg.float64)
    assert bn.running_mean.dtype == jg.float64 and bn.num_batches_tracked.dtype == jg.int64


def test_parameter_basics():
    p = nn.Parameter(jg.zeros(2, 3))
    assert p.requires_grad and p.is_leaf and isinstance(p, jg.Tensor)
    assert not nn.Parameter(jg.zeros(1), requires_grad=False).requires_grad
    y = (p * 2).sum()
    assert type(p * 2) is jg.Tensor
    y.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2.0))
    with pytest.raises(TypeError, match="Parameter"):
        nn.Parameter([1.0, 2.0])
    import copy

    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad


def test_forward_hook_dicts_hold_the_hooks_as_torch():
    # the pruning tutorial iterates module._forward_pre_hooks.values() and reads hook attributes
    m = nn.Linear(2, 2)

    def pre(mod, args, kwargs):
        return (args[0] * 2,), kwargs

    h1 = m.register_forward_pre_hook(pre, with_kwargs=True)
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    assert list(m._forward_pre_hooks.values()) == [pre]
    assert m._forward_pre_hooks_with_kwargs == {h1.id: True}
    x = jg.ones(1, 2)
    with jg.no_grad():
        want = m.weight @ (x * 2).t()
        np.testing.assert_allclose(m(x).numpy(), (want.t() + m.bias + 1).numpy())
    h1.remove()
    h2.remove()
    assert not m._forward_pre_hooks and not m._forward_pre_hooks_with_kwargs
    assert not m._forward_hooks
