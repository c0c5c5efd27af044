# ruff: noqa
"""Round 8 batch 2: grad modes, autograd API, backward/grad corner cases (torch vs jitgrad)."""
import sys
import numpy as np
from harness import snip, run


def W(L, *shape, rg=True, seed=0):
    return L.tensor(np.random.RandomState(seed).randn(*shape).astype(np.float32), requires_grad=rg)


@snip
def g_nested_modes(L):
    x = W(L, 3)
    out = []
    with L.no_grad():
        out.append((x * 2).requires_grad)
        with L.enable_grad():
            out.append((x * 2).requires_grad)
            with L.no_grad():
                out.append((x * 2).requires_grad)
        out.append(L.is_grad_enabled())
    out.append(L.is_grad_enabled())
    return out
@snip
def g_set_grad_enabled(L):
    x = W(L, 3)
    with L.set_grad_enabled(False):
        a = x * 2
    L.set_grad_enabled(False); b = x * 2; L.set_grad_enabled(True)
    return a.requires_grad, b.requires_grad, L.is_grad_enabled()
@snip
def g_no_grad_decorator(L):
    @L.no_grad()
    def f(x): return x * 2
    @L.no_grad
    def g(x): return x * 2
    x = W(L, 3)
    return f(x).requires_grad, g(x).requires_grad
@snip
def g_inference_mode(L):
    x = W(L, 3)
    with L.inference_mode():
        y = x * 2
    return y.requires_grad, y.is_inference(), x.is_inference(), L.is_inference_mode_enabled()
@snip
def g_inference_mode_false(L):
    x = W(L, 3)
    with L.inference_mode(False):
        y = x * 2
    return y.requires_grad
@snip
def g_inference_tensor_in_autograd(L):
    with L.inference_mode():
        y = L.ones(3)
    w = W(L, 3)
    z = (w * y).sum(); z.backward(); return w.grad
@snip
def g_inference_tensor_inplace(L):
    with L.inference_mode():
        y = L.ones(3)
    y.add_(1); return y
@snip
def g_inference_save(L):
    with L.inference_mode():
        y = L.ones(3)
    w = W(L, 3)
    z = (w * y).exp().sum(); z.backward(); return w.grad
@snip
def g_enable_grad_in_inference(L):
    x = W(L, 3)
    with L.inference_mode():
        with L.enable_grad():
            y = x * 2
    return y.requires_grad
@snip
def g_requires_grad_nonleaf(L):
    x = W(L, 3); y = x * 2; y.requires_grad_(False); return y
@snip
def g_requires_grad_int(L):
    return L.tensor([1, 2]).requires_grad_()
@snip
def g_requires_grad_int_ctor(L):
    return L.tensor([1, 2], requires_grad=True)
@snip
def g_ones_int_rg(L):
    return L.ones(2, dtype=L.long, requires_grad=True)
@snip
def g_detach_(L):
    x = W(L, 3); y = x * 2; y.detach_(); return y.requires_grad, y.is_leaf, y.grad_fn
@snip
def g_detach_view(L):
    x = W(L, 3); y = (x * 2)[:2]; y.detach_(); return y
@snip
def g_retain_grad(L):
    x = W(L, 3); y = x * 2; y.retain_grad(); z = (y ** 2).sum(); z.backward(); return y.grad, x.grad
@snip
def g_nonleaf_grad_warn(L):
    x = W(L, 3); y = x * 2; (y ** 2).sum().backward(); return y.grad
@snip
def g_retains_grad_attr(L):
    x = W(L, 3); y = x * 2; a = y.retains_grad; y.retain_grad(); return a, y.retains_grad, x.retains_grad
@snip
def g_retain_grad_leaf(L):
    x = W(L, 3); x.retain_grad(); (x * 2).sum().backward(); return x.grad, x.retains_grad
@snip
def g_accumulate(L):
    x = W(L, 3); y = (x ** 2).sum(); y.backward(retain_graph=True); y.backward(); return x.grad
@snip
def g_second_backward_freed(L):
    x = W(L, 3); y = (x.exp()).sum(); y.backward(); y.backward(); return x.grad
@snip
def g_second_backward_freed_add(L):
    x = W(L, 3); y = (x + 1).sum(); y.backward(); y.backward(); return x.grad
@snip
def g_backward_nonscalar(L):
    x = W(L, 3); (x * 2).backward()
@snip
def g_backward_gradient(L):
    x = W(L, 2, 3); y = x * 2; y.backward(gradient=L.ones(2, 3) * 3); return x.grad
@snip
def g_backward_gradient_bad(L):
    x = W(L, 2, 3); y = x * 2; y.backward(gradient=L.ones(3))
@snip
def g_backward_gradient_bcast(L):
    x = W(L, 2, 3); y = x * 2; y.backward(gradient=L.ones(1, 3))
@snip
def g_backward_gradient_dtype(L):
    x = W(L, 2); y = x * 2; y.backward(gradient=L.ones(2, dtype=L.float64)); return x.grad
@snip
def g_backward_gradient_int(L):
    x = W(L, 2); y = x * 2; y.backward(gradient=L.ones(2, dtype=L.long)); return x.grad
@snip
def g_backward_scalar_gradient(L):
    x = W(L, 2); y = (x * 2).sum(); y.backward(L.tensor(2.0)); return x.grad
@snip
def g_backward_no_grad_tensor(L):
    L.ones(2).sum().backward()
@snip
def g_backward_inputs(L):
    x = W(L, 2); z = W(L, 2, seed=1); y = (x * z).sum(); y.backward(inputs=[x]); return x.grad, z.grad
@snip
def g_autograd_backward(L):
    x = W(L, 2); y1 = (x * 2).sum(); y2 = (x * 3).sum(); L.autograd.backward([y1, y2]); return x.grad
@snip
def g_grad_basic(L):
    x = W(L, 3); y = (x ** 3).sum(); (g,) = L.autograd.grad(y, x); return g, x.grad
@snip
def g_grad_create_graph(L):
    x = W(L, 3); y = (x ** 3).sum(); (g,) = L.autograd.grad(y, x, create_graph=True)
    g2 = L.autograd.grad(g.sum(), x); return g, g2
@snip
def g_grad_unused(L):
    x = W(L, 3); z = W(L, 3, seed=1); y = (x ** 2).sum(); return L.autograd.grad(y, [x, z])
@snip
def g_grad_allow_unused(L):
    x = W(L, 3); z = W(L, 3, seed=1); y = (x ** 2).sum(); return L.autograd.grad(y, [x, z], allow_unused=True)
@snip
def g_grad_materialize(L):
    x = W(L, 3); z = W(L, 3, seed=1); y = (x ** 2).sum(); return L.autograd.grad(y, [x, z], allow_unused=True, materialize_grads=True)
@snip
def g_grad_nonscalar(L):
    x = W(L, 3); return L.autograd.grad(x * 2, x)
@snip
def g_grad_outputs(L):
    x = W(L, 3); return L.autograd.grad(x * 2, x, grad_outputs=L.ones(3) * 2)
@snip
def g_grad_not_rg(L):
    x = W(L, 3); z = L.ones(3); return L.autograd.grad((x * z).sum(), z)
@snip
def g_grad_output_not_rg(L):
    x = L.ones(3); return L.autograd.grad(x.sum(), x)
@snip
def g_grad_twice_freed(L):
    x = W(L, 3); y = (x.exp()).sum(); L.autograd.grad(y, x); return L.autograd.grad(y, x)
@snip
def g_grad_retain(L):
    x = W(L, 3); y = (x.exp()).sum(); L.autograd.grad(y, x, retain_graph=True); return L.autograd.grad(y, x)
@snip
def g_grad_no_accumulate(L):
    x = W(L, 3); y = (x ** 2).sum(); L.autograd.grad(y, x); return x.grad
@snip
def g_grad_tuple_outputs(L):
    x = W(L, 3); return L.autograd.grad([(x * 2).sum(), (x * 3).sum()], x)
@snip
def g_grad_is_grads_batched(L):
    x = W(L, 3); y = x * 2; return L.autograd.grad(y, x, grad_outputs=L.eye(3), is_grads_batched=True)
@snip
def g_hook_tensor(L):
    x = W(L, 3); y = x * 2; h = y.register_hook(lambda g: g * 10); y.sum().backward(); r = x.grad.clone(); h.remove()
    x.grad = None; y = x * 2; y.sum().backward(); return r, x.grad
@snip
def g_hook_leaf(L):
    x = W(L, 3); x.register_hook(lambda g: g + 1); (x * 2).sum().backward(); return x.grad
@snip
def g_grad_set_wrong_shape(L):
    x = W(L, 3); x.grad = L.ones(2)
@snip
def g_grad_set_wrong_dtype(L):
    x = W(L, 3); x.grad = L.ones(3, dtype=L.float64)
@snip
def g_grad_set_int(L):
    x = W(L, 3); x.grad = L.ones(3, dtype=L.long)
@snip
def g_is_leaf(L):
    x = W(L, 3); y = x * 2; z = L.ones(3); w = z * 2; return x.is_leaf, y.is_leaf, z.is_leaf, w.is_leaf, x.detach().is_leaf
@snip
def g_grad_fn_name(L):
    x = W(L, 3)
    return [type(t.grad_fn).__name__ for t in (x * 2, x + 1, x.sum(), x.mean(), x.view(3, 1), x[0], x.exp(), x.t() if False else x.unsqueeze(0), x @ x, x.relu(), x.sigmoid(), x.tanh(), x.pow(2), x.clone(), x.to(L.float64), L.cat([x, x]), L.stack([x, x]), x.expand(2, 3), x.reshape(3, 1), x.max(), x.abs(), -x, x / 2, x - 1)]
@snip
def g_leaf_double_bwd(L):
    x = W(L, 3); y = (x ** 2).sum(); y.backward(create_graph=True); g = x.grad; return g.requires_grad, type(g.grad_fn).__name__
@snip
def g_anomaly(L):
    with L.autograd.detect_anomaly():
        x = W(L, 3); y = (x.sqrt()).sum(); y.backward(); return x.grad
@snip
def g_no_grad_backward(L):
    x = W(L, 3); y = (x * 2).sum()
    with L.no_grad():
        y.backward()
    return x.grad
@snip
def g_requires_grad_set_nonleaf(L):
    x = W(L, 3); y = x * 2; y.requires_grad = False
@snip
def g_int_backward(L):
    x = W(L, 3); y = (x * 2).long(); return y.requires_grad, y.grad_fn
@snip
def g_argmax_rg(L):
    x = W(L, 3); return x.argmax().requires_grad, (x > 0).requires_grad, x.round().requires_grad
@snip
def g_item_grad(L):
    x = W(L, 3); y = x.sum(); return y.item(), float(y), int(y), bool(y > -100)
@snip
def g_numpy_rg(L):
    x = W(L, 3); return x.numpy()
@snip
def g_tolist_rg(L):
    x = W(L, 3); return x.tolist()
@snip
def g_clone_grad(L):
    x = W(L, 3); y = x.clone(); y.sum().backward(); return x.grad, y.is_leaf
@snip
def g_grad_of_view_of_leaf(L):
    x = W(L, 2, 3); v = x[0]; (v * 2).sum().backward(); return x.grad
@snip
def g_zero_grad_manual(L):
    x = W(L, 3); (x * 2).sum().backward(); x.grad.zero_(); (x * 3).sum().backward(); return x.grad
@snip
def g_grad_none_after_set(L):
    x = W(L, 3); (x * 2).sum().backward(); x.grad = None; (x * 3).sum().backward(); return x.grad
@snip
def g_data_assign(L):
    x = W(L, 3); x.data = L.ones(4); return x, x.requires_grad
@snip
def g_data_assign_dtype(L):
    x = W(L, 3); x.data = L.ones(3, dtype=L.float64); return x.dtype
@snip
def g_backward_on_leaf(L):
    x = W(L, 3); x.sum().backward(); x.backward(L.ones(3)); return x.grad
@snip
def g_func_custom(L):
    class Sq(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x); return x * x
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors; return 2 * x * g
    x = W(L, 3); y = Sq.apply(x); y.sum().backward(); return y, x.grad, type(y.grad_fn).__name__
@snip
def g_func_mark_non_diff(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax(); ctx.mark_non_differentiable(idx); return x * 2, idx
        @staticmethod
        def backward(ctx, g, gi):
            return g * 2
    x = W(L, 3); y, i = F.apply(x); y.sum().backward(); return x.grad, i.requires_grad
@snip
def g_func_needs_input_grad(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y
        @staticmethod
        def backward(ctx, g):
            return (g if ctx.needs_input_grad[0] else None), (g if ctx.needs_input_grad[1] else None)
    x = W(L, 3); y = L.ones(3); F.apply(x, y).sum().backward(); return x.grad
@snip
def g_func_once_differentiable(L):
    once = sys.modules[L.__name__ + ".autograd.function"].once_differentiable
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x); return x * x
        @staticmethod
        @once
        def backward(ctx, g):
            (x,) = ctx.saved_tensors; return 2 * x * g
    x = W(L, 3); y = F.apply(x); (g,) = L.autograd.grad(y.sum(), x, create_graph=True); return g, g.requires_grad
@snip
def g_func_setup_context(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x * k
        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]
        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None
    x = W(L, 3); F.apply(x, 3.0).sum().backward(); return x.grad
@snip
def g_func_saved_modified(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x); return x * 2
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors; return g * x
    a = W(L, 3); x = a * 1; y = F.apply(x); x.add_(1); y.sum().backward(); return a.grad
@snip
def g_func_dirty(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2); ctx.mark_dirty(x); return x
        @staticmethod
        def backward(ctx, g):
            return g * 2
    a = W(L, 3); x = a * 1; y = F.apply(x); y.sum().backward(); return a.grad, y is x
@snip
def g_func_return_wrong_shape(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2
        @staticmethod
        def backward(ctx, g):
            return g[:2]
    a = W(L, 3); F.apply(a).sum().backward()
@snip
def g_vjp_hessian(L):
    x = W(L, 3)
    return L.autograd.functional.hessian(lambda t: (t ** 3).sum(), x)
@snip
def g_saved_tensors_hooks(L):
    packed = []
    def pack(t): packed.append(tuple(t.shape)); return t
    with L.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x = W(L, 3); y = (x * x).sum()
    y.backward(); return x.grad, len(packed) > 0
@snip
def g_set_detect(L):
    return L.is_anomaly_enabled()
@snip
def g_tensor_grad_dtype_mismatch_add(L):
    x = W(L, 3); x64 = x.double(); (x64 * 2).sum().backward(); return x.grad

if __name__ == "__main__":
    run(sys.argv[1:] or None)
