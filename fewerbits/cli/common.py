"""Argument groups shared by several subcommands."""

from __future__ import annotations

import argparse

from fewerbits.core.config import DEFAULT_TARGET_FPS, BuildConfig, TrainConfig
from fewerbits.hw.boards import BOARDS, board_of_part
from fewerbits.hw.driver import BACKENDS
from fewerbits.hw.sim import DEFAULT_SIMULATOR, backend_names, get_backend


def add_train_args(p: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    d = defaults or TrainConfig()
    p.add_argument(
        "--model", default=d.model, help="zoo name (tfc, sfc, lfc, cnv) or file.py:factory"
    )
    p.add_argument(
        "--scheme", default=d.scheme, help="float, binaryconnect, binarynet, xnor, dorefa, int"
    )
    p.add_argument("--wbits", type=int, default=d.wbits, help="weight bits")
    p.add_argument("--abits", type=int, default=d.abits, help="activation bits")
    p.add_argument(
        "--dataset", default=d.dataset, help="digits, mnist-5k, mnist, fashion-mnist, cifar10"
    )
    p.add_argument(
        "--data-file",
        default=None,
        help="read the dataset from this file instead of its default location",
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate, cosine schedule")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of weights and data order")
    p.add_argument("--device", default=d.device, choices=["cpu", "cuda"], help="torch device")
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap optimiser steps per epoch (smoke runs)"
    )
    p.add_argument(
        "--threads", type=int, default=d.threads, help="CPU threads for training (default 1)"
    )


def add_force_arg(p: argparse.ArgumentParser) -> None:
    """``--force``: replace an --out that holds another artifact or other options."""
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder that holds another kind of artifact or one made with other "
        "options (default: refuse)",
    )


def add_build_args(p: argparse.ArgumentParser, defaults: BuildConfig | None = None) -> None:
    d = defaults or BuildConfig()
    p.add_argument(
        "--board",
        default=None,
        help=f"target board: {', '.join(BOARDS)} (default {d.board}, or the board of --part)",
    )
    p.add_argument(
        "--part", default=None, help="FPGA part (default: the board's; must agree with --board)"
    )
    p.add_argument(
        "--clock-ns",
        type=float,
        default=d.clock_ns,
        help="clock period in ns (default %(default)g, i.e. 100 MHz)",
    )
    fold = p.add_mutually_exclusive_group()
    fold.add_argument(
        "--target-fps",
        type=int,
        default=None,
        help=f"FINN's own SetFolding target in frames/s (default {DEFAULT_TARGET_FPS:,} unless "
        "--fit or --folding)",
    )
    fold.add_argument(
        "--fit",
        type=float,
        default=None,
        metavar="FRACTION",
        help="fastest folding with LUT, BRAM, DSP and URAM each <= FRACTION of the part "
        "(on UltraScale+ MVAU weights may go to URAM)",
    )
    fold.add_argument("--folding", default=None, metavar="FILE.json", help="FINN folding config")
    p.add_argument(
        "--cost-model",
        default=d.cost_model,
        choices=["synth", "finn"],
        help="what --fit's budget counts: synth, FINN's estimates calibrated per op type by "
        "Yosys synthesis (default), or finn, FINN's estimates as they are",
    )
    p.add_argument(
        "--until",
        default=d.until,
        choices=["auto", "estimates", "codegen", "ip", "bitstream"],
        help="last stage to build (auto: bitstream when Vivado is found, else codegen)",
    )
    p.add_argument(
        "--extra-steps",
        default=None,
        metavar="FILE.py:NAME",
        help='your own build steps: NAME = [("before"|"after", step name, fn), ...], '
        "fn(model, cfg) -> model (see docs/user-guide.md)",
    )
    p.add_argument(
        "--impl-style",
        default=d.impl_style,
        choices=["rtl", "auto"],
        help="rtl: all-RTL accelerator where FINN allows it (simulable with Verilator); auto: FINN's choice",
    )
    p.add_argument(
        "--size-fifos",
        action="store_true",
        help="all-RTL builds: size the FIFOs between layers by Verilator simulation after "
        "codegen (as `fewerbits fifo`); the depths go into folding.json and the model",
    )


def train_config(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=a.model,
        scheme=a.scheme,
        wbits=a.wbits,
        abits=a.abits,
        dataset=a.dataset,
        data_file=a.data_file,
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        device=a.device,
        max_steps=a.max_steps,
        threads=a.threads,
    )


def build_config(a: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        board=a.board or board_of_part(a.part) or BuildConfig().board,
        part=a.part,
        clock_ns=a.clock_ns,
        target_fps=a.target_fps,
        until=a.until,
        fit=getattr(a, "fit", None),
        cost_model=getattr(a, "cost_model", BuildConfig().cost_model),
        folding=getattr(a, "folding", None),
        impl_style=a.impl_style,
        extra_steps=getattr(a, "extra_steps", None),
        size_fifos=getattr(a, "size_fifos", False),
    )


def add_driver_args(p: argparse.ArgumentParser) -> None:
    """``--backend`` (the driver's back ends) and ``--simulator`` (the sim registry's)."""
    p.add_argument(
        "--backend", default="python", choices=BACKENDS, help="driver back end (default python)"
    )
    add_simulator_arg(p, "simulator of the rtlsim back end (default %(default)s)")
    p.add_argument(
        "--port", help="serial port of an open-FPGA board for --backend serial (/dev/ttyUSB0)"
    )


def add_simulator_arg(p: argparse.ArgumentParser, help: str) -> None:
    """``--simulator`` from the sim registry."""
    # not argparse `choices`: an unknown name is refused by the registry itself (exit 2, one
    # line naming the registered back ends, also for callers of the API)
    p.add_argument(
        "--simulator",
        default=DEFAULT_SIMULATOR,
        metavar="{" + ",".join(backend_names()) + "}",
        help=help,
    )


def simulator(a: argparse.Namespace) -> str:
    """``--simulator``, checked against the registry (UnknownSimulatorError names the known)."""
    get_backend(a.simulator)
    return a.simulator
