"""`fewerbits validate`: accuracy and frames/s of a deployment package on a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_driver_args, simulator
from fewerbits.cli.infer import InferError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("validate", help="accuracy and frames/s of a deployment package")
    p.add_argument("deploy_dir", help="a deployment package (BUILD/deploy)")
    p.add_argument("--dataset", required=True, help="dataset name (test split), e.g. mnist-5k")
    p.add_argument("--data-file", default=None, help="read the dataset from this file")
    add_driver_args(p)
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the first N test samples (default: all; 0 = all)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="frames per execute() call (default 64)"
    )
    p.add_argument(
        "--save-npz",
        default=None,
        help="also write the samples used (after --limit) as .npz with x, y (default: none)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.json",
        help="where to write the result (default: validate_BACKEND.json beside DEPLOY_DIR, "
        "outside the package)",
    )
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.driver import DriverError
    from fewerbits.hw.infer import validate
    from fewerbits.train.datasets import load_dataset

    sim = simulator(a)
    data = load_dataset(a.dataset, Path(a.data_file) if a.data_file else None)
    try:
        res = validate(
            Path(a.deploy_dir),
            a.backend,
            data.x_test,
            data.y_test,
            limit=a.limit,
            batch_size=a.batch_size,
            save_npz=Path(a.save_npz) if a.save_npz else None,
            progress=not a.quiet,
            simulator=sim,
            out_json=Path(a.out) if a.out else None,
            port=a.port,
        )
    except DriverError as e:
        raise InferError(str(e)) from None
    print(
        f"{a.dataset}: accuracy {res['accuracy']:.4f} on {res['samples']} samples, "
        f"{res['frames_per_s']:,.0f} frames/s ({a.backend}); {res['json']}"
    )
    if a.save_npz:
        print(f"saved the {res['samples']} samples used to {a.save_npz}")
    return 0
