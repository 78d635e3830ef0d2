"""Fetch finn-plus's non-PyPI dependencies (finn-hlslib, attention-hlslib, board files, ...)
into FINN_DEPS at exactly the commits the installed finn-plus pins.

The single source of truth is the installed package's ``finn/interface/external_dependencies.yaml``
(what `finn deps update` reads; that command cannot start without Vivado). The layout is the one
finn-plus's ``DependencyUpdater`` (finn/interface/manage_deps.py) produces:

- git dependencies: ``DEST/<name>``, checked out at the pinned commit (verified with rev-parse);
- board-file dependencies: the pinned commit's ``subdirectory`` copied to ``DEST/board_files/``;
- direct downloads: unpacked into ``DEST/<target_directory>/``.

``DEST/fewerbits-deps.json`` records what was fetched (commits, and sha256 of downloads, which
finn-plus does not pin). Used by the Dockerfile; run with the image's Python.

    python docker/fetch_finn_deps.py --dest /opt/finn_deps --expect finn-hlslib=<commit>
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import yaml

MANIFEST = "fewerbits-deps.json"
TAR_SUFFIXES = (".tar.xz", ".tar.gz", ".tar.bz2", ".tgz", ".tar")


class FetchError(Exception):
    """One line saying which dependency failed and why."""


def definitions_path() -> Path:
    """The installed finn-plus's external_dependencies.yaml (found without importing finn)."""
    spec = importlib.util.find_spec("finn")
    if spec is None or not spec.submodule_search_locations:
        raise FetchError("finn-plus is not installed: install requirements.lock first")
    path = Path(next(iter(spec.submodule_search_locations))) / "interface"
    path = path / "external_dependencies.yaml"
    if not path.is_file():
        raise FetchError(f"{path} not found: is this finn-plus 1.6.x?")
    return path


def load_definitions(path: Path) -> dict[str, dict]:
    """The three dependency tables of the definitions file."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise FetchError(f"{path}: not a mapping")
    return {k: data.get(k) or {} for k in ("git_deps", "boardfile_deps", "direct_download_deps")}


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def git_checkout(name: str, url: str, commit: str, target: Path) -> str:
    """Check out ``commit`` of ``url`` into ``target``; return the verified HEAD.

    Fetches just that commit (shallow) when the server allows it, else clones the whole
    repository and checks the commit out, as finn-plus does."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    init = _git("init", "-q", str(target))
    if init.returncode != 0:
        raise FetchError(f"{name}: git init failed: {init.stderr.strip()}")
    _git("remote", "add", "origin", url, cwd=target)
    shallow = _git("fetch", "-q", "--depth", "1", "origin", commit, cwd=target)
    if shallow.returncode == 0:
        step = _git("checkout", "-q", "--detach", "FETCH_HEAD", cwd=target)
    else:
        shutil.rmtree(target)
        clone = _git("clone", "-q", url, str(target))
        if clone.returncode != 0:
            last = (clone.stderr.strip().splitlines() or ["?"])[-1]
            raise FetchError(f"{name}: git clone {url} failed: {last}")
        step = _git("checkout", "-q", "--detach", commit, cwd=target)
    if step.returncode != 0:
        last = (step.stderr.strip().splitlines() or ["?"])[-1]
        raise FetchError(f"{name}: commit {commit} not found in {url}: {last}")
    head = _git("rev-parse", "HEAD", cwd=target).stdout.strip()
    if head != commit:
        raise FetchError(f"{name}: checked out {head}, expected {commit} from {url}")
    return head


def fetch_git(name: str, dep: dict, dest: Path) -> dict:
    head = git_checkout(name, str(dep["url"]), str(dep["commit"]), dest / name)
    if dep.get("pip_install"):
        raise FetchError(f"{name}: pip_install dependencies are not supported (not in the lock)")
    return {"kind": "git", "url": dep["url"], "commit": head, "path": name}


def fetch_boardfiles(name: str, dep: dict, dest: Path) -> dict:
    """Like DependencyUpdater._install_boardfile_dependency: subdirectory '.' copies the
    repository's contents into board_files/, otherwise board_files/<basename(subdirectory)>."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=dest) as tmp:
        repo = Path(tmp) / "repo"
        head = git_checkout(name, str(dep["url"]), str(dep["commit"]), repo)
        sub = Path(str(dep.get("subdirectory", ".")))
        source = repo / sub
        if not source.is_dir():
            raise FetchError(f"{name}: {sub} not found in {dep['url']} at {head}")
        board_files = dest / "board_files"
        board_files.mkdir(parents=True, exist_ok=True)
        target = board_files / sub.name if sub.name else board_files
        ignore = shutil.ignore_patterns(".git")
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore)
    return {
        "kind": "boardfiles",
        "url": dep["url"],
        "commit": head,
        "path": str(target.relative_to(dest)),
    }


def fetch_download(name: str, dep: dict, dest: Path) -> dict:
    url = str(dep["url"])
    target = dest / str(dep["target_directory"])
    target.mkdir(parents=True, exist_ok=True)
    archive = target / Path(url).name
    try:
        with urllib.request.urlopen(url, timeout=120) as r, archive.open("wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        raise FetchError(f"{name}: download of {url} failed: {e}") from None
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    if dep.get("do_unzip"):
        try:
            if archive.name.endswith(".zip"):
                with zipfile.ZipFile(archive) as z:
                    z.extractall(target)
            elif archive.name.endswith(TAR_SUFFIXES):
                with tarfile.open(archive) as t:
                    t.extractall(target, filter="data")
            else:
                raise FetchError(f"{name}: cannot unpack {archive.name} (zip or tar expected)")
        except (zipfile.BadZipFile, tarfile.TarError) as e:
            raise FetchError(
                f"{name}: {archive.name} from {url} is not a valid archive: {e}"
            ) from None
        archive.unlink()
    return {"kind": "download", "url": url, "sha256": sha256, "path": str(target.relative_to(dest))}


def check_expected(defs: dict[str, dict], expect: list[str]) -> None:
    """``name=commit`` pins the caller (the Dockerfile) states must equal finn-plus's."""
    for item in expect:
        name, _, commit = item.partition("=")
        pinned = defs["git_deps"].get(name) or defs["boardfile_deps"].get(name)
        if pinned is None:
            raise FetchError(f"--expect {item}: finn-plus defines no git dependency {name!r}")
        if str(pinned["commit"]) != commit:
            raise FetchError(
                f"--expect {item}: the installed finn-plus pins {name} at {pinned['commit']}; "
                "update the Dockerfile ARG to match requirements.lock's finn-plus"
            )


def fetch_all(defs: dict[str, dict], dest: Path, only: set[str] | None = None) -> dict:
    """Fetch every dependency (or those named in ``only``); write and return the manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    fetchers = (
        ("git_deps", fetch_git),
        ("boardfile_deps", fetch_boardfiles),
        ("direct_download_deps", fetch_download),
    )
    manifest: dict[str, dict] = {}
    for table, fetch in fetchers:
        for name, dep in defs[table].items():
            if only is not None and name not in only:
                continue
            print(f"fetch {name} ({dep['url']})", flush=True)
            manifest[name] = fetch(name, dep, dest)
    tmp = dest / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, dest / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", required=True, type=Path, help="the FINN_DEPS folder to fill")
    p.add_argument("--definitions", type=Path, help="default: the installed finn-plus's file")
    p.add_argument("--expect", action="append", default=[], metavar="NAME=COMMIT")
    p.add_argument("--only", action="append", metavar="NAME", help="fetch only these")
    a = p.parse_args(argv)
    try:
        defs = load_definitions(a.definitions or definitions_path())
        check_expected(defs, a.expect)
        fetch_all(defs, a.dest, set(a.only) if a.only else None)
    except FetchError as e:
        print(f"fetch_finn_deps: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
