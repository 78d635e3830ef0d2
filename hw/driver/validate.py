"""Accuracy and frames/s of a deployment package on a labelled dataset (.npz with x, y).

On the board, from the deploy folder::

    python validate.py --dataset mnist-5k_test.npz --backend pynq
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .accelerator import Accelerator
from .backends import BACKENDS
from .errors import DriverError


def predictions(outputs: np.ndarray) -> np.ndarray:
    """Class labels from the outputs: argmax of scores, or the label itself (N,) / (N, 1)."""
    flat = outputs.reshape(outputs.shape[0], -1)
    return flat[:, 0].astype(np.int64) if flat.shape[1] == 1 else flat.argmax(axis=1)


def evaluate(
    acc: Accelerator,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict:
    """Top-1 accuracy and end-to-end frames/s (checking, packing, DMA, unpacking);
    ``progress(n)`` is called after each batch of n frames."""
    if len(x) != len(y) or len(x) == 0:
        raise DriverError(f"dataset: {len(x)} inputs and {len(y)} labels; need equal, non-zero")
    bs = int(batch_size or acc.settings.max_batch)
    correct, t0 = 0, time.perf_counter()
    for i in range(0, len(x), bs):
        out = acc.execute(x[i : i + bs])
        correct += int((predictions(out) == np.asarray(y[i : i + bs]).reshape(-1)).sum())
        if progress is not None:
            progress(len(out))
    seconds = time.perf_counter() - t0
    return {
        "backend": acc.backend.name,
        "samples": int(len(x)),
        "accuracy": correct / len(x),
        "seconds": seconds,
        "frames_per_s": len(x) / seconds,
        "batch_size": bs,
    }


def load_npz(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise DriverError(f"dataset {path} not found (an .npz with arrays x and y)")
    with np.load(path) as d:
        if "x" not in d or "y" not in d:
            raise DriverError(f"dataset {path} must contain arrays 'x' and 'y', has {list(d)}")
        return d["x"], d["y"]


def main(argv: list[str] | None = None, deploy_dir: Path | str | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help=".npz with x (inputs) and y (labels)")
    p.add_argument("--backend", default="pynq", choices=BACKENDS)
    p.add_argument("--deploy-dir", default=str(deploy_dir or Path.cwd()))
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N samples")
    p.add_argument("--port", help="serial port of an open-FPGA board (--backend serial)")
    a = p.parse_args(argv)
    try:
        x, y = load_npz(a.dataset)
        if a.limit:
            x, y = x[: a.limit], y[: a.limit]
        kw = {"port": a.port} if a.backend == "serial" else {}
        with Accelerator(a.deploy_dir, backend=a.backend, **kw) as acc:
            res = evaluate(acc, x, y, a.batch_size)
    except DriverError as e:
        print(f"validate: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=2))
    return 0
