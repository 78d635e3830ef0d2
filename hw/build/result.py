"""The typed result of one build (serialised once, into steps.json and report.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from fewerbits.core.config import BuildConfig


@dataclass
class StepRecord:
    """What happened to the steps of one build."""

    ran: list[str] = field(default_factory=list)  # in order, reused ones first
    reused: list[str] = field(default_factory=list)  # completed by an earlier run (--resume)
    skipped: list[dict] = field(default_factory=list)  # {step, reason, command}
    seconds: list[dict] = field(default_factory=list)  # {step, seconds} of the steps run now

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BuildResult:
    """A finished build: options, steps, FINN's estimates, the final model and report facts."""

    build: BuildConfig
    model_onnx: Path
    part: str
    steps: StepRecord
    estimates: dict
    final_model: Path
    config_hash: str
    info: dict = field(default_factory=dict)  # implementations, fit result, fallbacks
    budget: dict | None = None
    folding: dict | None = None  # the folding config FINN applied (--fit/--folding), if any

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_onnx"], d["final_model"] = str(self.model_onnx), str(self.final_model)
        return d
