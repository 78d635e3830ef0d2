"""The `fewerbits` command line. Each subcommand is a module in this package with
``add_parser(subparsers)`` and ``main(args) -> exit code``; it parses arguments and calls one
stage function, nothing more. Add a subcommand by adding a module and listing it in COMMANDS."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from fewerbits.core.errors import USER_ERRORS

EXIT_ERROR = 1

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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"fewerbits.cli.{name}")
        p = module.add_parser(sub)
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        p.set_defaults(func=module.main)
    return parser


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
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"fewerbits {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("fewerbits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
