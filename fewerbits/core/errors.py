"""The base of every "bad input or environment" error: the CLI prints it as one line, exit 1."""

from __future__ import annotations


class FewerbitsError(Exception):
    """A user-facing error whose message is one line naming the file, node or option."""


class UsageError(FewerbitsError):
    """A bad option value or combination (the CLI exits 2, like argparse's own usage errors)."""


#: what the CLI turns into `fewerbits CMD: error: MESSAGE` and exit code 1
USER_ERRORS: tuple[type[BaseException], ...] = (FewerbitsError, FileNotFoundError, PermissionError)
