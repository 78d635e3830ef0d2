"""The driver's one error type: every message is one line naming the file/option and the fix."""


class DriverError(Exception):
    """Bad input, a deployment package that is inconsistent, or a back end that cannot run."""
