"""The typed, serialisable configuration shared by the stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TrainConfig:
    """What to train: topology, scheme and bit widths, data and optimiser settings."""

    model: str = "tfc"
    scheme: str = "int"
    wbits: int = 2
    abits: int = 2
    width: float = 1.0  # multiplier on the zoo model's layer widths
    dataset: str = "mnist-5k"
    data_file: str | None = None
    epochs: int = 8
    batch_size: int = 100
    lr: float = 0.02
    seed: int = 0
    device: str = "cpu"
    max_steps: int | None = None  # cap on optimiser steps per epoch (tests, smoke runs)
    threads: int = 1  # CPU threads for training (1: reproducible, fastest on a shared box)


#: FINN's SetFolding target (frames/s) when neither --target-fps, --fit nor --folding is given
DEFAULT_TARGET_FPS = 100_000


@dataclass
class BuildConfig:
    """Where and how to build the accelerator."""

    board: str = "Pynq-Z1"
    part: str | None = None
    clock_ns: float = 10.0
    target_fps: int | None = None
    until: str = "auto"  # auto: as far as this machine's tools allow (bitstream with Vivado)
    fit: float | None = None  # budget fraction for the folding search (hw/folding.py)
    # what --fit's budget counts (hw/costs.py): "synth", FINN's estimates calibrated by Yosys
    # synthesis per op type, or "finn", FINN's analytic estimates as they are
    cost_model: str = "synth"
    folding: str | None = None  # a FINN folding-config JSON file
    # "rtl": all-RTL dataflow partition (MVAU_rtl, Thresholding_rtl, ...; float output scale in
    # software) so it can be simulated with Verilator; "auto": FINN's default HLS/RTL choice
    impl_style: str = "rtl"
    # a user's own steps: "file.py:name", name = [("before"|"after", step name, fn), ...]
    extra_steps: str | None = None
    # size every inter-layer FIFO by simulating the stitched RTL after code generation
    # (all-RTL builds; hw/build/fifo_step.py): depths into folding.json and the model
    size_fifos: bool = False


@dataclass
class RunConfig:
    """The whole pipeline (`fewerbits run`)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    verify_samples: int | None = None  # None: the whole test split
    # levels `run` leaves out; None: the default, fewerbits.pipeline.RUN_SKIPS_BY_DEFAULT
    verify_skip: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(
            train=TrainConfig(**d.get("train", {})),
            build=BuildConfig(**d.get("build", {})),
            **{
                f.name: d[f.name]
                for f in fields(cls)
                if f.name in d and f.name not in ("train", "build")
            },
        )
