"""jitgrad.save / jitgrad.load: round trips, paths and file objects, hostile files."""

import io
import json
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import jitgrad as torch


def test_round_trip_nested_structure(tmp_path):
    torch.manual_seed(0)
    w = torch.randn(3, 4)
    obj = {
        "w": w,
        "alias": w,
        "ints": torch.arange(5),
        "flags": torch.tensor([True, False]),
        "half": torch.ones(2, dtype=torch.float64),
        "scalar": torch.tensor(2.5),
        "nested": [1, 2.5, "s", None, True, (3, w), {"deep": [float("inf")]}],
        7: "int key",
        (1, 2): "tuple key",
        "od": OrderedDict([("b", 1), ("a", 2)]),
        "grad": torch.ones(2, requires_grad=True),
    }
    path = tmp_path / "obj.pt"
    torch.save(obj, path)
    assert path.exists() and not (tmp_path / "obj.pt.npz").exists()
    r = torch.load(path)
    assert set(r) == set(obj)
    np.testing.assert_array_equal(r["w"].numpy(), w.numpy())
    assert r["w"].dtype == torch.float32 and r["ints"].dtype == torch.int64
    assert r["flags"].dtype == torch.bool and r["half"].dtype == torch.float64
    assert r["scalar"].shape == () and r["scalar"].item() == 2.5
    assert r["alias"] is r["w"] and r["nested"][5][1] is r["w"]  # sharing preserved
    assert r["nested"][:5] == [1, 2.5, "s", None, True] and isinstance(r["nested"][5], tuple)
    assert r["nested"][6]["deep"][0] == float("inf")
    assert r[7] == "int key" and r[(1, 2)] == "tuple key"
    assert isinstance(r["od"], OrderedDict) and list(r["od"]) == ["b", "a"]
    assert r["grad"].requires_grad and not r["w"].requires_grad
    # loaded tensors own their memory
    r["w"].add_(1)
    assert not np.array_equal(r["w"].numpy(), w.numpy())


def test_file_objects_and_single_tensor():
    buf = io.BytesIO()
    torch.save(torch.tensor([1.0, 2.0]), buf)
    buf.seek(0)
    assert torch.load(buf).tolist() == [1.0, 2.0]


def test_unsupported_objects_refused_on_save():
    with pytest.raises(TypeError, match="can't be found again by importing"):
        torch.save({"f": lambda: 0}, io.BytesIO())
    with pytest.raises(TypeError, match="can't save an object of type object"):
        torch.save({"f": object()}, io.BytesIO())
    m = torch.nn.Linear(2, 2)
    m.act = lambda x: x  # a lambda attribute: named by its path in the module
    with pytest.raises(TypeError, match="act is <function"):
        torch.save(torch.nn.Sequential(m), io.BytesIO())


class _Block(torch.nn.Module):
    """A user module: a ModuleList, a function attribute, a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)])
        self.act = torch.nn.functional.gelu
        self.scale = 0.5
        self.register_buffer("seen", torch.zeros(1), persistent=False)

    def forward(self, x):
        self.seen += 1
        return self.act(self.layers[1](self.layers[0](x))) * self.scale


def test_whole_module_round_trip_needs_weights_only_false(tmp_path):
    """``save(model)`` / ``load(path, weights_only=False)`` as in PyTorch's tutorial; the
    default ``weights_only=True`` refuses to import the class, like PyTorch >= 2.6."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(_Block(), torch.nn.Dropout(0.3), torch.nn.Linear(4, 2))
    net[2].weight.requires_grad_(False)
    net(torch.randn(5, 3))
    net.eval()
    path = tmp_path / "model.pt"
    torch.save(net, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        torch.load(path)
    got = torch.load(path, weights_only=False)
    assert type(got[0]) is _Block and got[0].act is torch.nn.functional.gelu
    assert not got.training and not got[0].layers[1].training and got[0].scale == 0.5
    assert got[0].seen.tolist() == [1.0] and "0.seen" not in got.state_dict()
    assert not got[2].weight.requires_grad and got[0].layers[0].weight.requires_grad
    assert isinstance(got[2].weight, torch.nn.Parameter)
    x = torch.randn(4, 3)
    np.testing.assert_array_equal(got(x).detach().numpy(), net(x).detach().numpy())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(got.state_dict()[k].numpy(), v.numpy())
    got.train()  # the rebuilt module trains: its parameters get gradients
    got(x).sum().backward()
    assert got[0].layers[0].weight.grad is not None and got[2].weight.grad is None


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _header(obj):
    return np.frombuffer(
        json.dumps({"format": "jitgrad-npz", "version": 1, "obj": obj}).encode(), dtype=np.uint8
    )


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    "data,msg",
    [
        (bytes(range(256)) * 4, "not a NumPy .npz archive"),
        (pickle.dumps({"a": 1}), "looks like a pickle"),
        (pickle.dumps(_Evil()), "looks like a pickle"),
        (b"PK\x03\x04" + b"\x00" * 50, "can't be read"),
        (_npz(a=np.arange(3)), "no '__jitgrad__' entry"),
        (_npz(__jitgrad__=np.frombuffer(b"{not json", dtype=np.uint8)), "header is corrupt"),
        (
            _npz(__jitgrad__=_header({"tensor": "t0"}), t0=np.array([_Evil()], dtype=object)),
            "can't be read without pickle",
        ),
        (_npz(__jitgrad__=_header({"tensor": "t9"})), "missing array entry"),
        (_npz(__jitgrad__=_header({"evil": 1})), "unknown structure element"),
        (_npz(__jitgrad__=_header({"tensor": "t0"}), t0=np.array(["a"])), "unsupported dtype"),
    ],
)
def test_malformed_or_malicious_files(data, msg, capsys):
    with pytest.raises(RuntimeError, match=msg):
        torch.load(io.BytesIO(data))
    assert "pwned" not in capsys.readouterr().out


def test_plain_npy_and_zip_without_header(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.arange(3))
    with pytest.raises(RuntimeError, match="not a NumPy .npz archive"):
        torch.load(p)
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("hello.txt", "hi")
    with pytest.raises(RuntimeError, match="__jitgrad__"):
        torch.load(z)


def test_module_entries_of_a_crafted_file():
    """A header naming code: refused by default; with weights_only=False only nn.Module
    classes are rebuilt (nothing is called)."""
    fake = {"class": "os:system", "attrs": [], "parameters": [], "buffers": [], "modules": []}
    data = _npz(__jitgrad__=_header({"module": fake}))
    with pytest.raises(pickle.UnpicklingError, match="weights_only=True refuses"):
        torch.load(io.BytesIO(data))
    with pytest.raises(RuntimeError, match="os:system is not an nn.Module class"):
        torch.load(io.BytesIO(data), weights_only=False)
    bad = _npz(__jitgrad__=_header({"module": {"class": "jitgrad.nn:Linear"}}))
    with pytest.raises(RuntimeError, match="module entry is malformed"):
        torch.load(io.BytesIO(bad), weights_only=False)
    gone = dict(fake, **{"class": "no_such_package_xyz:Net"})
    with pytest.raises(RuntimeError, match="can't be imported here"):
        torch.load(io.BytesIO(_npz(__jitgrad__=_header({"module": gone}))), weights_only=False)
