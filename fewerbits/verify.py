"""The verification ladder: every executor of the model compared with the PyTorch reference.

A level is a small object with ``name``, ``available() -> reason | None`` and
``run(x) -> outputs``; :func:`compare` is the one comparison used for all of them. New levels
plug in by being added to the list given to :func:`run_ladder`.

Exactness rule: outputs are compared bit for bit. Where the output is a float produced by a
different summation order (an unquantized last layer, or scales re-associated by FINN's
streamlining), a level passes if every element is within ``ulp_bound`` units in the last place
of float32 *and* the argmax agrees on every sample; the ULP bound is stated in the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

#: Default ULP bound for float tails (measured 1-4 ULP after streamlining; see README).
DEFAULT_ULP_BOUND = 8


class Level(Protocol):
    """One executor of the model."""

    name: str

    def available(self) -> str | None:
        """None if the level can run here, else the reason it cannot."""

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a batch of PyTorch-convention inputs."""


@dataclass
class FunctionLevel:
    """A level backed by a plain function (and an optional availability check)."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    why_unavailable: str | None = None

    def available(self) -> str | None:
        return self.why_unavailable

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)


@dataclass
class LevelResult:
    """The outcome of one level, as written to verify.json / report.json."""

    name: str
    status: str  # pass | fail | skipped
    samples: int = 0
    bit_exact: int = 0
    max_abs_diff: float | None = None
    max_ulp: int | None = None
    argmax_agree: float | None = None
    ulp_bound: int | None = None
    seconds: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance in float32 units in the last place (0 where bit-identical)."""
    ai = np.asarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    bi = np.asarray(b, dtype=np.float32).view(np.int32).astype(np.int64)
    # map the sign-magnitude float ordering onto a monotonic integer line
    ai = np.where(ai < 0, -(ai & 0x7FFFFFFF), ai)
    bi = np.where(bi < 0, -(bi & 0x7FFFFFFF), bi)
    return np.abs(ai - bi)


def compare(
    name: str, ref: np.ndarray, out: np.ndarray, ulp_bound: int = DEFAULT_ULP_BOUND
) -> LevelResult:
    """Compare a level's outputs with the reference: exact count, max diff, max ULP, argmax."""
    ref = np.asarray(ref, dtype=np.float32)
    out = np.asarray(out, dtype=np.float32).reshape(ref.shape)
    n = ref.shape[0]
    flat_r, flat_o = ref.reshape(n, -1), out.reshape(n, -1)
    exact_rows = np.all(flat_r.view(np.int32) == flat_o.view(np.int32), axis=1)
    ulps = ulp_distance(flat_r, flat_o)
    max_ulp = int(ulps.max()) if ulps.size else 0
    argmax = float(np.mean(flat_r.argmax(1) == flat_o.argmax(1))) if flat_r.shape[1] > 1 else 1.0
    passed = bool(exact_rows.all()) or (max_ulp <= ulp_bound and argmax == 1.0)
    return LevelResult(
        name=name,
        status="pass" if passed else "fail",
        samples=n,
        bit_exact=int(exact_rows.sum()),
        max_abs_diff=float(np.abs(flat_r - flat_o).max()) if flat_r.size else 0.0,
        max_ulp=max_ulp,
        argmax_agree=argmax,
        ulp_bound=None if exact_rows.all() else ulp_bound,
    )


def run_ladder(
    reference: np.ndarray, x: np.ndarray, levels: list[Level], ulp_bound: int = DEFAULT_ULP_BOUND
) -> list[LevelResult]:
    """Run every level on ``x`` and compare each with ``reference``."""
    results = []
    for level in levels:
        reason = level.available()
        if reason is not None:
            results.append(LevelResult(name=level.name, status="skipped", reason=reason))
            continue
        t0 = time.time()
        try:
            out = level.run(x)
        except Exception as e:  # noqa: BLE001 - a level that crashes fails, with the reason
            results.append(
                LevelResult(
                    name=level.name,
                    status="fail",
                    samples=len(x),
                    reason=f"{type(e).__name__}: {e}",
                )
            )
            continue
        res = compare(level.name, reference, out, ulp_bound)
        res.seconds = round(time.time() - t0, 3)
        results.append(res)
    return results


def summary_line(results: list[LevelResult]) -> str:
    """One line: all passed, or the first failing level."""
    for r in results:
        if r.status == "fail":
            extra = (
                r.reason
                or f"{r.bit_exact}/{r.samples} bit-exact, max {r.max_ulp} ULP, argmax {r.argmax_agree:.3f}"
            )
            return f"verify FAILED at level {r.name}: {extra}"
    ran = [r for r in results if r.status == "pass"]
    skipped = [r.name for r in results if r.status == "skipped"]
    line = f"verify passed: {len(ran)} level(s) ({', '.join(r.name for r in ran)})"
    return line + (f"; skipped: {', '.join(skipped)}" if skipped else "")
