"""Which exported activation quantizer every FINN thresholding node computes, by identity.

The verification ladder compares the integer output of every thresholding node of FINN's
graphs with the QONNX quantizer it was built from. FINN renames nodes and tensors and orders
fork branches its own way, so position says nothing. The identity is carried as a tensor
annotation (``quantization_annotation`` key :data:`TAG_KEY`, which every qonnx/FINN rename
keeps):

1. :func:`step_fewerbits_tag_quantizers` (first step) tags every activation quantizer's output
   tensor with the Quant node's name in the exported model;
2. :func:`step_fewerbits_carry_quantizer_tags` (right after ``step_qonnx_to_finn``, which
   replaces ``Quant`` by ``MultiThreshold -> [Add] -> [Mul]`` ending in the Quant's output
   tensor) moves each tag onto the thresholds *parameter* of the MultiThreshold it ends in;
   the parameter follows the node through streamlining (absorptions rewrite it in place,
   moves rewire the node, not it) and becomes the thresholds input of FINN's Thresholding /
   MVAU / VVAU layers.

:func:`node_tag` reads it back. A thresholding node without a tag has no known counterpart:
the ladder refuses to pair it rather than guess by position.
"""

from __future__ import annotations

from fewerbits.compat.finn.thresholds import _is_act_quant
from fewerbits.core.quant_tags import TAG_KEY, get_tag, node_tag, set_tag

from .steps import CARRY_QUANTIZER_TAGS, TAG_QUANTIZERS, register_step

__all__ = ["TAG_KEY", "get_tag", "node_tag", "set_tag", "carry_tags", "tag_quantizers"]

#: the nodes ``ConvertQONNXtoFINN`` puts between a MultiThreshold and the Quant's output
_SCALE_BIAS = ("Add", "Mul")


def tag_quantizers(model) -> int:
    """Tag every activation quantizer's output tensor with its node name; return how many."""
    n = 0
    for node in model.graph.node:
        if _is_act_quant(model, node):
            set_tag(model, node.output[0], node.name)
            n += 1
    return n


def carry_tags(model) -> int:
    """Move each tag from the Quant's old output tensor onto the thresholds of the
    MultiThreshold that now computes it; return how many were carried."""
    n = 0
    for mt in model.graph.node:
        if mt.op_type != "MultiThreshold":
            continue
        t, node = mt.output[0], mt
        for _ in range(len(_SCALE_BIAS) + 1):
            tag = get_tag(model, t)
            if tag is not None:
                set_tag(model, t, None)
                set_tag(model, mt.input[1], tag)
                n += 1
                break
            users = model.find_consumers(t) or []
            node = users[0] if len(users) == 1 else None
            if node is None or node.op_type not in _SCALE_BIAS:
                break
            t = node.output[0]
    return n


@register_step(TAG_QUANTIZERS)
def step_fewerbits_tag_quantizers(model, cfg=None):
    """FINN builder step (first): tag each activation quantizer with its exported name."""
    tag_quantizers(model)
    return model


@register_step(CARRY_QUANTIZER_TAGS)
def step_fewerbits_carry_quantizer_tags(model, cfg=None):
    """FINN builder step (right after step_qonnx_to_finn): tags onto the thresholds."""
    carry_tags(model)
    return model
