"""nn.LSTM / GRU / RNN against a NumPy transcription of PyTorch's documented equations, and an
unrolled RNN step traced vs eager."""

import numpy as np
import pytest

import jitgrad as torch
from jitgrad import nn


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _np_lstm_layer(x, h, c, w_ih, w_hh, b_ih, b_hh):
    outs = []
    for t in range(x.shape[0]):
        g = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, gg, o = np.split(g, 4, axis=-1)
        c = _sig(f) * c + _sig(i) * np.tanh(gg)
        h = _sig(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs), h, c


def _np_gru_layer(x, h, w_ih, w_hh, b_ih, b_hh):
    outs = []
    for t in range(x.shape[0]):
        xr, xz, xn = np.split(x[t] @ w_ih.T + b_ih, 3, axis=-1)
        hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
        r, z = _sig(xr + hr), _sig(xz + hz)
        n = np.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), h


def _params(m, layer, rev=False):
    s = f"_l{layer}" + ("_reverse" if rev else "")
    return [
        getattr(m, k + s).detach().numpy().astype(np.float64)
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]


def _np_stack(mode, m, x, nl, bidir):
    layer_in = x
    hs, cs = [], []
    n = x.shape[1]
    for layer in range(nl):
        outs = []
        for rev in [False, True] if bidir else [False]:
            w = _params(m, layer, rev)
            xi = layer_in[::-1] if rev else layer_in
            h0 = np.zeros((n, m.hidden_size))
            if mode == "LSTM":
                o, h, c = _np_lstm_layer(xi, h0, h0, *w)
                cs.append(c)
            else:
                o, h = _np_gru_layer(xi, h0, *w)
            outs.append(o[::-1] if rev else o)
            hs.append(h)
        layer_in = np.concatenate(outs, -1)
    return layer_in, np.stack(hs), (np.stack(cs) if cs else None)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("nl, bidir, batch_first", [(1, False, False), (2, True, True)])
def test_lstm_gru_match_numpy_equations(mode, nl, bidir, batch_first):
    torch.manual_seed(0)
    cls = getattr(nn, mode)
    m = cls(3, 4, num_layers=nl, bidirectional=bidir, batch_first=batch_first).double()
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    inp = torch.tensor(x.transpose(1, 0, 2) if batch_first else x)
    out, hid = m(inp)
    ref_o, ref_h, ref_c = _np_stack(mode, m, x, nl, bidir)
    got = out.detach().numpy()
    got = got.transpose(1, 0, 2) if batch_first else got
    np.testing.assert_allclose(got, ref_o, rtol=1e-10, atol=1e-12)
    if mode == "LSTM":
        h, c = hid
        np.testing.assert_allclose(c.detach().numpy(), ref_c, rtol=1e-10, atol=1e-12)
    else:
        h = hid
    np.testing.assert_allclose(h.detach().numpy(), ref_h, rtol=1e-10, atol=1e-12)
    assert out.shape == ((2, 5, 4 * (1 + bidir)) if batch_first else (5, 2, 4 * (1 + bidir)))


def test_parameter_names_shapes_and_init_bounds():
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert names[4] == "weight_ih_l0_reverse" and len(names) == 16
    assert m.weight_ih_l1.shape == (20, 10) and m.weight_hh_l0.shape == (20, 5)
    bound = 1 / np.sqrt(5)
    assert all(float(p.abs().max()) <= bound for p in m.parameters())
    assert repr(m) == "LSTM(3, 5, num_layers=2, bidirectional=True)"
    assert nn.GRU(2, 3).weight_ih_l0.shape == (9, 2)


def test_cells_match_layers_and_unbatched_input():
    torch.manual_seed(0)
    cell = nn.LSTMCell(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    h, c = cell(x)
    w = [
        getattr(cell, k).detach().numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    _, rh, rc = _np_lstm_layer(x.numpy()[None], np.zeros((2, 4)), np.zeros((2, 4)), *w)
    np.testing.assert_allclose(h.detach().numpy(), rh)
    np.testing.assert_allclose(c.detach().numpy(), rc)
    g = nn.GRUCell(3, 4)
    assert g(torch.randn(3)).shape == (4,)
    r = nn.RNNCell(3, 4, nonlinearity="relu")
    assert float(r(torch.randn(5, 3)).min()) >= 0
    rnn = nn.RNN(3, 4)
    out, h = rnn(torch.randn(6, 3))  # unbatched (L, H_in)
    assert out.shape == (6, 4) and h.shape == (1, 4)


def test_gradients_flow_and_match_finite_differences():
    torch.manual_seed(0)
    m = nn.GRU(2, 3).double()
    x = torch.randn(4, 1, 2, dtype=torch.float64)
    out, h = m(x)
    (out.sum() + h.sum()).backward()
    w = m.weight_hh_l0
    eps = 1e-6
    i, j = 1, 2
    with torch.no_grad():
        w[i, j] += eps
        fp = sum(t.sum().item() for t in m(x))
        w[i, j] -= 2 * eps
        fm = sum(t.sum().item() for t in m(x))
        w[i, j] += eps
    np.testing.assert_allclose(w.grad[i, j].item(), (fp - fm) / (2 * eps), rtol=1e-6)


def test_packed_sequences_freeze_finished_rows():
    from jitgrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

    torch.manual_seed(0)
    m = nn.LSTM(2, 3, bidirectional=True).double()
    a = torch.randn(4, 2, dtype=torch.float64)
    b = torch.randn(2, 2, dtype=torch.float64)
    padded = pad_sequence([a, b])
    assert padded.shape == (4, 2, 2) and padded[2:, 1].abs().sum().item() == 0
    out, (h, c) = m(pack_padded_sequence(padded, [4, 2]))
    out, lengths = pad_packed_sequence(out)
    assert lengths.tolist() == [4, 2] and out[2:, 1].abs().sum().item() == 0
    alone_out, (alone_h, _) = m(b.unsqueeze(1))
    np.testing.assert_allclose(out[:2, 1].detach().numpy(), alone_out[:, 0].detach().numpy())
    np.testing.assert_allclose(h[:, 1].detach().numpy(), alone_h[:, 0].detach().numpy())


def test_unrolled_rnn_step_traced_matches_eager():
    """A whole RNN training step (forward unrolled over time, backward, SGD) compiles and
    gives the eager numbers, step after step."""

    def make():
        torch.manual_seed(3)
        rnn = nn.RNN(2, 3)
        return rnn, torch.optim.SGD(rnn.parameters(), lr=0.1)

    x = torch.randn(2, 1, 2)

    def step_fn(rnn, opt):
        def step(x):
            opt.zero_grad()
            out, h = rnn(x)
            loss = (out * out).mean()
            loss.backward()
            opt.step()
            return loss

        return step

    r1, o1 = make()
    r2, o2 = make()
    eager = step_fn(r1, o1)
    traced = torch.trace(step_fn(r2, o2))
    for _ in range(3):
        le, lt = eager(x), traced(x)
        np.testing.assert_allclose(lt.item(), le.item(), rtol=1e-5)
    for p, q in zip(r1.parameters(), r2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_lstm_projection_matches_numpy_equations_and_finite_differences():
    torch.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2).double()
    assert repr(m) == "LSTM(3, 4, proj_size=2, num_layers=2, bidirectional=True)"
    assert m.weight_hh_l0.shape == (16, 2) and m.weight_hr_l1_reverse.shape == (2, 4)
    assert m.weight_ih_l1.shape == (16, 4) and len(m.all_weights[0]) == 5
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    xt = torch.tensor(x, requires_grad=True)
    out, (h, c) = m(xt)
    # reference: h_t = W_hr (o_t * tanh(c_t)), fed back through W_hh
    layer_in, hs, cs = x, [], []
    for layer in range(2):
        outs = []
        for rev in (False, True):
            s = f"_l{layer}" + ("_reverse" if rev else "")
            w_ih, w_hh, b_ih, b_hh, w_hr = (
                getattr(m, k + s).detach().numpy()
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
            )
            hh, cc, seq = np.zeros((2, 2)), np.zeros((2, 4)), []
            for t in range(4)[::-1] if rev else range(4):
                i, f, g, o = np.split(layer_in[t] @ w_ih.T + b_ih + hh @ w_hh.T + b_hh, 4, -1)
                cc = _sig(f) * cc + _sig(i) * np.tanh(g)
                hh = (_sig(o) * np.tanh(cc)) @ w_hr.T
                seq.append(hh)
            outs.append(np.stack(seq[::-1] if rev else seq))
            hs.append(hh)
            cs.append(cc)
        layer_in = np.concatenate(outs, -1)
    np.testing.assert_allclose(out.detach().numpy(), layer_in, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy(), np.stack(hs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), np.stack(cs), rtol=1e-10, atol=1e-12)
    (out.sum() + h.sum() + c.sum()).backward()
    w, eps = m.weight_hr_l0, 1e-6
    with torch.no_grad():
        w[1, 2] += eps
        fp = float(sum(t.sum() for t in (m(xt)[0], *m(xt)[1])))
        w[1, 2] -= 2 * eps
        fm = float(sum(t.sum() for t in (m(xt)[0], *m(xt)[1])))
        w[1, 2] += eps
    np.testing.assert_allclose(float(w.grad[1, 2]), (fp - fm) / (2 * eps), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(4, 2, 4\)"):
        m(xt, (torch.zeros(4, 2, 2), torch.zeros(4, 2, 2)))
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
