# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round6.md.

"Double Backward with Custom Functions" and "Fusing Convolution and Batch Norm" tutorials."""

import sys, os
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from cmp import snip, run


def leaf(L, a):
    return L.tensor(np.asarray(a, np.float64), requires_grad=True)


A = np.random.RandomState(0).randn(3, 3)


@snip
def square_double(L):
    class Square(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return grad_out * 2 * x

    x = leaf(L, A)
    y = Square.apply(x)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = L.autograd.grad(g.sum(), x)
    ok = L.autograd.gradcheck(Square.apply, (leaf(L, A),))
    ok2 = L.autograd.gradgradcheck(Square.apply, (leaf(L, A),))
    return y, g, gg, ok, ok2


@snip
def exp_save_output(L):
    class Exp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            result = L.exp(x)
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_out):
            (result,) = ctx.saved_tensors
            return result * grad_out

    x = leaf(L, A)
    y = Exp.apply(x)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = L.autograd.grad(g.sum(), x)
    return y, g, gg, L.autograd.gradgradcheck(Exp.apply, (leaf(L, A),))


@snip
def sinh_intermediate(L):
    class Sinh(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            expx = L.exp(x)
            expnegx = L.exp(-x)
            ctx.save_for_backward(expx, expnegx)
            return (expx - expnegx) / 2, expx, expnegx

        @staticmethod
        def backward(ctx, grad_out, _grad_out_exp, _grad_out_negexp):
            expx, expnegx = ctx.saved_tensors
            grad_input = grad_out * (expx + expnegx) / 2
            grad_input += _grad_out_exp * expx
            grad_input -= _grad_out_negexp * expnegx
            return grad_input

    def sinh(x):
        return Sinh.apply(x)[0]

    x = leaf(L, A)
    y = sinh(x)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = L.autograd.grad(g.sum(), x)
    return (
        y,
        g,
        gg,
        L.autograd.gradcheck(sinh, leaf(L, A)),
        L.autograd.gradgradcheck(sinh, leaf(L, A)),
    )


@snip
def sinh_bad_double(L):
    class SinhBad(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            expx = L.exp(x)
            expnegx = L.exp(-x)
            ctx.expx = expx
            ctx.expnegx = expnegx
            return (expx - expnegx) / 2

        @staticmethod
        def backward(ctx, grad_out):
            expx = ctx.expx
            expnegx = ctx.expnegx
            grad_input = grad_out * (expx + expnegx) / 2
            return grad_input

    x = leaf(L, A)
    y = SinhBad.apply(x)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    # the tutorial: double backward is silently wrong here (no graph through expx)
    return y, g, g.requires_grad


@snip
def cube_once_differentiable_style(L):
    def cube_forward(X):
        return X**3

    def cube_backward(grad_out, X):
        return grad_out * 3 * X**2

    def cube_backward_backward(grad_out, sav_grad_out, X):
        return grad_out * sav_grad_out * 6 * X

    def cube_backward_backward_grad_out(grad_out, X):
        return grad_out * 3 * X**2

    class Cube(L.autograd.Function):
        @staticmethod
        def forward(ctx, X):
            ctx.save_for_backward(X)
            return cube_forward(X)

        @staticmethod
        def backward(ctx, grad_out):
            (X,) = ctx.saved_tensors
            return CubeBackward.apply(grad_out, X)

    class CubeBackward(L.autograd.Function):
        @staticmethod
        def forward(ctx, grad_out, X):
            ctx.save_for_backward(X, grad_out)
            return cube_backward(grad_out, X)

        @staticmethod
        def backward(ctx, grad_out):
            X, sav_grad_out = ctx.saved_tensors
            dX = cube_backward_backward(grad_out, sav_grad_out, X)
            dgrad_out = cube_backward_backward_grad_out(grad_out, X)
            return dgrad_out, dX

    X = leaf(L, A)
    y = Cube.apply(X)
    (g,) = L.autograd.grad(y.sum(), X, create_graph=True)
    (gg,) = L.autograd.grad(g.sum(), X)
    return (
        y,
        g,
        gg,
        L.autograd.gradcheck(Cube.apply, leaf(L, A)),
        L.autograd.gradgradcheck(Cube.apply, leaf(L, A)),
    )


@snip
def fused_conv_bn(L):
    F = L.nn.functional

    def convolution_backward(grad_out, X, weight):
        grad_input = F.conv2d(X.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)
        grad_X = L.nn.grad.conv2d_input(X.shape, weight, grad_out)
        return grad_X, grad_input

    class Conv2D(L.autograd.Function):
        @staticmethod
        def forward(ctx, X, weight):
            ctx.save_for_backward(X, weight)
            return F.conv2d(X, weight)

        @staticmethod
        def backward(ctx, grad_out):
            X, weight = ctx.saved_tensors
            return convolution_backward(grad_out, X, weight)

    def unsqueeze_all(t):
        return t[None, :, None, None]

    def batch_norm_backward(grad_out, X, sum, sqrt_var, N, eps):
        tmp = ((X - unsqueeze_all(sum) / N) * grad_out).sum(dim=(0, 2, 3))
        tmp *= -1
        d_denom = tmp / (sqrt_var + eps) ** 2
        d_var = d_denom / (2 * sqrt_var)
        d_mean_dx = grad_out / unsqueeze_all(sqrt_var + eps)
        d_mean_dx = unsqueeze_all(-d_mean_dx.sum(dim=(0, 2, 3)) / N)
        grad_input = X * unsqueeze_all(d_var * N)
        grad_input += unsqueeze_all(-d_var * sum)
        grad_input *= 2 / ((N - 1) * N)
        grad_input += d_mean_dx
        grad_input *= unsqueeze_all(sqrt_var + eps)
        grad_input += grad_out
        grad_input /= unsqueeze_all(sqrt_var + eps)
        return grad_input

    class BatchNorm(L.autograd.Function):
        @staticmethod
        def forward(ctx, X, eps=1e-3):
            sum = X.sum(dim=(0, 2, 3))
            var = X.var(unbiased=True, dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            sqrt_var = L.sqrt(var)
            ctx.save_for_backward(X)
            ctx.eps = eps
            ctx.sum = sum
            ctx.N = N
            ctx.sqrt_var = sqrt_var
            mean = sum / N
            denom = sqrt_var + eps
            out = X - unsqueeze_all(mean)
            out /= unsqueeze_all(denom)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            (X,) = ctx.saved_tensors
            return batch_norm_backward(grad_out, X, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps)

    class FusedConvBN2DFunction(L.autograd.Function):
        @staticmethod
        def forward(ctx, X, conv_weight, eps=1e-3):
            assert X.ndim == 4
            ctx.save_for_backward(X, conv_weight)
            X = F.conv2d(X, conv_weight)
            sum = X.sum(dim=(0, 2, 3))
            var = X.var(unbiased=True, dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            sqrt_var = L.sqrt(var)
            ctx.eps = eps
            ctx.sum = sum
            ctx.N = N
            ctx.sqrt_var = sqrt_var
            mean = sum / N
            denom = sqrt_var + eps
            out = X - unsqueeze_all(mean)
            out /= unsqueeze_all(denom)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            (
                X,
                conv_weight,
            ) = ctx.saved_tensors
            X_conv_out = F.conv2d(X, conv_weight)
            grad_out = batch_norm_backward(
                grad_out, X_conv_out, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps
            )
            grad_X, grad_input = convolution_backward(grad_out, X, conv_weight)
            return grad_X, grad_input, None, None, None, None, None

    class FusedConvBN(L.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, exp_avg_factor=0.1, eps=1e-3):
            super(FusedConvBN, self).__init__()
            weight_shape = (out_channels, in_channels, kernel_size, kernel_size)
            self.conv_weight = L.nn.Parameter(L.empty(*weight_shape))
            self.eps = eps
            self.reset_parameters()

        def forward(self, X):
            return FusedConvBN2DFunction.apply(X, self.conv_weight, self.eps)

        def reset_parameters(self):
            L.nn.init.kaiming_uniform_(self.conv_weight, a=np.sqrt(5))

    rs = np.random.RandomState(1)
    weight = leaf(L, rs.rand(5, 3, 3, 3))
    X = leaf(L, rs.rand(10, 3, 7, 7))
    ok1 = L.autograd.gradcheck(Conv2D.apply, (X, weight))
    a = leaf(L, rs.rand(1, 2, 3, 4))
    ok2 = L.autograd.gradcheck(BatchNorm.apply, (a,), fast_mode=False)
    w2 = leaf(L, rs.rand(2, 3, 3, 3))
    X2 = leaf(L, rs.rand(2, 3, 4, 4))
    ok3 = L.autograd.gradcheck(FusedConvBN2DFunction.apply, (X2, w2))
    m = FusedConvBN(3, 2, 3)
    with L.no_grad():
        m.conv_weight.copy_(L.tensor(rs.randn(2, 3, 3, 3).astype(np.float32)))
    x = L.tensor(rs.randn(2, 3, 5, 5).astype(np.float32))
    out = m(x)
    out.pow(2).sum().backward()
    return ok1, ok2, ok3, out, m.conv_weight.grad


if __name__ == "__main__":
    run(sys.argv[1:] or None)
