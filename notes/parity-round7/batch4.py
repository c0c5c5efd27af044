# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected): hooks on multi-input
modules, packed RNNs with h0 in batch order, Transformer layer details."""
import sys, os
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity-round6"))
from cmp import fill_params, snip, run, compare_errors
import numpy as np


def fill(L, m, seed=0):
    return fill_params(L, m, seed, 0.3)


@snip
def bw_hook_multi(L):
    class Two(L.nn.Module):
        def forward(self, a, b, scale=2.0, flag=None):
            return a * b * scale, a + b
    m = Two()
    rec = []
    m.register_full_backward_hook(lambda mod, gi, go: rec.append(([None if g is None else g.clone() for g in gi], [None if g is None else g.clone() for g in go])))
    a = L.tensor([1.0, 2.0], requires_grad=True)
    b = L.tensor([3.0, 4.0])
    x, y = m(a, b, scale=3.0, flag="x")
    (x.sum() * 2 + y.sum()).backward()
    return rec, a.grad


@snip
def bw_hook_one_output_used(L):
    class Two(L.nn.Module):
        def forward(self, a):
            return a * 2, a * 3
    m = Two()
    rec = []
    m.register_full_backward_hook(lambda mod, gi, go: rec.append(([None if g is None else g.clone() for g in gi], [None if g is None else g.clone() for g in go])))
    a = L.tensor([1.0, 2.0], requires_grad=True)
    x, y = m(a)
    x.sum().backward()
    return rec, a.grad


@snip
def bw_pre_hook_scale(L):
    m = fill(L, L.nn.Linear(2, 2))
    m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0.5,))
    x = L.tensor([[1.0, -1.0]], requires_grad=True)
    m(x).sum().backward()
    return x.grad, m.weight.grad, m.bias.grad


@snip
def hooks_no_grad(L):
    m = L.nn.ReLU()
    rec = []
    m.register_full_backward_hook(lambda mod, gi, go: rec.append(1))
    m.register_forward_hook(lambda mod, a, o: rec.append(2))
    with L.no_grad():
        y = m(L.tensor([1.0], requires_grad=True))
    return rec, y.requires_grad


@snip
def hooks_sequential_order(L):
    rec = []
    s = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Tanh())
    fill(L, s)
    for name, mod in s.named_modules():
        mod.register_full_backward_hook(lambda m_, gi, go, name=name: rec.append(("bw", name)))
        mod.register_forward_pre_hook(lambda m_, a, name=name: rec.append(("pre", name)))
        mod.register_forward_hook(lambda m_, a, o, name=name: rec.append(("fw", name)))
    x = L.ones(1, 2, requires_grad=True)
    s(x).sum().backward()
    return rec


@snip
def hook_remove_in_ctx(L):
    m = L.nn.Identity()
    rec = []
    with m.register_forward_hook(lambda mod, a, o: rec.append(1)):
        m(L.ones(1))
    m(L.ones(1))
    return rec


@snip
def packed_h0_order(L):
    g = fill(L, L.nn.GRU(2, 3, batch_first=True))
    r = np.random.default_rng(3)
    x = L.tensor(r.standard_normal((3, 4, 2)).astype(np.float32))
    h0 = L.tensor(r.standard_normal((1, 3, 3)).astype(np.float32), requires_grad=True)
    pk = L.nn.utils.rnn.pack_padded_sequence(x, L.tensor([2, 4, 1]), batch_first=True, enforce_sorted=False)
    out, h = g(pk, h0)
    pad, lens = L.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    (pad.sum() + h.pow(2).sum()).backward()
    return pad, lens, h, h0.grad, out.data.shape


@snip
def packed_lstm_bidir_h0(L):
    m = fill(L, L.nn.LSTM(2, 3, num_layers=2, bidirectional=True))
    r = np.random.default_rng(5)
    x = L.tensor(r.standard_normal((4, 3, 2)).astype(np.float32))
    h0 = L.tensor(r.standard_normal((4, 3, 3)).astype(np.float32))
    c0 = L.tensor(r.standard_normal((4, 3, 3)).astype(np.float32))
    pk = L.nn.utils.rnn.pack_padded_sequence(x, [3, 4, 2], enforce_sorted=False)
    out, (h, c) = m(pk, (h0, c0))
    pad, _ = L.nn.utils.rnn.pad_packed_sequence(out)
    return pad, h, c


@snip
def packed_data_order(L):
    x = L.arange(12.0).reshape(3, 4)  # batch-first 1-feature, lengths 2,4,3
    pk = L.nn.utils.rnn.pack_padded_sequence(x.unsqueeze(-1), [2, 4, 3], batch_first=True, enforce_sorted=False)
    return pk.data.reshape(-1), pk.batch_sizes


@snip
def enc_layer_eval_kpm(L):
    m = fill(L, L.nn.TransformerEncoderLayer(4, 2, 6, 0.1, batch_first=True))
    m.eval()
    r = np.random.default_rng(6)
    x = L.tensor(r.standard_normal((2, 3, 4)).astype(np.float32))
    kpm = L.tensor([[False, True, True], [False, False, False]])
    with L.no_grad():
        y = m(x, src_key_padding_mask=kpm)
    return y


@snip
def enc_float_kpm(L):
    m = fill(L, L.nn.TransformerEncoderLayer(4, 2, 6, 0.0))
    r = np.random.default_rng(7)
    x = L.tensor(r.standard_normal((3, 2, 4)).astype(np.float32))
    kpm = L.tensor([[0.0, -1e9, 0.0], [0.0, 0.0, 0.0]])
    return m(x, src_key_padding_mask=kpm)


@snip
def dec_memory_mask(L):
    m = fill(L, L.nn.TransformerDecoderLayer(4, 2, 6, 0.0, batch_first=True, activation="gelu"))
    r = np.random.default_rng(8)
    t = L.tensor(r.standard_normal((1, 3, 4)).astype(np.float32))
    mem = L.tensor(r.standard_normal((1, 2, 4)).astype(np.float32))
    mm = L.tensor([[False, True], [False, False], [True, False]])
    return m(t, mem, memory_mask=mm)


@snip
def transformer_unbatched(L):
    m = fill(L, L.nn.Transformer(4, 2, 1, 1, 6, 0.0))
    r = np.random.default_rng(9)
    return m(L.tensor(r.standard_normal((3, 4)).astype(np.float32)), L.tensor(r.standard_normal((2, 4)).astype(np.float32)))


@snip
def encoder_mask_check(L):
    layer = L.nn.TransformerEncoderLayer(4, 2, 6, 0.0)
    enc = fill(L, L.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))
    r = np.random.default_rng(10)
    x = L.tensor(r.standard_normal((3, 1, 4)).astype(np.float32))
    mask = L.nn.Transformer.generate_square_subsequent_mask(3)
    return enc(x, mask=mask), enc(x, mask=mask, is_causal=True), enc.layers[0] is not layer


if __name__ == "__main__":
    run(sys.argv[1:] or None)
