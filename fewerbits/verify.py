"""The verification ladder: every executor of the model compared with the PyTorch reference.

A level is a small object with ``name``, ``available() -> reason | None`` and
``run(x) -> outputs``; :func:`compare` is the one comparison used for all of them. New levels
plug in by being added to the list given to :func:`run_ladder`.

Exactness rule: outputs are compared bit for bit. Where the output is a float produced by a
different summation order (an unquantized last layer, or scales re-associated by FINN's
streamlining), a level passes if every element is within ``ulp_bound`` float32 units in the
last place of the sample's largest output magnitude (see :func:`row_ulp_distance`), the argmax
agrees on every sample, *and* the integer activations of those samples are bit-exact (checked
with ``trace``); the ULP bound is stated in the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fewerbits.core.compare import (
    DEFAULT_ULP_BOUND,
    LevelResult,
    compare,
    first_failing_sample,
)


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


def run_ladder(
    reference: np.ndarray,
    x: np.ndarray,
    levels: list[Level],
    ulp_bound: int = DEFAULT_ULP_BOUND,
    progress: bool = False,
) -> list[LevelResult]:
    """Run every level on ``x`` and compare each with ``reference``.

    A level whose outputs are within the ULP bound but not bit-exact must still have
    bit-exact integer activations on those samples: if it and the first level can ``trace``,
    the integer tensors of (up to 20) non-exact samples are compared exactly, and any
    difference fails the level."""
    from tqdm.auto import tqdm

    reference = np.asarray(reference, dtype=np.float32)
    results = []
    bar = tqdm(levels, desc="verify", disable=not progress, leave=False)
    for level in bar:
        bar.set_postfix_str(level.name)
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
                    seconds=round(time.time() - t0, 3),
                )
            )
            continue
        res = compare(level.name, reference, out, ulp_bound)
        if res.status == "fail":
            res.first_failing_sample = first_failing_sample(reference, out, ulp_bound)
        elif res.bit_exact < res.samples and hasattr(level, "trace") and levels:
            _check_integer_tensors(res, levels[0], level, reference, out, x)
        res.seconds = round(time.time() - t0, 3)
        results.append(res)
    return results


def _check_integer_tensors(res: LevelResult, ref_level, level, reference, out, x) -> None:
    """Fail ``res`` if an integer activation differs on a sample that is only ULP-close."""
    if not hasattr(ref_level, "trace") or ref_level is level:
        return
    n = len(reference)
    inexact = np.nonzero(
        np.any(
            reference.reshape(n, -1).view(np.int32)
            != np.asarray(out, np.float32).reshape(n, -1).view(np.int32),
            axis=1,
        )
    )[0]
    for i in inexact[:20]:
        ref_t, got_t = ref_level.trace(x[i : i + 1]), level.trace(x[i : i + 1])
        for r, (gname, gval, gdt) in zip(ref_t, got_t, strict=False):
            if _codes_equal(r, gval, gdt) is False:
                res.status, res.node, res.first_failing_sample = "fail", gname, int(i)
                res.reason = f"integer output of {gname} differs (float output within ULP bound)"
                return
    res.reason = (
        f"{len(inexact)} sample(s) within {res.ulp_bound} ULP (float tail); integer "
        f"activations bit-exact on {min(len(inexact), 20)} checked"
    )


def _codes_equal(ref: tuple, val: np.ndarray, dtype: str) -> bool | None:
    """Compare a reference activation's integer levels with a FINN thresholding output.

    ``ref`` is ``(name, levels, lowest_level)``. FINN holds either the level itself (signed
    bias absorbed), the count above the lowest level (bias not absorbed), or 0/1 for bipolar
    after the XNOR conversion; NHWC layouts are transposed to NCHW. None if the two tensors
    cannot be aligned."""
    r = np.asarray(ref[1], dtype=np.float64)
    v = np.asarray(val, dtype=np.float64)
    if v.shape != r.shape:
        if v.ndim == 4 and r.ndim == 4 and v.transpose(0, 3, 1, 2).shape == r.shape:
            v = v.transpose(0, 3, 1, 2)
        elif v.size == r.size:
            v = v.reshape(r.shape)
        else:
            return None
    if dtype == "BINARY":
        return bool(np.array_equal(2 * v - 1, r))
    return bool(np.array_equal(v, r) or np.array_equal(v + ref[2], r))


def locate_divergence(reference_level, level, x1: np.ndarray) -> str:
    """Name the first node of ``level`` whose integer output differs from the reference
    level's activation codes on the sample ``x1`` (both levels need ``trace``)."""
    ref = reference_level.trace(x1)
    got = level.trace(x1)
    if len(ref) > len(got):
        # the build drops identity thresholds (the UINT8 input quantizer of a net fed raw pixels,
        # hw/flow.py step_fewerbits_drop_identity_thresholds): align the lists at the output end
        ref = ref[len(ref) - len(got) :]
    last = None
    for r, (gname, gval, gdt) in zip(ref, got, strict=False):
        eq = _codes_equal(r, gval, gdt)
        if eq is False:
            return f"{gname} (integer output differs from {r[0]})"
        last = gname
    if len(ref) != len(got):
        return (
            f"{level.name} has {len(got)} thresholding nodes, reference has {len(ref)} "
            f"activation quantizers; last matching node: {last}"
        )
    return f"float tail after {last}" if last else "output"


def localize(results: list[LevelResult], levels: list, x: np.ndarray, reference_level) -> None:
    """For the first failing level, fill ``node`` with the first diverging node (in place)."""
    by_name = {lv.name: lv for lv in levels}
    for r in results:
        if r.status != "fail":
            continue
        lv = by_name.get(r.name)
        if lv is None or not hasattr(lv, "trace") or r.first_failing_sample is None:
            return
        if not hasattr(reference_level, "trace"):
            return
        try:
            r.node = locate_divergence(
                reference_level, lv, x[r.first_failing_sample : r.first_failing_sample + 1]
            )
        except Exception as e:  # noqa: BLE001 - localisation is best effort, say why
            r.node = f"(could not localise: {type(e).__name__}: {e})"
        return


def summary_line(results: list[LevelResult]) -> str:
    """One line: all passed, or the first failing level (and node)."""
    for r in results:
        if r.status == "fail":
            extra = (
                r.reason
                or f"{r.bit_exact}/{r.samples} bit-exact, max {r.max_ulp} ULP, argmax {r.argmax_agree:.3f}"
            )
            where = f", first diverging node {r.node}" if r.node else ""
            sample = (
                f" (sample {r.first_failing_sample})" if r.first_failing_sample is not None else ""
            )
            return f"verify FAILED at level {r.name}{where}{sample}: {extra}"
    ran = [r for r in results if r.status == "pass"]
    skipped = [r.name for r in results if r.status == "skipped"]
    line = f"verify passed: {len(ran)} level(s) ({', '.join(r.name for r in ran)})"
    return line + (f"; skipped: {', '.join(skipped)}" if skipped else "")
