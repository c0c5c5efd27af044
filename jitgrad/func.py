"""``jitgrad.func`` (``torch.func``): grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian,
vmap, functional_call, stack_module_state.

Built on the tape engine, not on functorch's levels. ``grad``/``vjp``/``jacrev`` run ``f`` on
fresh differentiable copies of the inputs and call ``autograd.grad``; inside another
differentiating transform, or when an input already requires grad, the backward pass is itself
recorded (``create_graph=True``), so transforms nest (``grad(grad(f))``, ``jacfwd(jacrev(f))``)
and results stay differentiable by ordinary autograd. ``jvp`` uses the double-backward trick
(``J t = d(J^T u . t)/du``, two reverse passes); ``jacfwd`` builds the Jacobian row by row with
reverse mode: both give forward mode's values. ``vmap`` runs ``f`` once per batch element and
stacks the results: torch's values and shapes, at the cost of a Python loop over the batch.
"""

import contextlib

from .autograd.engine import grad as _autograd_grad
from .autograd.functional import jvp_by_double_backward
from .autograd.grad_mode import enable_grad
from .compile.pytree import constants, flatten, shape_of, unflatten
from .tensor import Tensor

__all__ = [
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "jacrev",
    "jacfwd",
    "hessian",
    "vmap",
    "functional_call",
    "stack_module_state",
    "linearize",
    "functionalize",
    "replace_all_batch_norm_modules_",
    "debug_unwrap",
]

_DEPTH = [0]  # differentiating transforms now running (grad, vjp, jacrev, ...)


@contextlib.contextmanager
def _nested():
    _DEPTH[0] += 1
    try:
        with enable_grad():
            yield
    finally:
        _DEPTH[0] -= 1


def _name(f):
    return getattr(f, "__name__", type(f).__name__)


# ---------------------------------------------------------------- arguments ---------------
def _wrap_argnum(a, n):
    if not isinstance(a, int):
        raise RuntimeError(f"argnum must be int, got: {type(a)}")
    if 0 <= a < n:
        return a
    if -n <= a < 0:
        return a + n
    raise RuntimeError(f"Got argnum={a}, but only {n} positional inputs")


def _argnums(argnums, n):
    """``argnums`` checked and wrapped as torch does: a tuple of indices."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return (_wrap_argnum(argnums, n),)
    nums = tuple(_wrap_argnum(a, n) for a in argnums)
    if not nums:
        raise RuntimeError("argnums must be non-empty")
    if len(set(nums)) != len(nums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return nums


def _differentiable(x):
    """A differentiable stand-in for ``x``: a view of it (so outer levels still see through it)
    when ``x`` already requires grad, else a fresh leaf."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if not x.is_floating_point():
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    return x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True)


def _lift(args, nums):
    """``args`` with the pytrees at ``nums`` made differentiable: (new args, their leaves, and
    whether the backward must be recorded)."""
    new, leaves, record = list(args), [], _DEPTH[0] > 1
    for i in nums:
        flat = []
        tree = flatten(args[i], flat)
        for t in flat:
            record = record or t.requires_grad
        for _, v in constants(tree):
            _differentiable(v)  # raises torch's ValueError naming the type (None too)
        lifted = [_differentiable(t) for t in flat]
        leaves.append(lifted)
        new[i] = unflatten(tree, iter(lifted))
    return tuple(new), leaves, record


def _tags(tree):
    tag = tree[0]
    if tag in ("T", "C"):
        yield tag
        return
    for t in tree[2] if tag in ("NT", dict) else tree[1]:
        yield from _tags(t)


def _undo(x, record):
    """Results leave the transform detached unless an outer level differentiates them."""
    if record:
        return x
    flat = []
    tree = flatten(x, flat)
    return unflatten(tree, iter(t.detach() for t in flat))


def _split_aux(out, has_aux, api):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def _grads(outs, leaves, cots, record):
    """``autograd.grad`` with zeros for unused inputs and outputs that need no grad."""
    pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
    if pairs:
        g = _autograd_grad(
            [o for o, _ in pairs],
            leaves,
            [c for _, c in pairs],
            retain_graph=True,
            create_graph=record,
            allow_unused=True,
        )
    else:
        g = (None,) * len(leaves)
    return [x.new_zeros(x.shape) if gi is None else gi for gi, x in zip(g, leaves)]


# ---------------------------------------------------------------- grad ---------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """``f -> (args -> (d f / d args[argnums], f(args)))``; ``f`` returns a scalar Tensor
    (or ``(scalar, aux)`` with ``has_aux``: then ``(grad, (value, aux))``)."""

    def wrapper(*args, **kwargs):
        api = "grad_and_value(f)(*args)"
        nums = _argnums(argnums, len(args))
        with _nested():
            new, leaves, record = _lift(args, nums)
            out, aux = _split_aux(func(*new, **kwargs), has_aux, api)
            if not isinstance(out, Tensor):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                    f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            flat = [t for group in leaves for t in group]
            g = iter(_grads([out], flat, [None], record))
            per = []
            for i in nums:
                tree = flatten(args[i], [])
                per.append(unflatten(tree, g))
            res = per[0] if isinstance(argnums, int) else tuple(per)
        res, out = _undo(res, record), _undo(out, record)
        if has_aux:
            return res, (out, _undo(aux, record))
        return res, out

    wrapper.__name__ = f"grad_and_value({_name(func)})"
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``f -> (args -> d f / d args[argnums])`` for a scalar-valued ``f`` (``(grad, aux)`` with
    ``has_aux``); nests: ``grad(grad(f))``, ``vmap(grad(f))`` for per-sample gradients."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    wrapper.__name__ = f"grad({_name(func)})"
    return wrapper


# ---------------------------------------------------------------- vjp / jacrev ------------
def _check_outputs(out, flat, tree, api):
    if not flat and tree[0] == "C":
        raise RuntimeError(
            f"{api}: Expected f to be a function that has non-empty output (got output = {[out]})"
        )
    for _, v in constants(tree):
        raise RuntimeError(
            f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(v)}"
        )
    for o in flat:
        if not o.is_floating_point():
            raise RuntimeError(
                "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                f"Tensor with dtype {o.dtype}"
            )


def _vjp(func, args, nums, has_aux, api):
    """Run ``func`` on lifted ``args``: (output, its leaves, its tree, lifted leaves, aux,
    record)."""
    with _nested():
        new, leaves, record = _lift(args, nums)
        out, aux = _split_aux(func(*new), has_aux, api)
        flat = []
        tree = flatten(out, flat)
        _check_outputs(out, flat, tree, api)
    return out, flat, tree, leaves, aux, record


def vjp(func, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangents)`` is the tuple of ``cotangents^T J`` per
    primal (``(out, vjp_fn, aux)`` with ``has_aux``)."""
    api = "vjp(f, *primals)"
    out, flat, tree, leaves, aux, record = _vjp(
        func, primals, tuple(range(len(primals))), has_aux, api
    )

    def vjp_fn(cotangents, retain_graph=True, create_graph=None):
        cots = []
        ctree = flatten(cotangents, cots)
        if shape_of(ctree) != shape_of(tree):
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure "
                f"of outputs to the function. cotangents: {_spec(ctree)}, primal output: "
                f"{_spec(tree)}"
            )
        for c, o in zip(cots, flat):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {c.shape} and output[0] "
                    f"has a shape of {o.shape}."
                )
        rec = record or bool(create_graph) or _DEPTH[0] > 0 or any(c.requires_grad for c in cots)
        with enable_grad():
            g = iter(_grads(flat, [t for grp in leaves for t in grp], cots, rec))
            res = tuple(unflatten(flatten(p, []), g) for p in primals)
        return _undo(res, rec)

    out = _undo(out, record)
    if has_aux:
        return out, vjp_fn, _undo(aux, record)
    return out, vjp_fn


def _spec(tree):
    tag = tree[0]
    if tag == "T":
        return "*"
    if tag == "C":
        return repr(tree[1])
    kids = ", ".join(_spec(t) for t in (tree[2] if tag in ("NT", dict) else tree[1]))
    if tag is dict:
        return "{" + ", ".join(f"{k!r}: {_spec(t)}" for k, t in zip(tree[1], tree[2])) + "}"
    if tag is tuple or tag == "NT":
        return f"({kids},)" if len(tree[-1]) == 1 else f"({kids})"
    return f"[{kids}]"


def _jacobian(func, argnums, has_aux, chunk_size, api):
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"{api}: `chunk_size` should be greater than 0.")

    def wrapper(*args):
        nums = _argnums(argnums, len(args))
        out, flat, tree, leaves, aux, record = _vjp(
            func, args, nums, has_aux, f"{api}(f, *primals)"
        )
        from .ops.movement import stack

        prim = [t for grp in leaves for t in grp]
        per_out = []
        with enable_grad():
            for k, o in enumerate(flat):
                rows = []
                for j in range(o.numel()):
                    basis = o.new_zeros(o.numel())
                    basis[j] = 1.0
                    cots = [
                        basis.reshape(o.shape) if m == k else x.new_zeros(x.shape)
                        for m, x in enumerate(flat)
                    ]
                    rows.append(_grads(flat, prim, cots, record))
                jac = []
                for p_i, p in enumerate(prim):
                    if rows:
                        j = stack([r[p_i] for r in rows]).reshape(tuple(o.shape) + tuple(p.shape))
                    else:
                        j = p.new_zeros(tuple(o.shape) + tuple(p.shape))
                    jac.append(_undo(j, record))
                it = iter(jac)
                per_arg = tuple(unflatten(flatten(args[i], []), it) for i in nums)
                per_out.append(per_arg[0] if isinstance(argnums, int) else per_arg)
        res = unflatten(tree, iter(per_out))
        if has_aux:
            return res, _undo(aux, record)
        return res

    wrapper.__name__ = f"{api}({_name(func)})"
    return wrapper


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """``f -> (args -> J)``, the Jacobian of ``f`` w.r.t. ``args[argnums]`` by reverse mode:
    shape ``out.shape + arg.shape`` (nested like the outputs, then like ``argnums``)."""
    return _jacobian(func, argnums, has_aux, chunk_size, "jacrev")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``f -> (args -> J)`` as torch's forward-mode ``jacfwd``: the same Jacobian, computed here
    row by row with reverse mode."""
    _check_randomness(randomness)
    return _jacobian(func, argnums, has_aux, None, "jacfwd")


def hessian(func, argnums=0):
    """``jacfwd(jacrev(func, argnums), argnums)``: shape ``arg.shape + arg.shape``."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------- jvp ----------------------
def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(f(*primals), J tangents)`` (``(out, jvp_out, aux)`` with ``has_aux``), by two reverse
    passes (the double-backward trick)."""
    api = "jvp(f, primals, tangents)"
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise RuntimeError(
                f"{api}: Expected {what} to be a tuple. E.g. it should be valid to call "
                "f(*primals)."
            )
    pflat, tflat = [], []
    ptree, ttree = flatten(primals, pflat), flatten(tangents, tflat)
    if shape_of(ptree) != shape_of(ttree):
        raise RuntimeError(
            f"{api}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {_spec(ptree)} and tangents with structure {_spec(ttree)}"
        )
    for p, t in zip(pflat, tflat):
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(
                "Trying to set a forward gradient that has a different size than that of the "
                "original Tensor, this is not supported. Tensor is of size "
                f"{list(p.shape)} while the given forward gradient is of size {list(t.shape)}."
            )
    out, flat, tree, leaves, aux, record = _vjp(
        func, primals, tuple(range(len(primals))), has_aux, api
    )
    prim = [t for grp in leaves for t in grp]
    record = record or any(t.requires_grad for t in tflat)
    with enable_grad():
        jv = jvp_by_double_backward(flat, prim, tflat, record)
        jv = [o.new_zeros(o.shape) if j is None else j for j, o in zip(jv, flat)]
    res_o, res_t = _undo(out, record), _undo(unflatten(tree, iter(jv)), record)
    if has_aux:
        return res_o, res_t, _undo(aux, record)
    return res_o, res_t


# ---------------------------------------------------------------- vmap ---------------------
def _check_randomness(r):
    if r not in ("error", "different", "same"):
        raise RuntimeError(
            f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {r}"
        )


class _NoRandom:
    """Stands in for the default generator's NumPy generator under ``randomness='error'``:
    draws raise torch's error; the state (``get_rng_state``) stays readable."""

    def __init__(self, rng):
        self.bit_generator = rng.bit_generator

    def __getattr__(self, name):
        raise RuntimeError(
            "vmap: called random operation while in randomness error mode. Please either use "
            "the 'same' or 'different' randomness flags on vmap or perform the randomness "
            "operation out of vmap"
        )


def _leaf_dims(in_dims, args, head):
    """One in_dim per tensor leaf of ``args`` (``in_dims`` is a prefix tree of ``args``)."""
    if in_dims is None or isinstance(in_dims, int):
        flat = []
        tree = flatten(args, flat)
        for _, v in constants(tree):
            if in_dims is not None and v is not None:
                raise ValueError(
                    f"{head}: Got in_dim={in_dims} for an input but the input is of type "
                    f"{type(v)}. We cannot vmap over non-Tensor arguments, please use None as "
                    "the respective in_dim"
                )
        return [in_dims] * len(flat)
    if isinstance(in_dims, (tuple, list)) and isinstance(args, (tuple, list)):
        if len(in_dims) != len(args):
            raise ValueError(
                f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims "
                f"has {len(in_dims)} entries but inputs has {len(args)}."
            )
        return [d for a, i in zip(args, in_dims) for d in _leaf_dims(i, a, head)]
    if isinstance(in_dims, dict) and isinstance(args, dict) and set(in_dims) == set(args):
        return [d for k in args for d in _leaf_dims(in_dims[k], args[k], head)]
    raise ValueError(
        f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims has "
        f"structure {in_dims!r} but inputs has structure {_spec(flatten(args, []))}."
    )


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``f -> batched f``: maps ``f`` over dimension ``in_dims`` of its inputs and stacks the
    results at ``out_dims``. Runs ``f`` once per batch element (a Python loop) and stacks:
    torch's values and shapes, not its speed. ``chunk_size`` is accepted and changes nothing;
    ``randomness``: 'error' (random ops raise), 'different', or 'same' (every element draws
    the same numbers)."""
    _check_randomness(randomness)
    if not (chunk_size is None or (isinstance(chunk_size, int) and chunk_size > 0)):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    fname = _name(func)

    def wrapper(*args, **kwargs):
        head = f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>)"
        if not isinstance(in_dims, (int, tuple)):
            raise ValueError(
                f"{head}: expected `in_dims` to be int or a (potentially nested) tuple matching "
                f"the structure of inputs, got: {type(in_dims)}."
            )
        if not args:
            raise ValueError(
                f"vmap({fname})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you "
                "are trying to vmap over a function with no inputs. The latter is unsupported."
            )
        flat = []
        tree = flatten(args, flat)
        dims = _leaf_dims(in_dims, args, head)
        for t, d in zip(flat, dims):
            if d is None:
                continue
            n = t.dim()
            if not -n <= d < n:
                raise ValueError(
                    f"{head}: Got in_dim={d} for some input, but that input is a Tensor of "
                    f"dimensionality {n} so expected in_dim to satisfy -{n} <= in_dim < {n}."
                )
        sizes = [t.shape[d] for t, d in zip(flat, dims) if d is not None]
        if not sizes:
            raise ValueError("vmap: Expected at least one Tensor to vmap over")
        if len(set(sizes)) > 1:
            raise ValueError(
                "vmap: Expected all tensors to have the same size in the mapped dimension, got "
                f"sizes {sizes} for the mapped dimension"
            )
        if sizes[0] == 0:  # nothing to map: run once on zeros to learn the output shapes
            zeros = [t if d is None else _zero_slice(t, d) for t, d in zip(flat, dims)]
            res = [func(*unflatten(tree, iter(zeros)), **kwargs)]
            return _stack_outputs(res, out_dims, fname, empty=True)
        return _stack_outputs(
            _run_batch(func, tree, flat, dims, sizes[0], randomness, kwargs), out_dims, fname
        )

    wrapper.__name__ = f"vmap({fname})"
    return wrapper


def _run_batch(func, tree, flat, dims, size, randomness, kwargs):
    """``func`` on each batch element, the default generator prepared per ``randomness``."""
    from .creation import default_generator as gen

    saved = gen._rng
    state = saved.bit_generator.state if randomness == "same" else None
    results = []
    try:
        for i in range(size):
            if randomness == "error":
                gen._rng = _NoRandom(saved)
            elif randomness == "same":
                saved.bit_generator.state = state
            results.append(_call_one(func, tree, flat, dims, i, kwargs))
            if randomness == "error":
                gen._rng = saved
    finally:
        if randomness == "error":
            gen._rng = saved
    return results


def _zero_slice(t, d):
    shape = list(t.shape)
    del shape[d]
    return t.new_zeros(shape)


def _call_one(func, tree, flat, dims, i, kwargs):
    leaves = [t if d is None else t.select(d, i) for t, d in zip(flat, dims)]
    return func(*unflatten(tree, iter(leaves)), **kwargs)


def _stack_outputs(results, out_dims, fname, empty=False):
    from .ops.movement import stack

    flat0 = []
    tree = flatten(results[0], flat0)
    per = [flat0] + [_flat(r) for r in results[1:]]
    single = tree[0] in ("T", "C")
    if not _valid_out_dims(out_dims):
        raise ValueError(
            f"vmap({fname}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
            "python collection of ints representing where in the outputs the vmapped dimension "
            "should appear."
        )
    odims = [out_dims] * len(list(_tags(tree))) if not isinstance(out_dims, tuple) else None
    if odims is None:
        if single or len(out_dims) != len(tree[1] if tree[0] is not dict else tree[2]):
            raise ValueError(
                f"vmap({fname}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible "
                "with the structure of `outputs`."
            )
        odims = [d for sub, d in zip(tree[1], out_dims) for _ in _tags(sub)]
    outs, k = [], 0
    consts = iter(constants(tree))
    for tag, d in zip(_tags(tree), odims):
        if tag == "C":
            v = next(consts)[1]
            if d is not None:
                raise ValueError(
                    f"vmap({fname}, ...): `{fname}` must only return Tensors, got type "
                    f"{type(v)}. Did you mean to set out_dims= to None for output?"
                )
            continue
        col = [p[k] for p in per]
        if d is None:
            if any(c is not col[0] and not _same_values(c, col[0]) for c in col[1:]):
                raise ValueError(
                    f"vmap({fname}, ...): `{fname}` can not return a BatchedTensor when out_dim "
                    "is None"
                )
            outs.append(col[0])
        elif empty:  # a batch of size 0: ``f`` ran once on zeros for the shapes
            shape = list(col[0].shape)
            shape.insert(d % (len(shape) + 1), 0)
            outs.append(col[0].new_zeros(shape))
        else:
            outs.append(stack(col, dim=d))
        k += 1
    return unflatten(tree, iter(outs))


def _same_values(a, b):
    import numpy as np

    return a.shape == b.shape and bool(np.array_equal(a._data, b._data))


def _valid_out_dims(d):
    if d is None or (isinstance(d, int) and not isinstance(d, bool)):
        return True
    return isinstance(d, (tuple, list)) and all(_valid_out_dims(x) for x in d)


def _flat(x):
    out = []
    flatten(x, out)
    return out


# ---------------------------------------------------------------- modules ------------------
def functional_call(
    module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False
):
    """``module(*args, **kwargs)`` with the tensors of ``parameter_and_buffer_dicts`` (a dict
    name -> tensor, or a tuple of such dicts) in place of its parameters and buffers."""
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        seen, repeated = set(), []
        for d in parameter_and_buffer_dicts:
            for k in d:
                if k in seen and k not in repeated:
                    repeated.append(k)
                seen.add(k)
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        tensors = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
            f"got {type(parameter_and_buffer_dicts)}"
        )
    from .nn.utils.stateless import _functional_call  # jitgrad.nn loads numba: only when used

    return _functional_call(module, tensors, args, kwargs, tie_weights=tie_weights, strict=strict)


def stack_module_state(models):
    """``(params, buffers)``: each model's parameters and buffers stacked on a new first
    dimension, by name (new leaves, for ``vmap`` over an ensemble)."""
    from .ops.movement import stack

    models = list(models)
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(named):
        per = [dict(n) for n in named]
        out = {}
        for k in per[0]:
            ts = tuple(p[k] for p in per)
            req = [t.requires_grad for t in ts]
            if any(req) and not all(req):
                raise RuntimeError(f"Expected {k} from each model to have the same .requires_grad")
            r = stack(ts)
            out[k] = r.detach().requires_grad_(True) if all(req) else r
        return out

    return (
        stacked(m.named_parameters() for m in models),
        stacked(m.named_buffers() for m in models),
    )


def linearize(func, *primals):
    """``(func(*primals), jvp_fn)``: ``jvp_fn(*tangents)`` is ``J tangents`` at ``primals``
    (here ``jvp`` run again at each call, not a stored linear graph)."""
    out = _undo(func(*primals), False)

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]

    return out, jvp_fn


def functionalize(func, *, remove="mutations"):
    """``func`` itself: functionalize removes in-place ops from a graph for other transforms;
    jitgrad's transforms run the eager ops, so results are the same without it."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(
            "functionalize(f, remove='mutations'): received invalid argument for remove="
            f"{remove}. Valid options are:\n     remove='mutations': all inplace and out= "
            "operators will be removed from the program, and replaced with their out-of-place "
            "equivalents.\n     remove='mutations_and_views': In addition to the above, all "
            "aliasing operators {view} will be replaced with their non-aliasing counterparts, "
            "{view}_copy.\n"
        )
    return func


def replace_all_batch_norm_modules_(root):
    """Make every batch norm in ``root`` use batch statistics only (no running stats), in
    place, as vmap over a module ensemble needs; returns ``root``."""
    from .nn.modules.normalization import _BatchNorm

    for m in root.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root


def debug_unwrap(tensor, *, recurse=True):
    """``tensor``: jitgrad's transforms do not wrap tensors, so there is nothing to unwrap."""
    return tensor
