"""Parity round 8 (notes/parity-round8/): behaviours found by running the same programs
under torch and jitgrad side by side. Expectations are torch's rules restated (wrapping
arithmetic, error classes and messages, NumPy references); no torch import."""

import numpy as np
import pytest

import jitgrad


# ---- Python ints meeting small integer dtypes ----------------------------------------------
def test_python_int_operand_wraps_into_the_tensor_dtype():
    # torch casts the scalar to the tensor's dtype modulo 2**bits (no error, no upcast)
    r = jitgrad.tensor([1], dtype=jitgrad.int8) + 200
    assert r.dtype == jitgrad.int8 and r.tolist() == [-55]
    u = jitgrad.tensor([1], dtype=jitgrad.uint8)
    assert (u + 300).tolist() == [45] and (u - 2).tolist() == [255]
    assert (jitgrad.tensor([1], dtype=jitgrad.int8) * 1000).tolist() == [-24]
    assert (jitgrad.tensor([0], dtype=jitgrad.uint8) == 256).tolist() == [True]
    assert (jitgrad.tensor([1, 2]) + 2**63).tolist() == [-(2**63) + 1, -(2**63) + 2]
    a = jitgrad.tensor([1], dtype=jitgrad.int8)
    a.add_(200)
    assert a.tolist() == [-55]
    with pytest.raises(OverflowError, match="int too big to convert"):
        jitgrad.tensor([0], dtype=jitgrad.uint8) + 2**64


def test_where_clamp_masked_fill_refuse_an_int_the_dtype_cannot_hold():
    t = jitgrad.tensor([1], dtype=jitgrad.int8)
    c = jitgrad.tensor([True])
    msg = "value cannot be converted to type int8_t without overflow"
    for f in (
        lambda: jitgrad.where(c, t, 200),
        lambda: t.masked_fill(c, 200),
        lambda: t.clamp(max=200),
        lambda: t.clamp(-200, 5),
    ):
        with pytest.raises(RuntimeError, match=msg):
            f()
    u = jitgrad.tensor([3], dtype=jitgrad.uint8)
    assert jitgrad.where(~c, u, -1).tolist() == [255]  # -1 wraps in an unsigned dtype
    assert u.masked_fill(c, -1).tolist() == [255]
    assert t.masked_fill(c, 100).tolist() == [100]


def test_tensor_of_out_of_range_python_numbers():
    for data in (2**63, [1, 2**64], -(2**63) - 1):
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            jitgrad.tensor(data)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        jitgrad.tensor([2**63], dtype=jitgrad.int64)
    for data, dt in (
        (300, jitgrad.uint8),
        (-300, jitgrad.uint8),
        ([200], jitgrad.int8),
        ([2**40], jitgrad.int32),
        ([1e40], jitgrad.int32),
        (float("nan"), jitgrad.int64),
        ([True, 300], jitgrad.uint8),
    ):
        name = str(dt).split(".")[-1]
        with pytest.raises(RuntimeError, match=f"value cannot be converted to type {name} "):
            jitgrad.tensor(data, dtype=dt)
    assert jitgrad.tensor([[1, 2], [3, -4]], dtype=jitgrad.uint8).tolist() == [[1, 2], [3, 252]]
    assert jitgrad.tensor(-1, dtype=jitgrad.uint8).item() == 255
    assert jitgrad.tensor([1, 2**63 - 1]).tolist() == [1, 2**63 - 1]


# ---- version counter, storage offset, 0-d indexing -----------------------------------------
def test_version_counter_counts_in_place_writes_shared_by_views():
    a = jitgrad.ones(3)
    assert a._version == 0
    a.add_(1)
    a[0] = 3
    b = a.view(3)
    b.mul_(2)
    assert (a._version, b._version) == (3, 3)
    assert (a * 1)._version == 0
    w = jitgrad.ones(2, requires_grad=True)
    opt = jitgrad.optim.SGD([w], lr=0.1)
    w.sum().backward()
    opt.step()
    assert w._version == 1


def test_storage_offset_of_views():
    x = jitgrad.arange(12.0).reshape(3, 4)
    assert x.storage_offset() == 0
    assert x[1:, 2:].storage_offset() == 6
    assert x[2].storage_offset() == 8
    assert x.t()[1].storage_offset() == 1
    assert x.narrow(1, 1, 2).storage_offset() == 1
    assert x[:, 1:].reshape(-1).storage_offset() == 0  # a copy


def test_indexing_a_0d_tensor_and_a_zero_step():
    t = jitgrad.tensor(1.0)
    with pytest.raises(IndexError, match=r"invalid index of a 0-dim tensor. Use `tensor.item\(\)`"):
        t[0]
    with pytest.raises(IndexError, match=r"slice\(\) cannot be applied to a 0-dim tensor."):
        t[:]
    assert t[None].shape == (1,)
    with pytest.raises(ValueError, match="^slice step cannot be zero$"):
        jitgrad.arange(5.0)[::0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        jitgrad.arange(5.0)[::-1]
