"""``jitgrad.load`` on untrusted files: never runs code, always a clear error."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jitgrad as torch
import jitgrad.nn as nn

from ._util import PROPS


class _Evil:
    """Unpickling this creates a file (as any pickle payload could run any code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _payload(marker):
    return pickle.dumps({"weight": _Evil(str(marker))})


def _files(tmp_path, marker):
    """Malicious files of every shape a checkpoint might take."""
    out = {}
    out["raw_pickle"] = _payload(marker)
    # torch's zip layout: archive/data.pkl
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("archive/data.pkl", _payload(marker))
        z.writestr("archive/version", "3\n")
    out["torch_zip"] = b.getvalue()
    # an .npz whose array entry is an object array (pickled inside the .npy)
    b = io.BytesIO()
    np.savez(b, t0=np.array([_Evil(str(marker))], dtype=object))
    out["npz_object_array"] = b.getvalue()
    # a valid jitgrad header whose tensor entry is a pickled object array
    b = io.BytesIO()
    meta = {"format": "jitgrad-npz", "version": 1, "obj": {"tensor": "t0", "requires_grad": False}}
    np.savez(
        b,
        __jitgrad__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        t0=np.array([_Evil(str(marker))], dtype=object),
    )
    out["jitgrad_header_object_array"] = b.getvalue()
    # a plain .npy of objects
    b = io.BytesIO()
    np.save(b, np.array([_Evil(str(marker))], dtype=object), allow_pickle=True)
    out["npy_object"] = b.getvalue()
    return out


@pytest.mark.parametrize(
    "kind",
    ["raw_pickle", "torch_zip", "npz_object_array", "jitgrad_header_object_array", "npy_object"],
)
@pytest.mark.parametrize("source", ["path", "fileobj"])
def test_load_never_executes_code(tmp_path, kind, source):
    marker = tmp_path / "pwned"
    data = _files(tmp_path, marker)[kind]
    assert not marker.exists()
    f = tmp_path / f"{kind}.pt"
    f.write_bytes(data)
    with pytest.raises((ValueError, RuntimeError)) as ei:
        torch.load(str(f) if source == "path" else io.BytesIO(data))
    assert "jitgrad.load" in str(ei.value)
    assert not marker.exists(), "jitgrad.load executed code from the file"


@PROPS
@given(st.binary(max_size=400))
def test_random_bytes_give_a_clear_error(data):
    with pytest.raises((ValueError, RuntimeError)) as ei:
        torch.load(io.BytesIO(data))
    assert "jitgrad.load" in str(ei.value)


@PROPS
@given(st.data())
def test_damaged_real_checkpoint(data):
    """Flip, cut or zero bytes of a real checkpoint: a clear error or the original values."""
    m = nn.Linear(3, 2)
    b = io.BytesIO()
    torch.save(m.state_dict(), b)
    raw = bytearray(b.getvalue())
    how = data.draw(st.sampled_from(["flip", "cut", "zero"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    if how == "flip":
        raw[i] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        raw = raw[:i]
    else:
        raw[i : i + 16] = bytes(len(raw[i : i + 16]))
    try:
        sd = torch.load(io.BytesIO(bytes(raw)))
    except (ValueError, RuntimeError) as e:
        assert "jitgrad.load" in str(e)
        return
    # no error: then the damage missed everything that matters (a zip comment or timestamp),
    # and every value, shape and dtype is exactly the original's (zip CRCs guard the data)
    ref = m.state_dict()
    assert isinstance(sd, dict) and sorted(sd) == sorted(ref)
    for k, v in sd.items():
        assert isinstance(v, torch.Tensor)
        assert v.dtype == ref[k].dtype and v.shape == ref[k].shape
        assert v.numpy().tobytes() == ref[k].numpy().tobytes(), f"{how} at byte {i} changed {k}"


def test_every_flipped_byte_of_a_stored_value_is_refused():
    """The deterministic case of the test above: a bit flip inside any parameter's stored
    bytes never loads as a changed value (the archive's CRC-32 catches it)."""
    m = nn.Linear(3, 2)
    b = io.BytesIO()
    torch.save(m.state_dict(), b)
    raw = b.getvalue()
    for k, v in m.state_dict().items():
        payload = v.numpy().tobytes()
        at = raw.find(payload)
        assert at > 0, k  # stored uncompressed: the bytes are in the file as they are
        for i in range(at, at + len(payload)):
            bad = bytearray(raw)
            bad[i] ^= 0x10
            with pytest.raises(RuntimeError, match=r"jitgrad.load: .*corrupt"):
                torch.load(io.BytesIO(bytes(bad)))


def test_huge_declared_shape_is_refused(tmp_path):
    """A header that claims a huge tensor must not allocate it or crash."""
    b = io.BytesIO()
    meta = {
        "format": "jitgrad-npz",
        "version": 1,
        "obj": {"tensor": "t0", "shape": [10**9, 10**9], "requires_grad": False},
    }
    np.savez(
        b,
        __jitgrad__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        t0=np.zeros(3, dtype=np.float32),
    )
    try:
        out = torch.load(io.BytesIO(b.getvalue()))
    except (ValueError, RuntimeError) as e:
        assert "jitgrad.load" in str(e)
    else:  # the declared shape is ignored: the stored array is what comes back
        assert out.shape == (3,)


def test_round_trip_still_works(tmp_path):
    m = nn.Linear(3, 2)
    p = os.path.join(tmp_path, "ok.pt")
    torch.save(m.state_dict(), p)
    sd = torch.load(p)
    assert all(np.array_equal(sd[k].numpy(), v.numpy()) for k, v in m.state_dict().items())


@pytest.mark.parametrize(
    "obj",
    [
        {"tensor": {"nested": 1}},  # unhashable tensor name
        {"set": [[1, 2]]},  # unhashable set item
        {"dict": [[{"tuple": [[1]]}, 1]]},  # unhashable dict key
        {"tensor": "t9"},  # missing array
        {"bogus": 1},
        "DEEP",
    ],
)
def test_malformed_structure_is_a_clear_error(obj):
    if obj == "DEEP":  # nested far deeper than any real checkpoint
        obj = []
        for _ in range(500):
            obj = [obj]
    b = io.BytesIO()
    meta = {"format": "jitgrad-npz", "version": 1, "obj": obj}
    np.savez(
        b,
        __jitgrad__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        t0=np.zeros(3, dtype=np.float32),
    )
    with pytest.raises(RuntimeError, match="jitgrad.load: .* is not a valid jitgrad file"):
        torch.load(io.BytesIO(b.getvalue()))
