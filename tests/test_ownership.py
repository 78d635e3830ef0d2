"""fewerbits.core.ownership on plain folders (the CLI-level cases are in test_bad_inputs.py):
publish's rollback when the finishing step fails, a killed writer's staging folder cleared by
the next start even when that start is refused, and the lock naming its holder."""

from __future__ import annotations

import os

import pytest

from fewerbits.core import ownership
from fewerbits.core.ownership import OutputBusy, OutputRefused


def _old(out):
    out.mkdir()
    (out / "result.txt").write_text("old")
    ownership.write_owner(out, "build", "h1")


def test_publish_rolls_back_when_finish_fails(tmp_path):
    out, stage = tmp_path / "b", tmp_path / ".b.partial"
    _old(out)
    stage.mkdir()
    (stage / "result.txt").write_text("new")

    def finish(final):
        assert (final / "result.txt").read_text() == "new"  # runs on the published folder
        raise RuntimeError("deploy failed")

    with pytest.raises(RuntimeError, match="deploy failed"):
        ownership.publish(stage, out, finish)
    assert (out / "result.txt").read_text() == "old"
    assert (stage / "result.txt").read_text() == "new"
    assert not ownership.sibling(out, "old").exists()


def test_owned_output_failure_and_interrupt_keep_the_old_folder(tmp_path):
    out = tmp_path / "b"
    _old(out)
    for exc in (KeyboardInterrupt(), ValueError("step failed")):
        with pytest.raises(type(exc)):
            with ownership.owned_output(out, "build", "h1", keep_failed=True) as stage:
                (stage / "result.txt").write_text("half")
                raise exc
        assert (out / "result.txt").read_text() == "old"
    # the interrupted attempt left nothing; the failed one is kept for debugging (until the
    # next start of a writer of the same folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.failed", "b"]


def test_a_refused_start_still_clears_a_killed_writers_stage(tmp_path):
    out = tmp_path / "b"
    _old(out)
    stale = ownership.sibling(out, "partial")
    stale.mkdir()
    (stale / "half.onnx").write_bytes(b"x")
    with pytest.raises(OutputRefused, match="other options"):
        with ownership.claimed(out, "build", "h2"):
            pass
    assert not stale.exists() and (out / "result.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], "no lock file left"


def test_second_writer_refused_naming_the_holder(tmp_path):
    out = tmp_path / "b"
    with ownership.locked(out):
        with pytest.raises(OutputBusy, match=rf"another fewerbits process \(PID {os.getpid()}\)"):
            with ownership.locked(out):
                pass
    assert not ownership.sibling(out, "lock").exists()
