"""A tiny all-RTL MLP (784 -> 8 -> 10) for the synthesis, netlist and place-and-route tests."""

from __future__ import annotations

from fewerbits.train.models import MLP


def tiny(scheme, input_shape, num_classes):
    features = 1
    for d in input_shape:
        features *= d
    return MLP(scheme, features, (8,), num_classes)
