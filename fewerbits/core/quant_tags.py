"""The quantizer tag: which exported activation quantizer a tensor belongs to, as an ONNX
tensor annotation (``quantization_annotation`` key :data:`TAG_KEY`) that every qonnx/FINN
rename keeps. The build writes it (hw/build/quant_tags.py); the threshold fix
(fewerbits/compat/finn/thresholds.py) and the verification ladder read it."""

from __future__ import annotations

#: quantization annotation key: the exported Quant node a tensor belongs to
TAG_KEY = "fewerbits_quantizer"
#: tag prefix of a quantizer the build made itself (a build recipe, e.g. a TruncAvgPool's Trunc
#: as a Quant): known, with no activation quantizer of the export to be compared with
BUILT = "built:"


def get_tag(model, tensor: str) -> str | None:
    """The quantizer tag of ``tensor`` (None if untagged)."""
    for qa in model.graph.quantization_annotation:
        if qa.tensor_name == tensor:
            for kv in qa.quant_parameter_tensor_names:
                if kv.key == TAG_KEY:
                    return kv.value
    return None


def set_tag(model, tensor: str, tag: str | None) -> None:
    """Tag ``tensor`` with ``tag`` (None: remove the tag); other annotations are kept."""
    graph = model.graph
    qa = next((a for a in graph.quantization_annotation if a.tensor_name == tensor), None)
    if qa is None:
        if tag is None:
            return
        qa = graph.quantization_annotation.add(tensor_name=tensor)  # in place, not a copy
    entries = qa.quant_parameter_tensor_names
    for i, kv in enumerate(entries):
        if kv.key == TAG_KEY:
            if tag is None:
                del entries[i]
            else:
                kv.value = tag
            return
    if tag is not None:
        entries.add(key=TAG_KEY, value=tag)


def node_tag(model, node) -> str | None:
    """The exported quantizer a thresholding node computes: the tag on one of its inputs."""
    tags = {t for t in (get_tag(model, i) for i in node.input if i) if t is not None}
    return tags.pop() if len(tags) == 1 else None
