"""Datasets shipped with jitgrad: the real MNIST digits, readable with no network.

>>> train = jitgrad.datasets.MNIST(train=True)      # the copy shipped in jitgrad/data/mnist
>>> x, y = train.tensors()                           # (60000, 1, 28, 28) float32, (60000,) int64
>>> loader = jitgrad.utils.data.DataLoader(train, batch_size=128, shuffle=True)
"""

import gzip
import hashlib
import os

import numpy as np

from .utils.data import Dataset

MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mnist")
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# sha256 of the *uncompressed* IDX bytes (the table in jitgrad/data/mnist/README.md)
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CACHE = {}


def read_idx(raw, name="IDX data"):
    """Parse IDX bytes (big-endian header: 0, 0, type, ndim, one uint32 per dim) to an array."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{name}: bad IDX magic number {raw[:4].hex()} (expected 0000TTNN: "
            "two zero bytes, a type byte, a dimension count)"
        )
    if raw[2] not in _IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX element type 0x{raw[2]:02x}")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{name}: truncated IDX header ({ndim} dimensions, {len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_TYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dt.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{name}: size {len(raw)} bytes does not match its header (dims "
            f"{list(dims)} need {expected} bytes); the file is truncated or corrupt"
        )
    arr = np.frombuffer(raw, dtype=dt, offset=4 + 4 * ndim).reshape(dims)
    return arr.astype(dt.newbyteorder("=")) if dt.byteorder == ">" else arr


def _find(root, stem):
    for d in (root, os.path.join(root, "MNIST", "raw"), os.path.join(root, "raw")):
        for fn in (stem + ".gz", stem):
            p = os.path.join(d, fn)
            if os.path.isfile(p):
                return p
    raise FileNotFoundError(
        f"MNIST: {stem}(.gz) not found in {root!r}; put the four IDX files (gzip or plain) "
        f"there, or use the copy shipped with jitgrad (root=None: {MNIST_DIR})"
    )


def _load_file(root, stem, verify):
    path = _find(root, stem)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size, verify)
    if key in _CACHE:
        return _CACHE[key]
    with open(path, "rb") as f:
        raw = f.read()
    fname = os.path.basename(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise ValueError(
                f"MNIST: {fname} in {os.path.dirname(path)!r} is not a valid gzip file ({e})"
            ) from None
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != MNIST_SHA256[stem]:
            raise ValueError(
                f"MNIST: checksum mismatch for {fname} in {os.path.dirname(path)!r}: sha256 of "
                f"the uncompressed data is {digest}, expected {MNIST_SHA256[stem]}; the file is "
                "corrupt or not the original MNIST (copy it again, or pass verify=False)"
            )
    arr = read_idx(raw, fname)
    _CACHE[key] = arr
    return arr


def load_mnist(root=None, train=True, verify=True):
    """The raw MNIST split as NumPy arrays: images (N, 28, 28) uint8, labels (N,) int64."""
    root = MNIST_DIR if root is None else os.fspath(root)
    prefix = "train" if train else "t10k"
    images = _load_file(root, f"{prefix}-images-idx3-ubyte", verify)
    labels = _load_file(root, f"{prefix}-labels-idx1-ubyte", verify)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"MNIST: {prefix} images have shape {images.shape} and dtype "
            f"{images.dtype}; expected (N, 28, 28) uint8"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"MNIST: {prefix} labels have shape {labels.shape}; expected (N,) uint8")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"MNIST: {images.shape[0]} {prefix} images but {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"MNIST: {prefix} labels contain {int(labels.max())}; expected 0..9")
    return images, labels.astype(np.int64)


def normalize_images(images_u8, normalize=True):
    """uint8 (N, 28, 28) → float32 (N, 1, 28, 28): ``x/255``, then ``(x - 0.1307) / 0.3081``."""
    x = images_u8.astype(np.float32)[:, None] * np.float32(1 / 255)
    if normalize:
        x -= np.float32(MNIST_MEAN)
        x *= np.float32(1 / MNIST_STD)
    return x


class MNIST(Dataset):
    """The MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0).

    ``root=None`` reads the copy shipped in ``jitgrad/data/mnist``; a directory of the four
    IDX files (gzip or plain, or torchvision's ``MNIST/raw`` layout) works too. The sha256 of
    each file is checked. ``ds[i]`` is ``(image, label)`` with a float32 (1, 28, 28) image,
    normalised with MNIST's mean and std unless ``normalize=False`` (then in [0, 1]), passed
    through ``transform`` if given.
    """

    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]
    mean = MNIST_MEAN
    std = MNIST_STD

    def __init__(
        self,
        root=None,
        train=True,
        transform=None,
        target_transform=None,
        normalize=True,
        download=False,
        verify=True,
    ):
        from .creation import from_numpy

        self.root = MNIST_DIR if root is None else os.fspath(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.normalize = normalize
        images, labels = load_mnist(self.root, train, verify)
        self.data = from_numpy(images.copy())  # (N, 28, 28) uint8
        self.targets = from_numpy(labels)  # (N,) int64

    def __len__(self):
        return self.data.shape[0]

    def _images(self, idx):
        return normalize_images(self.data._data[idx], self.normalize)

    def __getitem__(self, index):
        from .creation import from_numpy

        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"MNIST index {index} is out of range for {n} samples")
        img = from_numpy(self._images(np.array([index]))[0])
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getattr__(self, name):
        # whole-batch indexing for DataLoader, unless a per-sample transform must run
        if (
            name == "_get_batch"
            and self.__dict__.get("transform") is None
            and self.__dict__.get("target_transform") is None
        ):
            return self._batch
        raise AttributeError(name)

    def _batch(self, indices):
        from .creation import from_numpy

        return from_numpy(self._images(indices)), from_numpy(self.targets._data[indices])

    def tensors(self, flatten=False):
        """The whole split at once: images float32 (N, 1, 28, 28) (or (N, 784) with
        ``flatten=True``) and labels int64 (N,), for fast training loops."""
        from .creation import from_numpy

        x = self._images(slice(None))
        if flatten:
            x = x.reshape(x.shape[0], -1)
        return from_numpy(x), from_numpy(self.targets._data.copy())

    def __repr__(self):
        split = "Train" if self.train else "Test"
        return (
            f"Dataset MNIST\n    Number of datapoints: {len(self)}\n    Root location: "
            f"{self.root}\n    Split: {split}"
        )


__all__ = ["MNIST", "load_mnist", "read_idx", "normalize_images", "MNIST_MEAN", "MNIST_STD"]
