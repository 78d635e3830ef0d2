"""The one comparison (fewerbits/core/compare.py) and export's layer-name mapping."""

from __future__ import annotations

import numpy as np
from fewerbits.export.exporter import layer_of_scope

from fewerbits.core.compare import argmax_agreement, compare


def test_argmax_ties_in_the_reference_agree_with_any_tied_class():
    ref = np.array([[1.0, 3.0, 3.0], [5.0, 1.0, 0.0]], np.float32)
    tied_other = np.array([[1.0, 2.0, 3.5], [5.0, 1.0, 0.0]], np.float32)  # picks class 2
    wrong = np.array([[9.0, 3.0, 3.0], [5.0, 1.0, 0.0]], np.float32)  # picks class 0
    assert argmax_agreement(ref, tied_other) == 1.0
    assert argmax_agreement(ref, wrong) == 0.5
    assert compare("x", ref, wrong).argmax_agree == 0.5


def test_argmax_classes_the_derived_bound_cannot_separate_count_as_tied():
    # sample 0: classes 1 and 2 are 1e-4 apart, each logit known only to within 1e-4, so an
    # output within the bound may rank either first; sample 1: 0.5 apart, far outside it
    ref = np.array([[0.0, 1.0, 1.0001], [0.0, 1.0, 1.5]], np.float32)
    out = np.array([[0.0, 1.00005, 1.00005], [0.0, 1.0, 1.5]], np.float32)
    out[0, 1] = np.nextafter(out[0, 1], np.float32(2))  # picks class 1
    bound = np.full(ref.shape, 1e-4)
    assert argmax_agreement(ref, out) == 0.5  # exact ties only: the flip counts against
    assert argmax_agreement(ref, out, bound) == 1.0
    assert compare("x", ref, out, abs_bound=bound).status == "pass"
    # a gap one bound wide is not a tie (only the sum of both logits' bounds is)
    assert argmax_agreement(ref, out, np.full(ref.shape, 2e-5)) == 0.5
    # beyond the bound: the output itself fails, whatever the argmax
    wrong = np.array([[0.0, 1.0, 1.0001], [0.0, 1.6, 1.5]], np.float32)
    assert argmax_agreement(ref, wrong, bound) == 0.5
    assert compare("x", ref, wrong, abs_bound=bound).status == "fail"


def test_scope_names_become_module_paths():
    assert layer_of_scope("/0/act_quant/export_handler/Quant") == "0.act_quant"
    scope = "/features/features.3/act_quant/export_handler/Quant"
    assert layer_of_scope(scope) == "features.3.act_quant"
    assert layer_of_scope("/layer1/layer1.0/conv1/weight_quant/export_handler/Quant") == (
        "layer1.0.conv1.weight_quant"
    )
    # nested: layer1.0 is qualified from the model "1" (a Sequential around the user's net),
    # and a shared quantizer's second call is export_handler_1
    scope = "/1/layer1/layer1.0/downsample/downsample.2/act_quant/export_handler_1/Quant"
    assert layer_of_scope(scope) == "1.layer1.0.downsample.2.act_quant"


def test_one_level_apart_only_at_a_rounding_boundary_within_the_derived_error():
    from fewerbits.verify.ladder import boundary_roundings, codes_equal
    from fewerbits.verify.level import ActivationTrace

    ref_codes = np.array([[5.0, 2.0, 7.0]])
    pre = np.array([[5.4999999, 2.1, 7.0]])  # element 0 sits at the 5|6 boundary
    slack = np.full((1, 3), 1e-5)
    ref = ActivationTrace("Quant_4", ref_codes, lowest=0, pre=pre, slack=slack)
    flipped = ActivationTrace("MT_1", np.array([[6.0, 2.0, 7.0]]), dtype="UINT8")
    assert codes_equal(ref, flipped) is True and boundary_roundings(ref, flipped) == 1
    far = ActivationTrace("MT_1", np.array([[5.0, 3.0, 7.0]]), dtype="UINT8")  # 2.1: no boundary
    assert codes_equal(ref, far) is False
    two = ActivationTrace("MT_1", np.array([[7.0, 2.0, 7.0]]), dtype="UINT8")  # two levels
    assert codes_equal(ref, two) is False
    no_slack = ActivationTrace("Quant_4", ref_codes, lowest=0)
    assert codes_equal(no_slack, flipped) is False
    # exactly on the boundary: a tie the rounding rule decides, so a flip is a real error
    tie = ActivationTrace("Quant_4", ref_codes, lowest=0, pre=np.array([[5.5, 2.1, 7.0]]))
    tie.slack = slack
    assert codes_equal(tie, flipped) is False


def test_a_1d_activation_built_as_nhwc_compares_in_the_reference_layout():
    """A Conv1d net's [N, C, L] activation is [N, L, 1, C] in FINN's graphs after the conv1d
    recipe: read in that layout it is equal; read by a flat reshape (what paired the wrong
    elements) it is not."""
    from fewerbits.verify.ladder import codes_equal, level_codes
    from fewerbits.verify.level import ActivationTrace

    ref_codes = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)  # N, C, L
    nhwc = ref_codes.transpose(0, 2, 1)[:, :, None, :]  # N, L, 1, C
    ref = ActivationTrace("Quant_1", ref_codes, lowest=0)
    for layout in (("N", "H", "W", "C"), None):
        got = ActivationTrace("Thresholding_1", nhwc, layout=layout)
        assert np.array_equal(level_codes(ref, got), ref_codes)
        assert codes_equal(ref, got) is True
    nchw = ActivationTrace("Thresholding_1", ref_codes[..., None], layout=("N", "C", "H", "W"))
    assert codes_equal(ref, nchw) is True
    wrong = nhwc.copy()
    wrong[0, 4, 0, 2] += 1
    assert codes_equal(ref, ActivationTrace("Thresholding_1", wrong)) is False
