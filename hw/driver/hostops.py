"""Host-side pre/post-processing: the software nodes before/after the accelerator, as numpy.

Each op is a small JSON object in settings.json (``host.pre`` / ``host.post``). Supported:
``transpose`` (perm), ``reshape`` (shape; the batch dimension follows the batch), ``flatten``
(axis 1), ``mul`` / ``add`` / ``sub`` / ``div`` by a float32 constant (``value``, ``shape``).
Anything else is refused when the package is written (hw/deploy.py).
"""

from __future__ import annotations

import numpy as np

from .errors import DriverError

SUPPORTED = ("transpose", "reshape", "flatten", "mul", "add", "sub", "div")


def _const(op: dict) -> np.ndarray:
    return np.asarray(op["value"], dtype=np.float32).reshape(op["shape"])


def apply_op(op: dict, x: np.ndarray) -> np.ndarray:
    """Apply one host op to a batch ``x`` (batch dimension first)."""
    kind = op.get("op")
    if kind == "transpose":
        return np.transpose(x, op["perm"])
    if kind == "reshape":
        shape = list(op["shape"])
        return x.reshape([x.shape[0], *shape[1:]])
    if kind == "flatten":  # only axis=1 is written by hw/deploy.py
        return x.reshape(x.shape[0], -1)
    if kind in ("mul", "add", "sub", "div"):
        c = _const(op)
        x = x.astype(np.float32, copy=False)
        fn = {"mul": np.multiply, "add": np.add, "sub": np.subtract, "div": np.divide}[kind]
        return fn(x, c).astype(np.float32, copy=False)
    raise DriverError(
        f"settings.json host op {kind!r} is not supported by this driver (supported: {', '.join(SUPPORTED)})"
    )


def apply_ops(ops: list[dict], x: np.ndarray) -> np.ndarray:
    for op in ops:
        x = apply_op(op, x)
    return x
