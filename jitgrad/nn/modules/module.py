"""``nn.Module``: the base class holding parameters, buffers and submodules by attribute."""

import warnings
from collections import OrderedDict, namedtuple

import numpy as np

from ... import _dtype
from ..._grad_mode import STATE, no_grad
from ..._trace_hooks import hooks_changed, note
from ...tensor import Tensor
from ..parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """``load_state_dict``'s result; prints ``<All keys matched successfully>`` when empty."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _type_name(v):
    if isinstance(v, Tensor):
        return f"jitgrad.{type(v).__name__}"
    return type(v).__name__


class _RemovableHandle:
    _next_id = 0

    def __init__(self, store, *extra):
        self._store = store
        self._extra = extra  # torch's extra dicts: with_kwargs / always_call flags by hook id
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1
        hooks_changed()

    def remove(self):
        self._store.pop(self.id, None)
        for d in self._extra:
            d.pop(self.id, None)
        hooks_changed()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# hooks every module runs (``nn.modules.module.register_module_forward_(pre_)hook``)
_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_always_called = OrderedDict()


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` before every module's forward (before the module's own hooks)."""
    h = _RemovableHandle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[h.id] = hook
    return h


def register_module_forward_hook(hook, *, always_call=False):
    """``hook(module, args, output)`` after every module's forward (before its own hooks)."""
    h = _RemovableHandle(_global_forward_hooks, _global_forward_hooks_always_called)
    _global_forward_hooks[h.id] = hook
    if always_call:
        _global_forward_hooks_always_called[h.id] = True
    return h


class Module:
    """Base class for all neural-network modules; subclasses define ``forward``.

    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.fc = nn.Linear(2, 1)
    ...     def forward(self, x):
    ...         return self.fc(x)
    """

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments; Module.__init__ "
                "takes none (call super().__init__() before assigning attributes)"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()  # id -> hook, as torch (tutorials iterate it)
        d["_forward_hooks_with_kwargs"] = OrderedDict()  # id -> True
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()

    def forward(self, *input):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # ---- registration --------------------------------------------------------------
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    def register_parameter(self, name, param):
        """Add a Parameter (or None) under ``name``."""
        self._check_init("parameter")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_type_name(param)}' object to parameter '{name}' "
                "(jitgrad.nn.Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                "created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a non-trainable tensor (e.g. running statistics) saved in the state_dict."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_type_name(tensor)}' object to buffer '{name}' "
                "(jitgrad Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        """Add a child module under ``name`` (``None`` allowed)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_type_name(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter `{name}`")
        return mod._parameters[name]

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")

        def _remove_from(*dicts):
            for dd in dicts:
                if name in dd:
                    if dd is d:
                        del d[name]
                    else:
                        del dd[name]

        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(d, self._buffers, self._modules)
            self._non_persistent_buffers_set.discard(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as parameter '{name}' "
                    "(jitgrad.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if "_modules" not in d:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(d, self._parameters, self._buffers)
            self._non_persistent_buffers_set.discard(name)
            self._modules[name] = value
        elif "_modules" in d and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as child module '{name}' "
                    "(jitgrad.nn.Module or None expected)"
                )
            self._modules[name] = value
        elif "_buffers" in d and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as buffer '{name}' "
                    "(jitgrad.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            s = self.__dict__.get(store)
            if s is not None and name in s:
                del s[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(k for k in keys if not k[0].isdigit()))

    # ---- traversal -----------------------------------------------------------------
    def _named_members(self, get, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, mod in mods:
            for k, v in get(mod):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (mod_prefix + ("." if mod_prefix else "") + k, v)

    def parameters(self, recurse=True):
        """Iterator over parameters (each shared one once), submodules included by default."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """``(dotted_name, Parameter)`` pairs, e.g. ``('features.0.weight', ...)``."""
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate and id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    # ---- modes and gradients -------------------------------------------------------
    def train(self, mode=True):
        """Set training mode on this module and every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        """Evaluation mode (Dropout off, BatchNorm uses running stats); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (freeze with ``False``); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset parameter gradients to None (or to zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                with no_grad():
                    g.zero_()

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- dtype / device --------------------------------------------------------------
    def _apply_tensors(self, fn):
        for m in self.modules():
            for _k, p in m._parameters.items():
                if p is None:
                    continue
                new = fn(p)
                if new is not p:
                    with no_grad():
                        p.data = new
                    if p._grad is not None:
                        p._grad = fn(p._grad)
            for k, b in m._buffers.items():
                if b is not None:
                    m._buffers[k] = fn(b)
        return self

    def to(self, *args, **kwargs):
        """``module.to(jitgrad.float64)`` converts floating parameters and buffers in place."""
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if a is None:
                continue
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (_dtype.DType, np.dtype, type)) or (
                isinstance(a, str) and a in _dtype._NAMES
            ):
                dtype = a
            elif isinstance(a, bool):
                continue  # positional non_blocking
            else:
                from ..._devices import check_device

                check_device(a, "Module.to")
        if dtype is None:
            return self
        npdt = _dtype.to_np(dtype)
        if npdt.kind != "f":
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}"
            )
        return self._apply_tensors(lambda t: t.to(npdt) if t._data.dtype.kind == "f" else t)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        return self.to(np.float16)

    def type(self, dst_type):
        return self.to(dst_type)

    def cpu(self):
        return self

    def cuda(self, device=None):
        """Refuses like a CPU-only PyTorch (eager modules live on the CPU)."""
        from ..._devices import check_device

        check_device("cuda" if device is None or isinstance(device, int) else device, "cuda")
        return self

    def to_empty(self, *, device=None, recurse=True):
        """Parameters and buffers keep their values (jitgrad has no meta device)."""
        return self.to(device) if device is not None else self

    def share_memory(self):
        return self

    def get_buffer(self, target):
        """The buffer at the dotted path ``target``."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path) if mod_path else self
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    def set_submodule(self, target, module, strict=False):
        """Replace (or add) the submodule at the dotted path ``target``."""
        mod_path, _, name = target.rpartition(".")
        parent = self.get_submodule(mod_path) if mod_path else self
        if strict and name not in parent._modules:
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        parent.add_module(name, module)

    def compile(self, *args, **kwargs):
        """``torch.compile`` in place: a no-op with a warning (use ``jitgrad.trace``)."""
        import warnings

        warnings.warn(
            "Module.compile() leaves the module eager; compile a training step with "
            "@jitgrad.trace instead",
            UserWarning,
            stacklevel=2,
        )

    def bfloat16(self):
        raise NotImplementedError("bfloat16 is out of jitgrad's scope (NumPy has no bfloat16)")

    def get_extra_state(self):
        raise RuntimeError("Module has no extra state")

    # ---- state dict ----------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An ordered dict name → tensor of parameters and persistent buffers (detached)."""
        if args:
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        hooks = self.__dict__.get("_state_dict_hooks_", {})
        for hook in list(hooks.get("pre", {}).values()):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in list(hooks.get("post", {}).values()):
            r = hook(self, destination, prefix, {"version": getattr(type(self), "_version", 1)})
            if r is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _state_dict_hook(self, kind, hook):
        d = self.__dict__.setdefault("_state_dict_hooks_", {}).setdefault(kind, OrderedDict())
        h = _RemovableHandle(d)
        d[h.id] = hook
        return h

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` before ``state_dict`` saves this module."""
        return self._state_dict_hook("pre", hook)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` after this module's entries
        (and its children's) are in ``state_dict``; it may edit it in place."""
        return self._state_dict_hook("post", hook)

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before this module's entries are loaded."""
        return self._state_dict_hook("load_pre", hook)

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded everything and
        before its strict check: editing ``incompatible_keys``' lists changes what raises."""
        return self._state_dict_hook("load_post", hook)

    def _load_from_state_dict(self, state_dict, prefix, missing, unexpected, errors, assign):
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local = {
            k: v
            for k, v in list(self._parameters.items()) + list(persistent.items())
            if v is not None
        }
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            src = state_dict[key]
            if not isinstance(src, Tensor):
                if isinstance(src, np.ndarray):
                    from ...creation import tensor

                    src = tensor(src)
                else:
                    errors.append(
                        f'While copying the parameter named "{key}", expected jitgrad.Tensor '
                        f"or Tensor-like object from checkpoint but received {type(src)}"
                    )
                    continue
            if tuple(src.shape) != tuple(param.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {src.shape} from "
                    f"checkpoint, the shape in current model is {param.shape}."
                )
                continue
            try:
                with no_grad():
                    if assign and name in self._parameters:
                        new = (
                            src
                            if isinstance(src, Parameter)
                            else Parameter(src.detach(), requires_grad=param.requires_grad)
                        )
                        self._parameters[name] = new
                    elif assign:
                        self._buffers[name] = src
                    else:
                        param.copy_(src)
            except Exception as e:  # dtype problems etc.: report like torch, then go on
                errors.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {param.shape} and whose dimensions in the checkpoint are {src.shape}, "
                    f"an exception occurred : {e.args}."
                )
        for key in state_dict:
            if key.startswith(prefix):
                rest = key[len(prefix) :]
                head = rest.split(".", 1)[0]
                if head not in self._modules and rest not in local:
                    if rest in self._parameters or (
                        rest in self._buffers and rest not in self._non_persistent_buffers_set
                    ):
                        continue  # a None parameter/buffer: nothing to load
                    unexpected.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy tensors from ``state_dict`` into parameters and buffers (in place).

        With ``strict=True`` missing or unexpected keys raise ``RuntimeError`` naming them;
        shape mismatches always raise. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        keys = _IncompatibleKeys(missing, unexpected)
        post = []

        def load(module, prefix=""):
            hooks = module.__dict__.get("_state_dict_hooks_", {})
            for hook in list(hooks.get("load_pre", {}).values()):
                hook(module, state_dict, prefix, {}, strict, missing, unexpected, errors)
            module._load_from_state_dict(state_dict, prefix, missing, unexpected, errors, assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")
            post.extend((module, h) for h in hooks.get("load_post", {}).values())

        load(self)
        for module, hook in post:
            if hook(module, keys) is not None:
                raise RuntimeError("load_state_dict post-hook must return None")
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected)
                    ),
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing)
                    ),
                )
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(errors)
                )
            )
        return keys

    # ---- calling -----------------------------------------------------------------
    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` after forward; a non-None return replaces output.
        ``always_call=True``: also called (with output None) when forward raises."""
        always = self.__dict__.setdefault("_forward_hooks_always_called", OrderedDict())
        h = _RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs, always)
        self._forward_hooks[h.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        if always_call:
            always[h.id] = True
        if prepend:
            self._forward_hooks.move_to_end(h.id, last=False)
        return h

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` before forward; a non-None return replaces the args."""
        h = _RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[h.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(h.id, last=False)
        return h

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` when the gradients w.r.t. the module's
        tensor inputs are computed; a non-None return replaces ``grad_input``."""
        return self._add_hook("_backward_hooks", hook, prepend)

    def register_backward_hook(self, hook):
        """Legacy name; behaves as ``register_full_backward_hook`` (grad_input is with respect
        to the module's inputs, not to its last operation as PyTorch's legacy hook was)."""
        return self._add_hook("_backward_hooks", hook, False)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` before the module's gradients are computed; a non-None
        return replaces ``grad_output``."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    def _add_hook(self, store, hook, prepend):
        d = self.__dict__.setdefault(store, OrderedDict())
        h = _RemovableHandle(d)
        d[h.id] = hook
        if prepend:
            d.move_to_end(h.id, last=False)
        return h

    def __call__(self, *args, **kwargs):
        if STATE.tracer is not None:  # a traced step: training, attributes, hooks are guarded
            note(self)
        d = self.__dict__
        bw = d.get("_backward_hooks") or d.get("_backward_pre_hooks")
        if (
            not self._forward_pre_hooks
            and not self._forward_hooks
            and not bw
            and not _global_forward_pre_hooks
            and not _global_forward_hooks
        ):
            return self.forward(*args, **kwargs)
        kw_pre = d.get("_forward_pre_hooks_with_kwargs", ())
        pre = list(_global_forward_pre_hooks.items()) + list(self._forward_pre_hooks.items())
        for k, hook in pre:
            if k in kw_pre:
                r = hook(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {r}."
                        )
                    args, kwargs = r
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        bw = bw and STATE.enabled  # no graph under no_grad: nothing to hook (as torch)
        if bw:
            args, state = _backward_inputs(self, args)
        kw_post = d.get("_forward_hooks_with_kwargs", ())
        post = list(_global_forward_hooks.items()) + list(self._forward_hooks.items())
        try:
            out = self.forward(*args, **kwargs)
        except BaseException:
            always = {
                **_global_forward_hooks_always_called,
                **d.get("_forward_hooks_always_called", {}),
            }
            for k, hook in post:  # torch: always_call hooks still run (output None), then raise
                if k in always:
                    try:
                        hook(self, args, kwargs, None) if k in kw_post else hook(self, args, None)
                    except Exception:
                        pass
            raise
        for k, hook in post:
            r = hook(self, args, kwargs, out) if k in kw_post else hook(self, args, out)
            if r is not None:
                out = r
        if bw:
            out = _backward_outputs(self, out, state)
        return out

    # ---- printing ------------------------------------------------------------------
    def extra_repr(self):
        """The text inside ``Name(...)``; layers override it with their settings."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for key, m in self._modules.items():
            mod_str = _addindent(repr(m), 2)
            lines.append("(" + key + "): " + mod_str)
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


class _BackwardState:
    """One call's gradients in one backward pass: grad_output (after the pre-hooks), then
    grad_input per input. Each backward pass through the call (retain_graph) starts afresh."""

    def __init__(self, n_in):
        self.initial = [None] * n_in  # zeros for tensor inputs that need no gradient
        self.n_need = 0  # inputs that need a gradient
        self.run = None
        self.start(None)

    def start(self, run):
        self.run = run
        self.grad_output = None
        self.grad_input = list(self.initial)
        self.pending = self.n_need


def _backward_inputs(module, args):
    """Identity views of the tensor inputs that need gradients, with hooks that collect them."""
    from ...tensor import Tensor

    st = _BackwardState(len([a for a in args if isinstance(a, Tensor)]))
    new = []
    k = 0
    for a in args:
        if isinstance(a, Tensor):
            if a.requires_grad:
                v = a.view_as(a)
                st.n_need += 1
                v.register_hook(_input_hook(module, st, k))
                new.append(v)
            else:
                new.append(a)
            k += 1
        else:
            new.append(a)
    if st.n_need:  # torch: tensor inputs that need no gradient get zeros beside the others
        from ...creation import zeros_like

        k = 0
        for a in args:
            if isinstance(a, Tensor):
                if not a.requires_grad:
                    st.initial[k] = zeros_like(a)
                k += 1
    st.start(None)
    return tuple(new), st


def _input_hook(module, st, k):
    def hook(g):
        st.grad_input[k] = g
        st.pending -= 1
        if st.pending == 0:
            gi = _call_backward_hooks(module, tuple(st.grad_input), st.grad_output)
            if gi is not None:
                return gi[k]
        return None

    return hook


def _hook_result(r, n, what):
    """A backward (pre-)hook's non-None return as a tuple of ``n`` gradients (torch's check)."""
    r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
    if len(r) != n:
        raise RuntimeError(
            f"Backward {what} returned an invalid number of grad_"
            f"{'input' if what == 'hook' else 'output'}, got {len(r)}, but expected {n}"
        )
    return r


def _call_backward_hooks(module, grad_input, grad_output):
    replaced = None
    for h in list(module.__dict__.get("_backward_hooks", {}).values()):
        r = h(module, grad_input, grad_output)
        if r is not None:
            replaced = grad_input = _hook_result(r, len(grad_input), "hook")
    return replaced


def _backward_outputs(module, out, st):
    """The outputs through two identity views each: hooks on the inner ones see grad_output.

    torch runs the pre-hooks once, on all of grad_output together, with None for an output
    that got no gradient. The engine runs nodes newest first and the inner views are older
    than the outer ones, so when the first inner view runs, every output's gradient is
    complete (user hooks on the returned tensors included): its hook reads the others'
    from the engine, runs the pre-hooks, and each inner view passes on its slot.
    """
    from ...autograd.engine import current_run, pending_grad, send_grad
    from ...ops.registry import label
    from ...tensor import Tensor

    outs = out if isinstance(out, tuple) else (out,)
    tens = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
    if not tens:
        return out
    inner = [o.view_as(o) for o in tens]

    def make(i):
        def hook(g):
            run = current_run()
            if st.run is not run:  # the first output gradient of this pass: all are known now
                st.start(run)
                got = tuple(g if j == i else pending_grad(v._grad_fn) for j, v in enumerate(inner))
                go = got
                for h in list(module.__dict__.get("_backward_pre_hooks", {}).values()):
                    r = h(module, go)
                    if r is not None:
                        go = _hook_result(r, len(go), "pre hook")
                st.grad_output = go
                for j, v in enumerate(inner):
                    if got[j] is None and go[j] is not None:  # a pre-hook gave it one
                        send_grad(v._grad_fn, go[j])
                if st.pending == 0 and module.__dict__.get("_backward_hooks"):
                    warnings.warn(
                        "Full backward hook is firing when gradients are computed with respect "
                        "to module outputs since no inputs require gradients. See "
                        "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                        "#torch.nn.Module.register_full_backward_hook for more details.",
                        stacklevel=2,
                    )
                    _call_backward_hooks(module, tuple(st.grad_input), go)
            r = st.grad_output[i]
            if r is None:  # a pre-hook dropped it: zeros flow on, as in torch
                from ...creation import zeros_like

                r = zeros_like(g)
            return r

        return hook

    shown = []
    for i, v in enumerate(inner):
        v.register_hook(make(i))
        w = v.view_as(v)
        shown.append(label(w, "BackwardHookFunctionBackward"))
    it = iter(shown)
    new = [next(it) if isinstance(o, Tensor) and o.requires_grad else o for o in outs]
    return tuple(new) if isinstance(out, tuple) else new[0]


__all__ = ["Module"]
