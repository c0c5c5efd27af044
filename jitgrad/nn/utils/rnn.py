"""``nn.utils.rnn``: padding and packing of variable-length sequences.

A ``PackedSequence`` here keeps the padded, time-major batch and the lengths; the recurrent
layers run it with finished sequences frozen by a mask, which gives PyTorch's outputs and
final states. ``.data`` and ``.batch_sizes`` are PyTorch's packed layout, built on demand.
"""

import numpy as np

from ...ops import movement as V
from ...tensor import Tensor, _wrap


def _lengths(lengths):
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1:
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lengths.ndim}D cpu {lengths.dtype} tensor"
            )
        return [int(v) for v in lengths._data.reshape(-1)]
    return [int(v) for v in lengths]


class PackedSequence:
    """Sequences of different lengths in one batch (see ``pack_padded_sequence``)."""

    def __init__(
        self, padded, lengths, batch_first_hint=False, sorted_indices=None, unsorted_indices=None
    ):
        self.padded = padded  # (L, N, *) time-major
        self.lengths = list(lengths)
        self.batch_first_hint = batch_first_hint
        self.sorted_indices = sorted_indices
        self.unsorted_indices = unsorted_indices

    @property
    def batch_sizes(self):
        ln = np.asarray(self.lengths)
        return _wrap(np.array([(ln > t).sum() for t in range(max(self.lengths))], np.int64))

    @property
    def data(self):
        order = np.argsort(-np.asarray(self.lengths), kind="stable")
        rows = []
        for t in range(max(self.lengths)):
            for j in order:
                if self.lengths[j] > t:
                    rows.append(self.padded[t, int(j)])
        return V.stack(rows, 0)

    def __iter__(self):
        return iter((self.data, self.batch_sizes, self.sorted_indices, self.unsorted_indices))

    def __repr__(self):
        return (
            f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
            f"sorted_indices={self.sorted_indices}, unsorted_indices={self.unsorted_indices})"
        )


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shape (L_i, *) into (L_max, N, *) (or (N, L_max, *)), padded."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    m = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        k = m - s.shape[0]
        if k:
            pad = s.new_full((k,) + tuple(s.shape[1:]), padding_value)
            s = V.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    return V.stack(rows, 0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Mark the padded batch ``input`` with the true ``lengths`` for a recurrent layer."""
    ln = _lengths(lengths)
    if enforce_sorted and any(a < b for a, b in zip(ln, ln[1:])):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
            "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
            "sidestep this requirement if you do not need ONNX exportability."
        )
    if any(v <= 0 for v in ln):
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' "
            "that is <= 0"
        )
    x = input.transpose(0, 1) if batch_first else input
    if len(ln) != x.shape[1]:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(ln)} "
            f"(batch_size={x.shape[1]})"
        )
    x = V.narrow(x, 0, 0, max(ln))
    sorted_idx = unsorted_idx = None
    if not enforce_sorted:  # torch's permutation of the batch by decreasing length
        order = np.argsort(-np.asarray(ln), kind="stable")
        sorted_idx = _wrap(order.astype(np.int64))
        unsorted_idx = _wrap(np.argsort(order, kind="stable").astype(np.int64))
    return PackedSequence(x, ln, batch_first, sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """``(padded, lengths)`` back from a PackedSequence (padding set to ``padding_value``)."""
    x = sequence.padded
    ln = sequence.lengths
    if total_length is not None and total_length < max(ln):
        raise ValueError(
            "Expected total_length to be at least the length of the longest sequence in input, "
            f"but got total_length={total_length} and max sequence length being {max(ln)}"
        )
    steps = np.arange(x.shape[0])[:, None] < np.asarray(ln)[None, :]
    mask = _wrap(steps.reshape(steps.shape + (1,) * (x.ndim - 2)))
    from ...ops import elementwise as E

    x = E.where(mask, x, padding_value)
    if total_length is not None and total_length > x.shape[0]:
        pad = x.new_full((total_length - x.shape[0],) + tuple(x.shape[1:]), padding_value)
        x = V.cat([x, pad], 0)
    if batch_first:
        x = x.transpose(0, 1)
    return x, _wrap(np.asarray(ln, np.int64))


def pack_sequence(sequences, enforce_sorted=True):
    """``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    ln = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), ln, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, : int(n)] for i, n in enumerate(_lengths(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences of a PackedSequence, in the order they were packed."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = [
    "PackedSequence",
    "pad_sequence",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pack_sequence",
    "unpad_sequence",
    "unpack_sequence",
]
