"""The docs stay true to the code: generated CLI reference, README size, working links."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 150
#: [text](target) and ![alt](target); the target ends at whitespace or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")


def _docs_cli() -> dict:
    """The globals of benchmarks/docs_cli.py (not a package, so run it as a file)."""
    return runpy.run_path(str(ROOT / "benchmarks" / "docs_cli.py"))


def markdown_files() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(md: Path) -> list[str]:
    """Link targets in ``md`` that point into the repository (no URL; ``#anchor`` alone is a
    heading of ``md``), outside fenced code blocks."""
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def anchors(md: Path) -> set[str]:
    """GitHub's heading anchors of ``md``: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def broken_links(md: Path) -> list[str]:
    """Relative links of ``md`` to a missing file, or to a missing heading of a .md file."""
    out = []
    for t in relative_links(md):
        path, _, frag = t.partition("#")
        target = (md.parent / path).resolve() if path else md
        if not target.exists():
            out.append(t)
        elif frag and target.suffix == ".md" and frag not in anchors(target):
            out.append(t)
    return out


def test_cli_reference_is_generated_from_the_parser():
    expected = _docs_cli()["generate"]()
    actual = (ROOT / "docs" / "cli.md").read_text()
    assert actual == expected, "docs/cli.md is out of date with the CLI: run `make docs-cli`"


def test_cli_reference_lists_every_subcommand_and_option():
    from fewerbits.cli import COMMANDS, make_parser

    text = _docs_cli()["render"](make_parser())
    for name in COMMANDS:
        assert f"## fewerbits {name}\n" in text
    assert "`--fit FRACTION`" in text and "`--skip [LEVEL ...]`" in text
    # help texts as --help prints them: argparse's placeholders expanded
    assert "%(" not in text
    assert "simulator back end (default verilator)" in text


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES})"


def test_readme_keeps_the_ci_test_command():
    # .ci/run runs `make test`; the README must name the same command
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(md):
    broken = broken_links(md)
    assert not broken, f"{md.relative_to(ROOT)}: links to missing files or headings {broken}"


def test_link_check_sees_broken_links(tmp_path):
    md = tmp_path / "x.md"
    md.write_text(
        "[a](missing.md) ![b](img/none.png) [c](https://example.org) [d](#anchor)\n"
        "```\n[e](inside-code.md)\n```\n"
    )
    assert relative_links(md) == ["missing.md", "img/none.png", "#anchor"]
    assert broken_links(md) == ["missing.md", "img/none.png", "#anchor"]
    (tmp_path / "y.md").write_text("# Set-up, precisely\n## `--fit` and folding\n")
    md.write_text("[a](y.md#set-up-precisely) [b](y.md#--fit-and-folding) [c](y.md#nope)\n")
    assert broken_links(md) == ["y.md#nope"]


def test_readme_quotes_the_measured_demo_numbers():
    """The README's demo numbers are those of docs/numbers/demo.json (written by `make
    docs-numbers`), which ran what `make demo` runs (the Makefile's DEMO_ARGS)."""
    import json

    d = json.loads((ROOT / "docs" / "numbers" / "demo.json").read_text())
    readme = " ".join((ROOT / "README.md").read_text().split())
    args = _docs_numbers()["demo_args"]()
    assert d["command"] == " ".join(["fewerbits run --out DIR", *args]), (d["command"], args)
    assert f"`make docs-numbers` on {d['date']}" in readme
    assert f"test accuracy {d['accuracy']['test']:.3f}" in readme
    assert f"{d['estimates']['fps']:,.0f} FPS" in readme
    assert f"{d['rtl_stitched']['cycles_per_frame']:,.0f} cycles/frame" in readme
    assert f"took {d['seconds']['total']:.0f} s" in readme


def _docs_numbers() -> dict:
    """The globals of benchmarks/docs_numbers.py (run as a file, not imported as a package)."""
    return runpy.run_path(str(ROOT / "benchmarks" / "docs_numbers.py"), run_name="docs_numbers")


def test_models_table_in_docs_is_the_generated_one():
    """docs/benchmarks.md's external-models table is benchmarks/models.py's output for
    benchmarks/results/models.json (`--combine ... --docs`), not typed: every row of the JSON
    is a line of the block with its measured FPS, and the block has no other model row."""
    import json

    text = (ROOT / "docs" / "benchmarks.md").read_text()
    begin, end = "<!-- benchmarks/models.py table: begin", "<!-- benchmarks/models.py table: end"
    block = text.split(begin, 1)[1].split(end, 1)[0]
    rows = json.loads((ROOT / "benchmarks/results/models.json").read_text())["rows"]
    lines = {ln.split("|")[1].strip(): ln for ln in block.splitlines() if ln.startswith("| ")}
    lines.pop("model", None)
    assert set(lines) == {r["model"] for r in rows}
    for r in rows:
        fps = (r.get("build") or {}).get("fps")
        assert (f"{fps:,.0f} FPS" if fps else "| – |") in lines[r["model"]], r["model"]
        assert r.get("date", "") in lines[r["model"]]
