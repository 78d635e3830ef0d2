"""Frames/s, latency and bytes moved of a deployment package per driver back end.

    python benchmarks/driver_throughput.py runs/demo/build/deploy [--batch 64] [--simulator NAME]

Back ends (the driver's list): python (FINN graph in software), pynq on the PYNQ stand-in
(tests/fake_pynq, running the python semantics; measures the driver's pynq code path, not a
board), rtlsim with the simulator ``--simulator`` (default verilator) when fewerbits.hw.rtlsim is
present. Prints a table and writes DEPLOY/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from fewerbits.hw.driver import BACKENDS, Accelerator, backend_unavailable
from fewerbits.hw.driver.settings import sha256
from fewerbits.hw.infer import backend_options
from fewerbits.hw.sim import DEFAULT_SIMULATOR, backend_names

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("deploy")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--simulator", default=DEFAULT_SIMULATOR, choices=backend_names())
    a = p.parse_args()
    deploy = Path(a.deploy)
    rows = []
    for backend in BACKENDS:
        if backend == "pynq":  # off the board: the driver's pynq code path on the stand-in
            tmp = Path(tempfile.mkdtemp()) / "deploy"
            shutil.copytree(deploy, tmp)
            (tmp / "bitfile").mkdir(exist_ok=True)
            bit = tmp / "bitfile" / "stand-in.bit"
            bit.write_bytes(b"stand-in")
            s = json.loads((tmp / "settings.json").read_text())
            s["files"]["bitfile"] = {"path": "bitfile/stand-in.bit", "sha256": sha256(bit)}
            (tmp / "settings.json").write_text(json.dumps(s))
            sys.path.insert(0, str(ROOT / "tests" / "fake_pynq"))
            os.environ["FAKE_PYNQ_HW"] = "python"
            acc = Accelerator(tmp, backend="pynq")
            label = "pynq-stand-in"
        else:
            label = f"rtlsim ({a.simulator})" if backend == "rtlsim" else backend
            reason = backend_unavailable(backend, a.simulator)
            if reason:
                rows.append({"backend": label, "skipped": reason})
                continue
            acc = Accelerator(deploy, backend=backend, **backend_options(backend, a.simulator))
        r = acc.throughput_test(a.batch)
        r["backend"] = label
        rows.append(r)
    print(
        f"{'backend':<20}{'batch':>6}{'frames/s':>12}{'latency ms':>12}{'bytes in':>10}{'bytes out':>10}"
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['backend']:<20} skipped: {r['skipped']}")
        else:
            print(
                f"{r['backend']:<20}{r['batch_size']:>6}{r['frames_per_s']:>12,.0f}"
                f"{r['latency_ms']:>12.2f}{r['bytes_in']:>10}{r['bytes_out']:>10}"
            )
    (deploy / "throughput.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
