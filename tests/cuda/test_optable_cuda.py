"""The op table on the CUDA backend (simulator): the rows ``compiled_sample('cuda')`` picks,
eager vs ``trace(device='cuda')``, forward and gradients (see tests/compile/test_op_parity.py
for the CPU and reference runs of the same rows)."""

import pytest

from ..core.optable import chunks, compiled_sample, run_traced

PARTS = 3


@pytest.mark.parametrize("part", range(PARTS))
def test_table_traced_matches_eager_on_cuda(part):
    rows = chunks(compiled_sample("cuda"), PARTS)[part]
    bad, ts = run_traced(rows, "cuda")
    assert not bad, "\n".join(bad[:40])
    assert ts.last.exe.name == "cuda"
