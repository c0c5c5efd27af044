"""The public surface is generated from the ops' declarations (``registry.public``).

Every declared op is a Tensor method (and its aliases), every in-place flag gives a working
``Tensor.<name>_`` (version counter, leaf and saved-tensor errors as torch's), every export
flag a ``jitgrad.<name>``; a toy op declared in one place gets all three (the toy-op recipe:
tests/ops/toy_op.py).
"""

import inspect

import numpy as np
import pytest

import jitgrad
from jitgrad.ops import entries
from jitgrad.ops.registry import PRIMITIVES, SURFACE, public

from .toy_op import softsign

# torch's own message (torch 2.x) for an in-place op on a leaf that requires grad
TORCH_LEAF = "a leaf Variable that requires grad is being used in an in-place operation"
TORCH_SAVED = "one of the variables needed for gradient computation has been modified"


def _unwrap(f):
    while hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    return f


def test_every_declared_method_and_export_is_installed():
    n_methods = n_exports = 0
    for e in entries():
        for n in e.names:
            if e.method is not None:
                assert _unwrap(getattr(jitgrad.Tensor, n)) is _unwrap(e.method), n
                n_methods += 1
                if e.inplace:
                    assert callable(getattr(jitgrad.Tensor, n + "_")), n + "_"
            else:
                assert not hasattr(jitgrad.Tensor, n) or n in ("cat", "stack"), n
            if e.export:
                assert _unwrap(getattr(jitgrad, n)) is _unwrap(e.fn), n
                n_exports += 1
    assert n_methods > 200 and n_exports > 250, (n_methods, n_exports)


def test_every_primitive_with_a_method_flag_is_a_tensor_method():
    with_api = [p for p in PRIMITIVES.values() if p.api is not None]
    assert len(with_api) > 60
    for p in with_api:
        e = p.api
        assert SURFACE[e.name] is e
        if e.method is not None:
            for n in e.names:
                assert _unwrap(getattr(jitgrad.Tensor, n)) is _unwrap(e.method), (p, n)
    # internal primitives have no surface: add's public function is ops.add (with alpha=)
    for name in ("add", "sub", "div", "cast", "tanh_backward"):
        assert PRIMITIVES[name].api is None, name
    assert _unwrap(jitgrad.add) is jitgrad.Tensor.add
    assert "alpha" in inspect.signature(jitgrad.Tensor.add).parameters


def _inputs(fn):
    """Positional arguments for ``fn`` from its signature: float tensors in (0.1, 0.9)."""
    req = [
        p
        for p in inspect.signature(_unwrap(fn)).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    rng = np.random.default_rng(0)
    return [jitgrad.tensor(rng.uniform(0.1, 0.9, (2, 3))) for _ in req]


EXTRA = {"clamp": (0.3, 0.6), "cumsum": (1,), "cumprod": (1,)}  # non-tensor arguments


def _same(a, b):
    return a.shape == b.shape and np.allclose(a, b, equal_nan=True)


def test_inplace_forms_write_back_and_bump_the_version():
    checked = []
    for e in entries():
        if e.inplace is not True or e.method is None:
            continue
        args = _inputs(e.method)
        if e.name in EXTRA:
            args = args[:1] + list(EXTRA[e.name])
        elif len(args) not in (1, 2):
            continue  # addmm/index_fill/...: covered by their own tests; here the generic ones
        try:
            want = e.method(*[a.clone() if hasattr(a, "clone") else a for a in args])
        except (RuntimeError, TypeError):
            args = [a.mul(10).long() for a in args]  # integer-only ops (gcd, bitwise_*)
            want = e.method(*[a.clone() for a in args])
        if want.dtype != args[0].dtype or tuple(want.shape) != tuple(args[0].shape):
            continue  # comparisons: bool results written into a float tensor (below)
        for n in e.names:
            x = args[0].clone()
            v = x._vc[0]
            r = getattr(x, n + "_")(*args[1:])
            assert r is x, n
            assert x._vc[0] == v + 1, n
            assert _same(x.numpy(), want.numpy()), n
            checked.append(n)
    assert len(checked) > 90, checked
    for n in ("exp", "arcsin", "clip", "multiply", "true_divide", "cumsum", "bitwise_not", "gcd"):
        assert n in checked, n
    x = jitgrad.tensor([1.0, 2.0, 3.0])
    x.lt_(2.5)  # a comparison in place keeps the tensor's dtype, as torch's
    assert x.dtype == jitgrad.float32 and x.tolist() == [1.0, 1.0, 0.0]


def test_inplace_on_a_leaf_or_a_saved_tensor_raises_like_torch():
    for name in ("exp_", "arcsin_", "clamp_", "add_", "unsqueeze_", "transpose_"):
        x = jitgrad.tensor([[0.5, 0.25]], requires_grad=True)
        args = {"clamp_": (0.0, 0.3), "add_": (1.0,), "unsqueeze_": (0,)}.get(name, ())
        if name == "transpose_":
            args = (0, 1)
        with pytest.raises(RuntimeError, match=TORCH_LEAF):
            getattr(x, name)(*args)
        with jitgrad.no_grad():  # allowed without grad mode, and the version moves
            v = x._vc[0]
            getattr(x, name)(*args) if name not in ("unsqueeze_", "transpose_") else None
            assert x._vc[0] == v + (name not in ("unsqueeze_", "transpose_"))
    w = jitgrad.tensor([0.5, 0.25], requires_grad=True)
    h = w * 1.0
    y = h.sin()  # saves h
    h.exp_()
    with pytest.raises(RuntimeError, match=TORCH_SAVED):
        y.sum().backward()


def test_view_inplace_forms_take_the_new_shape():
    x = jitgrad.ones(2, 3)
    x.unsqueeze_(0)
    assert tuple(x.shape) == (1, 2, 3)
    x.squeeze_(0).t_()
    assert tuple(x.shape) == (3, 2)
    x.swapdims_(0, 1)
    assert tuple(x.shape) == (2, 3)


def test_toy_op_gets_method_inplace_and_export_from_its_one_declaration():
    assert jitgrad.Tensor.toy_softsign is softsign
    assert _unwrap(jitgrad.toy_softsign) is softsign
    assert softsign.prim.api is SURFACE["toy_softsign"]
    x = jitgrad.tensor([-2.0, 0.5, 3.0])
    want = (x / (1 + x.abs())).numpy()
    assert np.allclose(x.toy_softsign().numpy(), want)
    assert np.allclose(jitgrad.toy_softsign(x).numpy(), want)
    out = jitgrad.empty(3)
    assert jitgrad.toy_softsign(x, out=out) is out  # an elementwise export takes out=
    assert np.allclose(out.numpy(), want)
    v = x._vc[0]
    assert x.toy_softsign_() is x and x._vc[0] == v + 1
    assert np.allclose(x.numpy(), want)
    leaf = jitgrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=TORCH_LEAF):
        leaf.toy_softsign_()


def test_a_public_name_is_declared_once():
    with pytest.raises(ValueError, match="'exp' declared twice"):
        public(lambda x: x, "exp")
    with pytest.raises(ValueError, match="'arcsin' declared twice"):
        public(lambda x: x, "toy_other", aliases=("arcsin",))
    assert "toy_other" not in SURFACE


def test_out_flag_gives_out_and_its_absence_refuses_it():
    x = jitgrad.tensor([[1.0, -2.0], [3.0, 4.0]])
    for name in ("exp", "sum", "cat", "arctan2", "bitwise_and"):
        assert SURFACE[name].out, name
    o = jitgrad.empty(2, 2)
    assert jitgrad.arctan2(x, x, out=o) is o
    assert np.allclose(o.numpy(), np.arctan2(x.numpy(), x.numpy()))
    s = jitgrad.empty(())
    assert jitgrad.sum(x, out=s) is s and s.item() == 6.0
    assert not SURFACE["relu"].out  # as torch.relu
    with pytest.raises(TypeError, match="out"):
        jitgrad.relu(x, out=o)


def test_axis_spelling_on_declared_reductions():
    x = jitgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.sum(axis=0).tolist() == [4.0, 6.0]
    assert jitgrad.sum(x, axis=1).tolist() == [3.0, 7.0]
    assert x.nansum(axis=0).tolist() == [4.0, 6.0]
    assert x.cumprod(axis=1).tolist() == [[1.0, 2.0], [3.0, 12.0]]
    assert tuple(x.view(size=(4,)).shape) == (4,)
