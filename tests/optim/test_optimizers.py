"""Each optimizer against a NumPy transcription of PyTorch's update rule, on a quadratic."""

import io

import numpy as np
import pytest

import jitgrad as torch
from jitgrad._grad_mode import STATE
from jitgrad.optim import SGD, Adagrad, Adam, AdamW, RMSprop

A = np.array(
    [[3.0, 0.5, 0.0, 0.2], [0.5, 2.0, 0.3, 0.0], [0.0, 0.3, 1.0, 0.1], [0.2, 0.0, 0.1, 0.5]]
)
B = np.array([1.0, -2.0, 0.5, 3.0])
C = np.array([[0.5, 1.0, 2.0], [4.0, 0.25, 1.5]])
X0 = np.array([0.3, -1.2, 2.0, 0.7])
W0 = np.array([[1.0, -1.0, 0.5], [2.0, 0.1, -0.3]])
STEPS = 20


def np_grads(x, w):
    """Gradient of 0.5 x'Ax - b'x + 0.5 sum(C * w**2)."""
    return [A @ x - B, C * w]


def loss_fn(x, w):
    At, Bt, Ct = (torch.tensor(a, dtype=torch.float64) for a in (A, B, C))
    return 0.5 * (x * (At @ x)).sum() - (Bt * x).sum() + 0.5 * (Ct * w * w).sum()


def run_jitgrad(cls, kw, steps=STEPS):
    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    opt = cls([x, w], **kw)
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(x, w).backward()
        opt.step()
        traj.append([x.detach().numpy().copy(), w.detach().numpy().copy()])
    return traj


def run_numpy(update, kw, steps=STEPS):
    ps = [X0.copy(), W0.copy()]
    states = [{}, {}]
    traj = []
    for _ in range(steps):
        gs = np_grads(*ps)
        for p, g, st in zip(ps, gs, states):
            update(p, g, st, **kw)
        traj.append([p.copy() for p in ps])
    return traj


# ---- PyTorch's single-tensor update rules, in NumPy ------------------------------------
def np_sgd(p, g, st, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    g = -g if maximize else g.copy()
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if "buf" not in st:
            st["buf"] = g.copy()
        else:
            st["buf"] = momentum * st["buf"] + (1 - dampening) * g
        g = g + momentum * st["buf"] if nesterov else st["buf"]
    p -= lr * g


def np_adam(
    p,
    g,
    st,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    b1, b2 = betas
    g = -g if maximize else g.copy()
    if not st:
        st.update(t=0, m=np.zeros_like(p), v=np.zeros_like(p), vmax=np.zeros_like(p))
    st["t"] += 1
    t = st["t"]
    if weight_decay:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    st["m"] = b1 * st["m"] + (1 - b1) * g
    st["v"] = b2 * st["v"] + (1 - b2) * g * g
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    v = st["v"]
    if amsgrad:
        st["vmax"] = np.maximum(st["vmax"], st["v"])
        v = st["vmax"]
    denom = np.sqrt(v) / np.sqrt(bc2) + eps
    p -= lr / bc1 * st["m"] / denom


def np_adamw(p, g, st, weight_decay=1e-2, **kw):
    np_adam(p, g, st, weight_decay=weight_decay, decoupled=True, **kw)


def np_rmsprop(
    p,
    g,
    st,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0,
    momentum=0,
    centered=False,
    maximize=False,
):
    g = -g if maximize else g.copy()
    if not st:
        st.update(sq=np.zeros_like(p), buf=np.zeros_like(p), gavg=np.zeros_like(p))
    if weight_decay:
        g = g + weight_decay * p
    st["sq"] = alpha * st["sq"] + (1 - alpha) * g * g
    if centered:
        st["gavg"] = alpha * st["gavg"] + (1 - alpha) * g
        avg = np.sqrt(st["sq"] - st["gavg"] ** 2) + eps
    else:
        avg = np.sqrt(st["sq"]) + eps
    if momentum > 0:
        st["buf"] = momentum * st["buf"] + g / avg
        p -= lr * st["buf"]
    else:
        p -= lr * g / avg


def np_adagrad(
    p, g, st, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10
):
    if not st:
        st.update(t=0, sum=np.full_like(p, initial_accumulator_value))
    st["t"] += 1
    if weight_decay:
        g = g + weight_decay * p
    clr = lr / (1 + (st["t"] - 1) * lr_decay)
    st["sum"] = st["sum"] + g * g
    p -= clr * g / (np.sqrt(st["sum"]) + eps)


CASES = [
    (SGD, np_sgd, dict(lr=0.05)),
    (SGD, np_sgd, dict(lr=0.05, momentum=0.9)),
    (SGD, np_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (SGD, np_sgd, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (SGD, np_sgd, dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    (SGD, np_sgd, dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.2)),
    (SGD, np_sgd, dict(lr=0.01, maximize=True)),
    (Adam, np_adam, dict(lr=0.1)),
    (Adam, np_adam, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6)),
    (Adam, np_adam, dict(lr=0.1, weight_decay=0.1)),
    (Adam, np_adam, dict(lr=0.1, amsgrad=True)),
    (Adam, np_adam, dict(lr=0.1, amsgrad=True, weight_decay=0.05, maximize=True)),
    (AdamW, np_adamw, dict(lr=0.1)),
    (AdamW, np_adamw, dict(lr=0.1, weight_decay=0.3)),
    (AdamW, np_adamw, dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    (RMSprop, np_rmsprop, dict(lr=0.01)),
    (RMSprop, np_rmsprop, dict(lr=0.01, centered=True)),
    (RMSprop, np_rmsprop, dict(lr=0.01, momentum=0.9)),
    (RMSprop, np_rmsprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, alpha=0.9)),
    (Adagrad, np_adagrad, dict(lr=0.1)),
    (
        Adagrad,
        np_adagrad,
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5),
    ),
]


@pytest.mark.parametrize(
    "cls,ref,kw",
    CASES,
    ids=[f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, _, kw in CASES],
)
def test_trajectory_matches_pytorch_rule(cls, ref, kw):
    got = run_jitgrad(cls, kw)
    want = run_numpy(ref, kw)
    for step, (g, w) in enumerate(zip(got, want)):
        for a, b in zip(g, w):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=f"step {step + 1}")
    # the trajectory actually moved
    assert not np.allclose(got[-1][0], X0)


def test_adamw_decay_is_decoupled_from_adam_l2():
    adamw = run_jitgrad(AdamW, dict(lr=0.1, weight_decay=0.3), steps=5)[-1][0]
    adam_l2 = run_jitgrad(Adam, dict(lr=0.1, weight_decay=0.3), steps=5)[-1][0]
    assert np.abs(adamw - adam_l2).max() > 1e-3


class _FakeTracer:
    """Stands in for jitgrad.trace: every tensor counts as traced, so .item()/bool() inside
    step() would fail; hyperparameters read through scalar_input come back as 0-d tensors."""

    def __init__(self):
        self.keys = []

    def scalar_input(self, owner, key, v):
        self.keys.append(key)
        return torch.tensor(v, dtype=torch.float64)

    def is_traced(self, t):
        return True

    def fail(self, what):
        raise AssertionError(f"optimizer step used {what} on a tensor")

    def __getattr__(self, name):  # record, constant, write, alias, set_grad, ...
        return lambda *a, **k: None


@pytest.mark.parametrize("cls,ref,kw", CASES)
def test_step_under_tracer_reads_hyperparameters_as_inputs(cls, ref, kw):
    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    opt = cls([x, w], **kw)
    fake = _FakeTracer()
    want = run_numpy(ref, kw, steps=3)
    for step in range(3):
        opt.zero_grad()
        loss_fn(x, w).backward()
        STATE.tracer = fake
        try:
            opt.step()
        finally:
            STATE.tracer = None
        np.testing.assert_allclose(x.detach().numpy(), want[step][0], rtol=1e-11, atol=1e-13)
    assert "lr" in fake.keys
    if cls in (Adam, AdamW):
        assert {"beta1", "beta2", "eps"} <= set(fake.keys)
    if kw.get("momentum"):
        assert "momentum" in fake.keys
    if kw.get("weight_decay") or cls is AdamW:
        assert "weight_decay" in fake.keys


@pytest.mark.parametrize("cls", [Adam, AdamW, RMSprop, Adagrad])
def test_step_counter_is_float32_tensor_updated_in_place(cls):
    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    opt = cls([x], lr=0.1)
    x.grad = torch.ones(4, dtype=torch.float64)
    opt.step()
    counter = opt.state[x]["step"]
    assert isinstance(counter, torch.Tensor) and counter.dim() == 0
    assert counter.dtype == torch.float32
    opt.step()
    opt.step()
    assert opt.state[x]["step"] is counter and counter.item() == 3.0


def test_lr_change_between_steps_takes_effect():
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = SGD([x], lr=0.1)
    x.grad = torch.tensor([1.0], dtype=torch.float64)
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    assert x.item() == pytest.approx(1.0 - 0.1 - 0.5, abs=1e-15)


def test_betas_change_between_steps_takes_effect():
    def final(change):
        x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
        opt = Adam([x], lr=0.1)
        for i in range(3):
            x.grad = torch.tensor([float(i + 1)], dtype=torch.float64)
            if change and i == 1:
                opt.param_groups[0]["betas"] = (0.5, 0.6)
            opt.step()
        return x.item()

    assert final(True) != final(False)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_params_without_grad_are_skipped_and_frozen_stay_exact(cls):
    torch.manual_seed(0)
    a = torch.randn(3, requires_grad=True)
    frozen = torch.randn(3, requires_grad=True)
    nograd = torch.randn(3, requires_grad=True)  # requires grad but never used in the loss
    frozen.requires_grad_(False)
    before_f, before_n = frozen.detach().numpy().copy(), nograd.detach().numpy().copy()
    opt = cls([a, frozen, nograd], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((a * frozen).sum() ** 2).backward()
        opt.step()
    assert frozen.grad is None and nograd.grad is None
    assert np.array_equal(frozen.detach().numpy(), before_f)
    assert np.array_equal(nograd.detach().numpy(), before_n)
    if cls is Adagrad:  # like torch, Adagrad creates its state up front; it stays untouched
        assert opt.state[frozen]["step"].item() == 0 and opt.state[nograd]["step"].item() == 0
    else:
        assert frozen not in opt.state and nograd not in opt.state
    assert a in opt.state or cls is SGD


def test_filter_requires_grad_iterable_accepted():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2)
    opt = SGD(filter(lambda p: p.requires_grad, [a, b]), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1


def test_zero_grad_set_to_none_and_zeros():
    a = torch.ones(2, requires_grad=True)
    opt = SGD([a], lr=0.1)
    (a * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_use_their_own_options():
    a = torch.ones(1, dtype=torch.float64, requires_grad=True)
    b = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.0)
    assert opt.param_groups[1]["lr"] == 1.0 and opt.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[1]["momentum"] == 0.0
    (a + b).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.0)
    c = torch.ones(1, requires_grad=True)
    opt.add_param_group({"params": c, "lr": 0.5})
    assert opt.param_groups[2]["params"] == [c] and opt.param_groups[2]["nesterov"] is False


def test_closure_is_evaluated_with_grad_and_loss_returned():
    x = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    opt = SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and x.item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda p: SGD(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
        (lambda p: Adam(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: Adam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
        (lambda p: Adam(p, eps=-1e-8), "Invalid epsilon value"),
        (lambda p: AdamW(p, weight_decay=-1), "Invalid weight_decay value"),
        (lambda p: RMSprop(p, alpha=-1), "Invalid alpha value"),
        (lambda p: Adagrad(p, lr_decay=-1), "Invalid lr_decay value"),
    ],
)
def test_bad_hyperparameters(make, msg):
    with pytest.raises(ValueError, match=msg):
        make([torch.zeros(2, requires_grad=True)])


def test_bad_parameter_lists():
    a = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):  # PyTorch: warns, then
        dup = SGD([a, a], lr=0.1)  # updates the tensor once per copy
    a.grad = torch.ones(2)
    dup.step()
    np.testing.assert_allclose(a.detach().numpy(), [-0.2, -0.2])
    a = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([a * 2], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        SGD([1.0], lr=0.1)


def _train(opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(*params).backward()
        opt.step()


@pytest.mark.parametrize(
    "cls,kw",
    [
        (SGD, dict(lr=0.05, momentum=0.9)),
        (Adam, dict(lr=0.1)),
        (AdamW, dict(lr=0.1, amsgrad=True)),
        (RMSprop, dict(momentum=0.5, centered=True)),
        (Adagrad, dict(lr=0.1)),
    ],
)
def test_state_dict_round_trip_resumes_identically(cls, kw):
    def fresh():
        return [
            torch.tensor(X0, dtype=torch.float64, requires_grad=True),
            torch.tensor(W0, dtype=torch.float64, requires_grad=True),
        ]

    p1 = fresh()
    o1 = cls(p1, **kw)
    _train(o1, p1, 5)
    sd = o1.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1] and set(sd["state"]) == {0, 1}
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf)

    p2 = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in p1]
    o2 = cls(p2, lr=123.0)
    o2.load_state_dict(loaded)
    assert o2.param_groups[0]["lr"] == o1.param_groups[0]["lr"]
    # loaded buffers are copies: training o2 leaves the dict it was loaded from unchanged
    snap = {
        k: {n: v.numpy().copy() for n, v in s.items() if isinstance(v, torch.Tensor)}
        for k, s in loaded["state"].items()
    }
    _train(o1, p1, 5)
    _train(o2, p2, 5)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for k, s in loaded["state"].items():
        for n, v in snap[k].items():
            np.testing.assert_array_equal(s[n].numpy(), v)


def test_load_state_dict_rejects_mismatched_groups():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    sd = SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


@pytest.mark.parametrize("kw", [{}, {"amsgrad": True}, {"weight_decay": 0.1}])
@pytest.mark.parametrize("cls,ref", [(Adam, np_adam), (AdamW, np_adamw)])
def test_float32_bias_corrections_are_double_precision(cls, ref, kw):
    """torch reads the step counter as a Python float: ``1 - beta2**step`` is computed in
    double precision even for float32 parameters (in float32, ``1 - 0.999`` is off by 1.3e-5,
    which moved every float32 Adam update by ~7e-6 relative)."""
    rng = np.random.default_rng(3)
    p0 = (rng.standard_normal(64) * 1e-3).astype(np.float32)  # small: the update dominates
    grads = [rng.standard_normal(64).astype(np.float32) for _ in range(12)]
    p = torch.tensor(p0.copy(), requires_grad=True)
    opt = cls([p], lr=1e-3, **kw)
    want, st = p0.copy(), {}
    for t, g in enumerate(grads, 1):
        p.grad = torch.tensor(g)
        opt.step()
        ref(want, g, st, lr=1e-3, **kw)
        got = p.detach().numpy()
        assert got.dtype == np.float32
        err = np.abs(got.astype(np.float64) - want) - 4 * np.spacing(np.abs(want))
        assert err.max() <= 1e-6 * 1e-3 * t, err.max() / (1e-3 * t)  # each update is ~lr
