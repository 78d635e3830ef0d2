"""`fewerbits infer`: run a deployment package on inputs (.npy in, .npy out)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_driver_args, simulator
from fewerbits.core.errors import FewerbitsError


class InferError(FewerbitsError):
    """Bad inputs or a deployment package the driver refuses (one line)."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="run a deployment package on inputs (.npy -> .npy)")
    p.add_argument("deploy_dir", help="a deployment package (BUILD/deploy)")
    add_driver_args(p)
    p.add_argument("--input", required=True, help=".npy batch (N, *input shape), uint8/float")
    p.add_argument("--out", required=True, help="where to write the outputs (.npy)")
    p.add_argument("--throughput", action="store_true", help="also print throughput_test()")
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.driver import DriverError
    from fewerbits.hw.infer import infer_file

    sim = simulator(a)
    try:
        res = infer_file(
            Path(a.deploy_dir), a.backend, Path(a.input), Path(a.out), a.throughput, sim, a.port
        )
    except DriverError as e:
        raise InferError(str(e)) from None
    print(
        f"{res['frames']} frames -> {a.out} {res['shape']} ({a.backend}, {res['frames_per_s']:,.0f} frames/s)"
    )
    if "throughput" in res:
        print(res["throughput"])
    return 0
