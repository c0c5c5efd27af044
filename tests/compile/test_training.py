"""Whole training loops: traced vs eager for 20 steps give the same losses and parameters."""

import copy

import numpy as np

import jitgrad as jg
from jitgrad import nn

STEPS = 20


def _run(build, make_opt, data, trace_kw=None, steps=STEPS, sched=None, accumulate=False, seed=0):
    """Train ``steps`` steps; returns (losses, final params, model)."""
    jg.manual_seed(seed)
    model = build()
    opt = make_opt(model.parameters())
    scheduler = sched(opt) if sched else None
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        if not accumulate:
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if not accumulate:
            opt.step()
        return loss

    f = jg.trace(step, **trace_kw) if trace_kw is not None else step
    jg.manual_seed(seed + 1)
    losses = []
    for i in range(steps):
        x, y = data[i % len(data)]
        if accumulate and i % 2 == 0:
            opt.zero_grad()
        losses.append(f(x, y).item())
        if accumulate and i % 2 == 1:
            opt.step()
        if scheduler:
            scheduler.step()
    params = [p.detach().numpy().copy() for p in model.parameters()]
    return np.array(losses), params, model, f


def _data(shape, n=3, classes=10, dtype=np.float32, seed=3):
    r = np.random.default_rng(seed)
    return [
        (
            jg.tensor(r.standard_normal(shape).astype(dtype)),
            jg.tensor(r.integers(0, classes, shape[0])),
        )
        for _ in range(n)
    ]


def _compare(eager, traced, rtol=1e-4, atol=1e-5):
    le, pe = eager[0], eager[1]
    lt, pt = traced[0], traced[1]
    np.testing.assert_allclose(lt, le, rtol=rtol, atol=atol)
    for a, b in zip(pt, pe):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def mlp():
    return nn.Sequential(
        nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 10)
    )


def _sgd_momentum(nesterov=False):
    return lambda p: jg.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=1e-3)


def test_mlp_sgd_momentum():
    data = _data((8, 12))
    eager = _run(mlp, _sgd_momentum(), data)
    traced = _run(mlp, _sgd_momentum(), data, {})
    _compare(eager, traced)
    assert traced[3].stats["compiled_calls"] == STEPS - 2
    assert traced[0][-1] < traced[0][0]  # it actually trains


def test_mlp_float64_nesterov_is_tight():
    # float64 and nesterov in one compiled step (each is a step of its own either way)
    data = _data((8, 12), dtype=np.float64)
    build = lambda: mlp().double()
    eager = _run(build, _sgd_momentum(nesterov=True), data)
    traced = _run(build, _sgd_momentum(nesterov=True), data, {})
    _compare(eager, traced, rtol=1e-10, atol=1e-12)
    assert traced[3].stats["compiled_calls"] == STEPS - 2
    assert traced[0][-1] < traced[0][0]


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 10),
    )


def test_cnn_adam():
    data = _data((4, 1, 8, 8))
    make = lambda p: jg.optim.Adam(p, lr=1e-2)
    traced = _run(cnn, make, data, {}, steps=8)
    _compare(_run(cnn, make, data, steps=8), traced)
    assert "np.transpose" not in traced[3].source()  # bias gradients: two reductions, no copy


def bn_dropout():
    return nn.Sequential(
        nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 10)
    )


def test_batchnorm_and_dropout_same_seed():
    data = _data((8, 12))
    make = lambda p: jg.optim.SGD(p, lr=0.05, momentum=0.5)
    eager = _run(bn_dropout, make, data)
    traced = _run(bn_dropout, make, data, {})
    _compare(eager, traced)
    bn_e, bn_t = eager[2][1], traced[2][1]
    np.testing.assert_allclose(
        bn_t.running_mean.numpy(), bn_e.running_mean.numpy(), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        bn_t.running_var.numpy(), bn_e.running_var.numpy(), rtol=1e-4, atol=1e-6
    )
    assert bn_t.num_batches_tracked.item() == STEPS


def test_gradient_accumulation_without_zero_grad():
    data = _data((8, 12))
    make = lambda p: jg.optim.SGD(p, lr=0.1)
    eager = _run(mlp, make, data, accumulate=True)
    traced = _run(mlp, make, data, {}, accumulate=True)
    _compare(eager, traced)
    # two variants: .grad None at entry (first call of a pair) and .grad set (second call)
    assert sum(len(v) for v in traced[3]._variants.values()) == 2


def test_lr_schedule_changes_lr_mid_run():
    data = _data((8, 12))
    # the same step as test_mlp_sgd_momentum (lr is a runtime input): one compile serves both
    make = lambda p: jg.optim.SGD(p, lr=0.2, momentum=0.9, weight_decay=1e-3)
    sched = lambda o: jg.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.1)
    eager = _run(mlp, make, data, sched=sched)
    traced = _run(mlp, make, data, {}, sched=sched)
    _compare(eager, traced)
    assert traced[3].stats["captures"] == 1  # lr is a runtime input: no retrace


def test_changed_lr_is_never_ignored():
    jg.manual_seed(0)
    w = jg.randn(5, requires_grad=True)
    opt = jg.optim.SGD([w], lr=0.1)

    @jg.trace
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    for _ in range(3):
        step()
    before = w.detach().numpy().copy()
    opt.param_groups[0]["lr"] = 0.0
    step()
    np.testing.assert_array_equal(w.detach().numpy(), before)


def test_eval_mode_retraces():
    jg.manual_seed(0)
    model = bn_dropout()

    @jg.trace
    def fwd(x):
        with jg.no_grad():
            return model(x)

    x = jg.randn(8, 12)
    for _ in range(3):
        fwd(x)
    model.eval()
    a = fwd(x)
    b = fwd(x)
    c = fwd(x)
    with jg.no_grad():
        ref = model(x)
    np.testing.assert_allclose(c.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), a.numpy())
    assert fwd.stats["captures"] == 2


def test_state_visible_to_eager_code_between_calls():
    jg.manual_seed(0)
    model = mlp()
    # test_mlp_sgd_momentum's optimizer and loss: the same compiled step (a disk-cache hit)
    make = _sgd_momentum()
    opt = make(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    data = _data((8, 12))

    @jg.trace
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(4):
        step(*data[i % 3])
    sd = copy.deepcopy(model.state_dict())
    w0 = model[0].weight.detach().numpy().copy()
    step(*data[0])
    assert not np.array_equal(model[0].weight.detach().numpy(), w0)
    assert model[0].weight.grad is not None and model[0].weight.grad.shape == (16, 12)
    # loading a state dict back between calls is seen by the compiled step; so are the
    # momentum buffers the compiled steps wrote (copied into the twin's optimizer)
    model.load_state_dict(sd)
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), w0)
    twin = copy.deepcopy(model)
    twin_opt = make(twin.parameters())
    twin_opt.load_state_dict(opt.state_dict())
    assert len(twin_opt.state) == len(list(twin.parameters()))
    twin_opt.zero_grad()
    loss_fn(twin(data[1][0]), data[1][1]).backward()
    twin_opt.step()
    compiled = step.stats["compiled_calls"]
    step(*data[1])
    assert step.stats["compiled_calls"] == compiled + 1  # the step after loading is compiled
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
