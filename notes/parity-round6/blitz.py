# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round6.md.

The 60-minute blitz tensor + autograd sections verbatim: each block runs with `torch` bound to
torch and then to jitgrad; the printed output is compared line by line."""

import io, sys, contextlib, traceback, difflib
import numpy as np

BLOCKS = {}
BLOCKS["tensors"] = r"""
data = [[1, 2],[3, 4]]
x_data = torch.tensor(data)
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
x_ones = torch.ones_like(x_data) # retains the properties of x_data
print(f"Ones Tensor: \n {x_ones} \n")
x_rand = torch.rand_like(x_data, dtype=torch.float) # overrides the datatype of x_data
print(x_rand.shape, x_rand.dtype)
shape = (2,3,)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)
print(f"Random Tensor: \n {rand_tensor.shape} \n")
print(f"Ones Tensor: \n {ones_tensor} \n")
print(f"Zeros Tensor: \n {zeros_tensor}")
tensor = torch.rand(3,4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")
if torch.cuda.is_available():
  tensor = tensor.to('cuda')
  print(f"Device tensor is stored on: {tensor.device}")
tensor = torch.ones(4, 4)
tensor[:,1] = 0
print(tensor)
print('First row: ',tensor[0])
print('First column: ', tensor[:, 0])
print('Last column:', tensor[..., -1])
tensor[:,1] = 0
print(tensor)
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print(t1)
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(tensor)
torch.matmul(tensor, tensor.T, out=y3)
print(y1, y2, y3)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print(z1, z2, z3)
agg = tensor.sum()
agg_item = agg.item()
print(agg_item, type(agg_item))
print(tensor, "\n")
tensor.add_(5)
print(tensor)
t = torch.ones(5)
print(f"t: {t}")
n = t.numpy()
print(f"n: {n}")
t.add_(1)
print(f"t: {t}")
print(f"n: {n}")
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t}")
print(f"n: {n}")
x = torch.empty(5, 3)
x = torch.zeros(5, 3, dtype=torch.long)
print(x)
x = torch.tensor([5.5, 3])
print(x)
x = x.new_ones(5, 3, dtype=torch.double)
print(x)
x = torch.randn_like(x, dtype=torch.float)
print(x.size())
y = torch.rand(5, 3)
print(x.shape == torch.Size([5, 3]), x.size()[0], len(x.size()))
result = torch.empty(5, 3)
torch.add(x, y, out=result)
y.add_(x)
print(torch.equal(result, y))
print(x[:, 1].shape)
x = torch.randn(4, 4)
y = x.view(16)
z = x.view(-1, 8)
print(x.size(), y.size(), z.size())
x = torch.randn(1)
print(x.item() == x[0].item(), type(x.item()))
a = torch.ones(5)
b = a.numpy()
a.add_(1)
print(a)
print(b)
a = np.ones(5)
b = torch.from_numpy(a)
np.add(a, 1, out=a)
print(a)
print(b)
b[0] = 7
print(a)
c = torch.as_tensor(a)
c[1] = 9
print(a, c.dtype)
print(torch.tensor([[1., -1.], [1., -1.]]))
print(torch.tensor(np.array([[1, 2, 3], [4, 5, 6]])))
print(torch.zeros([2, 4], dtype=torch.int32))
print(torch.ones([2, 4], dtype=torch.float64))
x = torch.tensor([[1, 2, 3], [4, 5, 6]])
print(x[1][2])
x[0][1] = 8
print(x)
x = torch.tensor([[1]])
print(x, x.item())
x = torch.tensor(2.5)
print(x, x.item())
print(torch.arange(12).reshape(3, 4)[1:, ::2])
print(torch.tensor([1.5e-8, 1.0]))
print(torch.tensor([123456.789, 1.0]))
print(torch.tensor([1e10, 1.0]))
print(torch.tensor([True, False]))
print(torch.tensor([1.0, float('nan'), float('inf')]))
print(torch.arange(2000.))
print(torch.zeros(0, 3))
print(torch.tensor([], dtype=torch.long))
print(torch.tensor([1, 2], dtype=torch.int8))
print(torch.tensor([1.25, 2], dtype=torch.float16))
print(torch.randn(3, 3, requires_grad=True) * 0 + 1)
print(torch.tensor(3.0, requires_grad=True))
"""
BLOCKS["autograd"] = r"""
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for z = {z.grad_fn is not None}")
loss.backward()
print(w.grad.shape, b.grad.shape)
z = torch.matmul(x, w)+b
print(z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)
z = torch.matmul(x, w)+b
z_det = z.detach()
print(z_det.requires_grad)
inp = torch.eye(4, 5, requires_grad=True)
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
Q = 3*a**3 - b**2
external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)
print(9*a**2 == a.grad)
print(-2*b == b.grad)
x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)
a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")
x = torch.ones(2, 2, requires_grad=True)
print(x)
y = x + 2
print(y)
print(y.grad_fn is not None)
z = y * y * 3
out = z.mean()
print(z, out)
a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(b.grad_fn is not None)
out.backward()
print(x.grad)
x = torch.randn(3, requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
print(x.grad.shape)
print(x.requires_grad)
print((x ** 2).requires_grad)
with torch.no_grad():
    print((x ** 2).requires_grad)
print(x.requires_grad)
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
try:
    torch.ones(2, requires_grad=True).sum().backward(); t = torch.ones(2, requires_grad=True); s = (t*2).sum(); s.backward(); s.backward()
except RuntimeError as e:
    print("RuntimeError", str(e)[:60])
try:
    (torch.ones(2, requires_grad=True) * 2).backward()
except RuntimeError as e:
    print("RuntimeError", str(e))
try:
    torch.ones(2).sum().backward()
except RuntimeError as e:
    print("RuntimeError", str(e))
"""
BLOCKS["inplace"] = r"""
x = torch.arange(6.).reshape(2, 3)
x[0] = torch.tensor([9., 8, 7])
x[:, 2] += 1
x[x > 5] = 0
x[[0, 1], [1, 2]] = -1
print(x)
x.t_()
print(x, x.is_contiguous())
y = x.clone()
y.mul_(2).sub_(1).clamp_(min=0)
print(y)
z = torch.zeros(3, 2)
z.copy_(y)
z.index_fill_(0, torch.tensor([1]), 5)
print(z)
w = torch.ones(3, requires_grad=True)
try:
    w.add_(1)
except RuntimeError as e:
    print("RuntimeError", str(e))
v = w * 2
v.add_(1)
v.sum().backward()
print(w.grad)
e = w.exp()
e.mul_(2)
try:
    e.sum().backward()
except RuntimeError as e2:
    print("RuntimeError", str(e2)[:120])
a = torch.arange(10)
a[2:5] = torch.tensor([0, 0, 0])
a[::3] = 100
print(a)
print(a[-3:], a[a % 2 == 0], a[torch.tensor([0, 0, 1])])
b = torch.zeros(2, 3, 4)
b[..., 1] = 1
b[:, None].shape
print(b[:, None].shape, b[1, :, ::2], b[None, ..., None].shape)
print(torch.arange(5)[torch.tensor([True, False, True, False, True])])
"""


def run(name, lib):
    buf = io.StringIO()
    g = {"torch": lib, "np": np}
    with contextlib.redirect_stdout(buf):
        try:
            lib.manual_seed(0)
            exec(BLOCKS[name], g)
        except Exception as e:
            print("EXC", type(e).__name__, e)
            traceback.print_exc(file=sys.stderr)
    return buf.getvalue().splitlines()


if __name__ == "__main__":
    import torch, jitgrad

    for name in sys.argv[1:] or BLOCKS:
        a, b = run(name, torch), run(name, jitgrad)
        d = [l for l in difflib.unified_diff(a, b, "torch", "jitgrad", lineterm="", n=1)]
        print(f"== {name}: {'SAME' if not d else 'DIFF'}")
        print("\n".join(d[:200]))
