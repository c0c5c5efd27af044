"""``jitgrad.backends``: the flags tutorials read (``backends.mps.is_available()`` ...)."""

import types

mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cudnn = types.SimpleNamespace(
    enabled=True,
    benchmark=False,
    deterministic=False,
    is_available=lambda: False,
    version=lambda: None,
    allow_tf32=True,
)
cuda = types.SimpleNamespace(
    is_built=lambda: False,
    matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
)
mkldnn = types.SimpleNamespace(is_available=lambda: False, enabled=False)
openmp = types.SimpleNamespace(is_available=lambda: False)
