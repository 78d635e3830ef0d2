"""pyproject.toml declares what fewerbits needs at run time: every third-party package its modules
import is a declared dependency (finn-plus excepted, explained in pyproject.toml), and the locked
version of each dependency is inside its declared range (the lock is one tested solution)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("fewerbits", "train", "export", "hw")
#: imported but not a dependency: finn-plus (installed with --no-deps, see pyproject.toml), pynq
#: (on the board only, imported by the driver there)
NOT_DECLARED = {"finn-plus", "pynq"}


def declared() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, deps)}


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split(";")[0].split("==")
            pins[canonicalize_name(name.split("[")[0])] = version.strip()
    return pins


def imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"fewerbits", "__future__"}


def test_every_imported_package_is_declared():
    dists = packages_distributions()
    deps = declared()
    missing = {}
    for module in imported_top_level_modules():
        owners = {canonicalize_name(d) for d in dists.get(module, [module])}
        if not owners & (set(deps) | NOT_DECLARED):
            missing[module] = sorted(owners)
    assert not missing, f"imported but not in pyproject.toml dependencies: {missing}"


def test_locked_versions_are_inside_the_declared_ranges():
    pins = locked()
    outside = {
        name: (str(req.specifier), pins.get(name))
        for name, req in declared().items()
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True)
    }
    assert not outside, outside


def test_finn_plus_is_locked_but_not_declared():
    """Its brevitas==0.13.0 pin conflicts with the brevitas the lock needs: no resolver could
    install it as a dependency; pyproject.toml says how it is installed instead."""
    assert "finn-plus" in locked() and "finn-plus" not in declared()
    assert "pip install --no-deps finn-plus==" in (ROOT / "pyproject.toml").read_text()


def test_every_package_folder_is_installed():
    """Each folder with an __init__.py is in pyproject's package list (under its installed
    name): a missing one imports from the work tree (editable) but not from `pip install .`."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = {v: k for k, v in setup["package-dir"].items()}  # folder -> installed name
    found = set()
    for folder in SOURCES:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join([dirs.get(rel[0], rel[0]), *rel[1:]]))
    assert found - set(setup["packages"]) == set()


@pytest.mark.slow  # ~90 s on an idle machine: a real install of torch and the whole stack
def test_fresh_venv_lock_install_gives_a_working_doctor(tmp_path):
    """What pyproject.toml and the README say, in a fresh venv (no system site-packages): `pip
    install -c requirements.lock .` then `pip install --no-deps finn-plus==...`, and
    `fewerbits doctor` exits 0 (the core stack imports, at the lock's versions). Packages come
    from the registry or pip's cache; the CPU torch wheel from pip's configured find-links (the
    README's extra index is the same wheel where the registry is the only network)."""
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # this interpreter's pip installs into the new venv (no pip bootstrap there)
    pip = [sys.executable, "-m", "pip", "--python", str(py), "--disable-pip-version-check"]
    finn = locked()["finn-plus"]
    for args in (
        ["install", "-q", "-c", str(ROOT / "requirements.lock"), str(ROOT)],
        ["install", "-q", "--no-deps", f"finn-plus=={finn}"],
    ):
        r = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(
        [str(venv / "bin" / "fewerbits"), "doctor"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    assert locked()["torch"].split("+")[0] in r.stdout and finn in r.stdout
    where = subprocess.run(
        [str(py), "-c", "import fewerbits; print(fewerbits.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in where, f"fewerbits must come from the venv's own install: {where}"
