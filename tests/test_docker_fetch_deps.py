"""docker/fetch_finn_deps.py (run at image build time) with real git and real archives. GitHub is
unreachable here, so the upstream repositories are local git repositories served over file://:
a stand-in for the remote only; the same git commands run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docker" / "fetch_finn_deps.py"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, files_per_commit: list[dict[str, str]]) -> list[str]:
    """A repository with one commit per dict of files; returns the commit hashes."""
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    commits = []
    for files in files_per_commit:
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", "c", cwd=path)
        commits.append(git("rev-parse", "HEAD", cwd=path))
    return commits


def fetch(defs: dict, tmp: Path, *args: str, env: dict | None = None):
    path = tmp / "deps.yaml"
    path.write_text(yaml.safe_dump(defs))
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--definitions",
            str(path),
            "--dest",
            str(tmp / "deps"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **GIT_ENV, **(env or {})},
    )


def test_fetch_pins_commits_board_files_and_downloads(tmp_path):
    hls = make_repo(tmp_path / "hlslib", [{"mvau.hpp": "old\n"}, {"mvau.hpp": "new\n"}])
    store = make_repo(
        tmp_path / "store",
        [{"boards/Xilinx/kv260_som/board.xml": "v1\n", "boards/Xilinx/other/x": "x\n"}],
    )
    avnet = make_repo(tmp_path / "avnet", [{"ultra96v2/board.xml": "u96\n", "README": "r\n"}])
    with zipfile.ZipFile(tmp_path / "pynq-z1.zip", "w") as z:
        z.writestr("pynq-z1/A.0/board.xml", "z1\n")
    defs = {
        "git_deps": {
            "finn-hlslib": {
                "url": f"file://{tmp_path / 'hlslib'}",
                "commit": hls[0],  # the pinned commit is not the branch tip
                "pip_install": False,
                "install_editable": False,
            }
        },
        "boardfile_deps": {
            "kv260-som-bdf": {
                "url": f"file://{tmp_path / 'store'}",
                "commit": store[0],
                "subdirectory": "boards/Xilinx/kv260_som",
            },
            "avnet-bdf": {
                "url": f"file://{tmp_path / 'avnet'}",
                "commit": avnet[0],
                "subdirectory": ".",
            },
        },
        "direct_download_deps": {
            "pynq-z1": {
                "url": f"file://{tmp_path / 'pynq-z1.zip'}",
                "do_unzip": True,
                "target_directory": "board_files",
            }
        },
    }
    res = fetch(defs, tmp_path, "--expect", f"finn-hlslib={hls[0]}")
    assert res.returncode == 0, res.stderr
    deps = tmp_path / "deps"
    assert (deps / "finn-hlslib" / "mvau.hpp").read_text() == "old\n"
    assert git("rev-parse", "HEAD", cwd=deps / "finn-hlslib") == hls[0]
    board_files = deps / "board_files"
    assert (board_files / "kv260_som" / "board.xml").read_text() == "v1\n"
    assert not (board_files / "other").exists()
    assert (board_files / "ultra96v2" / "board.xml").read_text() == "u96\n"
    assert not (board_files / ".git").exists()
    assert (board_files / "pynq-z1" / "A.0" / "board.xml").read_text() == "z1\n"
    assert not (board_files / "pynq-z1.zip").exists()
    manifest = json.loads((deps / "fewerbits-deps.json").read_text())
    assert manifest["finn-hlslib"]["commit"] == hls[0]
    assert manifest["kv260-som-bdf"]["path"] == "board_files/kv260_som"
    sha = hashlib.sha256((tmp_path / "pynq-z1.zip").read_bytes()).hexdigest()
    assert manifest["pynq-z1"]["sha256"] == sha
    assert sorted(p.name for p in deps.iterdir()) == [
        "board_files",
        "fewerbits-deps.json",
        "finn-hlslib",
    ]


def git_dep(url: str, commit: str) -> dict:
    return {
        "git_deps": {"finn-hlslib": {"url": url, "commit": commit, "pip_install": False}},
        "boardfile_deps": {},
        "direct_download_deps": {},
    }


def test_shallow_fetch_and_full_clone_fallback(tmp_path):
    """Shallow fetch of the pinned commit where the server allows it; otherwise (protocol v0
    without allowAnySHA1InWant, like some servers) a full clone + checkout, as finn-plus does."""
    c = make_repo(tmp_path / "r", [{"a": "1\n"}, {"a": "2\n"}])
    defs = git_dep(f"file://{tmp_path / 'r'}", c[0])
    assert fetch(defs, tmp_path).returncode == 0
    assert (tmp_path / "deps/finn-hlslib/.git/shallow").exists()
    v0 = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "protocol.version",
        "GIT_CONFIG_VALUE_0": "0",
    }
    res = fetch(defs, tmp_path, env=v0)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "deps/finn-hlslib/.git/shallow").exists()
    assert git("rev-parse", "HEAD", cwd=tmp_path / "deps/finn-hlslib") == c[0]
    assert (tmp_path / "deps/finn-hlslib/a").read_text() == "1\n"


def test_errors_are_one_line_and_fail_the_build(tmp_path):
    c = make_repo(tmp_path / "r", [{"a": "1\n"}])
    defs = git_dep(f"file://{tmp_path / 'r'}", c[0])
    res = fetch(defs, tmp_path, "--expect", "finn-hlslib=" + "0" * 40)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "pins finn-hlslib at " + c[0] in res.stderr
    assert not (tmp_path / "deps").exists()  # checked before anything is fetched

    res = fetch(git_dep(f"file://{tmp_path / 'r'}", "1" * 40), tmp_path)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "finn-hlslib: commit " + "1" * 40 + " not found" in res.stderr
    assert not (tmp_path / "deps" / "fewerbits-deps.json").exists()

    res = fetch(git_dep(f"file://{tmp_path / 'missing'}", c[0]), tmp_path)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "git clone" in res.stderr


def test_installed_finn_plus_definitions_are_all_fetchable():
    """Every entry of the installed finn-plus's file is of a kind the script handles, pinned to a
    full commit where it is git, and nothing needs pip (which would bypass the lock)."""
    spec = importlib.util.spec_from_file_location("fetch_finn_deps", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = mod.definitions_path()
    raw = yaml.safe_load(path.read_text())
    assert set(raw) == {"git_deps", "boardfile_deps", "direct_download_deps"}
    defs = mod.load_definitions(path)
    for table in ("git_deps", "boardfile_deps"):
        for name, dep in defs[table].items():
            assert re.fullmatch(r"[0-9a-f]{40}", dep["commit"]), name
            assert not dep.get("pip_install"), name
    for name, dep in defs["direct_download_deps"].items():
        assert dep["url"].endswith((".zip", ".tar.xz")), name
    assert "finn-hlslib" in defs["git_deps"]
