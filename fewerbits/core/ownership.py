"""Who owns an output folder: one writer at a time, no clobbering, publish only when complete.

Every stage that writes an ``--out`` folder (train, export, build, run, sweep) goes through
:func:`owned_output`:

* an advisory lock (``fcntl.flock`` on ``.NAME.lock`` next to ``NAME``) makes a second
  concurrent writer fail at once, naming the holder's PID;
* an existing folder that holds another kind of artifact, or the same kind made with another
  configuration, is refused unless ``force``; a non-empty folder fewerbits did not write is
  always refused;
* the new result is written into ``.NAME.partial`` and published by rename; the previous
  result stays intact until then (``.NAME.old`` for the instant between the two renames, put
  back at the next start if a crash fell in between). A failed attempt is kept in
  ``.NAME.failed`` when the caller asks for it, else removed.

Each owned folder holds ``artifact.json``: ``{"kind", "config_hash"}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from fewerbits.core.errors import FewerbitsError
from fewerbits.core.files import read_json, write_json

ARTIFACT_JSON = "artifact.json"

#: the file that identifies each kind in folders written before ``artifact.json`` existed
LEGACY_MARKERS = {
    "train": "train.json",
    "export": "export.json",
    "build": "build_config.json",
    "run": "report.json",
    "sweep": "sweep.json",
}


class OutputBusy(FewerbitsError):
    """Another process is writing the same output folder."""


class OutputRefused(FewerbitsError):
    """The output folder holds something this command must not replace."""


def sibling(out: Path, what: str) -> Path:
    """The hidden sibling ``.NAME.<what>`` of ``out`` (partial, failed, old, lock)."""
    return out.parent / f".{out.name}.{what}"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the advisory lock of ``out`` (``.NAME.lock``, removed on release)."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = sibling(out, "lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputBusy(
                f"--out {out} is being written by another fewerbits process (PID {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        # the holder before us may have unlinked the file after we opened it: retry on the new one
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def read_owner(out: Path) -> dict | None:
    """``{"kind", "config_hash"}`` of a folder fewerbits wrote, else None."""
    out = Path(out)
    try:
        owner = read_json(out / ARTIFACT_JSON)
        if isinstance(owner, dict) and "kind" in owner:
            return owner
    except (OSError, ValueError):
        pass
    for kind, marker in LEGACY_MARKERS.items():
        if (out / marker).is_file():
            return {"kind": kind, "config_hash": None}
    return None


def check_replaceable(out: Path, kind: str, config_hash: str | None, force: bool) -> None:
    """Refuse, in one line, an ``--out`` this command must not replace."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out} is a file, not a folder; choose a folder path")
    if not out.is_dir() or not any(out.iterdir()):
        return
    owner = read_owner(out)
    if owner is None:
        raise OutputRefused(
            f"--out {out} exists and is not a fewerbits {kind} folder (it would be replaced); "
            "choose a new or empty folder"
        )
    if force:
        return
    if owner["kind"] != kind:
        raise OutputRefused(
            f"--out {out} holds a fewerbits {owner['kind']} folder, not "
            f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} folder; "
            "pass --force to replace it or choose another --out"
        )
    was = owner.get("config_hash")
    if config_hash and was and was != config_hash:
        raise OutputRefused(
            f"--out {out} holds a {kind} folder made with other options "
            f"(config {was}, now {config_hash}); pass --force to replace it or choose another --out"
        )


def _recover(out: Path) -> None:
    """Put back a previous result a crash left between the two renames of :func:`publish`."""
    old = sibling(out, "old")
    if old.exists() and not out.exists():
        os.replace(old, out)
    shutil.rmtree(old, ignore_errors=True)


def publish(stage: Path, out: Path, finish: Callable[[Path], None] | None = None) -> None:
    """Replace ``out`` by ``stage``; ``finish(out)`` runs on the published folder and a failure
    in it moves the new folder back to ``stage`` and restores the previous ``out``."""
    old = sibling(out, "old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    if finish is not None:
        try:
            finish(out)
        except BaseException:
            os.replace(out, stage)
            if old.exists():
                os.replace(old, out)
            raise
    shutil.rmtree(old, ignore_errors=True)


def write_owner(folder: Path, kind: str, config_hash: str | None) -> None:
    """Mark ``folder`` as a fewerbits artifact of ``kind``."""
    write_json(Path(folder) / ARTIFACT_JSON, {"kind": kind, "config_hash": config_hash})


@contextlib.contextmanager
def claimed(out: Path, kind: str, config_hash: str | None, force: bool = False) -> Iterator[Path]:
    """Lock ``out``, clean the debris of earlier attempts and refuse what must not be replaced;
    yields the staging folder path (not created). The caller publishes."""
    out = Path(out).absolute()
    with locked(out):
        _recover(out)
        stage = sibling(out, "partial")
        shutil.rmtree(stage, ignore_errors=True)  # a killed writer's debris
        check_replaceable(out, kind, config_hash, force)
        yield stage


@contextlib.contextmanager
def owned_output(
    out: Path,
    kind: str,
    config_hash: str | None,
    force: bool = False,
    copy_previous: bool = False,
    keep_failed: bool = False,
    publish_interrupted: bool = False,
    finish: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Write a new ``out`` in a staging folder (yielded) and publish it when the block ends
    without an error. ``copy_previous`` starts the stage from the existing folder (resume);
    ``keep_failed`` keeps a failed stage as ``.NAME.failed``; ``publish_interrupted`` publishes
    a non-empty stage on Ctrl-C (a training run's last checkpoint, for ``--resume``);
    ``finish(out)`` completes the published folder (see :func:`publish`)."""
    out = Path(out).absolute()
    with claimed(out, kind, config_hash, force) as stage:
        failed = sibling(out, "failed")
        shutil.rmtree(failed, ignore_errors=True)
        if copy_previous and out.is_dir():
            shutil.copytree(out, stage, symlinks=True)
        stage.mkdir(parents=True, exist_ok=True)
        try:
            yield stage
            write_owner(stage, kind, config_hash)
            publish(stage, out, finish)
        except KeyboardInterrupt:
            if publish_interrupted and stage.is_dir() and any(stage.iterdir()):
                write_owner(stage, kind, config_hash)
                publish(stage, out)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        except BaseException as e:
            if keep_failed and isinstance(e, Exception) and stage.exists():
                os.replace(stage, failed)
            shutil.rmtree(stage, ignore_errors=True)
            raise
