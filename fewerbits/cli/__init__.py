"""The `fewerbits` command line. Each subcommand is a module in this package with
``add_parser(subparsers)`` and ``main(args) -> exit code``; it parses arguments and calls one
stage function, nothing more. Add a subcommand by adding a module and listing it in COMMANDS."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version

from fewerbits.core.errors import exit_code, one_line


def package_version() -> str:
    try:
        return version("fewerbits")
    except PackageNotFoundError:
        return "unknown (not installed)"


#: subcommand modules, in --help order
COMMANDS = [
    "run",
    "train",
    "export",
    "build",
    "fifo",
    "synth",
    "verify",
    "infer",
    "validate",
    "sweep",
    "doctor",
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewerbits",
        description="Quantized nets from Brevitas to FINN FPGA accelerators, verified bit-exact.",
    )
    parser.add_argument("--version", action="version", version=f"fewerbits {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"fewerbits.cli.{name}")
        p = module.add_parser(sub)
        p.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no progress bars and no third-party warnings (full logs stay in the output "
            "folder)",
        )
        p.set_defaults(func=module.main)
        state_defaults(p)
    return parser


def state_defaults(parser: argparse.ArgumentParser) -> None:
    """Append its default to every option's help that does not state one already."""
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = action.help or ""
        if "default" in text or "required" in text:
            continue
        if action.required:
            tail = "required"
        elif isinstance(action, argparse._StoreTrueAction):
            tail = "default: off"
        elif action.default in (None, [], ""):
            tail = "default: none"
        else:
            tail = "default: %(default)s"
        action.help = f"{text} ({tail})" if text else tail


#: third-party warnings that say nothing actionable to a fewerbits user (stderr stays one line
#: on errors): brevitas' optional CUDA kernel, qonnx's layout guess, torch's exporter notes
QUIET_WARNINGS = (
    "fast_hadamard_transform package not found",
    "Assuming 4D input is NCHW",
    "Converting a tensor with requires_grad=True to a scalar",
)


def main(argv: list[str] | None = None) -> int:
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    args = make_parser().parse_args(argv)
    if args.quiet:
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
    try:
        return args.func(args)
    except Exception as e:
        code = exit_code(e)  # the one mapping of error types to codes (fewerbits/core/errors.py)
        if code is None:
            raise
        print(f"fewerbits {args.command}: error: {one_line(e)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("fewerbits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
