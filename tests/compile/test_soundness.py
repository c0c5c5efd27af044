"""A traced step never silently differs from eager: each program runs eagerly and traced for
8 calls, with a change between calls (freeze a layer, eval(), a new optimizer, a global...),
and every call's outputs, parameters, gradients, optimizer state and Python-visible values
must match, or the traced run must raise ``jitgrad.TraceError``.

The programs are ordinary training code. Most use the reference backend (the guards, replays
and write-backs under test are the front end's; the reference backend has no compile time),
a few the numba CPU backend.
"""

import math
import operator
import re
import types

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn

CALLS = 8


class Env:
    """What a program builds: the step, its arguments per call, the changes between calls."""

    def __init__(self, step, args=None, change=None, state=None, **kw):
        self.step = step
        self.args = args or (lambda i: ())
        self.change = change or (lambda i: None)
        self.state = state or (lambda: {})
        self.__dict__.update(kw)


def _values(obj, rg=True):
    """Comparable copies: arrays for tensors, recursively through containers. A returned
    tensor's requires_grad is not compared (a compiled step returns values, not graphs)."""
    if isinstance(obj, jg.Tensor):
        return ("T", obj._data.copy(), obj.requires_grad if rg else None)
    if isinstance(obj, dict):
        return {k: _values(v, rg) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_values(v, rg) for v in obj)
    if isinstance(obj, (int, float, bool, str, type(None))):
        return obj
    return type(obj).__name__  # modules and other objects: each run has its own


def _assert_same(a, b, where, rtol, atol):
    if isinstance(a, tuple) and a and a[0] == "T":
        assert isinstance(b, tuple) and b and b[0] == "T", f"{where}: tensor vs {b!r}"
        assert a[1].shape == b[1].shape, f"{where}: shape {a[1].shape} vs {b[1].shape}"
        if a[1].dtype.kind == "f":
            np.testing.assert_allclose(a[1], b[1], rtol=rtol, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a[1], b[1], err_msg=where)
        assert a[2] == b[2], f"{where}: requires_grad {a[2]} vs {b[2]}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]", rtol, atol)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]", rtol, atol)
    else:
        assert a == b, f"{where}: {a!r} eager vs {b!r} traced"


def model_state(model, opt=None):
    """Parameters, their .grad, buffers, training flags and optimizer buffers."""
    out = {}
    for name, p in model.named_parameters():
        out[name] = p
        out[name + ".grad"] = p.grad
    for name, b in model.named_buffers():
        out[name] = b
    out["training"] = [m.training for m in model.modules()]
    if opt is not None:
        for i, st in enumerate(opt.state.values()):
            out[f"opt{i}"] = {k: v for k, v in st.items()}
        out["groups"] = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return out


def run(build, traced, calls=CALLS, **trace_kw):
    """[(output, state)] per call; the traced run stops at a TraceError (returned last)."""
    jg.manual_seed(0)
    env = build()
    step = jg.trace(env.step, backend=trace_kw.pop("backend", "reference"), **trace_kw)
    fn = step if traced else env.step
    jg.manual_seed(1)
    res = []
    for i in range(calls):
        env.change(i)
        args = env.args(i)
        try:
            out = fn(*args)
        except jg.TraceError as e:
            if not traced:
                raise
            res.append(e)
            break
        res.append((_values(out, False), _values(args), _values(env.state())))
    return res, step if traced else None


def check(build, must_compile=False, rtol=1e-5, atol=1e-6, **trace_kw):
    """Traced equals eager call by call, or raised TraceError; returns the traced function."""
    eager, _ = run(build, False)
    traced, step = run(build, True, **dict(trace_kw))
    for i, t in enumerate(traced):
        if isinstance(t, jg.TraceError):
            assert not must_compile, f"call {i}: {t}"
            assert "traced" in str(t) or "trace" in str(t)
            return step
        _assert_same(eager[i], t, f"call {i}", rtol, atol)
    assert len(traced) == len(eager)
    if must_compile:
        assert step.stats["compiled_calls"] > 0, step.stats
    return step


def mlp(drop=0.0):
    layers = [nn.Linear(4, 6), nn.ReLU()]
    if drop:
        layers.append(nn.Dropout(drop))
    return nn.Sequential(*layers, nn.Linear(6, 3))


def _batch(i):
    r = np.random.default_rng(i % 3)
    return jg.tensor(r.standard_normal((5, 4)), dtype=jg.float32), jg.tensor(r.integers(0, 3, 5))


def train_env(model_fn=mlp, opt_fn=None, change=None, loss_extra=None):
    model = model_fn()
    opt = (opt_fn or (lambda ps: jg.optim.SGD(ps, lr=0.1)))(model.parameters())
    holder = Env(None, model=model, opt=opt)

    def step(x, y):
        holder.opt.zero_grad()
        loss = nn.functional.cross_entropy(holder.model(x), y)
        if loss_extra is not None:
            loss = loss + loss_extra(holder)
        loss.backward()
        holder.opt.step()
        return loss

    holder.step = step
    holder.args = _batch
    holder.change = lambda i: change(i, holder) if change else None
    holder.state = lambda: model_state(holder.model, holder.opt)
    return holder


# ---------------------------------------------------------------- the patterns ----
def test_freeze_and_unfreeze_a_layer():
    def change(i, e):
        if i in (3, 6):
            for p in e.model[0].parameters():
                p.requires_grad_(i == 6)

    s = check(lambda: train_env(change=change), must_compile=True)
    assert "requires_grad" in s.explain()


@pytest.mark.parametrize("reach", ["attribute", "argument", "method", "module_method"])
def test_eval_seen_however_the_model_is_reached(reach):
    def build():
        model = mlp(drop=0.5)
        opt = jg.optim.SGD(model.parameters(), lr=0.1)

        def change(i):
            if i == 3:
                model.eval()
            if i == 6:
                model.train()

        if reach == "argument":

            def step(m, x, y):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
                return loss

            return Env(step, lambda i: (model, *_batch(i)), change, lambda: model_state(model))

        class Trainer:
            def __init__(self):
                self.model, self.opt = model, opt

            def step(self, x, y):
                self.opt.zero_grad()
                loss = nn.functional.cross_entropy(self.model(x), y)
                loss.backward()
                self.opt.step()
                return loss

        if reach == "module_method":

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = model

                def train_step(self, x, y):
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(self.body(x), y)
                    loss.backward()
                    opt.step()
                    return loss

            net = Net()
            return Env(net.train_step, _batch, change, lambda: model_state(model))
        t = Trainer()
        if reach == "attribute":
            return Env(lambda x, y: t.step(x, y), _batch, change, lambda: model_state(model))
        return Env(t.step, _batch, change, lambda: model_state(model))

    check(build, must_compile=True)


def test_in_place_writes_to_arguments_are_written_back():
    def build():
        w = jg.randn(4, requires_grad=True)

        def step(x, z):
            x.mul_(2)
            z[0] = 0.0
            loss = (w * x).sum() + z.sum()
            return loss

        return Env(step, lambda i: (jg.randn(4), jg.randn(3)), state=lambda: {"w": w})

    check(build, must_compile=True)


def test_hook_with_a_python_side_effect_is_refused():
    norms = []

    def build():
        norms.clear()
        e = train_env()
        e.model[0].weight.register_hook(lambda g: norms.append(1) or g)
        return e

    check(build)
    with pytest.raises(jg.TraceError, match="norms"):
        f = jg.trace(build().step, backend="reference")
        for i in range(3):
            f(*_batch(i))


def test_in_place_write_through_a_view_of_an_argument():
    def build():
        def step(x):
            x[:, 0].mul_(2.0)
            return x.sum()

        return Env(step, lambda i: (jg.randn(3, 2),))

    check(build, must_compile=True)


def test_in_place_write_to_a_non_contiguous_argument():
    def build():
        def step(x):
            x.add_(1.0)
            return x.sum()

        return Env(step, lambda i: (jg.randn(4, 3).t(),))

    check(build, must_compile=True)


@pytest.mark.parametrize(
    "what",
    ["weight_decay", "momentum", "nesterov", "maximize", "dampening", "lr_tensor", "lr_zero"],
)
def test_optimizer_hyperparameters_changed_after_capture(what):
    def change(i, e):
        g = e.opt.param_groups[0]
        if i == 3:
            if what == "weight_decay":
                g["weight_decay"] = 0.1
            elif what == "momentum":
                g["momentum"] = 0.9
            elif what == "nesterov":
                g["nesterov"] = True
            elif what == "maximize":
                g["maximize"] = True
            elif what == "dampening":
                g["dampening"] = 0.5
            elif what == "lr_tensor":
                g["lr"] = jg.tensor(0.05)
            elif what == "lr_zero":
                g["lr"] = 0.0
        if i == 6 and what == "lr_tensor":
            g["lr"] = jg.tensor(0.2)

    mom = 0.5 if what in ("nesterov", "dampening") else 0
    make = lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=mom)
    check(lambda: train_env(opt_fn=make, change=change), must_compile=True)


@pytest.mark.parametrize("opt_name", ["adam_amsgrad", "adamw_wd", "rmsprop", "adagrad"])
def test_other_optimizers_branch_flags(opt_name):
    def make(ps):
        if opt_name == "adam_amsgrad":
            return jg.optim.Adam(ps, lr=0.01, amsgrad=True)
        if opt_name == "adamw_wd":
            return jg.optim.AdamW(ps, lr=0.01, weight_decay=0.0)
        if opt_name == "rmsprop":
            return jg.optim.RMSprop(ps, lr=0.01, momentum=0.9)
        return jg.optim.Adagrad(ps, lr=0.1)

    def change(i, e):
        g = e.opt.param_groups[0]
        if i == 3:
            if opt_name == "adam_amsgrad":
                g["amsgrad"] = False
            elif opt_name == "adamw_wd":
                g["weight_decay"] = 0.1
            elif opt_name == "rmsprop":
                g["momentum"] = 0.0
            else:
                g["weight_decay"] = 0.1

    check(lambda: train_env(opt_fn=make, change=change), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("what", ["add_param_group", "load_state_dict", "new_optimizer"])
def test_optimizer_replaced_or_restructured(what):
    def build():
        extra = jg.randn(3, requires_grad=True)

        def change(i, e):
            if i == 3 and what == "add_param_group":
                e.opt.add_param_group({"params": [extra], "lr": 0.5})
            if i == 3 and what == "load_state_dict":
                e.saved = e.opt.state_dict()
            if i == 5 and what == "load_state_dict":
                e.opt.load_state_dict(e.saved)
            if i == 3 and what == "new_optimizer":
                e.opt = jg.optim.SGD(e.model.parameters(), lr=0.3, momentum=0.9)

        e = train_env(
            opt_fn=lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9),
            change=change,
            loss_extra=lambda h: (extra * extra).sum(),
        )
        state = e.state
        e.state = lambda: {**state(), "extra": extra, "extra.grad": extra.grad}
        return e

    check(build, must_compile=True)


class _LeakyAct(nn.ReLU):
    def forward(self, x):
        return nn.functional.leaky_relu(x, 0.5)


@pytest.mark.parametrize(
    "what",
    [
        "replace_layer",
        "dropout_p",
        "tensor_hook",
        "module_hook",
        "instance_forward",
        "class_forward",
    ],
)
def test_model_changed_after_capture(what):
    def change(i, e):
        m = e.model
        if what == "replace_layer" and i == 3:
            m[3] = nn.Linear(6, 3)
        if what == "instance_forward" and i == 3:  # monkeypatched on the instance
            m[1].forward = lambda x: x * 2
        if what == "class_forward" and i == 3:  # a class with another forward
            m[1].__class__ = _LeakyAct
        if what == "dropout_p" and i == 3:
            m[2].p = 0.9
        if what == "tensor_hook":
            if i == 2:
                e.h = m[0].weight.register_hook(lambda g: g * 3)
            if i == 5:
                e.h.remove()
        if what == "module_hook":
            if i == 2:
                e.h = m[1].register_forward_hook(lambda mod, a, out: out * 2)
            if i == 5:
                e.h.remove()

    check(lambda: train_env(model_fn=lambda: mlp(drop=0.3), change=change), must_compile=True)


def test_a_new_optimizer_each_phase_keeps_compiling():
    def change(i, e):
        e.opt = jg.optim.SGD(e.model.parameters(), lr=0.1 / (i + 1), momentum=0.9)

    s = check(lambda: train_env(change=change), max_variants=2)
    assert len(s._variants) <= 2  # stale variants (old optimizers) were dropped


def test_user_module_attributes_read_by_forward():
    class Block(nn.Module):
        GAIN = 1.0

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.act = jg.tanh
            self.scale = 1.0
            self.dims = [0]

        def forward(self, x):
            return self.act(self.fc(x)).sum(self.dims) * self.scale * self.GAIN

    def build():
        Block.GAIN = 1.0
        m = Block()

        def step(x):
            return m(x).sum()

        def change(i):
            if i == 3:
                m.act = jg.sigmoid
            if i == 5:
                m.scale = 2.0
            if i == 6:
                m.dims.append(1)
            if i == 7:
                Block.GAIN = 3.0

        return Env(step, lambda i: (jg.randn(2, 4),), change, lambda: model_state(m))

    check(build, must_compile=True)


def test_no_warmup_call_state_created_while_recording():
    make = lambda ps: jg.optim.Adam(ps, lr=0.01)
    s = check(lambda: train_env(opt_fn=make), rtol=1e-4, warmup=0)
    assert s.stats["compiled_calls"] > 0


def test_scheduler_step_inside_the_step():
    def build():
        e = train_env(opt_fn=lambda ps: jg.optim.SGD(ps, lr=0.2, momentum=0.9))
        sched = jg.optim.lr_scheduler.StepLR(e.opt, step_size=2, gamma=0.5)
        inner = e.step

        def step(x, y):
            loss = inner(x, y)
            sched.step()
            return loss

        e.step = step
        state = e.state
        e.state = lambda: {**state(), "epoch": sched.last_epoch, "last": sched.get_last_lr()}
        return e

    s = check(build, must_compile=True)
    assert s.stats["captures"] == 1


SCALE = 1.0
W_GLOBAL = None
COUNTER = 0
HISTORY = []


def _reset_globals():
    global SCALE, W_GLOBAL, COUNTER
    SCALE, COUNTER = 1.0, 0
    W_GLOBAL = jg.randn(4, requires_grad=True)
    HISTORY.clear()


@pytest.mark.parametrize("what", ["float", "tensor_of_float", "reassigned_tensor"])
def test_python_globals_read_by_the_step(what):
    def build():
        _reset_globals()

        def step(x):
            if what == "float":
                return (W_GLOBAL * x * SCALE).sum()
            if what == "tensor_of_float":
                return (W_GLOBAL * x * jg.tensor(SCALE)).sum()
            return (W_GLOBAL * x).sum()

        def change(i):
            global SCALE, W_GLOBAL
            if i in (3, 5):
                SCALE = SCALE * 2.0
            if what == "reassigned_tensor" and i == 4:
                W_GLOBAL = jg.randn(4, requires_grad=True)

        return Env(step, lambda i: (jg.randn(4),), change, lambda: {"w": W_GLOBAL})

    check(build, must_compile=True)


def test_closure_value_and_helper_function_globals():
    def helper(x):
        return x * SCALE

    def build():
        _reset_globals()
        cfg = {"k": 2.0}

        def step(x):
            return helper(x * cfg["k"]).sum()

        def change(i):
            global SCALE
            if i == 3:
                cfg["k"] = 5.0
            if i == 5:
                SCALE = 3.0

        return Env(step, lambda i: (jg.randn(4),), change)

    check(build, must_compile=True)


@pytest.mark.parametrize("where", ["closure", "global"])
def test_class_attributes_read_by_the_step(where):
    """``Config.scale``-style settings on a class (not an instance): changed between calls,
    and a class-level counter the step itself advances (that one never compiles)."""

    def build():
        class Config:
            scale = 1.0

        cfg = Config if where == "closure" else _GlobalConfig
        cfg.scale, cfg.calls = 1.0, 0

        def step(x):
            cfg.calls += 1 if x.shape[0] == 5 else 0
            return (x * cfg.scale * (1.0 + cfg.calls if x.shape[0] == 5 else 1.0)).sum()

        def change(i):
            if i == 3:
                cfg.scale = 4.0

        return Env(step, lambda i: (jg.randn(4 if i < 6 else 5),), change, lambda: {"n": cfg.calls})

    check(build, must_compile=True)


class _Slots:
    __slots__ = ("scale",)

    def __init__(self):
        self.scale = 1.0


class _Prop:
    def __init__(self):
        self._s = self._g = self._h = 1.0
        self._v = self._a = self._d = 1.0  # each read by one case only
        self._table = np.ones(3)

    def __getitem__(self, key):
        return self._h

    @property
    def scale(self):
        return self._s


class _Scaled(nn.Module):
    def __init__(self, via_property):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self._s, self.via_property = 1.0, via_property

    @property
    def scale(self):
        return self._s

    def forward(self, x):  # a module-level setting read by forward only
        return self.lin(x) * (self.scale if self.via_property else self._s) * _FORWARD["k"]


_FORWARD = {"k": 1.0}


READS = [
    "slots",
    "property",
    "module_property",
    "module_private",
    "lambda",
    "listcomp",
    "genexpr",
    "argument",
    "getattr",
    "getitem",
    "ndarray",
    "forward_global",
    "vars",
    "attrgetter",
    "attrgetter_dotted",
    "itemgetter",
]


@pytest.mark.parametrize("how", READS)
def test_python_numbers_read_however_the_step_reaches_them(how):
    """A setting changed between calls is guarded whether the step reads it through a
    __slots__ field, a property, a module's private attribute, or inside a lambda, a
    comprehension or a generator expression (nested code)."""

    def build():
        obj = _Slots() if how == "slots" else _Prop()
        _FORWARD["k"] = 1.0
        model = _Scaled(how == "module_property")
        ns = types.SimpleNamespace(s=1.0)
        holder = types.SimpleNamespace(obj=obj)
        table = {"k": 1.0}
        get = {
            "attrgetter": operator.attrgetter("_a"),
            "attrgetter_dotted": operator.attrgetter("obj._d"),
            "itemgetter": operator.itemgetter("k"),
        }.get(how)

        def step(x, cfg):
            if how in ("slots", "property"):
                k = obj.scale
            elif how == "lambda":
                k = (lambda: obj._s)()
            elif how == "listcomp":
                k = sum([obj._s for _ in range(2)]) / 2
            elif how == "genexpr":
                k = sum(obj._s for _ in range(2)) / 2
            elif how == "argument":
                k = sum(cfg.s for _ in range(2)) / 2
            elif how == "getattr":
                k = getattr(obj, "_g", 0.0)  # read nowhere else in this code
            elif how == "getitem":
                k = obj["scale"]
            elif how == "ndarray":  # a NumPy table written in place between calls
                k = float(obj._table[1])
            elif how == "vars":
                k = vars(obj)["_v"]
            elif how == "attrgetter":
                k = get(obj)
            elif how == "itemgetter":
                k = get(table)
            elif how == "attrgetter_dotted":
                k = get(holder)
            else:
                k = 1.0
            return (model(x) * k).sum()

        def change(i):
            if i == 3:
                if how == "slots":
                    obj.scale = 3.0
                elif how.startswith("module"):
                    model._s = 3.0
                elif how == "argument":
                    ns.s = 3.0
                elif how == "ndarray":
                    obj._table[1] = 3.0
                elif how == "forward_global":
                    _FORWARD["k"] = 3.0
                elif how == "itemgetter":
                    table["k"] = 3.0
                else:  # only the attribute this case reads (others are guarded anyway)
                    attr = {"getattr": "_g", "getitem": "_h", "vars": "_v", "attrgetter": "_a"}
                    setattr(obj, attr.get(how, "_d" if how == "attrgetter_dotted" else "_s"), 3.0)

        return Env(step, lambda i: (jg.randn(2, 4), ns), change, lambda: model_state(model))

    check(build, must_compile=True)


def test_a_big_numpy_array_read_by_the_step_warns(monkeypatch):
    from jitgrad.compile import guards

    monkeypatch.setattr(guards, "ARRAY_GUARD_MAX", 4)
    table = np.arange(5.0)

    def step(x):
        return (x * float(table[2])).sum()

    f = jg.trace(step, backend="reference")
    with pytest.warns(RuntimeWarning, match=r"NumPy array\(s\) table \(float64 \[5\]\)"):
        for _ in range(3):
            f(jg.ones(2))
    assert "(not guarded): table (float64 [5]): its values" in f.explain()


CHANGED_EVERY_CALL = ["ndarray_in_place", "tensor_rebound", "tensor_new_shape",
                      "tensor_new_dtype", "index_tensor_rebound"]  # fmt: skip


@pytest.mark.parametrize("what", CHANGED_EVERY_CALL)
def test_values_the_step_reads_changed_before_every_call(what):
    """A NumPy array written in place, or a dict entry rebound to another tensor (same shape,
    another shape, another dtype, an index tensor), before *every* call, the first two
    included (the warm-up and the recording call see different values): each call matches
    eager. The tensors used to reach `old != new` in the capture's comparison (an elementwise
    result: "Boolean value of Tensor ... is ambiguous"), and the array was compared with
    itself, so the capture said a constant changed "with the same inputs"."""

    def build():
        table = np.ones(3, np.float32)
        box = {"x": jg.ones(3), "i": jg.tensor([0, 1])}
        w = jg.tensor(np.linspace(1.0, 2.0, 5), dtype=jg.float32, requires_grad=True)

        def step():
            w.grad = None
            if what == "ndarray_in_place":
                y = (w[:3] * jg.tensor(table)).sum()
            elif what == "index_tensor_rebound":
                y = w[box["i"]].sum() * 2
            else:
                y = (w[:3] * box["x"][:3]).sum()
            y.backward()
            return y, w.grad

        def change(i):
            if what == "ndarray_in_place":
                table[i % 3] = i + 5.0
            elif what == "tensor_rebound":
                box["x"] = jg.full((3,), float(i))
            elif what == "tensor_new_shape":
                box["x"] = jg.full((3 + i % 2,), float(i))
            elif what == "tensor_new_dtype":
                box["x"] = jg.full((3,), float(i), dtype=jg.float64 if i % 2 else jg.float32)
            else:
                box["i"] = jg.tensor([i % 5, (i + 2) % 5])

        return Env(step, change=change, state=lambda: {"w": w})

    step = check(build)
    assert sum(step.stats.values()) == CALLS, step.stats  # no TraceError: every call ran


@pytest.mark.parametrize("second_backward", [False, True])
def test_retained_grad_of_an_intermediate_is_computed_every_call(second_backward):
    """``h.retain_grad(); ...; return h.grad``: the retained gradient was a copy the tracer
    never saw (a compiled call returned the capture's value); a second backward through
    part of the graph crashed the capture."""

    def build():
        model = nn.Linear(3, 2)

        def step(x):
            h = model(x)
            h.retain_grad()
            loss = (h**2).sum()
            loss.backward(retain_graph=second_backward)
            if second_backward:
                (h * 3).sum().backward()
            return loss, h.grad

        return Env(step, lambda i: (jg.randn(2, 3),), state=lambda: model_state(model))

    check(build, must_compile=True)


class _GlobalConfig:
    scale, calls = 1.0, 0


def test_partial_of_a_function_reading_a_global():
    import functools

    def build():
        _reset_globals()

        def step(model, x):
            return (model(x) * SCALE).sum()

        model = mlp(drop=0.5)
        f = functools.partial(step, model)

        def change(i):
            global SCALE
            if i == 3:
                SCALE = 4.0
            if i == 5:
                model.eval()

        return Env(f, lambda i: (jg.randn(2, 4),), change, lambda: model_state(model))

    check(build, must_compile=True)


def test_tensor_of_a_traced_tensor():
    def build():
        w = jg.randn(3, requires_grad=True)

        def step(x):
            y = (w * x).sum()
            c = jg.tensor(y * 2)  # a detached copy of a traced value
            return y + c

        return Env(step, lambda i: (jg.randn(3),))

    check(build, must_compile=True)


@pytest.mark.parametrize(
    "what",
    [
        "multinomial",
        "multinomial_noreplace",
        "randperm",
        "randint",
        "bernoulli",
        "normal",
        "rand_like",
        "uniform_",
    ],
)
def test_random_ops_draw_like_eager(what):
    def build():
        def step(p):
            if what == "multinomial":
                return jg.multinomial(p, 6, replacement=True)
            if what == "multinomial_noreplace":
                return jg.multinomial(p, 3)
            if what == "randperm":
                return jg.randperm(5) + p.argmax()
            if what == "randint":
                return jg.randint(0, 10, (4,)) * 2
            if what == "bernoulli":
                return jg.bernoulli(p)
            if what == "normal":
                return jg.normal(p, 1.0)
            if what == "rand_like":
                return jg.rand_like(p) * p
            return p.clone().uniform_(-1, 1)

        return Env(step, lambda i: (jg.softmax(jg.randn(2, 4), -1),))

    check(build, must_compile=True)


def test_multinomial_samples_the_distribution():
    jg.manual_seed(0)
    p = jg.tensor([0.1, 0.2, 0.0, 0.7])
    freq = np.bincount(jg.multinomial(p, 20000, replacement=True).numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.0, 0.7], atol=0.015)
    rows = jg.multinomial(jg.ones(500, 5), 5).numpy()
    assert all(sorted(r) == [0, 1, 2, 3, 4] for r in rows)
    first = np.bincount(jg.multinomial(p.expand(4000, 4), 1).numpy()[:, 0], minlength=4) / 4000
    np.testing.assert_allclose(first, [0.1, 0.2, 0.0, 0.7], atol=0.03)
    with pytest.raises(RuntimeError, match="without replacement"):
        jg.multinomial(p, 5)


def test_manual_seed_inside_the_step():
    def build():
        def step(x):
            jg.manual_seed(7)
            return x + jg.randn(3)

        return Env(step, lambda i: (jg.randn(3),))

    check(build, must_compile=True)


def test_non_tensor_return_value_and_side_effects():
    def build_counter():
        _reset_globals()

        def step(x):
            global COUNTER
            COUNTER += 1
            return (x * 2).sum(), COUNTER

        return Env(step, lambda i: (jg.randn(3),), state=lambda: {"counter": COUNTER})

    def build_append():
        _reset_globals()

        def step(x):
            y = (x * 2).sum()
            HISTORY.append(1)
            return y

        return Env(step, lambda i: (jg.randn(3),), state=lambda: {"n": len(HISTORY)})

    def build_unseen():
        import itertools

        ticks = itertools.count()

        def step(x):
            return x.sum(), next(ticks)

        return Env(step, lambda i: (jg.randn(3),))

    def build_clock():
        import itertools

        ticks = itertools.count()

        def step(x):  # a Python value the guards cannot see, baked into a constant
            return x * jg.tensor(float(next(ticks)))

        return Env(step, lambda i: (jg.randn(3),))

    for b in (build_counter, build_append, build_unseen, build_clock):
        check(b)
    with pytest.raises(jg.TraceError, match="built from Python data"):
        f = jg.trace(build_clock().step, backend="reference")
        for _ in range(3):
            f(jg.randn(3))
    with pytest.raises(jg.TraceError, match="HISTORY.*this call ran eagerly to its end"):
        _reset_globals()
        f = jg.trace(build_append().step, backend="reference")
        for _ in range(3):
            f(jg.randn(3))
    assert len(HISTORY) == 2  # the warm-up and the refused capture call both ran
    with pytest.raises(jg.TraceError, match="non-tensor value"):
        f = jg.trace(build_unseen().step, backend="reference")
        for _ in range(3):
            f(jg.randn(3))


def test_module_attribute_set_by_the_step_is_replayed():
    def build():
        model = mlp(drop=0.5)

        def step(x):
            model.train()
            a = model(x).sum()
            model.eval()  # leaves the model in eval mode, like the eager step
            return a + model(x).sum()

        return Env(step, lambda i: (jg.randn(2, 4),), state=lambda: model_state(model))

    check(build, must_compile=True)


def _transpose_first_weight(i, e):
    if i == 3:
        w = e.model[0].weight
        w.data = jg.tensor(w.detach().numpy().T.copy()).t()


def test_non_contiguous_state():
    s = check(lambda: train_env(change=_transpose_first_weight), must_compile=True)
    assert "non-contiguous" in s.explain()


def test_non_contiguous_state_on_the_cpu_backend_runs_compiled():
    """Strided state runs in the compiled code (C copies written back), not an interpreter."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = check(
            lambda: train_env(change=_transpose_first_weight), must_compile=True, backend="cpu"
        )
    assert "fallbacks: none" in s.explain()


def test_global_changing_every_call_warns_naming_it():
    _reset_globals()

    def step(x):
        return (x * SCALE).sum()

    f = jg.trace(step, backend="reference", max_variants=2)
    with pytest.warns(RuntimeWarning, match="SCALE"):
        for i in range(8):
            globals()["SCALE"] = float(i)
            np.testing.assert_allclose(f(jg.ones(2)).numpy(), 2.0 * i)


def test_python_rng_and_clock_inside_the_step_warn():
    import random
    import time

    def step(x):
        return x * random.random() + time.perf_counter() * 0

    f = jg.trace(step, backend="reference")
    with pytest.warns(RuntimeWarning, match=r"random\.random.*time\.perf_counter"):
        for _ in range(3):
            f(jg.randn(2))


def test_changing_non_tensor_argument_warns():
    f = jg.trace(lambda x, k: x * k, backend="reference", max_variants=3)
    with pytest.warns(RuntimeWarning, match="changes at every call"):
        for i in range(8):
            f(jg.randn(2), float(i))


# ---------------------------------------------------------------- patterns that work -----
def test_no_grad_blocks_and_train_eval_inside_and_retain_graph():
    def build():
        model = mlp(drop=0.2)
        w = jg.randn(6, 3, requires_grad=True)

        def step(x):
            with jg.no_grad():
                model.eval()
                ref = model(x)
                model.train()
            h = model(x)
            loss = ((h - ref) ** 2).mean() + (x @ w[:4]).sum() * 0.01
            loss.backward(retain_graph=True)
            loss.backward()
            return loss

        return Env(
            step, lambda i: (jg.randn(3, 4),), state=lambda: {**model_state(model), "w": w.grad}
        )

    check(build, must_compile=True)


@pytest.mark.parametrize("what", ["zero_grad_in_place", "clip", "accumulate", "batchnorm"])
def test_training_patterns(what):
    def build():
        model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
        opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            if what == "zero_grad_in_place":
                opt.zero_grad(set_to_none=False)
            elif what != "accumulate":
                opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            if what == "clip":
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            if what != "accumulate":
                opt.step()
            return loss

        def change(i):
            if what == "accumulate" and i % 2 == 0:
                opt.step()
                opt.zero_grad()

        return Env(step, _batch, change, lambda: model_state(model, opt))

    check(build, must_compile=True)


def test_custom_function_and_slice_writes_on_state():
    class Square(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    def build():
        w = jg.randn(4, requires_grad=True)
        buf = jg.zeros(3, 4)

        def step(x):
            loss = Square.apply(w * x).sum()
            loss.backward()
            with jg.no_grad():
                buf[0] = w.grad
                buf[1:] += 1.0
                w.sub_(w.grad * 0.1)
            w.grad = None
            return loss

        return Env(step, lambda i: (jg.randn(4),), state=lambda: {"w": w, "buf": buf})

    check(build, must_compile=True)


def test_dropout_rng_on_the_cpu_backend():
    check(lambda: train_env(model_fn=lambda: mlp(drop=0.4)), must_compile=True, backend="cpu")


def test_check_names_the_owner_path():
    jg.manual_seed(0)
    model = mlp()
    opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    f = jg.trace(step, backend="reference", check=True)
    for i in range(3):
        f(*_batch(i))
    v = f.last
    real = v.exe.run

    def wrong(arrays):  # a wrong kernel: the first layer's update is off
        outs = real(arrays)
        w = model[0].weight
        w._data += 1.0
        return outs

    v.exe.run = wrong
    with pytest.raises(jg.compile.TraceCheckError, match=r"model\.0\.weight"):
        f(*_batch(0))
    s = f.explain()
    assert "guards" in s and "model.0.weight" in s and "fallbacks" in s
    assert "runtime inputs" in s and "['lr']" in s


G_VALUE = 2.0
_G_SEQUENCE = [2.0, math.nan, math.inf, -math.inf, -0.0, 0.0, 3, 3.0, True]


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_global_number_guards_keep_nan_inf_zero_sign_and_type(backend):
    """A global that becomes NaN/inf stays compiled (its guard holds); -0.0 after 0.0, 3
    after 3.0 and True after 1 each retrace: they are different programs (sign of the
    result, dtype promotion). Traced equals eager bit for bit and dtype for dtype."""
    global G_VALUE
    x = jg.tensor(np.array([1, -2, 0, 5]))

    def step(x):
        y = x * G_VALUE
        return y, 1.0 / (y.to(jg.float64) - 0.0)

    ts = jg.trace(step, backend=backend, max_variants=len(_G_SEQUENCE))
    for v in _G_SEQUENCE:
        G_VALUE = v
        compiled = ts.stats["compiled_calls"]
        for _ in range(3):
            got = ts(x)
            want = step(x)
            for a, b in zip(got, want):
                assert a.dtype == b.dtype, (v, a.dtype, b.dtype)
                np.testing.assert_array_equal(
                    np.signbit(a.numpy()), np.signbit(b.numpy()), err_msg=repr(v)
                )
                np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=repr(v))
        assert ts.stats["compiled_calls"] > compiled, (v, ts.stats)
    G_VALUE = 2.0


@pytest.mark.parametrize("how", ["clone", "detach"])
def test_leaf_created_inside_the_step_gets_no_grad_guard(how):
    """A gradient penalty: ``x.clone().requires_grad_()`` inside the step is a new leaf at
    every call; its .grad (set by backward) is not state, so the variant keeps holding.
    ``x.detach()`` shares the argument's memory: the same (it was recaptured every call)."""

    def build():
        model = mlp()
        opt = jg.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            x = (x.clone() if how == "clone" else x.detach()).requires_grad_(True)
            loss = jg.nn.functional.cross_entropy(model(x), y)
            (g,) = jg.autograd.grad(loss, x, create_graph=True)
            total = loss + (g**2).sum()
            total.backward()
            opt.step()
            return total

        return Env(step, _batch, state=lambda: model_state(model, opt))

    step = check(build, must_compile=True)
    assert step.stats["captures"] == 1, step.stats


def test_grad_set_outside_a_step_that_clears_it_async():
    """The step ends with ``zero_grad()`` (set_to_none) and the user sets a ``.grad`` between
    calls (accumulate into it): the retrace records a variant whose input ``.grad`` is gone
    by the time the async compile asks for its arrays. It must not fail, and match eager."""

    def build():
        model = mlp()
        opt = jg.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            loss = jg.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        def change(i):
            if i in (3, 5):
                model[0].weight.grad = jg.ones(6, 4)

        return Env(step, _batch, change, state=lambda: model_state(model, opt))

    step = check(build, async_compile=True)
    assert step.stats["captures"] >= 2, step.stats


@pytest.mark.parametrize("where", ["after_forward", "after_step"])
def test_capture_that_fails_half_way_leaves_nothing_changed(where):
    """A ``.item()`` inside the step is refused at the capture call; by then the call had
    updated BatchNorm statistics (and, at the end, parameters, momentum, .grad and the
    random generator): all of it is put back, so the refused call changed nothing."""
    jg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3))
    opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        if where == "after_forward":
            loss.item()
        loss.backward()
        opt.step()
        if where == "after_step":
            loss.item()
        return loss

    traced = jg.trace(step, backend="reference")
    x = jg.randn(5, 4)
    traced(x)  # the warm-up call runs eagerly (and creates the momentum buffers)

    def state():
        arrays = [t.detach().numpy().copy() for t in model.state_dict().values()]
        arrays += [p.grad.numpy().copy() for p in model.parameters()]
        arrays += [s["momentum_buffer"].numpy().copy() for s in opt.state.values()]
        return arrays + [jg.rand(3).numpy()]

    rng = jg.get_rng_state()
    before = state()
    jg.set_rng_state(rng)
    grads = [p.grad for p in model.parameters()]
    with pytest.raises(jg.TraceError, match=r"\.item\(\).*tensors it had updated in place"):
        traced(x)
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))  # same .grad objects
    for a, b in zip(state(), before):
        np.testing.assert_array_equal(a, b)


class _Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("edit", ["append", "delete"])
def test_children_added_or_removed_after_capture(container, edit):
    """A forward that iterates its children (Sequential, a ModuleList in a loop) runs a new
    set of modules when one is appended or deleted: the variant must not keep running."""

    def change(i, env):
        if i != 3:
            return
        seq = env.model if container == "Sequential" else env.model.layers
        if edit == "append":
            seq.append(nn.ReLU())
        else:
            del seq[1]

    model_fn = mlp if container == "Sequential" else _Stack
    step = check(lambda: train_env(model_fn=model_fn, change=change), must_compile=True)
    assert step.stats["captures"] == 2, step.stats


def test_optimizer_state_created_by_a_recording_call():
    """``amsgrad`` switched on after capture: the retrace's recording call creates
    ``max_exp_avg_sq``; a variant recorded from that call would rebuild it from zeros at every
    call (plain Adam). The next call records again, with the new entry as state."""

    def change(i, env):
        if i == 2:
            env.opt.param_groups[0]["amsgrad"] = True

    make = lambda ps: jg.optim.Adam(ps, lr=0.05, betas=(0.5, 0.6))  # noqa: E731
    step = check(lambda: train_env(opt_fn=make, change=change), must_compile=True)
    assert step.stats["state_created"] == 1, step.stats


def test_length_of_a_list_the_step_reads():
    """The step loops over a list of tensors that the program extends between calls (a list
    of objects is guarded by its length; a list of numbers by its values)."""
    scales = []

    def build():
        scales[:] = [jg.tensor(1.0)]
        env = train_env(loss_extra=lambda h: sum(s * h.model[0].weight.sum() for s in scales))
        env.change = lambda i: scales.append(jg.tensor(0.5)) if i == 3 else None
        return env

    step = check(build, must_compile=True)
    assert step.stats["captures"] == 2, step.stats


# ---------------------------------------------------------------- value checks ----------------
def _bce(x, y):
    return nn.functional.binary_cross_entropy(x.sigmoid() * y.abs().clamp(max=2), y.clamp(0, 1))


def _bce_target(x, y):
    return nn.functional.binary_cross_entropy(x.sigmoid(), y)


def _gauss(x, y):
    return nn.functional.gaussian_nll_loss(x, x.detach() * 0.5, y)


def _bern(x, y):
    return (x * jg.bernoulli(y)).sum()


def _normal(x, y):
    return (x * jg.normal(x.detach(), y)).sum()


def _int_div(x, y):
    q = jg.div(jg.full((5,), 7, dtype=jg.int64), y.long(), rounding_mode="floor")
    return (x * q.float()).sum()


def _unpool(x, y):
    idx = (y.long() + jg.arange(5) * 2).reshape(1, 1, 5, 1)  # into a (5, 2) output
    out = nn.functional.max_unpool2d(x.reshape(1, 1, 5, 1), idx, (1, 2))
    return (out * out).sum()


def _one_hot(x, y):
    return (x * nn.functional.one_hot(y.long(), 5).float().sum(0)).sum()


def _multinomial(x, y):
    i = jg.multinomial(y, 2)  # negative weights, or too few non-zero ones without replacement
    return (x * nn.functional.one_hot(i, 5).sum(0).float()).sum()


# (loss, good y, bad y, error class, eager's message)
VALUE_CHECKS = {
    "bce_input": (_bce, [0.5] * 5, [0.5, 0.5, 1.9, 0.5, 0.5], RuntimeError, "input should be"),
    "bce_target": (_bce_target, [0, 1, 1, 0, 1], [0, 1, 1.5, 0, 1], RuntimeError, "target should"),
    "gaussian_var": (_gauss, [1.0] * 5, [1, 1, -1, 1, 1], ValueError, "var has negative"),
    "bernoulli_p": (_bern, [0.5] * 5, [0.5, 0.5, 1.5, 0.5, 0.5], RuntimeError, "between 0 and 1"),
    "normal_std": (_normal, [1.0] * 5, [1, 1, -1, 1, 1], RuntimeError, "std >= 0.0"),
    "int_div_zero": (_int_div, [2.0] * 5, [2, 2, 0, 2, 2], RuntimeError, "division by zero"),
    "unpool_index": (_unpool, [0.0] * 5, [0, 0, 9, 0, 0], RuntimeError, "invalid max index"),
    "one_hot_class": (_one_hot, [0, 1, 4, 2, 3], [0, 1, 5, 2, 3], RuntimeError, "smaller than"),
    "one_hot_negative": (_one_hot, [0, 1, 4, 2, 3], [0, -1, 4, 2, 3], RuntimeError, "non-negat"),
    "multinomial_weight": (_multinomial, [1] * 5, [1, 1, -1, 1, 1], RuntimeError, "element < 0"),
    "multinomial_few": (_multinomial, [1] * 5, [0, 0, 0, 0, 1], RuntimeError, "not enough"),
}


@pytest.mark.parametrize(
    "case,backend",
    [(c, "reference") for c in VALUE_CHECKS] + [("bce_input", "cpu")],
)
def test_value_checks_run_in_every_compiled_call(case, backend):
    """Eager mode raises for values out of an op's domain (BCE's probabilities, a variance, a
    divisor); the compiled step makes the same check at every call (``ops.reduce.require``)
    before it writes anything: the bad call raises eager mode's error and leaves parameters,
    optimizer state and .grad as they were. Before, only the capture call checked; later
    compiled calls returned NaN (or a wrong quotient) and trained on it."""
    loss_fn, good, bad, err, msg = VALUE_CHECKS[case]
    jg.manual_seed(0)
    w = jg.ones(5, requires_grad=True)
    opt = jg.optim.SGD([w], lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(x * w, y)
        loss.backward()
        opt.step()
        return loss

    traced = jg.trace(step, backend=backend)
    x = jg.tensor([0.1, -0.2, 0.3, 0.4, -0.5])
    yg, yb = jg.tensor(good, dtype=jg.float32), jg.tensor(bad, dtype=jg.float32)
    for _ in range(3):
        traced(x, yg)
    assert traced.stats["compiled_calls"] >= 1
    before = [w.detach().numpy().copy(), w.grad.numpy().copy()]
    before.append(opt.state[w]["momentum_buffer"].numpy().copy())
    calls = traced.stats["compiled_calls"]
    with pytest.raises(err, match=msg) as compiled_err:
        traced(x, yb)
    assert traced.stats["compiled_calls"] == calls + 1  # the compiled call made the check
    after = [w.detach().numpy(), w.grad.numpy(), opt.state[w]["momentum_buffer"].numpy()]
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
    traced(x, yg)  # and the step goes on compiled
    assert traced.stats["compiled_calls"] == calls + 2
    with pytest.raises(err) as eager_err:
        step(x, yb)
    num = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")  # the offending value (w moved since)
    assert num.sub("#", str(compiled_err.value)) == num.sub("#", str(eager_err.value))


def test_clip_grad_norm_error_if_nonfinite_checks_every_compiled_call():
    """``clip_grad_norm_(error_if_nonfinite=True)`` traces (its check was a Python ``bool``
    of the norm: a TraceError) and every compiled call raises eager's error on an infinite
    norm, leaving the parameters as they were."""
    lin = nn.Linear(3, 1)
    opt = jg.optim.SGD(lin.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        lin(x).sum().backward()
        norm = nn.utils.clip_grad_norm_(lin.parameters(), 1.0, error_if_nonfinite=True)
        opt.step()
        return norm

    traced = jg.trace(step, backend="reference")
    for _ in range(3):
        norm = traced(jg.ones(2, 3))
    assert traced.stats["compiled_calls"] == 1
    np.testing.assert_allclose(norm.item(), np.sqrt(4 * 3 + 4), rtol=1e-6)  # |[2,2,2,2]|
    w = lin.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        traced(jg.tensor([[np.inf, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    assert traced.stats["compiled_calls"] == 2
    np.testing.assert_array_equal(lin.weight.detach().numpy(), w)


def test_one_hot_with_inferred_classes_is_refused_under_trace():
    """``one_hot(t)`` takes its width from the largest value: a compiled step would keep the
    capture's width for every later call. Refused with the fix named."""
    f = jg.trace(lambda y: nn.functional.one_hot(y).sum(0), backend="reference")
    with pytest.raises(jg.TraceError, match="one_hot\\(num_classes=-1\\).*Pass num_classes"):
        for _ in range(3):
            f(jg.tensor([0, 2]))


def test_distribution_argument_checks_run_in_every_compiled_call():
    """``Normal(loc, scale)`` validates its arguments (PyTorch's default ``validate_args``):
    a compiled call with a negative scale raises eager mode's ValueError and updates
    nothing, like the eager step; the sample's support check of ``log_prob`` too."""
    jg.manual_seed(0)
    w = jg.zeros(3, requires_grad=True)
    opt = jg.optim.SGD([w], lr=0.1)

    def step(scale, a):
        opt.zero_grad()
        d = jg.distributions.Normal(w, scale)
        b = jg.distributions.Bernoulli(probs=jg.sigmoid(w))
        loss = -(d.log_prob(a).sum() + b.log_prob(a.clamp(max=1)).sum())
        loss.backward()
        opt.step()
        return loss

    traced = jg.trace(step, backend="reference")
    good, a = jg.ones(3), jg.tensor([1.0, 0.0, 1.0])
    for _ in range(3):
        traced(good, a)
    calls = traced.stats["compiled_calls"]
    assert calls >= 1
    before = w.detach().numpy().copy()
    with pytest.raises(ValueError, match="Expected parameter scale") as err:
        traced(jg.tensor([1.0, -1.0, 1.0]), a)
    assert "GreaterThan" in str(err.value) or "positive" in str(err.value)
    np.testing.assert_array_equal(w.detach().numpy(), before)
    with pytest.raises(ValueError, match="within the support"):
        traced(good, jg.tensor([1.0, 0.5, 1.0]))  # Bernoulli's support is {0, 1}
    np.testing.assert_array_equal(w.detach().numpy(), before)
    assert traced.stats["compiled_calls"] == calls + 2


# ops whose result NumPy computes from the values: recorded as graph ops (run at every call)
VALUE_OPS = {
    "histc": lambda x: jg.histc(x, bins=4),  # the range is the data's
    "histc_range": lambda x: jg.histc(x, bins=4, min=-2, max=2),
    "searchsorted": lambda x: jg.searchsorted(jg.tensor([-1.0, 0.0, 1.0]), x).float(),
    "bucketize": lambda x: jg.bucketize(x, jg.tensor([-1.0, 0.0, 1.0]), right=True).float(),
    "cummax": lambda x: jg.cummax(x, 0)[0] + jg.cummax(x, 0)[1],
    "cummin": lambda x: jg.cummin(x, 0)[1].float(),
    "signbit": lambda x: jg.signbit(x).float(),
    "copysign": lambda x: jg.copysign(jg.ones(6), x),
    "gcd": lambda x: jg.gcd((x * 10).long(), jg.tensor(6)).float(),
    "lcm": lambda x: jg.lcm((x * 10).long(), 4).float(),
    "isclose": lambda x: jg.isclose(x, x.round(), atol=0.3).float(),
    "isin": lambda x: jg.isin(x.round(), jg.tensor([0.0, 1.0])).float(),
    "slogdet": lambda x: jg.linalg.slogdet(x[:4].reshape(2, 2))[0],
    "svd_full": lambda x: jg.linalg.svd(x.reshape(2, 3), full_matrices=True)[2].abs(),
}


@pytest.mark.parametrize("op", sorted(VALUE_OPS))
def test_ops_computed_from_the_values_run_at_every_call(op):
    """Each of these computed its result in NumPy from the input's values and wrapped it: a
    traced step baked the capture's histogram / insertion indices / signs into the graph and
    returned them for every later input. Now each is a graph op (a NumPy op run every call)."""
    f = VALUE_OPS[op]
    ts = jg.trace(lambda x: f(x), backend="reference")
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = jg.tensor(rng.standard_normal(6))
        np.testing.assert_array_equal(ts(x).numpy(), f(x).numpy())
    assert ts.stats["compiled_calls"] == 3


@pytest.mark.parametrize(
    "op,what",
    [
        (lambda x: jg.unique(x.round()), "unique"),
        (lambda x: jg.unique_consecutive(x.round()), "unique_consecutive"),
        (lambda x: jg.tensor(float(jg.allclose(x, x.round()))), "allclose"),
        (lambda x: jg.tensor(float(jg.equal(x, x.round()))), "equal"),
        (lambda x: jg.poisson(x.abs()), "poisson"),
    ],
)
def test_ops_whose_result_a_graph_cannot_hold_are_refused(op, what):
    """A data-dependent length (unique), a Python bool (allclose, equal) or samples that are
    not replayed (poisson): a TraceError at the capture call, naming the op."""
    ts = jg.trace(lambda x: op(x), backend="reference")
    x = jg.tensor([0.2, 1.4, -0.7, 1.1])
    ts(x)  # the warm-up call runs eagerly
    with pytest.raises(jg.TraceError, match=what):
        ts(x)


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.out = nn.Linear(4, 5, bias=False)
        self.out.weight = self.emb.weight  # weight tying

    def forward(self, x):
        return self.out(self.emb(x).tanh())


def test_untying_a_tied_weight_after_capture():
    """``out.weight`` and ``emb.weight`` were one Parameter when the step was captured; after
    ``model.out.weight = nn.Parameter(...)`` eager mode uses two tensors (and the optimizer
    trains only the embedding). The guard named the tensor by its first path only, so the
    compiled step went on training the tied pair; now every module slot holding a state
    tensor is guarded."""

    def build():
        model = _Tied()
        env = train_env(model_fn=lambda: model)

        def args(i):
            r = np.random.default_rng(i)
            return jg.tensor(r.integers(0, 5, 6)), jg.tensor(r.integers(0, 5, 6))

        def change(i):
            if i == 4:
                model.out.weight = nn.Parameter(model.emb.weight.detach() * 0.5)

        env.args, env.change = args, change
        return env

    step = check(build, must_compile=True)
    assert step.stats["captures"] >= 2


def test_python_numbers_from_an_iterator_or_an_unseen_callable():
    """A number the step takes from a Python generator warns at capture (a compiled call
    replays it); one from a callable jitgrad cannot look into (a C method) that changes
    between the two eager calls is refused, and a retry is checked again, never captured
    unchecked."""
    import itertools

    w = jg.ones(3, requires_grad=True)

    def schedule():
        k = 1.0
        while True:
            yield k
            k *= 0.5

    gen = schedule()
    f = jg.trace(lambda x: (w * x * next(gen)).sum(), backend="reference")
    with pytest.warns(RuntimeWarning, match=r"next\(gen\).*iterators outside"):
        for _ in range(3):
            f(jg.ones(3))

    tick = itertools.count().__next__  # a method-wrapper: no code to scan, no guard
    g = jg.trace(lambda x: (w * x * tick()).sum(), backend="reference")
    assert g(jg.ones(3)).item() == 0.0
    for _ in range(3):  # capture, then a retry: the warm-up again and the capture refused again
        with pytest.raises(jg.TraceError, match=r"Python number in a tensor operation at .*"):
            g(jg.ones(3))
        g(jg.ones(3))
    assert g.stats["compiled_calls"] == 0


@pytest.mark.parametrize("opt", ["sgd_momentum", "adam"])
def test_hyperparameters_changing_between_the_eager_calls_are_not_refused(opt):
    """lr from a scheduler stepped at every call (OneCycleLR-style) is a runtime input: the
    Python numbers the optimizer uses in the warm-up differ from the capture's, and that
    is no reason to refuse the step."""

    def make(ps):
        if opt == "adam":
            return jg.optim.Adam(ps, lr=0.01)
        return jg.optim.SGD(ps, lr=0.1, momentum=0.9)

    def change(i, e):
        for g in e.opt.param_groups:
            g["lr"] = g["lr"] * 0.9

    check(lambda: train_env(opt_fn=make, change=change), must_compile=True)
