"""Host-side entry points for the CLI: run / validate a deployment package with the driver."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fewerbits.core.files import write_json

from .driver import Accelerator, DriverError
from .driver.validate import evaluate

PROGRESS_BATCH = 64  # frames per execute() call when no batch size is given (progress steps)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    """Write .npy atomically (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def backend_options(backend: str, simulator: str | None) -> dict:
    """Keyword arguments of driver back end ``backend``: the simulator is the rtlsim back end's
    (the other back ends simulate nothing)."""
    return {"simulator": simulator} if backend == "rtlsim" and simulator else {}


def infer_file(
    deploy_dir: Path,
    backend: str,
    inp: Path,
    out: Path,
    throughput: bool = False,
    simulator: str | None = None,
):
    """Outputs of the package for the batch in ``inp`` (.npy), written to ``out`` (.npy);
    ``simulator`` names the rtlsim back end's simulator (None: its default)."""
    if not inp.is_file():
        raise DriverError(f"--input {inp} not found")
    try:
        x = np.load(inp, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DriverError(f"--input {inp} is not a readable .npy file ({e})") from None
    with Accelerator(deploy_dir, backend=backend, **backend_options(backend, simulator)) as acc:
        t0 = time.perf_counter()
        y = acc.execute(x)
        secs = time.perf_counter() - t0
        res = {"frames": int(y.shape[0]), "shape": list(y.shape), "frames_per_s": y.shape[0] / secs}
        if throughput:
            res["throughput"] = acc.throughput_test()
    _save_npy(out, y)
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
) -> dict:
    """Accuracy and frames/s on (x, y); writes DEPLOY/validate_<backend>.json. ``simulator``
    names the rtlsim back end's simulator (None: its default)."""
    if limit:
        x, y = x[:limit], y[:limit]
    if save_npz is not None:
        save_npz.parent.mkdir(parents=True, exist_ok=True)
        tmp = save_npz.with_name(save_npz.name + ".tmp.npz")
        np.savez_compressed(tmp, x=x, y=y)
        tmp.replace(save_npz)
    with (
        Accelerator(deploy_dir, backend=backend, **backend_options(backend, simulator)) as acc,
        tqdm(total=len(x), desc=f"validate ({backend})", disable=not progress, leave=False) as bar,
    ):
        res = evaluate(acc, x, y, batch_size or PROGRESS_BATCH, progress=bar.update)
    path = Path(deploy_dir) / f"validate_{backend}.json"
    write_json(path, res)
    res["json"] = str(path)
    return res
