"""Connectionist temporal classification: ``ctc_loss`` (torch's semantics and gradient).

Two primitives: ``ctc_nll`` (the per-sample negative log-likelihood, by the forward
recursion over the blank-extended target) and ``ctc_grad`` (its gradient by the
forward-backward recursions). The gradient is torch's: ``exp(lp) - exp(lcab + nll - lp)``,
which is the derivative with respect to the logits under ``log_softmax`` (the extra
``exp(lp)`` vanishes through ``log_softmax``'s backward, so a model gets the true gradient).
Recursions in float64, results in the input's dtype; like torch, no second derivative.
"""

import numpy as np

from .registry import apply, register

_NEG = -np.inf


def _extended(tgt, blank):
    """The target with blanks around every label, and which positions may come from s - 2:
    a label (odd position, as torch decides it: even a label equal to ``blank``) unlike the
    label before it."""
    ext = np.full(2 * len(tgt) + 1, blank, dtype=np.int64)
    ext[1::2] = tgt
    skip = np.zeros(len(ext), dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    return ext, skip


def _alpha(lp, ext, skip, steps):
    """log alpha[t, s] for t < steps (forward variables)."""
    S = len(ext)
    a = np.full((steps, S), _NEG)
    a[0, 0] = lp[0, ext[0]]
    if S > 1:
        a[0, 1] = lp[0, ext[1]]
    for t in range(1, steps):
        prev = a[t - 1]
        acc = prev.copy()
        acc[1:] = np.logaddexp(acc[1:], prev[:-1])
        acc[2:] = np.where(skip[2:], np.logaddexp(acc[2:], prev[:-2]), acc[2:])
        a[t] = acc + lp[t, ext]
    return a


def _beta(lp, ext, skip, steps):
    """log beta[t, s] for t < steps (backward variables, including lp at t)."""
    S = len(ext)
    b = np.full((steps, S), _NEG)
    b[steps - 1, S - 1] = lp[steps - 1, ext[S - 1]]
    if S > 1:
        b[steps - 1, S - 2] = lp[steps - 1, ext[S - 2]]
    nxt_skip = np.zeros(S, dtype=bool)  # s may jump to s + 2
    nxt_skip[:-2] = skip[2:]
    for t in range(steps - 2, -1, -1):
        nxt = b[t + 1]
        acc = nxt.copy()
        acc[:-1] = np.logaddexp(acc[:-1], nxt[1:])
        acc[:-2] = np.where(nxt_skip[:-2], np.logaddexp(acc[:-2], nxt[2:]), acc[:-2])
        b[t] = acc + lp[t, ext]
    return b


def _samples(log_probs, targets, input_lengths, target_lengths):
    """Per sample: (lp of shape (T_n, C) in float64, its target labels)."""
    lp64 = log_probs.astype(np.float64)
    offsets = np.concatenate([[0], np.cumsum(target_lengths)])
    for n in range(lp64.shape[1]):
        T_n, L = int(input_lengths[n]), int(target_lengths[n])
        if targets.ndim == 2:
            tgt = targets[n, :L]
        else:
            tgt = targets[offsets[n] : offsets[n] + L]
        yield n, lp64[:T_n, n], tgt.astype(np.int64)


def _check_lengths(log_probs, targets, input_lengths, target_lengths):
    T = log_probs.shape[0]
    if input_lengths.size and (input_lengths.max() > T or input_lengths.min() < 0):
        bad = input_lengths.max() if input_lengths.max() > T else input_lengths.min()
        raise RuntimeError(
            f"ctc_loss: Expected input_lengths to have value at most {T} (the length of "
            f"log_probs) and at least 0, but got value {bad}"
        )
    if target_lengths.size and target_lengths.min() < 0:
        raise RuntimeError(f"ctc_loss: target_lengths must be >= 0, got {target_lengths.min()}")
    if targets.ndim == 2 and target_lengths.size and target_lengths.max() > targets.shape[1]:
        raise RuntimeError(
            f"ctc_loss: Expected tensor to have size at least {target_lengths.max()} at "
            f"dimension 1, but got size {targets.shape[1]} for argument #2 'targets' (padded "
            f"targets of shape {list(targets.shape)} shorter than a target length)"
        )
    if targets.ndim == 1 and target_lengths.sum() > targets.shape[0]:
        raise RuntimeError(
            f"ctc_loss: concatenated targets of length {targets.shape[0]} are shorter than "
            f"the sum of target_lengths ({target_lengths.sum()})"
        )
    n_cls = log_probs.shape[2]
    if targets.size and (targets.max() >= n_cls or targets.min() < 0):
        raise RuntimeError(
            f"ctc_loss: target labels must be in [0, {n_cls}) for log_probs with {n_cls} "
            f"classes, got {targets.max() if targets.max() >= n_cls else targets.min()}"
        )


def _nll_ref(log_probs, targets, input_lengths, target_lengths, blank):
    _check_lengths(log_probs, targets, input_lengths, target_lengths)
    out = np.empty(log_probs.shape[1], dtype=np.float64)
    for n, lp, tgt in _samples(log_probs, targets, input_lengths, target_lengths):
        if lp.shape[0] == 0:
            out[n] = 0.0 if len(tgt) == 0 else np.inf
            continue
        ext, skip = _extended(tgt, blank)
        a = _alpha(lp, ext, skip, lp.shape[0])
        out[n] = -np.logaddexp(a[-1, -1], a[-1, -2] if len(ext) > 1 else _NEG)
    return out.astype(log_probs.dtype)


def _grad_ref(log_probs, targets, input_lengths, target_lengths, nll, g, blank, zero_infinity):
    grad = np.zeros(log_probs.shape, dtype=np.float64)
    for n, lp, tgt in _samples(log_probs, targets, input_lengths, target_lengths):
        T_n = lp.shape[0]
        loss = float(nll[n])
        if T_n == 0 or (zero_infinity and np.isinf(loss)):
            continue
        ext, skip = _extended(tgt, blank)
        ab = _alpha(lp, ext, skip, T_n) + _beta(lp, ext, skip, T_n)
        lcab = np.full(lp.shape, _NEG)
        for s, c in enumerate(ext):
            lcab[:, c] = np.logaddexp(lcab[:, c], ab[:, s])
        with np.errstate(invalid="ignore", over="ignore"):
            grad[:T_n, n] = (np.exp(lp) - np.exp(lcab + loss - lp)) * float(g[n])
    return grad.astype(log_probs.dtype)


def _grad_vjp(*args, **kw):
    raise RuntimeError(
        "ctc_loss: the derivative of ctc_loss's backward is not implemented (no second "
        "derivative, as in torch)"
    )


def _nll_vjp(g, o, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    grad = apply(
        ctc_grad_p,
        (log_probs, targets, input_lengths, target_lengths, o, g),
        {"blank": blank, "zero_infinity": zero_infinity},
    )
    return (grad, None, None, None)


ctc_grad_p = register(
    "ctc_grad",
    "opaque",
    _grad_ref,
    vjp=_grad_vjp,
    n_diff=1,
    backward_name="CtcLossBackwardBackward0",
)
ctc_nll_p = register(
    "ctc_nll",
    "opaque",
    lambda lp, t, il, tl, blank, zero_infinity: _nll_ref(lp, t, il, tl, blank),
    vjp=_nll_vjp,
    saves_out=True,
    n_diff=1,
    backward_name="CtcLossBackward0",
)


def ctc_nll(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """Per-sample CTC negative log-likelihood of (T, N, C) ``log_probs`` (checked inputs)."""
    return apply(
        ctc_nll_p,
        (log_probs, targets, input_lengths, target_lengths),
        {"blank": blank, "zero_infinity": zero_infinity},
    )
