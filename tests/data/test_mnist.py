"""The shipped MNIST: labels, statistics, checksums, gzip and plain IDX, header checks."""

import gzip
import os
import re
import shutil

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.datasets import MNIST, MNIST_DIR, MNIST_SHA256, read_idx

NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@pytest.fixture(scope="module")
def train():
    return MNIST(train=True)


@pytest.fixture(scope="module")
def test_split():
    return MNIST(train=False)


def test_shipped_with_licence_and_checksum_table_matches_readme():
    readme = open(os.path.join(MNIST_DIR, "README.md")).read()
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme
    table = dict(re.findall(r"\| (\S+)\.gz \| [^|]+ \| ([0-9a-f]{64}) \|", readme))
    assert table == MNIST_SHA256


def test_labels_shapes_and_dtypes(train, test_split):
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9]
    assert test_split.targets[:5].tolist() == [7, 2, 1, 0, 4]
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == torch.uint8
    assert test_split.data.shape == (10000, 28, 28) and len(test_split) == 10000
    assert train.targets.dtype == torch.int64


def test_pixel_statistics_and_normalisation(train):
    x = train.data.numpy().astype(np.float64) / 255
    assert round(x.mean(), 4) == 0.1307 and round(x.std(), 4) == 0.3081
    img, label = train[0]
    assert img.shape == (1, 28, 28) and img.dtype == torch.float32 and label == 5
    np.testing.assert_allclose(img.numpy(), (x[0][None] - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    raw, _ = MNIST(train=False, normalize=False)[0]
    assert raw.numpy().min() == 0.0 and raw.numpy().max() == 1.0


def test_whole_arrays_and_loader(test_split):
    X, y = test_split.tensors()
    assert X.shape == (10000, 1, 28, 28) and X.dtype == torch.float32
    assert abs(float(X.numpy().mean())) < 1e-2 and abs(float(X.numpy().std()) - 1) < 1e-2
    Xf, _ = test_split.tensors(flatten=True)
    assert Xf.shape == (10000, 784)
    xb, yb = next(iter(torch.utils.data.DataLoader(test_split, batch_size=64)))
    assert xb.shape == (64, 1, 28, 28) and yb.tolist()[:5] == [7, 2, 1, 0, 4]
    np.testing.assert_array_equal(xb.numpy(), X.numpy()[:64])


def test_transform_applies_per_sample():
    ds = MNIST(train=False, transform=lambda t: t.flatten() * 0)
    img, _ = ds[1]
    assert img.shape == (784,) and img.abs().sum().item() == 0
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 784) and yb.tolist() == [7, 2, 1, 0]


def _copy_test_split(dst, plain=False):
    for n in NAMES[2:]:
        src = os.path.join(MNIST_DIR, n + ".gz")
        if plain:
            with gzip.open(src) as f, open(dst / n, "wb") as g:
                g.write(f.read())
        else:
            shutil.copy(src, dst / (n + ".gz"))


def test_user_directory_plain_idx(tmp_path):
    _copy_test_split(tmp_path, plain=True)
    ds = MNIST(root=tmp_path, train=False)
    assert ds.targets[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.array_equal(ds.data.numpy(), MNIST(train=False).data.numpy())


def test_checksum_mismatch_names_the_file(tmp_path):
    _copy_test_split(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # a wrong label, still a valid IDX file
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match="checksum mismatch for t10k-labels-idx1-ubyte.gz"):
        MNIST(root=tmp_path, train=False)
    ds = MNIST(root=tmp_path, train=False, verify=False)
    assert ds.targets[100].item() == raw[108]


def test_missing_files_and_corrupt_gzip(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        MNIST(root=tmp_path, train=False)
    _copy_test_split(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(ValueError, match="not a valid gzip file"):
        MNIST(root=tmp_path, train=False)


def test_idx_header_validation():
    good = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(6)
    assert read_idx(good).shape == (2, 3)
    with pytest.raises(ValueError, match="bad IDX magic"):
        read_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="unknown IDX element type"):
        read_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(ValueError, match="does not match its header"):
        read_idx(good[:-1])
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(bytes([0, 0, 8, 3, 0, 0]))
