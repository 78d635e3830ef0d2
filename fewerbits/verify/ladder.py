"""The verification ladder: every level's outputs compared with the PyTorch reference.

:func:`fewerbits.core.compare.compare` is the one comparison used for all of them.

Exactness rule: outputs are compared bit for bit. Where the output is a float produced by a
different summation order (an unquantized last layer, or scales re-associated by FINN's
streamlining), a level passes if every element is within the derived float-tail bound (else
``ulp_bound`` float32 units in the last place of the sample's largest output magnitude) and the
argmax agrees on every sample.

Integer rule: a level that can trace (the FINN graphs) has the integer output of every
thresholding node compared on *every* sample with the trace reference's quantizer it was built
from (paired by identity: :func:`paired`), whatever the output did, so a wrong intermediate
integer that a later clip or max-pool hides from the output still fails the level, naming the
first diverging tensor and the user's layer. The one accepted difference is a float32 rounding
tie: one level apart where the reference's own value lies within its derived float32 error of
the rounding boundary, decided by executing the reference with the level's integers pinned
there (the trace reference's ``pin``), after which everything must follow. Each result says
how many tensors x samples were compared (``integers``), or why the level cannot compare them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

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

from .level import TRACE_REFERENCE, ActivationTrace, Level, VerifyInputError

#: the trace reference's integers are kept across levels up to this many bytes (else recomputed)
REFERENCE_CACHE_BYTES = 256 * 2**20


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

    A level that can trace, with a ``trace_reference`` that can, has its integer tensors
    compared on every sample (module docstring); any difference that is not a float32 tie
    fails it. ``tail_bound()`` (per output element, derived from the graph's float tail:
    :mod:`fewerbits.core.float_tail`; called only for a level that is not bit-exact) replaces
    the ULP bound where it gives one."""
    reference = np.asarray(reference, dtype=np.float32)
    refs = _ReferenceTraces(trace_reference, x) if _traces(trace_reference) else None
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
        ints: IntegerCheck | None = None
        try:
            if refs is not None and _can_compare_traces(trace_reference, level):
                out, ints = _run_checked(level, refs, x)
            else:
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
        if ints is not None:
            _decide(res, ints, trace_reference, reference, out, ulp_bound, bound)
            if res.status == "pass":
                settled = (level.name, np.asarray(out), sorted(ints.tied))
        else:
            if res.status == "fail" and settled is not None:
                _same_as_settled(res, reference, out, ulp_bound, bound, settled)
            if res.status == "fail":
                res.first_failing_sample = first_failing_sample(reference, out, ulp_bound)
            res.integers = {"summary": _not_compared(level, trace_reference)}
        res.seconds = round(time.time() - t0, 3)
        results.append(res)
    return results


def _traces(level: Level | None) -> bool:
    return level is not None and level.can_trace


def _not_compared(level: Level, ref: Level | None) -> str:
    """What a result says about intermediate integers it did not compare."""
    if level is ref or (level.name == TRACE_REFERENCE and level.can_trace):
        return "the trace reference (every other level's integer tensors are compared with these)"
    if level.can_trace:
        return "not compared: no trace reference to compare with"
    return level.intermediates


class _ReferenceTraces:
    """The trace reference's integer tensors per sample of ``x``, without the derived float32
    error (computed only where a level differs), kept across levels within a memory budget."""

    def __init__(self, level: Level, x: np.ndarray) -> None:
        self.level, self.x = level, x
        self._kept: dict[int, list[ActivationTrace]] = {}
        self._bytes = 0

    def get(self, i: int) -> list[ActivationTrace]:
        if i in self._kept:
            return self._kept[i]
        t = self.level.trace_codes(self.x[i : i + 1])
        size = sum(np.asarray(a.codes).nbytes for a in t)
        if self._bytes + size <= REFERENCE_CACHE_BYTES:
            self._kept[i] = t
            self._bytes += size
        return t

    def with_bounds(self, i: int) -> list[ActivationTrace]:
        """The same tensors with the reference's pre-rounding values and their error."""
        return self.level.trace(self.x[i : i + 1])


@dataclass
class IntegerFailure:
    """The first sample where a level's integer tensor differs from the reference's."""

    sample: int
    node: str  # the level's node
    quantizer: str  # the reference's quantizer
    layer: str | None  # the user's layer (PyTorch module path), if recorded
    why: str


@dataclass
class IntegerCheck:
    """The integer tensors of one level compared with the trace reference's, per sample."""

    tensors: int = 0  # tensors paired per sample
    samples: int = 0  # samples compared
    boundary: int = 0  # elements one level apart at a rounding boundary, nothing else changed
    tied: dict[int, dict[str, int]] = field(default_factory=dict)  # sample -> pins per node
    failure: IntegerFailure | None = None
    unpaired: str | None = None  # why the tensors could not be paired (PairingError)
    unpaired_sample: int | None = None

    def summary(self) -> dict:
        """The result's ``integers`` entry (counts and one line)."""
        d: dict = {"tensors": self.tensors, "samples": self.samples}
        if self.unpaired is not None:
            d["summary"] = f"not compared: {self.unpaired}"
            return d
        what = f"{self.tensors} tensors x {self.samples} samples"
        if self.failure is not None:
            f = self.failure
            layer = f" (layer {f.layer})" if f.layer else ""
            d["first_difference"] = {
                "sample": f.sample,
                "node": f.node,
                "quantizer": f.quantizer,
                "layer": f.layer,
            }
            d["summary"] = (
                f"differ at {f.node}{layer} on sample {f.sample}: {f.why} ({what} compared "
                "up to it)"
            )
            return d
        extra = []
        if self.boundary:
            extra.append(
                f"{self.boundary} element(s) one level apart where the reference's own value is "
                "within its float32 error of the rounding boundary"
            )
        if self.tied:
            extra.append(f"{len(self.tied)} sample(s) decided with ties pinned")
        d["boundary_elements"], d["tied_samples"] = self.boundary, sorted(self.tied)
        d["summary"] = f"{what} exact" + (f" ({'; '.join(extra)})" if extra else "")
        return d


def _run_checked(level: Level, refs: _ReferenceTraces, x: np.ndarray):
    """The level's outputs, with its integer tensors compared with the reference's on every
    sample as they are computed (only the first difference is kept)."""
    outs = []
    chk = IntegerCheck()
    for i, (o, got) in enumerate(level.run_traced(x)):
        outs.append(np.asarray(o))
        if chk.failure is None and chk.unpaired is None:
            _check_sample(chk, level, refs, i, got, outs[-1])
    return np.concatenate(outs), chk


def _check_sample(chk: IntegerCheck, level: Level, refs: _ReferenceTraces, i: int, got, o1):
    """Compare one sample's integer tensors (``got``) with the reference's, into ``chk``."""
    try:
        pairs = paired(refs.get(i), got, level.name)
    except PairingError as e:
        chk.unpaired, chk.unpaired_sample = str(e), i
        return
    chk.tensors = max(chk.tensors, len(pairs))
    chk.samples += 1
    if all(codes_equal(r, g) for r, g in pairs):
        return  # bit-identical (no reference error computed: no boundary was needed)
    pairs = paired(refs.with_bounds(i), got, level.name)
    equal = [codes_equal(r, g) for r, g in pairs]
    if all(equal):
        chk.boundary += sum(boundary_roundings(r, g) for r, g in pairs)
        return
    k = next(j for j, e in enumerate(equal) if not e)
    r, g = pairs[k]
    why = "tensor shapes cannot be aligned" if equal[k] is None else _differences(r, g)
    pin = getattr(refs.level, "pin", None)
    # each such sample costs a few partial executions of the reference: no cap is needed
    if callable(pin) and equal[k] is not None:
        x1 = refs.x[i : i + 1]
        try:
            p = pin(x1, got, o1)
        except PairingError as e:
            chk.unpaired, chk.unpaired_sample = str(e), i
            return
        if p.ok and p.pins:
            chk.tied[i] = p.pins
            return
        hit = next(((r2, g2) for r2, g2 in pairs if r2.node == p.node), None)
        if hit is not None:  # the first real difference with the ties before it pinned
            r, g = hit
            why = f"{_differences(r, g)}, not a float32 rounding at a boundary"
        elif p.why:
            why = f"{why}; {p.why}"
    chk.failure = IntegerFailure(i, g.node, r.node, r.layer, why)


def _differences(ref: ActivationTrace, got: ActivationTrace) -> str:
    """How many of the level's integers differ from the reference's, with the largest."""
    codes = level_codes(ref, got)
    if codes is None:
        return "tensor shapes cannot be aligned"
    r = np.asarray(ref.codes, np.float64)
    diff = np.abs(codes - r)
    k = int(np.argmax(diff))
    return (
        f"{int(np.sum(diff > 0))} of {r.size} integers differ, e.g. {codes.flat[k]:g} where "
        f"the reference has {r.flat[k]:g}"
    )


def _decide(
    res: LevelResult, chk: IntegerCheck, ref_level, reference, out, ulp_bound, bound
) -> None:
    """Fold the integer comparison into the output comparison ``res`` (in place)."""
    res.integers = chk.summary()
    out = np.asarray(out, np.float32).reshape(reference.shape)
    if chk.unpaired is not None:
        res.status, res.first_failing_sample = "fail", chk.unpaired_sample
        res.reason = f"integer activations not checked: {chk.unpaired}"
        return
    n = len(reference)
    lim = None if bound is None else np.asarray(bound).reshape(n, -1)

    def fails(i: int) -> bool:
        one = None if lim is None else lim[i]
        return compare("", reference[i : i + 1], out[i : i + 1], ulp_bound, one).status == "fail"

    # per-sample output verdicts only where the output failed as a whole (a compare each)
    bad = [i for i in range(n) if fails(i)] if res.status == "fail" else []
    if chk.failure is not None:
        f = chk.failure
        layer = f", layer {f.layer}" if f.layer else ""
        hidden = (
            "the output differs too"
            if fails(f.sample)
            else "the output is bit-identical"
            if bit_identical(reference[f.sample], out[f.sample])
            else "the output is within the float-tail bound"
        )
        res.status, res.first_failing_sample, res.node = "fail", f.sample, f.node
        res.reason = (
            f"integer output of {f.node} (quantizer {f.quantizer}{layer}) differs from the "
            f"reference on sample {f.sample}: {f.why}; {hidden}"
        )
        return
    notes = []
    if res.status == "fail":
        if not bad or any(i not in chk.tied for i in bad):
            res.first_failing_sample = first_failing_sample(reference, out, ulp_bound)
            return
        pins: dict[str, int] = {}
        for i in bad:
            for node, count in chk.tied[i].items():
                key = ref_level.layer_of(node)
                pins[key] = pins.get(key, 0) + count
        where = ", ".join(f"{k} ({v})" for k, v in sorted(pins.items()))
        res.status = "pass"
        notes.append(
            f"{len(bad)} sample(s) where the level's exact thresholds round a value the "
            f"reference holds within its derived float32 error of a rounding boundary the other "
            f"way (layer: elements {where}); with the level's integers pinned there every later "
            "integer tensor is equal and the output within the derived float-tail bound"
        )
    differs = np.any(
        reference.reshape(n, -1).view(np.int32) != out.reshape(n, -1).view(np.int32), axis=1
    )
    inexact = sorted(set(np.nonzero(differs)[0].tolist()) - set(bad))
    if inexact:
        within = (
            f"the derived float-tail bound (<= {res.tail_bound:.3g})"
            if res.tail_bound is not None
            else f"{res.ulp_bound} ULP"
        )
        exact = (
            "bit-exact"
            if not chk.boundary and not chk.tied
            else "equal up to float32 rounding ties"
        )
        notes.append(
            f"{len(inexact)} sample(s) within {within} (float tail); integer activations "
            f"{exact} on all {chk.samples} samples"
        )
    if notes:
        res.reason = "; ".join(notes)


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


def _codes(ref: ActivationTrace, got: ActivationTrace):
    """(reference levels, candidate readings of the FINN tensor in the reference's layout,
    bipolar) or None if the two tensors cannot be aligned."""
    r = np.asarray(ref.codes, dtype=np.float64)
    v = np.asarray(got.codes, dtype=np.float64)
    nhwc = got.layout == ("N", "H", "W", "C") and v.ndim == 4 == r.ndim
    if nhwc and v.transpose(0, 3, 1, 2).shape == r.shape:
        v = v.transpose(0, 3, 1, 2)  # by the annotation: (1, 4, 4, 4) has no telling shape
    elif v.shape != r.shape:
        if v.ndim == 4 and r.ndim == 4 and v.transpose(0, 3, 1, 2).shape == r.shape:
            v = v.transpose(0, 3, 1, 2)
        elif v.ndim == 4 and r.ndim == 3 and _channels_last(got, v, r):
            # a 1-D conv's (N, C, L) made 2-D by the build (hw/build/recipes.py), channels
            # last after streamlining: (N, 1, L, C) or (N, L, 1, C) -> (N, C, L)
            v = v.transpose(0, 3, 1, 2).reshape(r.shape)
        elif v.size == r.size:
            v = v.reshape(r.shape)
        else:
            return None
    if got.dtype == "BINARY":
        return r, [2 * v - 1], True
    lowest = ref.lowest if ref.lowest is not None else -1
    return r, [v, v + lowest], False


def _channels_last(got: ActivationTrace, v: np.ndarray, r: np.ndarray) -> bool:
    """A 4-D FINN tensor holding a 3-D (N, C, L) reference channels last: by its layout
    annotation, else by its shape (N, 1, L, C) / (N, L, 1, C) where (N, C, 1, L) would not fit."""
    if got.layout is not None:
        return got.layout == ("N", "H", "W", "C")
    n, c, length = r.shape
    return v.shape in ((n, 1, length, c), (n, length, 1, c)) and v.shape[1] != c


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
