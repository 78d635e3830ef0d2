"""The CLI's contract for bad input: one line naming the file/option, non-zero exit, no output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def fewerbits(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def error_lines(stderr: str) -> list[str]:
    return [
        ln
        for ln in stderr.splitlines()
        if ln.strip() and "Warning" not in ln and not ln.startswith("  ")
    ]


def test_missing_dataset_file(tmp_path):
    missing = tmp_path / "nope" / "mnist_5k.csv.gz"
    out = tmp_path / "run"
    r = fewerbits("run", "--out", str(out), "--data-file", str(missing), "-q")
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and str(missing) in lines[0] and "mnist-5k" in lines[0], r.stderr
    assert not out.exists(), "nothing may be written for a failed run"


def test_corrupt_dataset_file(tmp_path):
    bad = tmp_path / "mnist_5k.csv.gz"
    bad.write_bytes(b"not gzip")
    r = fewerbits("train", "--out", str(tmp_path / "t"), "--data-file", str(bad), "-q")
    assert r.returncode == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr


def test_unwritable_output_dir(tmp_path):
    # a regular file in the way is unwritable as a directory for root and users alike
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = fewerbits("run", "--out", str(blocker / "demo"), "-q")
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "not writable" in lines[0] and str(blocker / "demo") in lines[0], (
        r.stderr
    )


def test_unknown_option():
    r = fewerbits("run", "--out", "x", "--bogus-flag", "3")
    assert r.returncode == 2 and "unrecognized arguments: --bogus-flag" in r.stderr


def test_unknown_subcommand():
    r = fewerbits("flash")
    assert r.returncode == 2 and "invalid choice: 'flash'" in r.stderr


@pytest.mark.parametrize("cmd", ["run", "train", "export", "build", "verify", "infer", "doctor"])
def test_every_subcommand_has_help(cmd):
    r = fewerbits(cmd, "--help")
    assert r.returncode == 0 and f"usage: fewerbits {cmd}" in r.stdout


def test_doctor_reports_stack_and_optional_tools():
    r = fewerbits("doctor")
    assert r.returncode == 0, r.stderr
    for name in (
        "torch",
        "brevitas",
        "qonnx",
        "finn-plus",
        "onnx",
        "onnxruntime",
        "verilator",
        "Vivado",
        "Vitis HLS",
        "finn-hlslib",
        "PYNQ",
    ):
        assert name in r.stdout
    assert "2.13.0" in r.stdout and "1.6.1" in r.stdout


def test_doctor_fails_naming_missing_piece(tmp_path):
    """With brevitas hidden from the interpreter, doctor exits non-zero and names it."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    # a sitecustomize that makes importlib.metadata report brevitas as absent
    (shadow / "sitecustomize.py").write_text(
        "import importlib.metadata as m\n"
        "_orig = m.version\n"
        "def version(name):\n"
        "    if name == 'brevitas':\n"
        "        raise m.PackageNotFoundError(name)\n"
        "    return _orig(name)\n"
        "m.version = version\n"
    )
    env = dict(os.environ, PYTHONPATH=str(shadow))
    r = subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1 and "brevitas" in r.stderr.splitlines()[-1]


def test_every_option_states_its_default():
    """Each option of each subcommand says its default (or that it is required) in --help."""
    import argparse

    from fewerbits.cli import make_parser

    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = []
    for name, p in sub.choices.items():
        for action in p._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            text = (action.help or "") % {"default": action.default}
            if not re.search(r"\bdefault\b|\brequired\b", text):
                silent.append(f"{name} {action.option_strings[-1]}")
    assert not silent, silent
    assert len(sub.choices) >= 11
