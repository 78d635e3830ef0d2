"""`fewerbits doctor`: versions of the stack and the optional tools."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser(
        "doctor",
        help="versions of the stack and the optional tools; exit 1 if the core is unusable",
    )


def main(a: argparse.Namespace) -> int:
    from fewerbits.doctor import collect, print_table

    result = collect()
    print_table(result)
    if not result["core_ok"]:
        missing = [r["component"] for r in result["rows"] if r["core"] and not r["ok"]]
        print(
            f"fewerbits doctor: core stack not usable: {', '.join(missing)}; run `make setup`",
            file=sys.stderr,
        )
        return 1
    return 0
