"""The one registry of simulator back ends, by name.

A back end is a class with the :class:`~.protocol.SimBackend` members, decorated with
:func:`register_backend` in its own module; callers only ever say :func:`get_backend` (name)."""

from __future__ import annotations

from fewerbits.core.errors import UsageError

from .protocol import RtlSimError, SimBackend

#: the back end callers get when they name none
DEFAULT_SIMULATOR = "verilator"

_BACKENDS: dict[str, type] = {}


class UnknownSimulatorError(RtlSimError, UsageError):
    """A simulator name that no back end is registered under."""


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_backend(cls: type) -> type:
    """Register back-end class ``cls`` under ``cls.name`` (usable as a class decorator)."""
    missing = [m for m in ("name", "available", "compile", "run") if not hasattr(cls, m)]
    if missing:
        raise TypeError(f"{cls.__qualname__} is no SimBackend: missing {', '.join(missing)}")
    known = _BACKENDS.get(cls.name)
    # the same module and class name again (its module reloaded) replaces the old class
    if known is not None and _class_path(known) != _class_path(cls):
        raise ValueError(f"simulator {cls.name!r} is already registered ({_class_path(known)})")
    _BACKENDS[cls.name] = cls
    return cls


def unregister_backend(name: str) -> None:
    """Remove back end ``name`` (for tests that register a temporary one)."""
    _BACKENDS.pop(name, None)


def backend_names() -> tuple[str, ...]:
    """Names of the registered back ends, default first."""
    return tuple(sorted(_BACKENDS, key=lambda n: (n != DEFAULT_SIMULATOR, n)))


def get_backend(name: str = DEFAULT_SIMULATOR) -> SimBackend:
    """A new instance of back end ``name``; :class:`UnknownSimulatorError` (one line naming
    the known ones) for any other name."""
    cls = _BACKENDS.get(name)
    if cls is None:
        raise UnknownSimulatorError(
            f"simulator {name!r} unknown; choose one of {', '.join(backend_names())}"
        )
    return cls()
