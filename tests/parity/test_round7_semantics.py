"""Round 7 parity: behaviours found by running new programs under torch and jitgrad side by side
(notes/parity-round7/). Expectations are torch's documented rules, restated here as formulas
or as torch's error classes and messages; no torch import."""

import collections
import math
import warnings

import numpy as np
import pytest

import jitgrad
import jitgrad.nn as nn
from jitgrad.nn.utils import rnn as rnn_utils
from jitgrad.optim import lr_scheduler as S
from jitgrad.utils import data as D


def _opt(lr=0.1, groups=1):
    ps = [nn.Parameter(jitgrad.ones(2)) for _ in range(groups)]
    return jitgrad.optim.SGD([{"params": [p]} for p in ps], lr=lr, momentum=0.9)


# ---- schedulers ------------------------------------------------------------------------
def test_scheduler_stepped_before_optimizer_warns_once_like_torch():
    opt = _opt()
    sch = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        sch.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sch.step()  # torch warns at the first step only
        opt2 = _opt()
        sch2 = S.ExponentialLR(opt2, 0.5)
        opt2.step()  # the right order: no warning
        sch2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05)


def test_cosine_warm_restarts_follow_the_formula_and_chained_state_dict_round_trips():
    opt = _opt(lr=0.1)
    sch = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.01)
    got = []
    for _ in range(7):
        opt.step()
        sch.step()
        got.append(opt.param_groups[0]["lr"])
    # epochs 1..7 with restarts at 2 and 6 (periods 2, 4): T_cur, T_i per epoch
    cur = [(1, 2), (0, 4), (1, 4), (2, 4), (3, 4), (0, 8), (1, 8)]
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * c / t)) / 2 for c, t in cur]
    assert got == pytest.approx(want)

    opt = _opt(lr=1.0)
    ch = S.ChainedScheduler([S.StepLR(opt, 2), S.ExponentialLR(opt, 0.9)])
    for _ in range(3):
        opt.step()
        ch.step()
    sd = ch.state_dict()
    assert sorted(sd) == ["_last_lr", "_schedulers"] and sd["_schedulers"][1]["last_epoch"] == 3
    opt2 = _opt(lr=1.0)
    ch2 = S.ChainedScheduler([S.StepLR(opt2, 2), S.ExponentialLR(opt2, 0.9)])
    ch2.load_state_dict(sd)
    assert ch2._schedulers[0].last_epoch == 3 and ch2.get_last_lr() == ch.get_last_lr()


def test_scheduler_argument_errors_are_torchs():
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer.param"):
        S.OneCycleLR(_opt(), max_lr=[1.0, 2.0], total_steps=5)
    with pytest.raises(ValueError, match="base_lr must have the same length"):
        S.CyclicLR(_opt(groups=2), base_lr=[0.1], max_lr=1.0)
    a, b = _opt(), _opt()
    with pytest.raises(
        ValueError, match="SequentialLR expects all schedulers to belong to the same"
    ):
        S.SequentialLR(a, [S.StepLR(a, 2), S.StepLR(b, 2)], milestones=[1])
    with pytest.raises(ValueError, match="ChainedScheduler expects all schedulers"):
        S.ChainedScheduler([S.StepLR(a, 2), S.StepLR(b, 2)])
    p = S.ReduceLROnPlateau(_opt(), mode="max")
    assert p.state_dict()["mode_worse"] == -math.inf


# ---- data --------------------------------------------------------------------------------
def test_collate_and_convert_keep_numpy_dtypes_and_structure():
    out = D.default_collate([np.float32(1.5), np.float32(2.5)])
    assert out.dtype == jitgrad.float32 and out.tolist() == [1.5, 2.5]
    assert D.default_collate([1.5, 2.5]).dtype == jitgrad.float64  # Python floats: double
    P = collections.namedtuple("P", "a b")
    c = D.default_convert(
        {"x": np.array([1.0, 2.0]), "t": (np.int64(3), "s"), "p": P(np.ones(1), 2)}
    )
    assert isinstance(c["x"], jitgrad.Tensor) and c["x"].dtype == jitgrad.float64
    assert isinstance(c["t"], list) and c["t"][0].item() == 3 and c["t"][1] == "s"
    assert isinstance(c["p"], P) and isinstance(c["p"].a, jitgrad.Tensor) and c["p"].b == 2
    dl = D.DataLoader([np.arange(3)], batch_size=None)  # no batching: NumPy -> tensors
    (item,) = list(dl)
    assert isinstance(item, jitgrad.Tensor) and item.tolist() == [0, 1, 2]


def test_packed_sequence_indices_and_unpack_follow_sorting_by_length():
    x = jitgrad.arange(12.0).reshape(3, 4, 1)  # batch-first, lengths 2, 4, 3
    pk = rnn_utils.pack_padded_sequence(x, [2, 4, 3], batch_first=True, enforce_sorted=False)
    assert pk.sorted_indices.tolist() == [1, 2, 0]  # decreasing length
    assert pk.unsorted_indices.tolist() == [2, 0, 1]  # its inverse permutation
    assert pk.batch_sizes.tolist() == [3, 3, 2, 1]
    seqs = rnn_utils.unpack_sequence(pk)
    assert [s.reshape(-1).tolist() for s in seqs] == [[0, 1], [4, 5, 6, 7], [8, 9, 10]]
    sorted_pk = rnn_utils.pack_padded_sequence(x, [4, 3, 2], batch_first=True)
    assert sorted_pk.sorted_indices is None and sorted_pk.unsorted_indices is None
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 4"):
        rnn_utils.pad_packed_sequence(pk, total_length=2)
    with pytest.raises(RuntimeError, match=r"len\(lengths\)` to be equal to batch_size, but got 2"):
        rnn_utils.pack_padded_sequence(x, [4, 3], batch_first=True)
    with pytest.raises(RuntimeError, match="should be a 1D CPU int64 tensor, but got 2D"):
        rnn_utils.pack_padded_sequence(x, jitgrad.tensor([[4, 3, 2]]), batch_first=True)


def test_sampler_and_loader_argument_errors_are_torchs():
    with pytest.raises(
        ValueError, match="drop_last should be a boolean value, but got drop_last=1"
    ):
        D.BatchSampler(range(3), 2, 1)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        D.WeightedRandomSampler([1.0], 2, replacement=1)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        D.RandomSampler(range(3), replacement="yes")
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        list(D.WeightedRandomSampler([], 2))
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        D.DataLoader(range(4), batch_size=None, drop_last=True)
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        D.ConcatDataset([])


# ---- modules -----------------------------------------------------------------------------
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("cache", jitgrad.ones(2), persistent=False)


def test_load_state_dict_non_persistent_buffer_is_unexpected_and_hooks_run():
    m = _Net()
    sd = m.state_dict()
    assert list(sd) == ["fc.weight", "fc.bias"]
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "cache"'):
        m.load_state_dict({**sd, "cache": jitgrad.zeros(2)})
    seen = []
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: seen.append(("pre", prefix)))

    def drop_bias(mod, d, prefix, meta):  # a post hook edits the result in place
        del d[prefix + "bias"]

    m.fc.register_state_dict_post_hook(drop_bias)

    def drop_extra(mod, keys):  # a post hook may forgive keys before the strict check
        seen.append(("load", list(keys.unexpected_keys)))
        keys.unexpected_keys.clear()

    m.register_load_state_dict_post_hook(drop_extra)
    assert list(m.state_dict()) == ["fc.weight"] and seen == [("pre", "")]
    r = m.load_state_dict({**sd, "extra": jitgrad.ones(1)})
    assert seen[-1] == ("load", ["extra"]) and r.unexpected_keys == []


def test_parameter_dict_sorts_a_plain_dict_and_misses_like_an_attribute():
    pd = nn.ParameterDict({"w": nn.Parameter(jitgrad.ones(1)), "b": nn.Parameter(jitgrad.ones(1))})
    assert list(pd.keys()) == ["b", "w"]  # torch sorts a plain dict's keys
    od = nn.ParameterDict(collections.OrderedDict(w=nn.Parameter(jitgrad.ones(1)), b=None))
    assert list(od.keys()) == ["w", "b"]  # an OrderedDict keeps its order
    with pytest.raises(AttributeError, match="'ParameterDict' object has no attribute 'x'"):
        pd["x"]
    with pytest.raises(KeyError):
        pd["x"]


def test_forward_hooks_always_call_global_and_bad_returns():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    rec = []
    m = Boom()
    m.register_forward_hook(lambda mod, a, o: rec.append("normal"))
    m.register_forward_hook(lambda mod, a, o: rec.append(("always", o)), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        m(jitgrad.ones(1))
    assert rec == [("always", None)]
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    h = nn.modules.module.register_module_forward_hook(lambda mod, a, o: rec.append(type(mod)))
    try:
        seq(jitgrad.ones(1))
    finally:
        h.remove()
    assert rec[1:] == [nn.ReLU, nn.Tanh, nn.Sequential]  # children finish first
    seq(jitgrad.ones(1))
    assert len(rec) == 4  # removed
    ident = nn.Identity()
    ident.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kw"):
        ident(jitgrad.ones(1))
    relu = nn.ReLU()
    relu.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    x = jitgrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        relu(x).sum().backward()


def test_attention_is_causal_is_a_hint_that_needs_the_mask():
    mha = nn.MultiheadAttention(4, 2)
    x = jitgrad.ones(3, 1, 4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    y, _ = mha(x, x, x, attn_mask=mask, is_causal=True)
    assert tuple(y.shape) == (3, 1, 4)


# ---- autograd.functional / gradcheck -----------------------------------------------------
def test_functional_strict_mode_and_argument_checks():
    AF = jitgrad.autograd.functional
    x = jitgrad.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not req"):
        AF.jacobian(lambda a: jitgrad.ones(2), x, strict=True)
    assert AF.jacobian(lambda a: jitgrad.ones(2), x).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (x, x.clone()), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.vjp(lambda a, b: (a * 2).sum(), (x, x.clone()), strict=True)
    with pytest.raises(AssertionError, match='either "forward-mode" or "reverse-mode"'):
        AF.jacobian(lambda a: a, x, strategy="x")
    with pytest.raises(NotImplementedError, match="only implemented for `vectorize=True`"):
        AF.jacobian(lambda a: a, x, strategy="forward-mode")
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be .*2.* but got .*3"):
        AF.vjp(lambda a: a * 2, x, jitgrad.ones(3))
    with pytest.raises(RuntimeError, match="v has invalid size"):
        AF.hvp(lambda a: a.pow(3).sum(), x, jitgrad.ones(3))
    # d/dx of x^3 at (1, 2) times v = (1, 1): 3x^2 = (3, 12); Hessian-vector 6x v = (6, 12)
    assert AF.jvp(lambda a: a**3, x, jitgrad.ones(2))[1].tolist() == [3, 12]
    assert AF.hvp(lambda a: a.pow(3).sum(), x, jitgrad.ones(2))[1].tolist() == [6, 12]
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        jitgrad.autograd.gradcheck(lambda a: a * 2, (jitgrad.ones(1, dtype=jitgrad.float64),))


# ---- round-6 leftovers -------------------------------------------------------------------
def test_integer_remainder_by_zero_fill_values_and_type_strings():
    i = jitgrad.tensor([7, -3])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        i % jitgrad.tensor([2, 0])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        jitgrad.fmod(i, 0)
    assert (i % 2).tolist() == [1, 1] and jitgrad.fmod(i, 2).tolist() == [1, -1]  # sign rules
    assert np.isnan((jitgrad.tensor([1.0]) % 0).item())  # floats: nan, no error
    with pytest.raises(TypeError, match="full_like\\(\\): argument 'fill_value' .* not str"):
        jitgrad.full_like(jitgrad.ones(2), "a")
    assert jitgrad.full((2,), jitgrad.tensor(1.5)).tolist() == [1.5, 1.5]
    with pytest.raises(ValueError, match="invalid type: 'foo'"):
        jitgrad.ones(2).type("foo")
    assert jitgrad.ones(2).type("torch.DoubleTensor").dtype == jitgrad.float64
    with pytest.raises(TypeError):  # torch: a str index is a TypeError, a float one IndexError
        jitgrad.ones(3)["a"]
    with pytest.raises(IndexError):
        jitgrad.ones(3)[1.5]
    with pytest.raises(ValueError):  # torch: "too many dimensions 'str'"
        jitgrad.tensor(["a"])
    with pytest.raises(TypeError):  # still the class jitgrad raised before
        jitgrad.tensor(["a"])


def test_attention_with_other_key_value_widths_is_sdpa_of_the_projections():
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]  # torch's layout; in_proj_weight is None
    assert m.in_proj_weight is None and tuple(m.v_proj_weight.shape) == (4, 5)
    with jitgrad.no_grad():
        m.in_proj_bias.copy_(jitgrad.tensor(rng.standard_normal(12).astype(np.float32)))
    q, k, v = (
        jitgrad.tensor(rng.standard_normal(s).astype(np.float32))
        for s in [(1, 2, 4), (1, 3, 3), (1, 3, 5)]
    )
    out, _ = m(q, k, v)
    F = nn.functional
    bq, bk, bv = m.in_proj_bias.chunk(3)

    def heads(x, w, b):  # (1, n, 4) -> (1, 2 heads, n, 2)
        return F.linear(x, w, b).reshape(1, -1, 2, 2).transpose(1, 2)

    a = F.scaled_dot_product_attention(
        heads(q, m.q_proj_weight, bq), heads(k, m.k_proj_weight, bk), heads(v, m.v_proj_weight, bv)
    )
    want = m.out_proj(a.transpose(1, 2).reshape(1, 2, 4))
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(AssertionError, match=r"expecting key weights shape of \(4, 4\)"):
        m(q, jitgrad.ones(1, 3, 4), v)


def test_lambda_state_dict_pad_side_param_list_index_and_gradgradcheck_inputs():
    opt = _opt()

    class Scale:  # a callable object: torch saves its attributes
        def __init__(self):
            self.k = 0.5

        def __call__(self, e):
            return self.k**e

    sch = S.LambdaLR(opt, Scale())
    sd = sch.state_dict()
    assert sd["lr_lambdas"] == [{"k": 0.5}]
    assert S.LambdaLR(_opt(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None]
    other = S.LambdaLR(_opt(), Scale())
    other.load_state_dict({**sd, "lr_lambdas": [{"k": 0.25}]})
    assert other.lr_lambdas[0].k == 0.25 and callable(other.lr_lambdas[0])
    with pytest.raises(RuntimeError, match="padding_side to be one of left or right, but got mid"):
        rnn_utils.pad_sequence([jitgrad.ones(2)], padding_side="middle")
    pl = nn.ParameterList([nn.Parameter(jitgrad.ones(1))])
    with pytest.raises(IndexError, match="index 5 is out of range"):
        pl[5] = nn.Parameter(jitgrad.ones(1))
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        jitgrad.autograd.gradgradcheck(lambda a: a * 2, (jitgrad.ones(1, dtype=jitgrad.float64),))


def test_full_backward_hook_grad_output_none_for_unused_output_zeros_and_no_grad():
    class Two(nn.Module):
        def forward(self, a, b):
            return a * b, a + b

    rec = []
    m = Two()
    m.register_full_backward_hook(lambda mod, gi, go: rec.append((gi, go)))
    a = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    b = jitgrad.tensor([3.0, 4.0])
    x, _ = m(a, b)
    x.sum().backward()  # only the first output gets a gradient
    (gi, go) = rec[0]
    assert go[0].tolist() == [1, 1] and go[1] is None
    assert gi[0].tolist() == [3, 4]  # d(a*b)/da = b
    assert gi[1].tolist() == [0, 0]  # b needs no gradient: torch passes zeros
    with jitgrad.no_grad():  # evaluation with hooks registered: no graph, no hook, no error
        y, _ = m(a, b)
    assert not y.requires_grad and len(rec) == 1


def test_multilabel_margin_loss_sums_hinges_over_target_and_other_classes():
    x = jitgrad.tensor([[0.1, 0.2, 0.4, 0.8]], dtype=jitgrad.float64, requires_grad=True)
    y = jitgrad.tensor([[3, 0, -1, 1]])  # labels {3, 0}: the -1 ends the list
    loss = nn.functional.multilabel_margin_loss(x, y)
    # targets 3, 0 against others 1, 2: (0.4 + 0.6 + 1.1 + 1.3) / 4 classes
    assert loss.item() == pytest.approx(3.4 / 4)
    loss.backward()
    assert x.grad[0].tolist() == pytest.approx([-0.5, 0.5, 0.5, -0.5])  # 2 hinges x 1/4 each
    assert nn.MultiLabelMarginLoss(reduction="none")(x, jitgrad.full((1, 4), -1)).tolist() == [0]
    with pytest.raises(RuntimeError, match=r"inconsistent target size: \[1, 2\] for input of size"):
        nn.functional.multilabel_margin_loss(x, jitgrad.zeros(1, 2, dtype=jitgrad.int64))
    with pytest.raises(RuntimeError, match="'target' is out of range"):
        nn.functional.multilabel_margin_loss(x, jitgrad.full((1, 4), 4))
