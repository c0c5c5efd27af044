"""More layers, activations and losses tutorials use: thin modules over ``nn.functional``."""

import math

import numpy as np

from ... import creation as _c
from ...tensor import _wrap
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .dropout import _DropoutNd
from .linear import Linear
from .loss import _Loss, _WeightedLoss
from .module import Module


def _simple(name, fn, doc, **defaults):
    """A parameter-free module calling ``fn(input, **settings)``."""

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        keys = list(defaults)
        vals = dict(defaults)
        for k, v in zip(keys, args):
            vals[k] = v
        vals.update(kwargs)
        for k, v in vals.items():
            setattr(self, k, v)

    def forward(self, input):
        return fn(input, **{k: getattr(self, k) for k in defaults})

    def extra_repr(self):
        return ", ".join(
            f"{k}={getattr(self, k)}" for k in defaults if k != "inplace" or getattr(self, k)
        )

    return type(
        name,
        (Module,),
        {
            "__init__": __init__,
            "forward": forward,
            "extra_repr": extra_repr,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


SELU = _simple("SELU", F.selu, "SELU activation.", inplace=False)
CELU = _simple("CELU", F.celu, "CELU activation.", alpha=1.0, inplace=False)
Softsign = _simple("Softsign", F.softsign, "x / (1 + |x|).")
Softmin = _simple("Softmin", F.softmin, "softmax(-x) along dim.", dim=None)
Hardsigmoid = _simple("Hardsigmoid", F.hardsigmoid, "relu6(x + 3) / 6.", inplace=False)
Hardswish = _simple("Hardswish", F.hardswish, "x * relu6(x + 3) / 6.", inplace=False)
Tanhshrink = _simple("Tanhshrink", F.tanhshrink, "x - tanh(x).")
Hardshrink = _simple("Hardshrink", F.hardshrink, "Hard shrinkage.", lambd=0.5)
Softshrink = _simple("Softshrink", F.softshrink, "Soft shrinkage.", lambd=0.5)
Threshold = _simple(
    "Threshold",
    F.threshold,
    "x if x > threshold else value.",
    threshold=0.0,
    value=0.0,
    inplace=False,
)
GLU = _simple("GLU", F.glu, "Gated linear unit.", dim=-1)
RReLU = _simple(
    "RReLU",
    lambda x, lower, upper, inplace: F.rrelu(x, lower, upper, False, inplace),
    "Randomised leaky ReLU (eval-mode slope).",
    lower=1.0 / 8,
    upper=1.0 / 3,
    inplace=False,
)
PixelShuffle = _simple("PixelShuffle", F.pixel_shuffle, "Depth to space.", upscale_factor=1)
PixelUnshuffle = _simple("PixelUnshuffle", F.pixel_unshuffle, "Space to depth.", downscale_factor=1)


class AlphaDropout(_DropoutNd):
    """Alpha dropout (SELU networks) in training mode, the identity in eval mode."""

    _fn = staticmethod(F.alpha_dropout)

    def forward(self, input):
        return self._fn(input, self.p, self.training)


class FeatureAlphaDropout(AlphaDropout):
    """Alpha dropout of whole channels."""

    _fn = staticmethod(F.feature_alpha_dropout)


class PReLU(Module):
    """``max(0, x) + a * min(0, x)`` with a learnable ``a`` (one or one per channel)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(_wrap(np.full((num_parameters,), init, dtype=np.float32)))

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class CosineSimilarity(Module):
    """Cosine similarity along ``dim``."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance of row pairs."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Upsample(Module):
    """``F.interpolate`` as a module."""

    def __init__(
        self,
        size=None,
        scale_factor=None,
        mode="nearest",
        align_corners=None,
        recompute_scale_factor=None,
    ):
        super().__init__()
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        if self.scale_factor is not None:
            return f"scale_factor={float(self.scale_factor)}, mode='{self.mode}'"
        return f"size={self.size}, mode='{self.mode}'"


class _Pad(Module):
    mode = "constant"
    nd = 2

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self.nd) if isinstance(padding, int) else tuple(padding)
        self.value = value

    def forward(self, input):
        if self.mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


def _pad(name, mode, nd, zero=False):
    attrs = {"mode": mode, "nd": nd, "__module__": __name__, "__doc__": f"{mode} padding."}
    if zero:
        attrs["__init__"] = lambda self, padding: _Pad.__init__(self, padding, 0.0)
        attrs["extra_repr"] = lambda self: f"{self.padding}"
    elif mode != "constant":
        attrs["__init__"] = lambda self, padding: _Pad.__init__(self, padding)
    return type(name, (_Pad,), attrs)


ConstantPad1d = _pad("ConstantPad1d", "constant", 1)
ConstantPad2d = _pad("ConstantPad2d", "constant", 2)
ConstantPad3d = _pad("ConstantPad3d", "constant", 3)
ZeroPad1d = _pad("ZeroPad1d", "constant", 1, True)
ZeroPad2d = _pad("ZeroPad2d", "constant", 2, True)
ReflectionPad1d = _pad("ReflectionPad1d", "reflect", 1)
ReflectionPad2d = _pad("ReflectionPad2d", "reflect", 2)
ReplicationPad1d = _pad("ReplicationPad1d", "replicate", 1)
ReplicationPad2d = _pad("ReplicationPad2d", "replicate", 2)
CircularPad1d = _pad("CircularPad1d", "circular", 1)
CircularPad2d = _pad("CircularPad2d", "circular", 2)


class InstanceNorm1d(Module):
    """Instance normalisation (per sample and channel), optional affine."""

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=False,
        track_running_stats=False,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        if track_running_stats:
            raise NotImplementedError("InstanceNorm(track_running_stats=True) is not supported")
        self.num_features, self.eps, self.momentum, self.affine = (
            num_features,
            eps,
            momentum,
            affine,
        )
        self.track_running_stats = False
        self.weight = Parameter(_c.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(_c.zeros(num_features, dtype=dtype)) if affine and bias else None

    _spatial = 1  # spatial dims after the channel dim

    def forward(self, input):
        c = input.ndim - self._spatial - 1
        if self.affine and c >= 0 and input.shape[c] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: expected input's size at dim={c} to match num_features "
                f"({self.num_features}), but got: {input.shape[c]} (input shape "
                f"{list(input.shape)})"
            )
        return F.instance_norm(input, weight=self.weight, bias=self.bias, eps=self.eps)

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class InstanceNorm2d(InstanceNorm1d):
    """Instance normalisation of (N, C, H, W)."""

    _spatial = 2


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under the name PyTorch gives MultiheadAttention's ``out_proj``."""


def _check_masks(attn_mask, key_padding_mask, n, h, tgt, src, batched):
    """PyTorch's checks of MultiheadAttention's masks (dtype, rank, shape)."""
    if attn_mask is not None:
        if not (attn_mask.dtype.name == "bool" or attn_mask.is_floating_point()):
            raise AssertionError(
                f"only bool and floating types of attn_mask are supported (got {attn_mask.dtype})"
            )
        if attn_mask.ndim == 2 and tuple(attn_mask.shape) != (tgt, src):
            raise RuntimeError(
                f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(tgt, src)}."
            )
        if attn_mask.ndim == 3 and not batched and tuple(attn_mask.shape) != (h, tgt, src):
            raise AssertionError(
                f"Expected `attn_mask` shape to be {(h, tgt, src)} but got {attn_mask.shape}"
            )
        if attn_mask.ndim == 3 and tuple(attn_mask.shape) != (n * h, tgt, src):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                f"{(n * h, tgt, src)}."
            )
        if attn_mask.ndim not in (2, 3):
            what = "batched (3-D)" if batched else "unbatched (2-D)"
            raise AssertionError(
                f"For {what} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                f"{attn_mask.ndim}-D tensor instead"
            )
    if key_padding_mask is not None and batched:
        if key_padding_mask.ndim != 2 or key_padding_mask.shape[0] != n:
            raise AssertionError(
                f"Expected key_padded_mask.shape[0] to be {n}, but got "
                f"{key_padding_mask.shape[0] if key_padding_mask.ndim else 0}"
            )
        if key_padding_mask.shape[1] != src:
            raise AssertionError(
                f"Expected key_padded_mask.shape[1] to be {src}, but got "
                f"{key_padding_mask.shape[1]}"
            )


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's packed ``in_proj_weight`` and ``out_proj``."""

    def __init__(
        self,
        embed_dim,
        num_heads,
        dropout=0.0,
        bias=True,
        add_bias_kv=False,
        add_zero_attn=False,
        kdim=None,
        vdim=None,
        batch_first=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(
                "MultiheadAttention: add_bias_kv and add_zero_attn are not supported by jitgrad"
            )
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:  # torch's packed (3E, E) weight
            self.in_proj_weight = Parameter(_wrap(np.empty((3 * embed_dim, embed_dim), np.float32)))
            init.xavier_uniform_(self.in_proj_weight)
            for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(n, None)
        else:  # key/value of other widths: one (E, dim) weight each, as torch
            for n, dim in (("q", embed_dim), ("k", self.kdim), ("v", self.vdim)):
                w = Parameter(_wrap(np.empty((embed_dim, dim), np.float32)))
                init.xavier_uniform_(w)
                setattr(self, f"{n}_proj_weight", w)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_wrap(np.zeros(3 * embed_dim, np.float32)))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights=True,
        attn_mask=None,
        average_attn_weights=True,
        is_causal=False,
    ):
        if is_causal and attn_mask is None:  # torch: the flag is a hint about the mask
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                "module method `generate_square_subsequent_mask` to create this mask."
            )
        if query.ndim not in (2, 3):
            raise AssertionError(
                "MultiheadAttention: query should be unbatched 2D or batched 3D tensor but "
                f"received {query.ndim}-D query tensor (shape {list(query.shape)})"
            )
        for name, t in (("key", key), ("value", value)):
            if t.ndim != query.ndim:
                raise AssertionError(
                    f"MultiheadAttention: for {query.ndim}-D query, {name} should be "
                    f"{query.ndim}-D too, but received {t.ndim}-D {name} (shape {list(t.shape)})"
                )
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise AssertionError(
                f"MultiheadAttention: key shape {list(key.shape)} does not match value shape "
                f"{list(value.shape)} (they need the same sequence length and batch)"
            )
        bdim = 0 if self.batch_first else 1
        if query.ndim == 3 and key.shape[bdim] != query.shape[bdim]:
            raise RuntimeError(
                f"MultiheadAttention: query batch {query.shape[bdim]} and key batch "
                f"{key.shape[bdim]} differ (query {list(query.shape)}, key {list(key.shape)}, "
                f"batch_first={self.batch_first})"
            )
        batched = query.ndim == 3
        q, k, v = query, key, value
        if not batched:
            q, k, v = q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)
        elif self.batch_first:
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        L, N, E = q.shape
        S = k.shape[0]
        if E != self.embed_dim:  # PyTorch's assertion, with the shapes
            raise AssertionError(
                f"was expecting embedding dimension of {self.embed_dim}, but got {E} "
                f"(query of shape {list(query.shape)}, batch_first={self.batch_first})"
            )
        b = self.in_proj_bias
        if self._qkv_same_embed_dim:
            wq, wk, wv = self.in_proj_weight.chunk(3, 0)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
            for name, wt, t in (("key", wk, k), ("value", wv, v)):
                if wt.shape[1] != t.shape[-1]:
                    raise AssertionError(
                        f"expecting {name} weights shape of {(E, t.shape[-1])}, but got "
                        f"{wt.shape} ({name} of shape {list(t.shape)})"
                    )
        bq, bk, bv = b.chunk(3, 0) if b is not None else (None, None, None)
        h, d = self.num_heads, self.head_dim

        def heads(x, wt, bt, n):
            y = F.linear(x, wt, bt)  # (n, N, E)
            return y.reshape(n, N * h, d).transpose(0, 1)  # (N h, n, d)

        qh, kh, vh = heads(q, wq, bq, L), heads(k, wk, bk, S), heads(v, wv, bv, S)
        scores = qh @ kh.transpose(1, 2) / math.sqrt(d)  # (N h, L, S)
        _check_masks(attn_mask, key_padding_mask, N, h, L, S, batched)
        mask = None
        if attn_mask is not None:
            mask = attn_mask if attn_mask.ndim == 3 else attn_mask.unsqueeze(0)
        if mask is not None:
            if mask.dtype.name == "bool":
                scores = scores.masked_fill(mask, float("-inf"))
            else:
                scores = scores + mask
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, h, 1, S).reshape(N * h, 1, S)
            if kpm.dtype.name == "bool":
                scores = scores.masked_fill(kpm, float("-inf"))
            else:
                scores = scores + kpm
        attn = F.softmax(scores, -1)
        if self.dropout and self.training:
            attn = F.dropout(attn, self.dropout, True)
        out = (attn @ vh).transpose(0, 1).reshape(L, N, E)
        out = self.out_proj(out)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        weights = None
        if need_weights:
            weights = attn.reshape(N, h, L, S)
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights.squeeze(0)
        return out, weights


class KLDivLoss(_Loss):
    """KL divergence; ``reduction='batchmean'`` is the mathematically right mean."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        Module.__init__(self)
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


def _loss(name, fn, doc, *argnames, **defaults):
    def __init__(self, *args, size_average=None, reduce=None, reduction="mean", **kwargs):
        _Loss.__init__(self, size_average, reduce, reduction)
        vals = dict(defaults)
        for k, v in zip(defaults, args):
            vals[k] = v
        vals.update(kwargs)
        for k, v in vals.items():
            setattr(self, k, v)

    def forward(self, *inputs):
        return fn(*inputs, reduction=self.reduction, **{k: getattr(self, k) for k in defaults})

    return type(
        name,
        (_Loss,),
        {"__init__": __init__, "forward": forward, "__doc__": doc, "__module__": __name__},
    )


MarginRankingLoss = _loss(
    "MarginRankingLoss", F.margin_ranking_loss, "Ranking hinge loss.", margin=0.0
)
HingeEmbeddingLoss = _loss(
    "HingeEmbeddingLoss", F.hinge_embedding_loss, "Hinge embedding.", margin=1.0
)
SoftMarginLoss = _loss("SoftMarginLoss", F.soft_margin_loss, "log(1 + exp(-y x)).")
CosineEmbeddingLoss = _loss(
    "CosineEmbeddingLoss", F.cosine_embedding_loss, "Cosine embedding loss.", margin=0.0
)
TripletMarginLoss = _loss(
    "TripletMarginLoss",
    F.triplet_margin_loss,
    "Triplet loss.",
    margin=1.0,
    p=2.0,
    eps=1e-6,
    swap=False,
)
PoissonNLLLoss = _loss(
    "PoissonNLLLoss", F.poisson_nll_loss, "Poisson NLL.", log_input=True, full=False, eps=1e-8
)
GaussianNLLLoss = _loss(
    "GaussianNLLLoss", F.gaussian_nll_loss, "Gaussian NLL.", full=False, eps=1e-6
)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-class logistic loss averaged over classes."""

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(Module):
    """Multi-label hinge loss (see ``functional.multilabel_margin_loss``)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = F._reduction(size_average, reduce, reduction)

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss."""

    def __init__(
        self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(
            input, target, self.p, self.margin, self.weight, reduction=self.reduction
        )


class EmbeddingBag(Module):
    """Bags of embeddings reduced by ``mode`` ('mean' by default); weight ~ N(0, 1)."""

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        mode="mean",
        sparse=False,
        _weight=None,
        include_last_offset=False,
        padding_idx=None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError(
                "EmbeddingBag: max_norm, scale_grad_by_freq and sparse are not supported"
            )
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.mode, self.include_last_offset, self.padding_idx = (
            mode,
            include_last_offset,
            (padding_idx),
        )
        self.max_norm, self.norm_type = None, norm_type
        self.scale_grad_by_freq, self.sparse = False, False
        self.weight = Parameter(_wrap(np.empty((num_embeddings, embedding_dim), np.float32)))
        if _weight is None:
            init.normal_(self.weight)
        else:
            from ..._grad_mode import no_grad

            with no_grad():
                self.weight.copy_(_weight)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            mode=self.mode,
            per_sample_weights=per_sample_weights,
            include_last_offset=self.include_last_offset,
            padding_idx=self.padding_idx,
        )

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, mode="mean", **kw):
        """An EmbeddingBag whose weight is ``embeddings`` (frozen by default)."""
        m = cls(embeddings.shape[0], embeddings.shape[1], _weight=embeddings, mode=mode, **kw)
        m.weight.requires_grad = not freeze
        return m


__all__ = [
    n
    for n, v in list(globals().items())
    if isinstance(v, type)
    and issubclass(v, Module)
    and v.__module__ == __name__
    and not n.startswith("_")
]


class Unfold(Module):
    """``F.unfold`` as a module (im2col)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (
            "kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
            "stride={stride}".format(**self.__dict__)
        )


class Fold(Unfold):
    """``F.fold`` as a module (col2im)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, input):
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self):
        return "output_size={output_size}, ".format(**self.__dict__) + super().extra_repr()


__all__ += ["Unfold", "Fold"]


class AdaptiveMaxPool2d(Module):
    """``F.adaptive_max_pool2d`` as a module."""

    _fn = staticmethod(F.adaptive_max_pool2d)

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return self._fn(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """``F.adaptive_max_pool1d`` as a module."""

    _fn = staticmethod(F.adaptive_max_pool1d)


class LPPool2d(Module):
    """``F.lp_pool2d`` as a module."""

    _fn = staticmethod(F.lp_pool2d)

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return self._fn(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (
            "norm_type={norm_type}, kernel_size={kernel_size}, stride={stride}, "
            "ceil_mode={ceil_mode}".format(**self.__dict__)
        )


class LPPool1d(LPPool2d):
    """``F.lp_pool1d`` as a module."""

    _fn = staticmethod(F.lp_pool1d)


class LocalResponseNorm(Module):
    """``F.local_response_norm`` as a module."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dims, with a learnable scale (ones)."""

    def __init__(
        self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None
    ):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_c.ones(*self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(
            **self.__dict__
        )


__all__ += [
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "LPPool1d",
    "LPPool2d",
    "LocalResponseNorm",
    "RMSNorm",
]
