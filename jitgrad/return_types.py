"""Named result tuples (``jitgrad.return_types.max`` ...) that print like PyTorch's."""

import collections


def _make(name, fields):
    base = collections.namedtuple(name, fields)

    def __repr__(self):
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"jitgrad.return_types.{name}(\n{body})"

    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__str__": __repr__})


max = _make("max", ["values", "indices"])
min = _make("min", ["values", "indices"])
sort = _make("sort", ["values", "indices"])
topk = _make("topk", ["values", "indices"])
kthvalue = _make("kthvalue", ["values", "indices"])
median = _make("median", ["values", "indices"])
nanmedian = _make("nanmedian", ["values", "indices"])
mode = _make("mode", ["values", "indices"])
aminmax = _make("aminmax", ["min", "max"])
linalg_svd = _make("linalg_svd", ["U", "S", "Vh"])
svd = _make("svd", ["U", "S", "V"])
linalg_qr = _make("linalg_qr", ["Q", "R"])
qr = _make("qr", ["Q", "R"])
linalg_eigh = _make("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_slogdet = _make("linalg_slogdet", ["sign", "logabsdet"])
slogdet = _make("slogdet", ["sign", "logabsdet"])
linalg_inv_ex = _make("linalg_inv_ex", ["inverse", "info"])
linalg_cholesky_ex = _make("linalg_cholesky_ex", ["L", "info"])
linalg_lstsq = _make("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
