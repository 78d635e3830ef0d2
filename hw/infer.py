"""Host-side entry points for the CLI: run / validate a deployment package with the driver."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fewerbits.core.arrays import load_npy
from fewerbits.core.artifacts import DeployDir
from fewerbits.core.errors import UsageError
from fewerbits.core.files import write_atomic, write_json

from .driver import Accelerator, DriverError
from .driver.validate import evaluate

PROGRESS_BATCH = 64  # frames per execute() call when no batch size is given (progress steps)


def check_output_file(path: Path, option: str, suffix: str) -> None:
    """Refuse an output path that is a folder or has the wrong suffix (before any work)."""
    if path.is_dir():
        raise DriverError(f"{option} {path} is a folder; give a {suffix} file path")
    if path.suffix != suffix:
        raise DriverError(f"{option} {path}: give a file name ending in {suffix}")


def backend_options(backend: str, simulator: str | None, port: str | None = None) -> dict:
    """Keyword arguments of driver back end ``backend``: the simulator is the rtlsim back end's
    (the other back ends simulate nothing), the port the serial back end's."""
    if backend == "serial":
        return {"port": port}
    return {"simulator": simulator} if backend == "rtlsim" and simulator else {}


def infer_file(
    deploy_dir: Path,
    backend: str,
    inp: Path,
    out: Path,
    throughput: bool = False,
    simulator: str | None = None,
    port: str | None = None,
):
    """Outputs of the package for the batch in ``inp`` (.npy), written to ``out`` (.npy);
    ``simulator`` names the rtlsim back end's simulator (None: its default)."""
    check_output_file(out, "--out", ".npy")
    x = load_npy(inp, "--input")
    with Accelerator(
        deploy_dir, backend=backend, **backend_options(backend, simulator, port)
    ) as acc:
        t0 = time.perf_counter()
        y = acc.execute(x)
        secs = time.perf_counter() - t0
        res = {"frames": int(y.shape[0]), "shape": list(y.shape), "frames_per_s": y.shape[0] / secs}
        if throughput:
            res["throughput"] = acc.throughput_test()
    write_atomic(out, lambda tmp: np.save(tmp, y), suffix=".npy")
    return res


def validate(
    deploy_dir: Path,
    backend: str,
    x: np.ndarray,
    y: np.ndarray,
    limit: int | None = None,
    batch_size: int | None = None,
    save_npz: Path | None = None,
    progress: bool = True,
    simulator: str | None = None,
    out_json: Path | None = None,
    port: str | None = None,
) -> dict:
    """Accuracy and frames/s on (x, y); writes ``out_json`` (default: validate_<backend>.json
    beside DEPLOY, never inside the package a user copies to the board). ``limit`` 0 or None
    means all samples; ``simulator`` names the rtlsim back end's simulator (None: its default)."""
    deploy_dir = Path(deploy_dir)
    path = Path(out_json) if out_json else DeployDir(deploy_dir).validate_json(backend)
    check_output_file(path, "--out", ".json")
    if save_npz is not None:
        check_output_file(save_npz, "--save-npz", ".npz")
    if limit is not None and limit < 0:
        raise UsageError(f"--limit {limit}: give a positive number of samples (0 = all)")
    x, y = x[: limit or None], y[: limit or None]
    if save_npz is not None:
        write_atomic(save_npz, lambda tmp: np.savez_compressed(tmp, x=x, y=y), suffix=".npz")
    with (
        Accelerator(
            deploy_dir, backend=backend, **backend_options(backend, simulator, port)
        ) as acc,
        tqdm(total=len(x), desc=f"validate ({backend})", disable=not progress, leave=False) as bar,
    ):
        res = evaluate(acc, x, y, batch_size or PROGRESS_BATCH, progress=bar.update)
    write_json(path, res)
    res["json"] = str(path)
    return res
