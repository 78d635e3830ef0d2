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


def test_scope_names_become_module_paths():
    assert layer_of_scope("/0/act_quant/export_handler/Quant") == "0.act_quant"
    scope = "/features/features.3/act_quant/export_handler/Quant"
    assert layer_of_scope(scope) == "features.3.act_quant"
    assert layer_of_scope("/layer1/layer1.0/conv1/weight_quant/export_handler/Quant") == (
        "layer1.0.conv1.weight_quant"
    )
