"""What our custom steps get besides FINN's config, bound explicitly by the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig

from ..boards import Board


@dataclass
class BuildContext:
    """The build's own options, output folder (the staging folder while it runs) and part."""

    build: BuildConfig
    out: BuildDir
    part: str
    board: Board | None
    info: dict = field(default_factory=dict)  # facts for the report (impl styles, fit result)
    extra_steps: dict = field(default_factory=dict)  # the user's steps (--extra-steps), by name

    @property
    def out_dir(self) -> Path:
        return self.out.path
