"""The ``Optimizer`` base class: parameter groups, per-parameter state, state dicts.

Updates are in-place jitgrad tensor ops run under ``no_grad`` so that ``jitgrad.trace``
records them as state updates. Hyperparameters a user or a scheduler may change between
steps are read through ``scalar_input`` (a Python number eagerly, a runtime 0-d input
under a tracer); plain Python values decide only the structure (``if momentum != 0``).
"""

import copy
import functools
import warnings
from collections import defaultdict

from .._grad_mode import no_grad
from .._trace_hooks import note, scalar_input
from ..tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def hp(group, key):
    """The hyperparameter ``group[key]``: a number eagerly, a traced 0-d input under a tracer."""
    return scalar_input(group, key)


class _BetasView:
    """``view['beta1']`` reads ``group['betas'][0]`` at every access, so a tracer can re-read it."""

    __slots__ = ("group",)

    def __init__(self, group):
        self.group = group

    def __getitem__(self, key):
        return self.group["betas"][0 if key == "beta1" else 1]


def betas(group):
    """``(beta1, beta2)`` of a group, each readable as a runtime input of a traced step."""
    view = _BetasView(group)
    return scalar_input(view, "beta1"), scalar_input(view, "beta2")


def scale(x, s):
    """``x * s``, skipping the multiply when ``s`` is the Python number 1."""
    if isinstance(s, (int, float)) and s == 1:
        return x
    return x * s


def is_zero(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0


def check_nonneg(name, value, label=None):
    if isinstance(value, Tensor):
        return
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label or name}: {value}")


def check_unit(name, value, label=None):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {label or name}: {value} (expected a value in [0, 1))")


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``; subclasses implement ``step``.

    >>> opt = jitgrad.optim.SGD(model.parameters(), lr=0.1)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    # PyTorch's implementation switches (foreach, fused, ...): kept in every param group so
    # state dicts carry PyTorch's keys; jitgrad has one implementation and ignores them
    _flags = {}
    _key_order = ()  # PyTorch's order of the group keys (state dicts and repr show it)

    def __init_subclass__(cls, **kwargs):
        # every optimizer's step() (user subclasses too) marks the optimizer as stepped, so an
        # lr scheduler stepped first can give torch's "before `optimizer.step()`" warning
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_marks_opt_called", False):

            @functools.wraps(step)
            def marked(self, *args, **kw):
                self._opt_called = True
                return step(self, *args, **kw)

            marked._marks_opt_called = True
            cls.step = marked

    def __init__(self, params, defaults):
        full = dict(defaults)
        for k, v in self._flags.items():
            full.setdefault(k, v)
        if self._key_order:
            ordered = {k: full[k] for k in self._key_order if k in full}
            ordered.update((k, v) for k, v in full.items() if k not in ordered)
            full = ordered
        self.defaults = full
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {params.type()}; wrap it in a list: [tensor]"
            )
        if isinstance(params, dict):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got a dict; pass model.parameters() or a list of group dicts"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            if i:
                lines.append("")  # torch separates the groups by an empty line
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group):
        """Add a group ``{'params': [...], 'lr': ...}``; missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        ids = [id(p) for p in param_group["params"]]
        if len(set(ids)) != len(ids):  # PyTorch warns and updates such a tensor twice
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error (each copy is updated at every step: pass each "
                "tensor once)",
                UserWarning,
                stacklevel=3,
            )
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to ``None`` (default) or to zeros in place."""
        note(self)  # under a trace: param_groups and hyperparameters become guards
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    with no_grad():
                        g = p.grad
                        if g.grad_fn is not None:
                            g = g.detach()
                            p.grad = g
                        g.zero_()

    def _params_with_grad(self, group):
        """The group's parameters that received a gradient (others are skipped)."""
        return [p for p in group["params"] if p.grad is not None]

    def _run_step(self, closure, update):
        note(self)
        loss = None
        if closure is not None:
            from .._grad_mode import enable_grad

            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                update(group)
        return loss

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__}.step() is not implemented")

    # ---- state dicts -------------------------------------------------------------------
    def state_dict(self):
        """torch's layout: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [i]}]}``."""
        index = {}
        groups = []
        start = 0
        for g in self.param_groups:
            for i, p in enumerate(g["params"], start):
                index.setdefault(id(p), i)
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in g["params"]]
            start += len(g["params"])
            groups.append(packed)
        state = {index[id(p)]: v for p, v in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and buffers saved by ``state_dict`` (copies the tensors)."""
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise ValueError(
                "load_state_dict: expected a dict with 'state' and 'param_groups' "
                "(the result of optimizer.state_dict())"
            )
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)} saved, {len(groups)} in this optimizer)"
            )
        for g, sg in zip(groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of "
                    f"optimizer's group ({len(sg['params'])} saved vs {len(g['params'])})"
                )
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for old, p in zip(sg["params"], g["params"]):
                id_map[old] = p
        saved_state = state_dict.get("state", {})
        self.state = defaultdict(dict)
        for k, v in saved_state.items():
            key = int(k)
            if key not in id_map:
                continue
            p = id_map[key]
            self.state[p] = {name: _cast_state(p, name, value) for name, value in v.items()}
        for g, sg in zip(groups, saved_groups):
            for k, v in sg.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}


def _cast_state(p, name, value):
    if isinstance(value, Tensor):
        if name == "step":  # the step counter keeps its own dtype (float32), like torch
            return value.detach().clone()
        if value.is_floating_point():
            return value.detach().to(p.dtype).clone()
        return value.detach().clone()
    return copy.deepcopy(value)
