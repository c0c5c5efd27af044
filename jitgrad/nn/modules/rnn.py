"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their cells, with PyTorch's equations,
parameter names, shapes and initialisation.

Everything is built from existing primitives (matmul, add, sigmoid, tanh, narrow, stack),
so a step unrolled over a sequence traces and compiles like any other graph. Multi-layer,
bidirectional, ``batch_first`` and LSTM's ``proj_size`` are supported; a ``PackedSequence`` (see
``nn.utils.rnn``) is run as its padded batch with finished sequences frozen by a mask.
"""

import math

import numpy as np

from ... import ops as _ops
from ...ops import elementwise as E
from ...ops import movement as V
from ...tensor import Tensor, _wrap
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _linear(x, w, b):
    y = x @ w.t()
    return y + b if b is not None else y


def _rnn_cell(x_w, h, w_hh, b_hh, act):
    return act(x_w + _linear(h, w_hh, b_hh))


def _lstm_cell(x_w, h, c, w_hh, b_hh, w_hr=None):
    gates = x_w + _linear(h, w_hh, b_hh)
    i, f, g, o = V.chunk(gates, 4, -1)
    i, f, g, o = E.sigmoid(i), E.sigmoid(f), E.tanh(g), E.sigmoid(o)
    c2 = f * c + i * g
    h2 = o * E.tanh(c2)
    return (h2 if w_hr is None else h2 @ w_hr.t()), c2


def _gru_cell(x_w, h, w_hh, b_hh):
    xr, xz, xn = V.chunk(x_w, 3, -1)
    hr, hz, hn = V.chunk(_linear(h, w_hh, b_hh), 3, -1)
    r = E.sigmoid(xr + hr)
    z = E.sigmoid(xz + hz)
    n = E.tanh(xn + r * hn)
    return (1 - z) * n + z * h


class RNNCellBase(Module):
    """Shared parameters of the cells: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        from ... import _devices, creation

        _devices.check_device(device, type(self).__name__)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        dt = creation._dt(dtype)
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(_wrap(np.empty((g, input_size), dtype=dt)))
        self.weight_hh = Parameter(_wrap(np.empty((g, hidden_size), dtype=dt)))
        if bias:
            self.bias_ih = Parameter(_wrap(np.empty((g,), dtype=dt)))
            self.bias_hh = Parameter(_wrap(np.empty((g,), dtype=dt)))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], like torch."""
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -k, k)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _check(self, input, hx, what):
        if input.ndim not in (1, 2):
            raise ValueError(f"{what}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}"
            )
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        return x, batched

    def _zeros(self, x):
        return x.new_zeros(x.shape[0], self.hidden_size)


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)."""

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, batched = self._check(input, hx, "RNNCell")
        h = self._zeros(x) if hx is None else (hx if batched else hx.unsqueeze(0))
        act = E.tanh if self.nonlinearity == "tanh" else E.relu
        r = _rnn_cell(
            _linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, act
        )
        return r if batched else r.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: gates i, f, g, o; returns ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, batched = self._check(input, hx, "LSTMCell")
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        h2, c2 = _lstm_cell(
            _linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh
        )
        return (h2, c2) if batched else (h2.squeeze(0), c2.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: gates r, z and the candidate n; returns ``h'``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, batched = self._check(input, hx, "GRUCell")
        h = self._zeros(x) if hx is None else (hx if batched else hx.unsqueeze(0))
        r = _gru_cell(_linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return r if batched else r.squeeze(0)


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrence shared by RNN, LSTM and GRU."""

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        from ... import _devices, creation

        _devices.check_device(device, type(self).__name__)
        if (
            not isinstance(dropout, (int, float))
            or not 0 <= dropout <= 1
            or isinstance(dropout, bool)
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            import warnings

            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                UserWarning,
                stacklevel=3,
            )
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if not isinstance(proj_size, int) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        dt = creation._dt(dtype)
        g = _GATES[mode] * hidden_size
        nd = 2 if bidirectional else 1
        real = proj_size or hidden_size  # the size of h (projected by weight_hr when set)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(nd):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                isz = input_size if layer == 0 else real * nd
                names = [("weight_ih" + sfx, (g, isz)), ("weight_hh" + sfx, (g, real))]
                if bias:
                    names += [("bias_ih" + sfx, (g,)), ("bias_hh" + sfx, (g,))]
                if proj_size:
                    names.append(("weight_hr" + sfx, (proj_size, hidden_size)))
                for name, shape in names:
                    setattr(self, name, Parameter(_wrap(np.empty(shape, dtype=dt))))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], like torch."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -k, k)

    @property
    def all_weights(self):
        nd = 2 if self.bidirectional else 1
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i * per : (i + 1) * per] for i in range(self.num_layers * nd)]

    def flatten_parameters(self):
        """No-op (kept for code written for cuDNN)."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _weights(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        b_ih = getattr(self, "bias_ih" + sfx) if self.bias else None
        b_hh = getattr(self, "bias_hh" + sfx) if self.bias else None
        w_hr = getattr(self, "weight_hr" + sfx) if self.proj_size else None
        w_ih, w_hh = getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)
        return w_ih, w_hh, b_ih, b_hh, w_hr

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence

        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            x, lengths = input.padded, input.lengths  # (L, N, H), time-major
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"{type(self).__name__}: input must be a Tensor")
            if input.ndim not in (2, 3):
                raise ValueError(
                    f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D "
                    "instead"
                )
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{x.shape[-1]}"
            )
        nd = 2 if self.bidirectional else 1
        n = x.shape[1]
        lstm = self.mode == "LSTM"
        real = self.proj_size or self.hidden_size
        want = (self.num_layers * nd, n, real)
        want_c = (self.num_layers * nd, n, self.hidden_size)
        h0 = c0 = None
        if hx is not None:
            if lstm:
                h0, c0 = hx
            else:
                h0 = hx
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            checks = [(h0, want, "hidden[0]" if lstm else "hidden")]
            if lstm:
                checks.append((c0, want_c, "hidden[1]"))
            for t, size, nm in checks:
                if t is not None and tuple(t.shape) != size:
                    raise RuntimeError(f"Expected {nm} size {size}, got {list(t.shape)}")
        masks = None
        if lengths is not None:
            steps = np.arange(x.shape[0])[:, None] < np.asarray(lengths)[None, :]
            masks = [_wrap(steps[t][:, None]) for t in range(x.shape[0])]
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(nd):
                k = layer * nd + d
                h = h0[k] if h0 is not None else x.new_zeros(n, real)
                c = None
                if lstm:
                    c = c0[k] if c0 is not None else x.new_zeros(n, self.hidden_size)
                seq, h, c = self._direction(
                    layer_in, h, c, self._weights(layer, d), d == 1, masks, lengths
                )
                outs.append(seq)
                hs.append(h)
                if lstm:
                    cs.append(c)
            layer_in = outs[0] if nd == 1 else _ops.V.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        out = layer_in
        h_n = V.stack(hs, 0)
        c_n = V.stack(cs, 0) if lstm else None
        if packed:
            out = PackedSequence(
                out,
                input.lengths,
                input.batch_first_hint,
                input.sorted_indices,
                input.unsorted_indices,
            )
        else:
            if not batched:
                out = out.squeeze(1)
                h_n = h_n.squeeze(1)
                c_n = c_n.squeeze(1) if c_n is not None else None
            elif self.batch_first:
                out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if lstm else (out, h_n)

    def _direction(self, x, h, c, weights, reverse, masks, lengths):
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        steps = x.shape[0]
        if reverse and lengths is not None:
            x = _reverse_padded(x, lengths)
        elif reverse:
            x = V.flip(x, [0])
        xw = _linear(x, w_ih, b_ih)  # every time step's input projection in one matmul
        act = E.relu if self.mode == "RNN_RELU" else E.tanh
        outs = []
        for t in range(steps):
            xt = xw[t]
            if self.mode == "LSTM":
                h2, c2 = _lstm_cell(xt, h, c, w_hh, b_hh, w_hr)
            elif self.mode == "GRU":
                h2, c2 = _gru_cell(xt, h, w_hh, b_hh), None
            else:
                h2, c2 = _rnn_cell(xt, h, w_hh, b_hh, act), None
            if masks is not None:
                m = masks[t]
                h = E.where(m, h2, h)
                c = E.where(m, c2, c) if c2 is not None else None
                outs.append(E.where(m, h2, 0.0))
            else:
                h, c = h2, c2
                outs.append(h2)
        seq = V.stack(outs, 0) if outs else x.new_zeros(0, h.shape[0], h.shape[1])
        if reverse and lengths is not None:
            seq = _reverse_padded(seq, lengths)
        elif reverse:
            seq = V.flip(seq, [0])
        return seq, h, c


def _reverse_padded(x, lengths):
    """Reverse each batch column of the time-major ``x`` within its own length."""
    steps, n = x.shape[0], x.shape[1]
    idx = np.tile(np.arange(steps)[:, None], (1, n))
    for j, ln in enumerate(lengths):
        idx[:ln, j] = np.arange(ln)[::-1]
    full = np.broadcast_to(idx[:, :, None], tuple(x.shape)).copy()
    return V.gather(x, 0, _wrap(full.astype(np.int64)))


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu)."""

    def __init__(self, *args, **kwargs):
        nl = kwargs.pop("nonlinearity", "tanh")
        if len(args) > 3:
            nl = args[3]
            args = args[:3] + args[4:]
        if nl not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nl}'. Select from 'tanh' or 'relu'.")
        self.__dict__["nonlinearity"] = nl
        super().__init__("RNN_TANH" if nl == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nl  # torch's RNN repr does not show it (RNNCell's does)


class LSTM(RNNBase):
    """Long short-term memory; ``forward`` returns ``(output, (h_n, c_n))``."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit; ``forward`` returns ``(output, h_n)``."""

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
