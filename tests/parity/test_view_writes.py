"""In-place writes through views made by reshape/view/permute/narrow and chains of views:
the root tensor's gradient sees the write (as torch's), and a traced step that writes
through such a view of an intermediate or of state computes what eager does."""

import numpy as np
import pytest

import jitgrad as jg

K = np.arange(4.0).reshape(2, 2)


def _root_grad(write):
    w = jg.tensor([[1.0, -1.0], [2.0, -2.0]], requires_grad=True)
    c = w * 1
    write(c)
    (c * jg.tensor(K)).sum().backward()
    return w.grad.numpy().reshape(-1)


WRITES = {
    # name: (the write, the root elements it overwrites (no gradient) or masks)
    "view_index": (lambda c: c.view(-1).__setitem__(jg.tensor([3]), jg.tensor([5.0])), [3]),
    "view_relu_": (lambda c: c.view(-1).relu_(), [1, 3]),
    "t_setitem": (lambda c: c.t().__setitem__((0, 1), 7.0), [2]),
    "getitem_chain": (lambda c: c[0][1:].__setitem__(0, 9.0), [1]),
    "narrow_zero_": (lambda c: c.narrow(1, 0, 1).zero_(), [0, 2]),
    "unsqueeze_squeeze_chain": (lambda c: c.unsqueeze(0).squeeze(0)[1].__setitem__(0, 1.0), [2]),
    # reshape of a transposed tensor is a copy (as torch): writing into it changes nothing
    "reshape_copy": (lambda c: c.t().reshape(-1).__setitem__(1, 1.0), []),
    "put_": (lambda c: c.view(-1).put_(jg.tensor([1]), jg.tensor([2.0])), [1]),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_root_gradient_sees_writes_through_views(name):
    write, dead = WRITES[name]
    g = _root_grad(write)
    want = K.reshape(-1).copy()
    want[dead] = 0.0
    np.testing.assert_array_equal(g, want)


def test_view_scaled_in_place_scales_the_root_gradient():
    g = _root_grad(lambda c: c.view(4)[1:3].mul_(3))
    np.testing.assert_array_equal(g, K.reshape(-1) * [1, 3, 3, 1])


def _step(x):
    y = x * 2
    y.view(-1).relu_()  # an intermediate written through a reshape view
    z = x * 3
    z.t()[0].zero_()  # ... and through a getitem of a permute view
    return y.sum() + z.sum()


def test_traced_step_writing_through_views_equals_eager():
    x = jg.tensor(np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]))
    want = float(_step(x))
    f = jg.trace(backend="reference")(_step)
    got = [float(f(x)) for _ in range(4)]
    assert f.stats["compiled_calls"] >= 2
    assert got == [want] * 4


def test_traced_update_of_state_through_views_equals_eager():
    def run(traced):
        w = jg.ones(2, 3, requires_grad=True)

        def step(x):
            with jg.no_grad():
                w.view(-1).mul_(0.5)
                w.t()[0].add_(1.0)
            return (w * x).sum()

        f = jg.trace(backend="reference")(step) if traced else step
        return [float(f(jg.ones(2, 3))) for _ in range(4)], w.detach().numpy()

    (le, we), (lt, wt) = run(False), run(True)
    assert le == lt
    np.testing.assert_array_equal(we, wt)


def _stale(t_mod, x):
    y = x * 2
    v = y[0]  # views made before the in-place write of their root
    w = y.view(-1)
    y.mul_(3)
    return v.sum() + w.sum() * 10


def test_views_made_before_a_write_of_their_root_see_it():
    x = jg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    r = _stale(jg, x)
    r.backward()
    assert r.item() == 6 * 3 + 60 * 10  # the values are the written ones (shared memory) ...
    np.testing.assert_array_equal(x.grad.numpy(), [[66.0, 66.0], [60.0, 60.0]])  # ... grads too
    f = jg.trace(backend="reference")(lambda a: _stale(jg, a))
    x = jg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert [float(f(x)) for _ in range(4)] == [618.0] * 4
    assert f.stats["compiled_calls"] >= 2
