"""What a verification level is, and the one registry of levels.

A level is one executor of the model (qonnx's executor, onnxruntime, a FINN graph in Python,
Verilator, ...). It declares

* ``name`` -- what verify.json and the report call it;
* ``needs`` -- the artifact it runs on: ``"export"`` (the QONNX model) or ``"build"``;
* ``rank`` -- its place on the ladder (levels run in increasing rank);
* ``available() -> reason | None`` and ``run(x) -> outputs`` (PyTorch-convention inputs);
* optionally ``trace(x1) -> list[ActivationTrace]`` (``can_trace = True``): the integer
  activation codes of every thresholding node on one sample; the ladder compares them with the
  trace reference's on *every* sample (``run_traced`` gives outputs and traces in one pass), so
  a wrong intermediate integer fails the level even where a later clip or max-pool hides it
  from the output, and names the first diverging tensor;
* ``intermediates`` -- for a level that cannot trace, what it can say about the intermediate
  integers (reported instead of a count, never silently skipped);
* ``section`` -- a report.json section its figures go to (``"rtl"`` for the simulation
  levels), with ``numbers(result) -> dict`` (cycles, build times, ...) added to them.

Adding a level is one class in one file under ``fewerbits/verify/levels/`` with
``@register_level`` (and its import in ``levels/__init__.py``). The reference for outputs is the
PyTorch model; the reference for traces is the level named :data:`TRACE_REFERENCE`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fewerbits.core.artifacts import BuildDir, ExportDir
from fewerbits.core.compare import LevelResult
from fewerbits.core.errors import FewerbitsError, UsageError

#: the level whose activation codes every other level's trace is compared with
TRACE_REFERENCE = "qonnx"
ARTIFACTS = ("export", "build")


class VerifyInputError(FewerbitsError):
    """A folder, option or input file `fewerbits verify` cannot use (one line)."""


class VerifyOptionError(VerifyInputError, UsageError):
    """An unknown --skip/--with level (exit 2)."""


@dataclass
class ActivationTrace:
    """One thresholding node's integer output on one sample, as its executor holds it.

    ``lowest`` is the quantizer's lowest integer level (known to the QONNX reference);
    ``dtype`` the FINN datatype name of the tensor (known to FINN graphs), e.g. ``BINARY``
    for 0/1 codes of a bipolar activation after the XNOR conversion; ``layer`` the PyTorch
    module path the quantizer was exported from."""

    node: str
    codes: np.ndarray
    dtype: str | None = None
    lowest: int | None = None
    layer: str | None = None  # the user's PyTorch module (recorded at export), if known
    #: FINN's data layout annotation of the tensor (e.g. ``("N", "H", "W", "C")``), if any:
    #: the shape alone cannot tell NHWC from NCHW when H == W == C
    layout: tuple[str, ...] | None = None
    #: the reference's value before rounding, in levels (``input / scale``), and its derived
    #: float32 error in levels: a level differing by one where the value is that close to the
    #: rounding boundary is a float32 rounding of the reference, not a hardware error
    pre: np.ndarray | None = None
    slack: np.ndarray | None = None
    #: a FINN node's identity: the name of the exported quantizer it computes
    #: (hw/build/quant_tags.py); the reference's identity is its own ``node``
    tag: str | None = None


class Level:
    """Base class of every level (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    needs: ClassVar[str] = "export"
    rank: ClassVar[int] = 0
    can_trace: ClassVar[bool] = False
    section: ClassVar[str | None] = None
    #: a level that costs minutes (e.g. synthesis first) runs only when named in ``include``
    opt_in: ClassVar[bool] = False
    #: what a level that cannot trace says about the intermediate integer tensors
    intermediates: ClassVar[str] = "not observable at this level (only the output is compared)"

    def available(self) -> str | None:
        """None if the level can run here, else the one-line reason it cannot."""
        return None

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a batch of PyTorch-convention inputs."""
        raise NotImplementedError

    def trace(self, x1: np.ndarray) -> list[ActivationTrace]:
        """Integer outputs of every thresholding node on one sample (``can_trace`` levels)."""
        raise NotImplementedError(f"level {self.name} cannot trace")

    def trace_codes(self, x1: np.ndarray) -> list[ActivationTrace]:
        """:meth:`trace` without the derived float32 error (``pre``/``slack``): what the ladder
        compares on every sample; a reference that computes the error overrides this to skip
        it (it is needed only where a level differs)."""
        return self.trace(x1)

    def run_traced(self, x: np.ndarray) -> Iterator[tuple[np.ndarray, list[ActivationTrace]]]:
        """(output, trace) of every sample of ``x`` in turn (``can_trace`` levels); a level
        that computes both in one execution overrides this (the default runs twice)."""
        for i in range(len(x)):
            x1 = x[i : i + 1]
            yield np.asarray(self.run(x1)), self.trace(x1)

    def numbers(self, result: LevelResult | None) -> dict:
        """Extra figures for the level's report section."""
        return {}


@dataclass
class SkippedLevel(Level):
    """A level that cannot run for this input; always reports ``skipped`` with the reason."""

    level_name: str = ""
    reason: str = ""
    level_section: str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.level_name

    @property
    def section(self) -> str | None:  # type: ignore[override]
        return self.level_section

    def available(self) -> str | None:
        return self.reason


@dataclass
class FunctionLevel(Level):
    """A level backed by a plain function (for tests and user extensions)."""

    fn_name: str = ""
    fn: object = None
    why_unavailable: str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.fn_name

    def available(self) -> str | None:
        return self.why_unavailable

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)


def as_level(name: str, fn) -> FunctionLevel:
    """Wrap a plain function ``fn(x) -> outputs`` as a level."""
    return FunctionLevel(fn_name=name, fn=fn)


# ---- the registry -------------------------------------------------------------------------------

_LEVELS: dict[str, type[Level]] = {}


def register_level(cls: type[Level]) -> type[Level]:
    """Class decorator: put ``cls`` on the ladder (constructed as ``cls(export, build)``)."""
    if not cls.name or cls.needs not in ARTIFACTS:
        raise ValueError(f"{cls.__name__}: a level needs a name and needs in {ARTIFACTS}")
    if cls.name in _LEVELS and _LEVELS[cls.name] is not cls:
        raise ValueError(f"level {cls.name} registered twice")
    _LEVELS[cls.name] = cls
    return cls


def level_names() -> list[str]:
    """Every registered level, in ladder order."""
    return [c.name for c in sorted(_LEVELS.values(), key=lambda c: c.rank)]


def check_level_names(skip: tuple[str, ...] = (), include: tuple[str, ...] = ()) -> None:
    """Refuse an unknown level name in ``--skip``/``--with`` (one line, exit 2)."""
    for option, names in (("--skip", skip), ("--with", include)):
        unknown = sorted(set(names) - set(_LEVELS))
        if unknown:
            raise VerifyOptionError(
                f"{option} {', '.join(unknown)}: no such level; levels are "
                f"{', '.join(level_names())}"
            )


def make_levels(
    export: ExportDir,
    build: BuildDir | None,
    skip: tuple[str, ...] = (),
    include: tuple[str, ...] = (),
    skip_reasons: dict[str, str] | None = None,
) -> list:
    """The ladder for an export (and optionally build) folder, in order; ``skip`` names levels
    to leave out (reported with ``skip_reasons[name]``, else as not requested), ``include``
    opt-in levels to run (an unknown name is refused in one line)."""
    check_level_names(skip, include)
    levels: list[Level] = []
    for name in level_names():
        cls = _LEVELS[name]
        if name in skip:
            reason = (skip_reasons or {}).get(name, f"not requested (--skip {name})")
            levels.append(SkippedLevel(name, reason, cls.section))
        elif cls.opt_in and name not in include:
            reason = f"opt-in level (minutes): run it with `fewerbits verify DIR --with {name}`"
            levels.append(SkippedLevel(name, reason, cls.section))
        elif cls.needs == "build" and build is None:
            reason = "no build folder (run `fewerbits build` first)"
            levels.append(SkippedLevel(name, reason, cls.section))
        else:
            levels.append(cls(export, build))
    return levels
