"""The verification ladder: every level's outputs compared with the PyTorch reference.

:func:`fewerbits.core.compare.compare` is the one comparison used for all of them.

Exactness rule: outputs are compared bit for bit. Where the output is a float produced by a
different summation order (an unquantized last layer, or scales re-associated by FINN's
streamlining), a level passes if every element is within ``ulp_bound`` float32 units in the
last place of the sample's largest output magnitude, the argmax agrees on every sample, *and*
the integer activations of those samples are bit-exact (checked with ``trace`` against the
trace reference); the ULP bound is stated in the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from fewerbits.core.compare import (
    DEFAULT_ULP_BOUND,
    LevelResult,
    bit_identical,
    compare,
    first_failing_sample,
)
from fewerbits.core.quant_tags import BUILT

from .level import ActivationTrace, Level, VerifyInputError

#: at most this many ULP-close samples get their integer activations checked
TRACE_CHECK_SAMPLES = 20


def run_ladder(
    reference: np.ndarray,
    x: np.ndarray,
    levels: list[Level],
    ulp_bound: int = DEFAULT_ULP_BOUND,
    progress: bool = False,
    trace_reference: Level | None = None,
    tail_bound: Callable[[], np.ndarray | None] | None = None,
) -> list[LevelResult]:
    """Run every level on ``x`` and compare each with ``reference`` (PyTorch's outputs).

    A level whose outputs are within the ULP bound but not bit-exact must still have
    bit-exact integer activations on those samples: if it and ``trace_reference`` can trace,
    the integer tensors of (up to 20) non-exact samples are compared exactly, and any
    difference fails the level. ``tail_bound()`` (per output element, derived from the graph's
    float tail: :mod:`fewerbits.core.float_tail`; called only for a level that is not
    bit-exact) replaces the ULP bound where it gives one."""
    reference = np.asarray(reference, dtype=np.float32)
    results = []
    settled: tuple[str, np.ndarray, list[int]] | None = None  # last traced pass with its ties
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
        bound = None
        if tail_bound is not None and not bit_identical(reference, out):
            bound = tail_bound()
        res = compare(level.name, reference, out, ulp_bound, bound)
        tied: list[int] = []  # samples decided with the level's ties pinned
        if res.status == "fail" and _can_compare_traces(trace_reference, level):
            tied = _resolve_ties(res, trace_reference, level, reference, out, x, ulp_bound, bound)
        elif res.status == "fail" and settled is not None:
            _same_as_settled(res, reference, out, ulp_bound, bound, settled)
        if res.status == "pass" and _can_compare_traces(trace_reference, level):
            settled = (level.name, np.asarray(out), tied)
        if res.status == "fail":
            res.first_failing_sample = first_failing_sample(reference, out, ulp_bound)
        elif res.bit_exact < res.samples and _can_compare_traces(trace_reference, level):
            note = res.reason
            _check_integer_tensors(res, trace_reference, level, reference, out, x, tied)
            if note and res.status != "fail":
                res.reason = f"{res.reason}; {note}" if res.reason else note
        res.seconds = round(time.time() - t0, 3)
        results.append(res)
    return results


#: at most this many failing samples are decided with the level's ties pinned
MAX_TIE_SAMPLES = 20


def _resolve_ties(
    res: LevelResult, ref_level, level, reference, out, x, ulp_bound, bound
) -> list[int]:
    """Pass ``res`` if every failing sample is one where the level's exact thresholds round a
    value the trace reference holds within its derived float32 error of a rounding boundary
    the other way, and everything after follows (the trace reference's ``pin``); return
    those samples ([] if the level still fails)."""
    pin = getattr(ref_level, "pin", None)
    if not callable(pin):
        return []
    bad = _failing_samples(reference, out, ulp_bound, bound)
    if not bad or len(bad) > MAX_TIE_SAMPLES:
        return []
    pins: dict[str, int] = {}
    for i in bad:
        p = _pinned(ref_level, level, x, out, i)
        if p is None:
            return []
        for key, count in p.items():
            pins[key] = pins.get(key, 0) + count
    where = ", ".join(f"{k} ({v})" for k, v in sorted(pins.items()))
    res.status = "pass"
    res.reason = (
        f"{len(bad)} sample(s) where the level's exact thresholds round a value the reference "
        f"holds within its derived float32 error of a rounding boundary the other way (layer: "
        f"elements {where}); with the level's integers pinned there every later integer "
        "tensor is equal and the output within the derived float-tail bound"
    )
    return bad


def _pinned(ref_level, level, x, out, i: int) -> dict[str, int] | None:
    """Sample ``i`` decided with the level's integers pinned at the reference's float32 ties
    (the trace reference's ``pin``): the pinned elements per layer, or None if that does not
    make every later integer equal and the output within its bound."""
    pin = getattr(ref_level, "pin", None)
    if not callable(pin):
        return None
    x1 = x[i : i + 1]
    try:
        p = pin(x1, level.trace(x1), np.asarray(out)[i : i + 1])
    except PairingError:
        return None  # localisation says why
    if not p.ok or not p.pins:
        return None
    per_layer: dict[str, int] = {}
    for node, count in p.pins.items():
        key = ref_level.layer_of(node)
        per_layer[key] = per_layer.get(key, 0) + count
    return per_layer


def _failing_samples(reference, out, ulp_bound, bound) -> list[int]:
    """The samples whose output alone fails the comparison with ``reference``."""
    n = len(reference)
    lim = None if bound is None else np.asarray(bound).reshape(n, -1)
    return [
        i
        for i in range(n)
        if compare(
            "", reference[i : i + 1], out[i : i + 1], ulp_bound, None if lim is None else lim[i]
        ).status
        == "fail"
    ]


def _same_as_settled(
    res: LevelResult, reference, out, ulp_bound, bound, settled: tuple[str, np.ndarray, list[int]]
) -> None:
    """Pass ``res`` (a level that cannot trace, e.g. rtl_stitched) if it fails only on samples
    the last passing traced level (``settled``: name, outputs, samples) decided with its ties
    pinned, and its output there is bit-identical to that level's: the same integers, where a
    float32 tie of the reference is the only difference from PyTorch."""
    name, traced_out, tied = settled
    bad = _failing_samples(reference, out, ulp_bound, bound)
    if not bad or not set(bad) <= set(tied):
        return
    if not bit_identical(np.asarray(out)[bad], traced_out[bad]):
        return
    res.status = "pass"
    res.reason = (
        f"{len(bad)} sample(s) beyond the float-tail bound are bit-identical to {name}'s output, "
        "which is exact with the level's integers pinned at a float32 rounding tie of the "
        "reference; the rest within the bound"
    )


def _can_compare_traces(ref: Level | None, level: Level) -> bool:
    return ref is not None and ref is not level and ref.can_trace and level.can_trace


class PairingError(VerifyInputError):
    """A level's thresholding node whose exported quantizer is not known (one line)."""


def paired(
    ref: list[ActivationTrace], got: list[ActivationTrace], level: str = "the level"
) -> list[tuple[ActivationTrace, ActivationTrace]]:
    """Pairs of the reference's activation quantizers and a level's thresholding nodes, by
    identity: each thresholding node carries the name of the exported quantizer it was built
    from (``tag``: hw/build/quant_tags.py), in the reference's (topological) order.

    A quantizer the build removed (the identity input threshold of a net fed raw pixels,
    hw/build/custom_steps.py ``step_fewerbits_drop_identity_thresholds``) has no pair. A
    thresholding node the build made from no exported quantizer (tag ``built:...``, e.g. a
    TruncAvgPool's rounding) has none either. A thresholding node without a known quantizer is
    refused (:class:`PairingError`), never paired by position."""
    by_name = {r.node: r for r in ref}
    by_tag: dict[str, ActivationTrace] = {}
    for g in got:
        if g.tag is not None and g.tag.startswith(BUILT):
            continue  # a quantizer the build made (hw/build/recipes.py): nothing exported
        if g.tag is None or g.tag not in by_name:
            why = (
                "carries no quantizer tag (built before tags were recorded, or made by a "
                "step that does not keep them): rebuild with `fewerbits build`"
                if g.tag is None
                else f"is tagged with quantizer {g.tag}, which the exported model does not have"
            )
            raise PairingError(f"{level}: thresholding node {g.node} {why}; not paired by position")
        if g.tag in by_tag:
            raise PairingError(
                f"{level}: thresholding nodes {by_tag[g.tag].node} and {g.node} both carry "
                f"quantizer {g.tag}; not paired by position"
            )
        by_tag[g.tag] = g
    return [(r, by_tag[r.node]) for r in ref if r.node in by_tag]


def _check_integer_tensors(
    res: LevelResult, ref_level, level, reference, out, x, skip: list[int] = ()
) -> None:
    """Fail ``res`` if an integer activation differs on a sample that is only ULP-close
    (``skip``: samples already decided by :func:`_resolve_ties`)."""
    n = len(reference)
    inexact = np.setdiff1d(
        np.nonzero(
            np.any(
                reference.reshape(n, -1).view(np.int32)
                != np.asarray(out, np.float32).reshape(n, -1).view(np.int32),
                axis=1,
            )
        )[0],
        skip,
    )
    if not len(inexact):
        return
    at_boundary, pinned = 0, 0
    for i in inexact[:TRACE_CHECK_SAMPLES]:
        try:
            pairs = paired(ref_level.trace(x[i : i + 1]), level.trace(x[i : i + 1]), level.name)
        except PairingError as e:
            res.status, res.first_failing_sample = "fail", int(i)
            res.reason = f"integer activations not checked: {e}"
            return
        ties = 0
        for r, g in pairs:
            if codes_equal(r, g) is False:
                # after a tie rounded the other way every later integer may follow from it
                if ties and _pinned(ref_level, level, x, out, int(i)) is not None:
                    pinned += 1
                    break
                res.status, res.node, res.first_failing_sample = "fail", g.node, int(i)
                res.reason = f"integer output of {g.node} differs (float output within ULP bound)"
                return
            ties += boundary_roundings(r, g)
        at_boundary += ties
    checked = min(len(inexact), TRACE_CHECK_SAMPLES)
    within = (
        f"the derived float-tail bound (<= {res.tail_bound:.3g})"
        if res.tail_bound is not None
        else f"{res.ulp_bound} ULP"
    )
    exact = (
        "bit-exact"
        if not at_boundary
        else f"equal but {at_boundary} element(s) one level apart where PyTorch's own value is "
        "within its float32 error of the rounding boundary"
    )
    if pinned:
        exact += (
            f"; on {pinned} of them the later integers follow from a tie rounded the other way "
            "(decided with the level's integers pinned there)"
        )
    res.reason = (
        f"{len(inexact)} sample(s) within {within} (float tail); integer "
        f"activations {exact} on {checked} checked"
    )


def _codes(ref: ActivationTrace, got: ActivationTrace):
    """(reference levels, candidate readings of the FINN tensor in the reference's layout,
    bipolar) or None if the two tensors cannot be aligned."""
    r = np.asarray(ref.codes, dtype=np.float64)
    v = np.asarray(got.codes, dtype=np.float64)
    if v.ndim == 4 and r.ndim == 3:  # a 1-D tensor [N, C, L] built as [N, C, L, 1] (conv1d)
        as_nchw = v.transpose(0, 3, 1, 2) if v.shape[1:] == (r.shape[2], 1, r.shape[1]) else v
        if got.layout == ("N", "H", "W", "C"):
            as_nchw = v.transpose(0, 3, 1, 2)
        if as_nchw.shape == (*r.shape, 1):
            v = as_nchw[..., 0]
    nhwc = got.layout == ("N", "H", "W", "C") and v.ndim == 4 == r.ndim
    if nhwc and v.transpose(0, 3, 1, 2).shape == r.shape:
        v = v.transpose(0, 3, 1, 2)  # by the annotation: (1, 4, 4, 4) has no telling shape
    elif v.shape != r.shape:
        if v.ndim == 4 and r.ndim == 4 and v.transpose(0, 3, 1, 2).shape == r.shape:
            v = v.transpose(0, 3, 1, 2)
        elif v.size == r.size:
            v = v.reshape(r.shape)
        else:
            return None
    if got.dtype == "BINARY":
        return r, [2 * v - 1], True
    lowest = ref.lowest if ref.lowest is not None else -1
    return r, [v, v + lowest], False


def level_codes(ref: ActivationTrace, got: ActivationTrace) -> np.ndarray | None:
    """A FINN tensor as the reference's integer levels (in its layout): the reading of
    :func:`_codes` closest to the reference; None if the tensors cannot be aligned."""
    aligned_codes = _codes(ref, got)
    if aligned_codes is None:
        return None
    r, candidates, _ = aligned_codes
    return min(candidates, key=lambda c: int(np.sum(c != r)))


def codes_equal(ref: ActivationTrace, got: ActivationTrace) -> bool | None:
    """Compare the reference's integer levels with a FINN thresholding output.

    FINN holds either the level itself (signed bias absorbed), the count above the lowest level
    (bias not absorbed), or 0/1 for bipolar after the XNOR conversion; NHWC layouts are
    transposed to NCHW. A level differing by one where the reference's own value sits within
    its derived float32 error of the rounding boundary counts as equal (see
    :func:`boundary_roundings`). None if the two tensors cannot be aligned."""
    aligned_codes = _codes(ref, got)
    if aligned_codes is None:
        return None
    r, candidates, bipolar = aligned_codes
    if bipolar:
        return bool(np.array_equal(candidates[0], r))
    return any(_equal_up_to_boundary(ref, cand, r) for cand in candidates)


def boundary_roundings(ref: ActivationTrace, got: ActivationTrace) -> int:
    """How many elements :func:`codes_equal` accepted as float32 roundings of the reference
    at a rounding boundary (0 when the tensors are bit-identical)."""
    aligned_codes = _codes(ref, got)
    if aligned_codes is None:
        return 0
    r, candidates, _ = aligned_codes
    return min(int(np.sum(c != r)) for c in candidates)


def _equal_up_to_boundary(ref: ActivationTrace, v: np.ndarray, r: np.ndarray) -> bool:
    """Equal, or differing only by one level where the reference's value lies within its
    derived float32 error of (but not exactly on) the rounding boundary between the levels."""
    diff = v != r
    if not diff.any():
        return True
    if ref.pre is None or ref.slack is None:
        return False
    pre = np.broadcast_to(ref.pre, r.shape)[diff]
    slack = np.broadcast_to(ref.slack, r.shape)[diff]
    boundary = (v[diff] + r[diff]) / 2  # the half step between the two levels
    distance = np.abs(pre - boundary)
    # exactly on the boundary is a tie the rounding rule decides (and the threshold fix makes
    # FINN follow): a difference there is a real error, never a float32 rounding
    near = (distance > 0) & (distance <= slack)
    return bool(np.all(np.abs(v[diff] - r[diff]) == 1) and np.all(near))


def locate_divergence(reference_level: Level, level: Level, x1: np.ndarray) -> str:
    """Name the first node of ``level`` whose integer output differs from the reference
    level's activation codes on the sample ``x1`` (both levels can trace)."""
    last = None
    for r, g in paired(reference_level.trace(x1), level.trace(x1), level.name):
        if codes_equal(r, g) is False:
            layer = f", layer {r.layer}" if r.layer else ""
            return f"{g.node} (integer output differs from {r.node}{layer})"
        last = g.node
    return f"float tail after {last}" if last else "output"


def localize(
    results: list[LevelResult], levels: list[Level], x: np.ndarray, reference_level: Level | None
) -> None:
    """For the first failing level, fill ``node`` with the first diverging node (in place)."""
    by_name = {lv.name: lv for lv in levels}
    for r in results:
        if r.status != "fail":
            continue
        lv = by_name.get(r.name)
        if lv is None or r.first_failing_sample is None:
            return
        locate = getattr(lv, "locate", None)  # a level that can name its own first wrong layer
        if callable(locate):
            try:
                r.node = locate(x, r.first_failing_sample)
            except Exception as e:  # noqa: BLE001 - localisation is best effort, say why
                r.node = f"(could not localise: {type(e).__name__}: {e})"
            return
        if not _can_compare_traces(reference_level, lv):
            return
        i = r.first_failing_sample
        try:
            r.node = locate_divergence(reference_level, lv, x[i : i + 1])
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
