"""Write docs/cli.md from the argparse parser (`fewerbits.cli.make_parser()`).

The CLI reference is generated, never typed: every subcommand's usage line and a table of its
arguments with their defaults and help text. tests/test_docs.py fails when docs/cli.md differs
from what this script writes, so a CLI change must come with `make docs-cli`.

    .venv/bin/python benchmarks/docs_cli.py [--out docs/cli.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = ROOT / "docs" / "cli.md"
WIDTH = 100  # fixed usage width: the output must not depend on the terminal

HEADER = """# CLI reference

Generated from `fewerbits.cli.make_parser()` by `benchmarks/docs_cli.py` (`make docs-cli`).
Do not edit by hand: `tests/test_docs.py` fails when this file is out of date.
What the commands write is described in [the user guide](user-guide.md) and
[the report fields](report-fields.md).
"""


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _argument(action: argparse.Action) -> str:
    """`--opt VALUE` / `NAME` as the table's first column."""
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    opts = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{opts}`"
    if action.choices is not None and action.metavar is None:
        return f"`{opts} {{{','.join(map(str, action.choices))}}}`"
    metavar = action.metavar or action.dest.upper()
    if action.nargs == "*":
        return f"`{opts} [{metavar} ...]`"
    return f"`{opts} {metavar}`"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
        return ""
    if isinstance(action.default, list):
        return " ".join(map(str, action.default)) if action.default else "(none)"
    return f"`{action.default}`"


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every subcommand, in --help order."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    return [(name, helps.get(name, ""), p) for name, p in sub.choices.items()]


def render(parser: argparse.ArgumentParser) -> str:
    """The whole of docs/cli.md for ``parser``."""
    lines = [HEADER, "| command | what it does |", "|---|---|"]
    cmds = subcommands(parser)
    lines += [f"| [`{name}`](#fewerbits-{name}) | {_cell(h)} |" for name, h, _ in cmds]
    for name, help_text, p in cmds:
        p.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
        first, *rest = p.format_usage().removeprefix("usage: ").rstrip().splitlines()
        usage = "\n".join([first] + ["  " + ln.strip() for ln in rest])
        lines += ["", f"## fewerbits {name}", "", _cell(help_text) + ".", "", "```", usage, "```"]
        lines += ["", "| argument | default | help |", "|---|---|---|"]
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            lines.append(
                f"| {_argument(action)} | {_cell(_default(action))} | {_cell(_help(action))} |"
            )
    return "\n".join(lines) + "\n"


def _help(action: argparse.Action) -> str:
    """The help text as `--help` prints it (argparse's %(default)s etc. expanded)."""
    text = action.help or ""
    if "%" not in text:
        return text
    fields = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    if isinstance(fields.get("choices"), (list, tuple, dict)):
        fields["choices"] = ", ".join(map(str, fields["choices"]))
    return text % fields


def generate() -> str:
    """docs/cli.md for the CLI as it is now."""
    from fewerbits.cli import make_parser

    return render(make_parser())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(CLI_MD))
    a = ap.parse_args(argv)
    Path(a.out).write_text(generate())
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
