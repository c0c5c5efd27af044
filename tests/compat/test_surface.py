"""PyTorch's documented behaviour for the tutorial surface (issue 15), theme by theme."""

import warnings

import numpy as np
import pytest

import jitgrad as torch
from jitgrad import nn


# ---- 1. names: legacy constructors, Variable, devices, accelerator, functional -----------
def test_legacy_tensor_constructor_is_float32():
    assert torch.Tensor([0]).dtype == torch.float32
    assert torch.Tensor([1, 2]).tolist() == [1.0, 2.0]
    t = torch.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == torch.float32
    assert torch.Tensor(torch.Size([4])).shape == (4,)
    assert torch.Tensor().shape == (0,)
    with pytest.raises(TypeError):
        torch.Tensor([1, 2], dtype=torch.int64)


def test_typed_legacy_constructors_and_isinstance():
    assert torch.LongTensor([1.7, 2]).tolist() == [1, 2]
    assert torch.LongTensor(2, 2).dtype == torch.int64
    assert torch.DoubleTensor([1]).dtype == torch.float64
    assert torch.BoolTensor([1, 0]).tolist() == [True, False]
    assert torch.ByteTensor([1]).dtype == torch.uint8
    assert torch.IntTensor([3]).dtype == torch.int32
    assert isinstance(torch.ones(2), torch.FloatTensor)
    assert not isinstance(torch.ones(2), torch.LongTensor)
    assert torch.ones(2).type() == "jitgrad.FloatTensor"
    assert torch.ones(2).type(torch.LongTensor).dtype == torch.int64
    assert torch.ones(2).type("torch.DoubleTensor").dtype == torch.float64


def test_type_prints_public_path():
    assert str(type(torch.ones(1))) == "<class 'jitgrad.Tensor'>"
    assert repr(torch.LongTensor) == "<class 'jitgrad.LongTensor'>"


def test_variable_returns_a_leaf_tensor_sharing_storage():
    from jitgrad.autograd import Variable

    base = torch.ones(2)
    v = Variable(base, requires_grad=True)
    assert type(v) is torch.Tensor and v.requires_grad and v.is_leaf
    assert isinstance(base, Variable)
    base.data[0] = 5.0
    assert v[0].item() == 5.0
    (v * 3).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]


def test_devices_construct_and_cuda_use_raises_like_cpu_torch():
    assert str(torch.device("cuda")) == "cuda"
    assert repr(torch.device("cuda:0")) == "device(type='cuda', index=0)"
    assert torch.device("cuda", 1).index == 1 and torch.device("cpu").index is None
    assert torch.device("cpu") == torch.device("cpu") and torch.device("cuda:0") != "cuda:0"
    assert torch.ones(1).device == torch.device("cpu")
    for f in (
        lambda: torch.zeros(2, device="cuda"),
        lambda: torch.ones(2).cuda(),
        lambda: torch.ones(2).to("cuda:0"),
        lambda: nn.Linear(2, 2).cuda(),
        lambda: nn.Linear(2, 2).to("cuda"),
    ):
        with pytest.raises(AssertionError, match="not compiled with CUDA"):
            f()
    x = torch.ones(2)
    assert x.to("cpu") is x and x.cpu() is x and x.to(torch.device("cpu")) is x
    assert x.to("cpu", torch.float64).dtype == torch.float64


FACTORIES = [
    lambda d: torch.zeros(2, device=d),
    lambda d: torch.ones(2, device=d),
    lambda d: torch.empty(2, device=d),
    lambda d: torch.full((2,), 1.0, device=d),
    lambda d: torch.tensor([1.0], device=d),
    lambda d: torch.rand(2, device=d),
    lambda d: torch.randn(2, device=d),
    lambda d: torch.randint(0, 3, (2,), device=d),
    lambda d: torch.randperm(3, device=d),
    lambda d: torch.linspace(0, 1, 3, device=d),
    lambda d: torch.logspace(0, 1, 3, device=d),
    lambda d: torch.arange(3, device=d),
    lambda d: torch.eye(2, device=d),
    lambda d: torch.zeros_like(torch.ones(1), device=d),
    lambda d: torch.rand_like(torch.ones(1), device=d),
    lambda d: torch.ones(1).to(d),
]


@pytest.mark.parametrize("make", FACTORIES)
def test_unknown_device_string_is_rejected_by_every_factory(make):
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        make("gpu")
    assert make("cpu").device == torch.device("cpu")


def test_default_device_and_accelerator():
    assert torch.get_default_device() == torch.device("cpu")
    torch.set_default_device("cuda")
    try:
        assert torch.get_default_device() == torch.device("cuda")
        for make in (lambda: torch.zeros(1), lambda: torch.rand(2), lambda: torch.tensor([1.0])):
            with pytest.raises(AssertionError, match="not compiled with CUDA"):
                make()  # the default device is used when none is given
        assert torch.zeros(1, device="cpu").device == torch.device("cpu")
    finally:
        torch.set_default_device(None)
    assert torch.get_default_device().type == "cpu"
    with pytest.raises(RuntimeError):
        torch.set_default_device("gpu")
    assert torch.accelerator.is_available() is False
    assert torch.accelerator.current_accelerator() is None


def test_torch_functional_module():
    import jitgrad.functional as F

    a, b = F.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
    assert a.tolist() == [[0, 0, 0], [1, 1, 1]] and b.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert F.einsum("i,i->", torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).item() == 11.0


# ---- 2. out= ----------------------------------------------------------------------------
def test_out_writes_resizes_with_warning_and_returns_out():
    a, b = torch.ones(2), torch.full((2,), 2.0)
    o = torch.empty(3)
    with pytest.warns(UserWarning, match="was resized"):
        r = torch.add(a, b, out=o)
    assert r is o and o.tolist() == [3.0, 3.0]
    o = torch.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.mul(a, b, out=o)  # an empty out is resized silently
        torch.zeros(2, 3, out=o)  # factories resize silently
    assert o.shape == (2, 3) and o.sum().item() == 0
    v = torch.zeros(4)
    torch.sin(torch.zeros(2), out=v[:2])
    torch.cat([a, b], out=v)
    assert v.tolist() == [1.0, 1.0, 2.0, 2.0]
    vals, idx = torch.max(
        torch.tensor([[1.0, 5.0], [3.0, 2.0]]),
        1,
        out=(torch.empty(2), torch.empty(2, dtype=torch.long)),
    )
    assert vals.tolist() == [5.0, 3.0] and idx.tolist() == [1, 0]


def test_out_dtype_and_autograd_rules():
    a = torch.ones(2)
    with pytest.raises(
        RuntimeError, match="result type Float can't be cast to the desired output type Long"
    ):
        torch.add(a, a, out=torch.empty(2, dtype=torch.int64))
    o = torch.empty(2, dtype=torch.float64)
    torch.add(a, a, out=o)
    assert o.dtype == torch.float64 and o.tolist() == [2.0, 2.0]
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"sin\(\): functions with out=\.\.\. arguments don't "
        "support automatic differentiation",
    ):
        torch.sin(x, out=torch.empty(2))
    with torch.no_grad():
        o = torch.empty(2)
        torch.sin(x, out=o)
    np.testing.assert_allclose(o.numpy(), np.sin(np.ones(2)), rtol=1e-6)


# ---- 3/4. indexing with Python sequences -----------------------------------------------
def test_indexing_with_range_lists_and_tuples_of_lists():
    a = torch.arange(10)
    assert a[range(2, 5)].tolist() == [2, 3, 4]
    assert a[[0, 2]].tolist() == [0, 2]
    b = torch.arange(12).reshape(3, 4)
    ref = np.arange(12).reshape(3, 4)
    assert b[([0, 1], [1, 2])].tolist() == ref[[0, 1], [1, 2]].tolist()
    assert b[range(2), 0].tolist() == ref[[0, 1], 0].tolist()
    assert b[:, [0, 3]].tolist() == ref[:, [0, 3]].tolist()
    assert b[np.array([2, 0])].tolist() == ref[[2, 0]].tolist()
    c = torch.zeros(3, 4)
    c[range(2), [1, 2]] = 1.0
    assert c.sum().item() == 2.0 and c[1, 2].item() == 1.0
    x = torch.arange(4.0, requires_grad=True)
    x[[0, 0, 3]].sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 0.0, 1.0]


# ---- 6. autograd introspection -----------------------------------------------------------
def test_next_functions_order_and_stability():
    x = torch.randn(3, requires_grad=True)
    y = 2 * x.sin()
    nf = y.grad_fn.next_functions
    assert nf[0][0].name() == "SinBackward0" and nf[1] == (None, 0)
    inner = nf[0][0].next_functions
    again = nf[0][0].next_functions  # a second read of a multi-element leaf's node
    assert inner[0][0] is again[0][0] and inner[0][0].variable is x
    assert repr(inner[0][0]).startswith("<AccumulateGrad object at 0x")
    assert (1 + x).grad_fn.next_functions[0][0].variable is x
    r = (2 - x).grad_fn
    assert r.name() == "RsubBackward1" and r.next_functions[0][0].variable is x
    d = (2 / x).grad_fn
    assert d.name() == "MulBackward0" and d.next_functions[1] == (None, 0)
    assert d.next_functions[0][0].name() == "ReciprocalBackward0"
    assert (x @ x).grad_fn.name() == "DotBackward0"
    # the tutorial's walk: MseLoss -> Addmm -> (bias, ReLU input, T(weight))
    lin = nn.Linear(3, 2)
    loss = nn.MSELoss()(lin(torch.relu(torch.randn(4, 3, requires_grad=True))), torch.zeros(4, 2))
    addmm = loss.grad_fn.next_functions[0][0]
    assert addmm.name() == "AddmmBackward0" and loss.grad_fn.next_functions[1] == (None, 0)
    names = [f[0].name() for f in addmm.next_functions]
    assert names == ["AccumulateGrad", "ReluBackward0", "TBackward0"]
    assert addmm.next_functions[0][0].variable is lin.bias
    assert addmm.next_functions[2][0].next_functions[0][0].variable is lin.weight


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda x, m: nn.Linear(3, 2)(m), "AddmmBackward0"),
        (lambda x, m: nn.Linear(3, 2, bias=False)(m), "MmBackward0"),
        (lambda x, m: nn.functional.cross_entropy(m, torch.tensor([0, 1])), "NllLossBackward0"),
        (lambda x, m: nn.functional.nll_loss(m, torch.tensor([0, 1])), "NllLossBackward0"),
        (
            lambda x, m: nn.functional.binary_cross_entropy_with_logits(x, torch.ones(3)),
            "BinaryCrossEntropyWithLogitsBackward0",
        ),
        (
            lambda x, m: nn.functional.binary_cross_entropy(x.sigmoid(), torch.ones(3)),
            "BinaryCrossEntropyBackward0",
        ),
        (lambda x, m: nn.functional.mse_loss(x, torch.ones(3)), "MseLossBackward0"),
        (lambda x, m: nn.functional.embedding(torch.tensor([1]), m), "EmbeddingBackward0"),
        (lambda x, m: nn.functional.gelu(x), "GeluBackward0"),
        (lambda x, m: nn.LayerNorm(3)(m), "NativeLayerNormBackward0"),
        (lambda x, m: torch.sort(x).values, "SortBackward0"),
        (lambda x, m: torch.tril(m), "TrilBackward0"),
    ],
)
def test_grad_fn_names(make, name):
    x = torch.randn(3, requires_grad=True)
    m = torch.randn(2, 3, requires_grad=True)
    assert make(x, m).grad_fn.name() == name
    assert repr(make(x, m)).endswith(f"grad_fn=<{name}>)")


# ---- 7. printing and optimizer state -----------------------------------------------------
def test_optimizer_param_group_keys_follow_pytorch():
    p = [nn.Parameter(torch.ones(2))]
    keys = list(torch.optim.SGD(p, lr=0.1).state_dict()["param_groups"][0])
    assert keys == [
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
        "maximize",
        "foreach",
        "differentiable",
        "fused",
        "params",
    ]
    keys = list(torch.optim.Adam(p).state_dict()["param_groups"][0])
    assert keys[-4:] == ["differentiable", "fused", "decoupled_weight_decay", "params"]
    opt = torch.optim.Adam(p)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["foreach"] is None
    assert "foreach: None" in repr(torch.optim.SGD(p, lr=0.1))


def test_return_types_print_like_torch():
    r = torch.max(torch.tensor([[1.0, 3.0]]), 1)
    assert repr(r) == ("jitgrad.return_types.max(\nvalues=tensor([3.]),\nindices=tensor([1]))")
    assert r.values.tolist() == [3.0]


# ---- 8. errors of tutorials' intentional error cells --------------------------------------
def test_intentional_errors_have_torch_types():
    with pytest.raises(RuntimeError):
        torch.ones(2, 3) @ torch.ones(2, 3)
    with pytest.raises(RuntimeError):
        torch.cat([torch.ones(2, 3), torch.ones(2, 2)])
    leaf = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.unsqueeze_(0)
    y = (leaf * leaf).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (leaf * 2).backward()
    with pytest.raises(RuntimeError, match="Expected one of cpu"):
        torch.device("gpu")


def test_out_of_scope_features_name_themselves():
    with pytest.raises(NotImplementedError, match="sparse"):
        torch.sparse_coo_tensor([[0]], [1.0], (1,))
    with pytest.raises(NotImplementedError, match="complex"):
        torch.zeros(2, dtype=torch.complex64)
    with pytest.raises(NotImplementedError, match="quantis"):
        torch.quantize_per_tensor(torch.ones(1), 0.1, 0, torch.quint8)
    with pytest.raises(NotImplementedError, match="sparse"):
        torch.ones(2).to_sparse()
    with pytest.raises(NotImplementedError, match="complex"):
        torch.linalg.eig(torch.eye(2))


# ---- in-place forms, bitwise, unique, cross ------------------------------------------------
def test_functional_inplace_forms_and_view_inplace_methods():
    x = torch.tensor([0.0, 1.0])
    r = torch.sin_(x)
    assert r is x and np.allclose(x.numpy(), np.sin([0.0, 1.0]))
    assert torch.zero_(x) is x and x.tolist() == [0.0, 0.0]
    z = torch.ones(2, 3)
    assert z.unsqueeze_(0) is z and z.shape == (1, 2, 3)
    z.squeeze_()
    assert z.shape == (2, 3)
    z.t_()
    assert z.shape == (3, 2)
    z.transpose_(0, 1)
    assert z.shape == (2, 3)
    w = torch.randn(2, 3, requires_grad=True)
    y = w * 1
    y.t_()
    y.sum().backward()
    assert w.grad.tolist() == [[1.0] * 3] * 2


def test_bitwise_ops_and_shifts():
    a, b = torch.tensor([12, 10]), torch.tensor([10, 6])
    assert torch.bitwise_and(a, b).tolist() == [12 & 10, 10 & 6]
    assert (a | b).tolist() == [12 | 10, 10 | 6]
    assert (a ^ b).tolist() == [12 ^ 10, 10 ^ 6]
    assert torch.bitwise_not(a).tolist() == [~12, ~10]
    assert (~torch.tensor([True, False])).tolist() == [False, True]
    assert (a << 2).tolist() == [48, 40] and (a >> 1).tolist() == [6, 5]
    assert torch.bitwise_left_shift(a, b).tolist() == [12 << 10, 10 << 6]
    with pytest.raises(RuntimeError, match="not implemented for 'Float'"):
        torch.bitwise_and(torch.ones(1), torch.ones(1))


def test_unique_variants():
    x = torch.tensor([3, 1, 3, 2, 1])
    u, inv, cnt = torch.unique(x, return_inverse=True, return_counts=True)
    ru, rinv, rcnt = np.unique(x.numpy(), return_inverse=True, return_counts=True)
    assert u.tolist() == ru.tolist() and inv.tolist() == rinv.tolist()
    assert cnt.tolist() == rcnt.tolist() and u.dtype == torch.int64
    m = torch.tensor([[1, 2], [1, 2], [0, 5]])
    assert torch.unique(m, dim=0).tolist() == [[0, 5], [1, 2]]
    assert torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 1])).tolist() == [1, 2, 1]


def test_cross_product_values_and_gradient():
    a = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    c = torch.linalg.cross(a, b)
    assert c.tolist() == [np.cross([1.0, 2, 3], [4.0, 5, 6]).tolist()]
    c.sum().backward()
    # d sum(a x b)/da = b x 1, d/db = 1 x a
    np.testing.assert_allclose(a.grad.numpy()[0], np.cross([4.0, 5, 6], np.ones(3)))
    np.testing.assert_allclose(b.grad.numpy()[0], np.cross(np.ones(3), [1.0, 2, 3]))


def test_sort_topk_and_shape_helpers():
    x = torch.tensor([3.0, 1.0, 2.0, 5.0], requires_grad=True)
    v, i = torch.topk(x, 2)
    assert v.tolist() == [5.0, 3.0] and i.tolist() == [3, 0]
    v.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert torch.argsort(torch.tensor([2, 0, 1]), descending=True).tolist() == [0, 2, 1]
    assert torch.roll(torch.arange(5), 2).tolist() == np.roll(np.arange(5), 2).tolist()
    assert torch.triu(torch.ones(3, 3)).sum().item() == 6
    assert torch.diag(torch.tensor([1.0, 2.0])).tolist() == [[1.0, 0.0], [0.0, 2.0]]
    assert torch.hstack([torch.ones(2), torch.zeros(1)]).tolist() == [1.0, 1.0, 0.0]
    assert torch.allclose(torch.ones(2), torch.ones(2) + 1e-9)
    assert torch.equal(torch.ones(2), torch.ones(2)) and not torch.equal(
        torch.ones(2), torch.ones(3)
    )


# ---- module hooks -------------------------------------------------------------------------
def test_module_hooks_with_removal_handles():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, a: seen.append("pre"))
    h2 = lin.register_forward_hook(lambda m, a, o: seen.append("fwd"))
    grads = {}

    def bw(m, gin, gout):
        grads["in"], grads["out"] = gin, gout

    h3 = lin.register_full_backward_hook(bw)
    x = torch.randn(4, 3, requires_grad=True)
    out = lin(x)
    assert seen == ["pre", "fwd"]
    out.sum().backward()
    assert grads["out"][0].tolist() == [[1.0, 1.0]] * 4
    # grad_input = grad_output @ W
    np.testing.assert_allclose(
        grads["in"][0].numpy(), np.ones((4, 2)) @ lin.weight.detach().numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(x.grad.numpy(), grads["in"][0].numpy())
    for h in (h1, h2, h3):
        h.remove()
    seen.clear()
    grads.clear()
    lin(x).sum().backward()
    assert seen == [] and grads == {}


def test_backward_hook_can_replace_grad_input():
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    x = torch.ones(1, 2, requires_grad=True)
    lin(x).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]]
    assert lin.weight.grad is not None  # parameters still get theirs


def test_retain_grad_runs_after_hooks_and_anomaly_context():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    (y**2).sum().backward()
    # dz/dy = 2y = [4, 8], scaled by the hook: y.grad shows the hooked value, like torch
    assert y.grad.tolist() == [40.0, 80.0] and x.grad.tolist() == [80.0, 160.0]
    assert not torch.autograd.is_anomaly_enabled()
    with torch.autograd.set_detect_anomaly(True):
        assert torch.autograd.is_anomaly_enabled()
    assert not torch.autograd.is_anomaly_enabled()


def test_printing_follows_default_dtype_and_print_options():
    torch.set_default_dtype(torch.float64)
    try:
        assert repr(torch.tensor([1.5])) == "tensor([1.5000])"
        assert repr(torch.tensor([1.5], dtype=torch.float32)) == (
            "tensor([1.5000], dtype=jitgrad.float32)"
        )
    finally:
        torch.set_default_dtype(torch.float32)
    torch.set_printoptions(precision=2)
    try:
        assert repr(torch.tensor([1.23456])) == "tensor([1.23])"
    finally:
        torch.set_printoptions(profile="default")
    assert repr(torch.tensor([1.23456])) == "tensor([1.2346])"


def test_testing_special_and_version_namespaces():
    torch.testing.assert_close(torch.tensor([1.0]), torch.tensor([1.0 + 1e-7]))
    with pytest.raises(AssertionError, match="not close"):
        torch.testing.assert_close(torch.tensor([1.0]), torch.tensor([1.001]))
    with pytest.raises(AssertionError, match="dtype"):
        torch.testing.assert_close(torch.ones(1), torch.ones(1, dtype=torch.float64))
    x = torch.tensor([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(
        torch.special.expit(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6
    )
    np.testing.assert_allclose(torch.special.ndtr(torch.tensor([0.0])).numpy(), [0.5])
    assert torch.version.cuda is None and torch.version.__version__ == torch.__version__


def test_embedding_bag_modes_and_gradients():
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    idx, offsets = [1, 2, 0, 3, 3], [0, 2]
    bags = [[1, 2], [0, 3, 3]]
    for mode, red in (("sum", np.sum), ("mean", np.mean), ("max", np.max)):
        m = nn.EmbeddingBag.from_pretrained(torch.tensor(w), freeze=False, mode=mode)
        out = m(torch.tensor(idx), torch.tensor(offsets))
        np.testing.assert_allclose(out.detach().numpy(), [red(w[b], 0) for b in bags], rtol=1e-6)
        assert out.grad_fn.name() == "EmbeddingBagBackward0"
        out.sum().backward()
        if mode == "sum":  # each use of a row adds one
            np.testing.assert_allclose(m.weight.grad.numpy()[:, 0], [1, 1, 1, 2])
        if mode == "mean":
            np.testing.assert_allclose(
                m.weight.grad.numpy()[:, 0], [1 / 3, 0.5, 0.5, 2 / 3], rtol=1e-6
            )
    two_d = nn.EmbeddingBag.from_pretrained(torch.tensor(w), mode="sum")(
        torch.tensor([[0, 1], [2, 3]])
    )
    np.testing.assert_allclose(two_d.numpy(), [w[0] + w[1], w[2] + w[3]], rtol=1e-6)


def test_distributions_log_prob_entropy_and_sampling():
    D = torch.distributions
    p = np.array([0.2, 0.3, 0.5])
    c = D.Categorical(probs=torch.tensor(p, dtype=torch.float64))
    np.testing.assert_allclose(c.log_prob(torch.tensor([0, 2])).numpy(), np.log(p[[0, 2]]))
    np.testing.assert_allclose(c.entropy().item(), -(p * np.log(p)).sum())
    torch.manual_seed(0)
    s = c.sample((4000,))
    assert s.shape == (4000,) and set(s.tolist()) <= {0, 1, 2}
    np.testing.assert_allclose(np.bincount(s.numpy(), minlength=3) / 4000, p, atol=0.03)
    logits = torch.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    D.Categorical(logits=logits).log_prob(torch.tensor([1])).sum().backward()
    sm = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    np.testing.assert_allclose(logits.grad.numpy()[0], np.eye(3)[1] - sm, rtol=1e-6)
    n = D.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    x, mu, sd = np.array([0.5, 0.5]), np.array([0.0, 1.0]), np.array([1.0, 2.0])
    ref = -((x - mu) ** 2) / (2 * sd**2) - np.log(sd) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(
        n.log_prob(torch.tensor(x, dtype=torch.float32)).numpy(), ref, rtol=1e-6
    )
    np.testing.assert_allclose(
        n.entropy().numpy(), 0.5 + 0.5 * np.log(2 * np.pi) + np.log(sd), rtol=1e-6
    )
    b = D.Bernoulli(torch.tensor([0.3, 0.9]))
    np.testing.assert_allclose(
        b.log_prob(torch.tensor([1.0, 0.0])).numpy(), np.log([0.3, 0.1]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="support"):
        D.Uniform(0.0, 2.0).log_prob(torch.tensor([3.0]))


def test_torch_keyword_spellings():
    x = torch.tensor([[1.0, 5.0], [3.0, 2.0]])
    assert torch.sum(x, axis=0).tolist() == [4.0, 7.0] and x.mean(axis=1).tolist() == [3.0, 2.5]
    assert torch.reshape(x, shape=(4,)).tolist() == [1.0, 5.0, 3.0, 2.0]
    assert x.permute(dims=(1, 0)).tolist() == [[1.0, 3.0], [5.0, 2.0]]
    assert torch.zeros(size=(2, 3)).shape == (2, 3) and torch.rand(size=(4,)).shape == (4,)


def test_memory_formats_and_random_namespace():
    x = torch.ones(2, 3).contiguous(memory_format=torch.channels_last)
    assert x.is_contiguous() and repr(torch.channels_last) == "jitgrad.channels_last"
    nn.Linear(2, 2).to(memory_format=torch.channels_last)
    torch.random.manual_seed(5)
    first = torch.rand(3).tolist()
    torch.random.manual_seed(5)
    with torch.random.fork_rng():
        torch.rand(7)  # draws inside the block do not move the outer stream
    assert torch.rand(3).tolist() == first


def test_more_torch_functions():
    assert torch.finfo(torch.float32).eps == float(np.finfo(np.float32).eps)
    assert torch.iinfo(torch.int64).max == np.iinfo(np.int64).max
    assert torch.isin(torch.tensor([1, 2, 3]), torch.tensor([2, 5])).tolist() == [
        False,
        True,
        False,
    ]
    assert torch.tril_indices(3, 3).tolist() == [list(v) for v in np.tril_indices(3)]
    assert torch.triu_indices(3, 4, 1).tolist() == [list(v) for v in np.triu_indices(3, 1, 4)]
    y = np.array([1.0, 2.0, 4.0])
    assert torch.trapezoid(torch.tensor(y)).item() == np.trapezoid(y)
    assert torch.combinations(torch.tensor([1, 2, 3])).tolist() == [[1, 2], [1, 3], [2, 3]]
    x = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
    ref = [np.linalg.norm(x[i] - x[j]) for i in range(3) for j in range(i + 1, 3)]
    np.testing.assert_allclose(torch.pdist(torch.tensor(x)).numpy(), ref)
    assert torch.rsub(torch.tensor([1.0, 2.0]), 5).tolist() == [4.0, 3.0]
    assert torch.scalar_tensor(3).dtype == torch.float32


def test_post_accumulate_grad_hook_and_backward_pre_hook():
    w = torch.ones(2, requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    assert seen == [[3.0, 3.0], [6.0, 6.0]]  # after accumulation, each time
    h.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2
    lin = nn.Linear(2, 1)
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
    x = torch.ones(1, 2, requires_grad=True)
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * lin.weight.detach().numpy())
