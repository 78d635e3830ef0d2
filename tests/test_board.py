"""Open-FPGA board builds: the UART board wrapper around the tiny all-RTL net on the ULX3S-85F,
placed and routed to a real bitstream with its pin file and timing report, and the driver's
serial code path against the Verilator simulation of the whole board top (bit-level UART),
bit-exact against PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fewerbits.hw.board import wrapper
from fewerbits.hw.boards import get_board
from fewerbits.hw.build.steps import BOARD_BITSTREAM, plan_steps
from fewerbits.hw.driver import Accelerator, DriverError, load_settings
from fewerbits.hw.driver.uart import UartProtocol
from fewerbits.hw.sim import RtlSimError

from fewerbits.core.files import read_json


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", *args], capture_output=True, text=True
    )


def test_board_step_planned_only_for_open_boards():
    run, skipped = plan_steps("auto", False, open_board=True)
    assert run[-1] == BOARD_BITSTREAM
    run, skipped = plan_steps("codegen", False, open_board=True)
    why = {s["step"]: s["reason"] for s in skipped}
    assert BOARD_BITSTREAM not in run and why[BOARD_BITSTREAM] == "not requested (--until codegen)"
    run, skipped = plan_steps("auto", True)  # a Pynq build with Vivado
    why = {s["step"]: s["reason"] for s in skipped}
    assert BOARD_BITSTREAM not in run and "open-FPGA boards only" in why[BOARD_BITSTREAM]


def test_link_divisors_exact_and_rate_checked():
    for name, cpb in (("ULX3S-85F", 25), ("iCEBreaker", 12)):
        link = wrapper.link_for(get_board(name), 7, 112, 1, 10)
        assert link.clks_per_bit == cpb and link.baud == 1_000_000
        assert link.out_fifo >= link.max_batch * link.out_words  # a whole batch fits
    odd = get_board("ULX3S-85F").__class__("odd", "LFE5U-85F", "", 1, 1, 1, clock_mhz=27.5)
    with pytest.raises(RtlSimError, match="no whole multiple of 1000000 baud"):
        wrapper.link_for(odd, 1, 1, 1, 1)
    link = wrapper.link_for(get_board("ULX3S-85F"), 1, 10, 1, 1)  # 10 bytes: 2,500 cycles
    wrapper.check_rate(link, 1_000)
    with pytest.raises(RtlSimError, match="too slow for the 1000000 baud link"):
        wrapper.check_rate(link, 2_000)


def test_board_build_writes_bitstream_with_timing(ulx3s_build):  # noqa: F811
    steps = read_json(ulx3s_build / "steps.json")
    assert steps["ran"][-1]["step"] == BOARD_BITSTREAM
    s = load_settings(ulx3s_build / "deploy")
    bit = s.check_file("bitfile")  # sha256 checked
    assert bit.parent == ulx3s_build / "deploy" and bit.suffix == ".bit"
    assert bit.stat().st_size > 1_000_000
    report = read_json(ulx3s_build / "report.json")["board"]
    pnr = report["pnr"]
    assert pnr["target_mhz"] == 25.0 and pnr["timing_met"] and pnr["fmax_mhz"] > 25.0
    assert pnr["critical_path"]["logic_levels"] > 0
    # every port of the board top is placed on the pin the board file names
    assert pnr["utilisation"]["TRELLIS_IO"]["used"] == len(wrapper.PINS["ecp5"].sites)
    lpf = (ulx3s_build / "board" / "board.lpf").read_text()
    assert (
        'LOCATE COMP "clk_25mhz" SITE "G2";' in lpf and 'FREQUENCY PORT "clk_25mhz" 25 MHZ;' in lpf
    )
    assert 'LOCATE COMP "ftdi_rxd" SITE "L4";' in lpf  # the FPGA transmits on the FTDI's RXD
    assert s.raw["link"] == report["link"] and s.raw["link"]["clks_per_bit"] == 25
    md = (ulx3s_build / "report.md").read_text()
    assert "## Board bitstream (ULX3S-85F" in md and "Fmax" in md
    assert (
        "openFPGALoader --board ulx3s fb_board_top.bit"
        in (ulx3s_build / "deploy" / "README.md").read_text()
    )


def test_board_top_rtlsim_equals_pytorch(ulx3s_build, tiny_run, tmp_path):  # noqa: F811
    """`fewerbits infer DEPLOY --backend rtlsim` on the simulated board top == PyTorch."""
    from fewerbits.train.datasets import load_dataset
    from fewerbits.train.trainer import load_checkpoint

    from fewerbits.verify import pytorch_reference

    model, _ = load_checkpoint(tiny_run / "train")
    x = load_dataset("mnist-5k").x_test[:20]  # 2 RUN commands: 16 + 4 frames
    ref = pytorch_reference(model, x.astype(np.float32))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    p = _cli(
        "infer", str(ulx3s_build / "deploy"), "--backend", "rtlsim", "--input",
        str(tmp_path / "x.npy"), "--out", str(out),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    y = np.load(out).astype(np.float32)
    assert y.shape == ref.shape
    assert np.array_equal(y.view(np.int32), ref.astype(np.float32).view(np.int32))


def test_uart_tolerates_baud_error_and_reports_a_wrong_one(ulx3s_build):  # noqa: F811
    from fewerbits.hw.board.sim import SimulatedBoard

    s = load_settings(ulx3s_build / "deploy")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(3, s.inp.frame_bytes), dtype=np.uint8)
    outs = []
    for err in (0.0, 0.02, -0.02):  # the host's clock 2 % fast / slow: still exact
        board = SimulatedBoard(ulx3s_build, baud_error=err)
        try:
            outs.append(_run(board, s, x))
            assert board.frame_errors == 0
        finally:
            board.close()
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    board = SimulatedBoard(ulx3s_build, baud_error=0.12, max_idle_cycles=50_000)
    try:
        with pytest.raises(DriverError, match="board link"):
            _run(board, s, x)
    finally:
        board.close()


def _run(board, s, x: np.ndarray) -> np.ndarray:
    proto = UartProtocol(board, s.raw["link"])
    proto.reset()
    return proto.run(x, s.out.frame_bytes)


def test_board_info_must_match_the_package(ulx3s_build, tmp_path):  # noqa: F811
    from fewerbits.hw.board.sim import SimulatedBoard

    s = load_settings(ulx3s_build / "deploy")
    board = SimulatedBoard(ulx3s_build)
    try:
        wrong = {**s.raw["link"], "in_words": s.raw["link"]["in_words"] + 1}
        with pytest.raises(DriverError, match="the board's in_words is .* not this package's"):
            UartProtocol(board, wrong).reset()
        # more frames than the board takes in one command: refused by the board, said so
        link = s.raw["link"]
        too_many = np.zeros((link["max_batch"] + 1, s.inp.frame_bytes), np.uint8)
        proto = UartProtocol(board, {**link, "max_batch": link["max_batch"] + 1})
        with pytest.raises(DriverError, match="RUN reply header fb810000"):
            proto.run(too_many, s.out.frame_bytes)
    finally:
        board.close()


def test_serial_backend_refusals_are_one_line(ulx3s_build, tiny_run, tmp_path):  # noqa: F811
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), np.uint8))
    common = ["--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")]
    deploy = str(ulx3s_build / "deploy")
    for extra, msg in (
        ([], "backend 'serial' needs --port"),
        (["--port", str(tmp_path / "no-such-tty")], "cannot open the serial port"),
    ):
        p = _cli("infer", deploy, "--backend", "serial", *extra, *common)
        err = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(err) == 1 and msg in err[0], p.stderr
    with pytest.raises(DriverError, match="needs an open-FPGA board package"):
        Accelerator(tiny_run / "build" / "deploy", backend="serial", port="/dev/null")
    assert not (tmp_path / "y.npy").exists()
    assert json.loads((ulx3s_build / "deploy" / "settings.json").read_text())["platform"] == "uart"


def test_board_top_refused_for_a_pynq_build(tiny_run):  # noqa: F811
    from fewerbits.hw.board.build import BoardPlan

    with pytest.raises(RtlSimError, match="needs an open-FPGA board build"):
        BoardPlan(Path(tiny_run / "build"))
