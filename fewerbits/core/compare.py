"""Comparison of an executor's outputs with the reference: bit-exact counts, ULPs, argmax.

Used by the export stage (PyTorch vs QONNX on the test inputs) and by every level of the
verification ladder (:mod:`fewerbits.verify`), so there is one definition of "equal".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Default ULP bound for float tails (measured 1-4 ULP after streamlining; see README).
DEFAULT_ULP_BOUND = 8


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
    tail_bound: float | None = None  # the largest derived float-tail bound used (abs), if any
    node: str | None = None  # first diverging node (failing levels)
    first_failing_sample: int | None = None
    #: the intermediate integer tensors: how many tensors x samples were compared and the
    #: outcome (``summary``: one line), or why the level cannot compare them
    integers: dict | None = None

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


def row_ulp_distance(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Elementwise |ref - out| in float32 ULPs of the sample's largest reference magnitude.

    Plain per-element ULPs are meaningless next to zero (an exact 0 against 1e-9 is ~8e8
    ULPs although both come from the same dot product summed in another order), so float
    tails are measured at the scale of each sample's output."""
    ref = np.asarray(ref, dtype=np.float32).reshape(len(ref), -1)
    out = np.asarray(out, dtype=np.float32).reshape(ref.shape)
    mag = np.abs(ref).max(axis=1, keepdims=True)
    unit = np.spacing(np.maximum(mag, np.finfo(np.float32).tiny)).astype(np.float64)
    d = np.abs(ref.astype(np.float64) - out.astype(np.float64))
    with np.errstate(invalid="ignore"):
        u = np.where(np.isfinite(d), np.ceil(d / unit), np.iinfo(np.int32).max)
    return u.astype(np.int64)


def bit_identical(ref: np.ndarray, out: np.ndarray) -> bool:
    """Every float32 element of ``out`` has the bits of ``ref``'s (shapes may differ by
    layout only, e.g. a batch of (1, 10) rows against (N, 10))."""
    r = np.asarray(ref, dtype=np.float32)
    o = np.asarray(out, dtype=np.float32)
    return r.size == o.size and bool(
        np.array_equal(r.view(np.int32).ravel(), o.view(np.int32).ravel())
    )


def argmax_agreement(ref: np.ndarray, out: np.ndarray, bound: np.ndarray | None = None) -> float:
    """Fraction of samples whose predicted class agrees; where the reference has several
    classes tied at its maximum, any of them counts as agreement (rows: samples).

    With ``bound`` (the derived per-element bound on ``|ref - out|``, same shape), a class
    ``j`` counts as tied with the reference's top class ``m`` when ``ref[m] - ref[j] <=
    bound[m] + bound[j]``: exactly when some output within the bound of both logits puts
    ``j`` at or above ``m`` (``out[j] >= ref[j] - bound[j] >= ... >= ref[m] - bound[m]``), so
    the bound cannot tell the two classes apart. The bound is never used for anything
    else here; the integer tensors are compared exactly elsewhere (the ladder's trace)."""
    if ref.shape[1] <= 1:
        return 1.0
    rows = np.arange(len(ref))
    top_val = ref.max(axis=1, keepdims=True)
    if bound is None:
        top = ref == top_val
    else:
        b = np.asarray(bound, np.float64).reshape(ref.shape)
        m = ref.argmax(axis=1)
        gap = top_val.astype(np.float64) - ref.astype(np.float64)
        top = gap <= b + b[rows, m][:, None]
    return float(np.mean(top[rows, out.argmax(1)]))


def compare(
    name: str,
    ref: np.ndarray,
    out: np.ndarray,
    ulp_bound: int = DEFAULT_ULP_BOUND,
    abs_bound: np.ndarray | None = None,
) -> LevelResult:
    """Compare a level's outputs with the reference: exact count, max diff, max ULP, argmax.

    Not bit-exact passes within ``abs_bound`` (a derived per-element bound, e.g. of a float
    tail: fewerbits/core/float_tail.py) where one is given, else within ``ulp_bound`` ULPs of
    each sample's largest output; the argmax must agree on every sample either way (with
    ``abs_bound``, classes the bound cannot tell apart count as tied: :func:`argmax_agreement`)."""
    ref = np.asarray(ref, dtype=np.float32)
    out = np.asarray(out, dtype=np.float32).reshape(ref.shape)
    n = ref.shape[0]
    flat_r, flat_o = ref.reshape(n, -1), out.reshape(n, -1)
    exact_rows = np.all(flat_r.view(np.int32) == flat_o.view(np.int32), axis=1)
    ulps = row_ulp_distance(flat_r, flat_o)
    max_ulp = int(ulps.max()) if ulps.size else 0
    bound = None if abs_bound is None else np.asarray(abs_bound, np.float64).reshape(flat_r.shape)
    argmax = argmax_agreement(flat_r, flat_o, bound)
    if bound is not None:
        diff = np.abs(flat_r.astype(np.float64) - flat_o.astype(np.float64))
        close = bool(np.all(diff <= bound))
    else:
        close = max_ulp <= ulp_bound
    passed = bool(exact_rows.all()) or (close and argmax == 1.0)
    return LevelResult(
        name=name,
        status="pass" if passed else "fail",
        samples=n,
        bit_exact=int(exact_rows.sum()),
        max_abs_diff=float(np.abs(flat_r - flat_o).max()) if flat_r.size else 0.0,
        max_ulp=max_ulp,
        argmax_agree=argmax,
        ulp_bound=None if exact_rows.all() or abs_bound is not None else ulp_bound,
        tail_bound=None
        if exact_rows.all() or abs_bound is None
        else float(np.max(abs_bound))
        if np.size(abs_bound)
        else 0.0,
    )


def first_failing_sample(ref: np.ndarray, out: np.ndarray, ulp_bound: int) -> int | None:
    """Index of the first sample that is neither bit-exact nor within ``ulp_bound``."""
    n = len(ref)
    ulps = row_ulp_distance(ref.reshape(n, -1), np.asarray(out).reshape(n, -1)).max(axis=1)
    bad = np.nonzero(ulps > 0 if ulp_bound == 0 else ulps > ulp_bound)[0]
    if not len(bad):
        bad = np.nonzero(ulps > 0)[0]
    return int(bad[0]) if len(bad) else None
