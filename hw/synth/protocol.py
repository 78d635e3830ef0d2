"""What every synthesis back end takes and returns.

A back end turns a :class:`SynthJob` (sources, top module, FPGA family, options) into a
:class:`SynthResult` (the netlist, the cell counts, the resources in one vocabulary, the log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from fewerbits.core.errors import FewerbitsError, UsageError

#: the resource vocabulary of every result, whatever the family
RESOURCES = ("LUT", "FF", "CARRY", "LUTRAM", "BRAM18", "BRAM36", "BRAM4K", "DSP")


class SynthError(FewerbitsError):
    """A synthesis that failed or cannot run; one line naming the design and the cause."""


class SynthOptionError(SynthError, UsageError):
    """An unknown --family or synthesizer, or --pnr for a board without open P&R (exit 2)."""


@dataclass(frozen=True)
class SynthJob:
    """One design to synthesize."""

    name: str  # for messages and file names: a node name or "stitched"
    sources: dict[str, str]  # file name -> (System)Verilog text; must define ``top``
    top: str
    family: str  # xc7 | ecp5 | ice40
    data_files: dict[str, Path] = field(default_factory=dict)  # $readmemh files, by workdir name
    behavioural: bool = False  # -DVERILATOR: FINN's behavioural MVU instead of vendor primitives
    nobram: bool = False  # no block RAM inference (their simulation models are port-only)
    nodsp: bool = False  # no DSP inference


@dataclass
class SynthResult:
    """A synthesized design."""

    name: str
    family: str
    top: str
    netlist: Path
    log: Path
    cells: dict[str, int]  # Yosys cell type -> count
    resources: dict[str, int]  # RESOURCES -> count
    seconds: float
    options: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "top": self.top,
            "netlist": self.netlist.name,
            "log": self.log.name,
            "options": self.options,
            "seconds": self.seconds,
            "resources": self.resources,
            "cells": self.cells,
        }


@runtime_checkable
class SynthBackend(Protocol):
    """A synthesis tool behind the seam."""

    name: str
    families: tuple[str, ...]

    def available(self) -> str | None:
        """None, or the one-line reason this back end cannot run here."""

    def synthesize(self, job: SynthJob, workdir: Path) -> SynthResult:
        """Synthesize ``job`` in ``workdir`` (created; logs and netlist stay there)."""
