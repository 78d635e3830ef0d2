"""The base of every "bad input or environment" error, and the one place that maps an error
to the CLI's exit code: 2 for a bad option (a :class:`UsageError`, like argparse's own usage
errors), 1 for a bad file, a refused folder, a failed check or a full disk."""

from __future__ import annotations

import errno

EXIT_ERROR = 1  # a failed check, a bad input file, a refused folder
EXIT_USAGE = 2  # a bad option value or combination (argparse's own code for usage errors)

#: write errors that mean "no room": a full disk, a quota, a file-size limit
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class FewerbitsError(Exception):
    """A user-facing error whose message is one line naming the file, node or option."""


class UsageError(FewerbitsError):
    """A bad option value or combination (the CLI exits 2). A stage's own error type for an
    option is ``class XOptionError(XError, UsageError)``, so callers catching XError still do."""


#: besides FewerbitsError: what the CLI turns into `fewerbits CMD: error: MESSAGE` and exit 1
USER_ERRORS: tuple[type[BaseException], ...] = (FewerbitsError, FileNotFoundError, PermissionError)


def is_no_space(e: BaseException) -> bool:
    """A write that failed for lack of room (ENOSPC, EDQUOT, or EFBIG from a file-size limit)."""
    return isinstance(e, OSError) and e.errno in NO_SPACE


def missing_package(e: BaseException) -> str | None:
    """The third-party package whose import failed (a broken install), else None; a missing
    module of fewerbits itself is a bug, not an install problem."""
    if isinstance(e, ModuleNotFoundError) and e.name:
        top = e.name.split(".")[0]
        if top != "fewerbits":
            return top
    return None


def exit_code(e: BaseException) -> int | None:
    """The CLI's exit code for ``e``; None for a bug (the traceback is then shown)."""
    if isinstance(e, UsageError):
        return EXIT_USAGE
    if isinstance(e, USER_ERRORS) or is_no_space(e) or missing_package(e):
        return EXIT_ERROR
    return None


def one_line(e: BaseException) -> str:
    """The message of a user-facing error (see :func:`exit_code`), on one line."""
    if is_no_space(e) and not isinstance(e, FewerbitsError):
        where = f" writing {e.filename}" if e.filename else ""
        return (
            f"no space left{where} ({e.strerror}); free some space or choose another --out "
            "(nothing was published)"
        )
    package = missing_package(e)
    if package:
        return (
            f"the Python package {package!r} is not installed; install fewerbits with its "
            "dependencies (`make setup`; docs/user-guide.md, Set-up)"
        )
    return " ".join(str(e).split("\n"))
