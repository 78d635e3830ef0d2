"""The registry of synthesis back ends, by name."""

from __future__ import annotations

from .protocol import SynthBackend, SynthOptionError

#: the back end callers get when they name none
DEFAULT_SYNTHESIZER = "yosys"

_BACKENDS: dict[str, type] = {}


def register_synth_backend(cls: type) -> type:
    """Register back-end class ``cls`` under ``cls.name`` (a class decorator)."""
    missing = [m for m in ("name", "families", "available", "synthesize") if not hasattr(cls, m)]
    if missing:
        raise TypeError(f"{cls.__qualname__} is no SynthBackend: missing {', '.join(missing)}")
    _BACKENDS[cls.name] = cls
    return cls


def synth_backend_names() -> list[str]:
    return sorted(_BACKENDS)


def get_synth_backend(name: str = DEFAULT_SYNTHESIZER) -> SynthBackend:
    """An instance of the back end registered as ``name``."""
    if name not in _BACKENDS:
        raise SynthOptionError(
            f"synthesizer {name!r} unknown; choose one of {', '.join(_BACKENDS)}"
        )
    return _BACKENDS[name]()
