"""The on-disk layout of every stage's output, as classes with named accessors.

Each stage reads one typed folder and writes the next; every reader and writer goes through
these classes, so the layout is written down once::

    RUN/                      RunDir      (`fewerbits run`)
      train/                  TrainDir    checkpoint.pt, train.json
      export/                 ExportDir   model.onnx (QONNX), export.json
      build/                  BuildDir    build_config.json, steps.json, build_state.json,
                                          build.log, intermediate_models/<step>.onnx, report/ (FINN's
                                          estimates), folding.json, report.json/.md, plots/,
                                          vivado/, rtlsim/
        deploy/               DeployDir   driver/, settings.json, hw/dataflow.onnx, bitfile/
      report.json, report.md, verify.json

Step names (the ``<step>`` of ``intermediate_models/<step>.onnx``) are constants of
:mod:`fewerbits.hw.build.steps`; this module never spells one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fewerbits.core.files import read_json

#: written next to whatever folder ``fewerbits verify`` was given
VERIFY_JSON = "verify.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


@dataclass(frozen=True)
class _Dir:
    """A folder with a fixed layout."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def verify_json(self) -> Path:
        return self.path / VERIFY_JSON

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD


@dataclass(frozen=True)
class TrainDir(_Dir):
    """Output of the train stage."""

    CHECKPOINT = "checkpoint.pt"
    INFO = "train.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def info(self) -> Path:
        return self.path / self.INFO


@dataclass(frozen=True)
class ExportDir(_Dir):
    """Output of the export stage: the QONNX model and what it was exported from."""

    MODEL = "model.onnx"
    INFO = "export.json"
    STATE = "source_state.pt"

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def state(self) -> Path:
        """The PyTorch state_dict of a factory model as exported (the verify reference)."""
        return self.path / self.STATE

    @property
    def info(self) -> Path:
        return self.path / self.INFO

    def exists(self) -> bool:
        return self.info.is_file()

    def read_info(self) -> dict:
        return read_json(self.info)


@dataclass(frozen=True)
class DeployDir(_Dir):
    """The deployment package a user copies to the board (written by hw/deploy.py)."""

    SETTINGS = "settings.json"

    @property
    def settings(self) -> Path:
        return self.path / self.SETTINGS

    @property
    def driver(self) -> Path:
        return self.path / "driver"

    @property
    def hw_graph(self) -> Path:
        return self.path / "hw" / "dataflow.onnx"

    @property
    def bitfile_dir(self) -> Path:
        return self.path / "bitfile"

    def validate_json(self, backend: str) -> Path:
        """Where `fewerbits validate` writes by default: beside the package, not inside it
        (the package is what a user copies to the board)."""
        return self.path.absolute().parent / f"validate_{backend}.json"


@dataclass(frozen=True)
class BuildDir(_Dir):
    """Output of the hardware stage (one FINN build)."""

    CONFIG = "build_config.json"
    STEPS = "steps.json"
    STATE = "build_state.json"
    INTERMEDIATE = "intermediate_models"
    FOLDING = "folding.json"
    DEPLOY = "deploy"
    LOG = "build.log"

    @property
    def config(self) -> Path:
        """FINN's DataflowBuildConfig as run."""
        return self.path / self.CONFIG

    @property
    def steps(self) -> Path:
        """Steps ran, reused and skipped (with reasons)."""
        return self.path / self.STEPS

    @property
    def state(self) -> Path:
        """Config hash and completed steps, for --resume."""
        return self.path / self.STATE

    @property
    def intermediate(self) -> Path:
        return self.path / self.INTERMEDIATE

    @property
    def log(self) -> Path:
        """FINN's console output of every step (kept out of the terminal)."""
        return self.path / self.LOG

    @property
    def folding(self) -> Path:
        return self.path / self.FOLDING

    @property
    def finn_reports(self) -> Path:
        """FINN's estimate reports (estimate_*.json)."""
        return self.path / "report"

    def finn_report(self, name: str) -> Path:
        """``report/estimate_<name>.json`` (network_performance, layer_cycles, ...)."""
        return self.finn_reports / f"estimate_{name}.json"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def vivado(self) -> Path:
        return self.path / "vivado"

    @property
    def rtlsim(self) -> Path:
        return self.path / "rtlsim"

    @property
    def deploy(self) -> DeployDir:
        return DeployDir(self.path / self.DEPLOY)

    def model_after(self, step: str) -> Path:
        """The model FINN (or our step) saved after ``step``."""
        return self.intermediate / f"{step}.onnx"

    def first_model_after(self, *steps: str) -> Path | None:
        """The first of ``steps`` whose model was saved, or None."""
        for s in steps:
            if self.model_after(s).is_file():
                return self.model_after(s)
        return None

    def model_before(self, step: str) -> Path | None:
        """The model the build handed to ``step`` (saved by the step that ran before it)."""
        ran = self.saved_steps()
        if step not in ran or ran.index(step) == 0:
            return None
        return self.model_after(ran[ran.index(step) - 1])

    def saved_steps(self) -> list[str]:
        """Steps that ran, in order (steps.json), else the saved models' names."""
        if self.steps.is_file():
            record = read_json(self.steps)
            return list(record.get("reused", [])) + [r["step"] for r in record["ran"]]
        return sorted(p.stem for p in self.intermediate.glob("step_*.onnx"))

    def source_model(self) -> Path | None:
        """The QONNX model the build was made from (recorded in its report.json)."""
        try:
            return Path(read_json(self.report_json)["config"]["model"])
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def exists(self) -> bool:
        """A folder written by the build (it has intermediate models)."""
        return self.intermediate.is_dir()


@dataclass(frozen=True)
class RunDir(_Dir):
    """Output of `fewerbits run`: one folder per stage plus the run report."""

    @property
    def train(self) -> TrainDir:
        return TrainDir(self.path / "train")

    @property
    def export(self) -> ExportDir:
        return ExportDir(self.path / "export")

    @property
    def build(self) -> BuildDir:
        return BuildDir(self.path / "build")
