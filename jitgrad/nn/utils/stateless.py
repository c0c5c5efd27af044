"""``nn.utils.stateless.functional_call``: call a module with other parameters and buffers.

The given tensors are swapped into the modules' ``_parameters``/``_buffers`` (or set as plain
attributes for names the module does not have) for the call and swapped back afterwards."""

import contextlib
import warnings

from ...tensor import Tensor


def _untie(module, given):
    """``given`` extended to every name of a tied tensor (one given value per tied group)."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    groups = {}
    for name, t in named.items():
        groups.setdefault(id(t), set()).add(name)
    out = dict(given)
    for names in groups.values():
        if len(names) < 2:
            continue
        hit = sorted(n for n in names if n in given)
        if not hit:
            continue
        if any(given[n] is not given[hit[0]] for n in hit):
            raise ValueError(
                f"functional_call got multiple values for keys {hit}, which are tied. "
                "Consider using tie_weights=False"
            )
        for n in names:
            out[n] = given[hit[0]]
    return out


def _owner(module, name):
    *path, leaf = name.split(".")
    for p in path:
        module = getattr(module, p)
    return module, leaf


def _swap(module, name, value):
    """Put ``value`` at ``name``; return a callable that undoes it."""
    mod, leaf = _owner(module, name)
    for store in (mod._parameters, mod._buffers):
        if leaf in store:
            old = store[leaf]
            store[leaf] = value

            def undo(store=store, old=old):
                store[leaf] = old

            return undo
    missing = object()
    old = mod.__dict__.get(leaf, missing)
    object.__setattr__(mod, leaf, value)

    def undo_attr():
        if old is missing:
            del mod.__dict__[leaf]
        else:
            object.__setattr__(mod, leaf, old)

    return undo_attr


@contextlib.contextmanager
def _reparametrize(module, tensors, tie_weights=True, strict=False):
    tensors = _untie(module, tensors) if tie_weights else dict(tensors)
    if strict:
        have = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        have |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        unexpected = sorted(set(tensors) - have)
        missing = sorted(have - set(tensors))
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(
                f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs)
            )
    undo = []
    try:
        for name, value in tensors.items():
            undo.append(_swap(module, name, value))
        yield
    finally:
        for u in reversed(undo):
            u()


def _functional_call(module, tensors, args=None, kwargs=None, *, tie_weights=True, strict=False):
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, tensors, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def functional_call(
    module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False
):
    """``module(*args, **kwargs)`` with ``parameters_and_buffers`` (name -> tensor) in place of
    its own (deprecated in torch 2.0 for ``jitgrad.func.functional_call``)."""
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be "
        "removed in a future version of PyTorch. Please use `torch.func.functional_call` "
        "instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    for k, v in parameters_and_buffers.items():
        if not isinstance(v, Tensor) and v is not None:
            raise TypeError(
                f"functional_call: parameters_and_buffers[{k!r}] is a {type(v).__name__}, "
                "expected a Tensor"
            )
    return _functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )
