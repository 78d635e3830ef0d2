"""The implementation-style decision (RTL vs HLS per layer), in exactly one place.

``BuildConfig.impl_style``:

* ``"rtl"`` (default): an all-RTL dataflow partition wherever FINN has an RTL variant, so that
  the whole accelerator can be simulated by Verilator and synthesized by open tools. That takes
  six things, all here:

  1. standalone Thresholding layers (:func:`configure`: FINN's MVAU_rtl does not embed
     thresholds), with one fallback: FINN's standalone Thresholding refuses ``out_scale != 1``
     (a bipolar activation after non-binary weights); such a build keeps the thresholds inside
     the MVAU (HLS) and the decision is written back into ``build_config.json``;
  2. the output scale/offset of a classifier back to software (:func:`revert_float_tail`), so
     the partition is integer-only and needs no (HLS-only on 7-series) elementwise layer;
  3. ``preferred_impl_style="rtl"`` on every layer that has an RTL variant
     (:func:`step_fewerbits_prefer_rtl`; FINN still falls back to HLS where its own
     constraints forbid RTL, and the level reports say which);
  4. layers FINN has only as HLS but fewerbits' RTL layer library (:mod:`fewerbits.hw.rtl_lib`)
     implements -- the MVAU in binary XNOR-popcount mode, max-pooling, label select, the VVAU
     (depthwise conv) on non-Versal parts or with embedded thresholds -- become that library's op
     (:func:`step_specialize_layers_rtl_lib`), unless the node asks for ``"hls"``;
  5. data-width converters before code generation (:mod:`fewerbits.compat.finn.build`);
  6. a BIPOLAR graph input read by integer (non-bipolar) weights typed INT2
     (:func:`step_fewerbits_bipolar_input`): FINN's MVAU_rtl needs activations of at least
     2 bits, and a bipolar output quantizer as a standalone Thresholding
     (:func:`fewerbits.compat.finn.build.convert_bipolar_thresholds`).

* ``"auto"``: FINN's own choice for every layer.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING

from fewerbits.compat.finn import build as finn_build
from fewerbits.core.config import BuildConfig

from .. import rtl_lib
from .steps import (
    BIPOLAR_INPUT,
    CONVERT_TO_HW,
    HW_CODEGEN,
    PREFER_RTL,
    SPECIALIZE_LAYERS,
    TARGET_FPS_PARALLELIZATION,
    BuildOptionError,
    register_step,
)

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

    from .context import BuildContext

IMPL_STYLES = ("rtl", "auto")
HW_DOMAIN = "finn.custom_op.fpgadataflow"

#: elementwise HW ops that go back to plain ONNX ops when their output is float
_FLOAT_TAIL_OPS = {"ElementwiseMul": "Mul", "ElementwiseAdd": "Add"}

log = logging.getLogger(__name__)


def check(build: BuildConfig) -> None:
    """Refuse an unknown style (one line naming the option)."""
    if build.impl_style not in IMPL_STYLES:
        raise BuildOptionError(
            f"--impl-style {build.impl_style!r}: choose one of {', '.join(map(repr, IMPL_STYLES))}"
        )


def configure(cfg, build: BuildConfig) -> None:
    """Set the FINN config fields the style decides (before any step runs)."""
    cfg.standalone_thresholds = build.impl_style == "rtl"


def revert_float_tail(model: ModelWrapper) -> tuple[ModelWrapper, bool]:
    """Turn ElementwiseMul/Add nodes with no HW consumer back into ONNX Mul/Add when their
    output is float, or when they apply a constant to an integer output (e.g. the
    ``2*popcount - MW`` of a binary classifier's last layer: FINN has integer elementwise ops
    in RTL only on Versal). Both are exact in float32 on the host.

    Returns ``(model, changed)`` (qonnx pass style)."""
    from onnx import helper  # lazy: onnx/qonnx/FINN load in seconds, after prepare_finn
    from qonnx.custom_op.registry import getCustomOp

    changed = False
    for node in list(model.graph.node)[::-1]:
        if node.op_type not in _FLOAT_TAIL_OPS:
            continue
        inst = getCustomOp(node)
        if (
            inst.get_nodeattr("out_dtype") != "FLOAT32"
            and inst.get_nodeattr("rhs_style") != "const"
        ):
            continue
        consumers = model.find_consumers(node.output[0]) or []
        if any(c.domain.startswith(HW_DOMAIN) for c in consumers):
            continue
        new = helper.make_node(
            _FLOAT_TAIL_OPS[node.op_type], list(node.input), list(node.output), name=node.name
        )
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, new)
        changed = True
    return model, changed


@register_step(CONVERT_TO_HW, impl_style="rtl", uses_context=True)
def step_convert_to_hw_int_only(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """FINN's step_convert_to_hw with standalone thresholds, then the float output scale back
    to software; falls back to MVAU-embedded thresholds where FINN refuses standalone ones."""
    from finn.builder.build_dataflow_steps import step_convert_to_hw  # lazy: FINN import
    from finn.util.exception import FINNUserError

    try:
        converted = finn_build.convert_bipolar_thresholds(
            copy.deepcopy(model), lambda m: step_convert_to_hw(m, cfg)
        )
    except FINNUserError as e:
        if "out_scale must be 1" not in str(e) or not cfg.standalone_thresholds:
            raise
        print(
            f"fewerbits: {e} -> thresholds stay inside the MVAU (HLS) for this build; "
            "the accelerator cannot be all-RTL"
        )
        cfg.standalone_thresholds = False
        ctx.info["standalone_thresholds_fallback"] = str(e).splitlines()[0]
        converted = step_convert_to_hw(model, cfg)
    model, _ = revert_float_tail(converted)
    return model


def bipolar_input_as_int2(model: ModelWrapper) -> tuple[ModelWrapper, bool]:
    """Type a BIPOLAR graph input INT2 when every reader is a MatMul with integer,
    non-bipolar weights (qonnx pass style: ``(model, changed)``).

    Exact: the values do not change. A bipolar value is -1 or +1, both INT2 values, and the
    MatMul computes the same integer ``W @ x``; only the stream encoding changes from one bit
    per element (FINN's bipolar packing: 0 for -1) to 2-bit two's complement, which the host
    packer derives from the graph's input type. It makes the first layer an MVAU that FINN's
    MVAU_rtl can implement (``_mvu_rtl_possible``: activations of at least 2 bits; the
    bipolar-times-integer MVAU has no XNOR mode). Bipolar weights are left alone: that layer
    is an XNOR-popcount MVAU (fewerbits' ``MVAUBinary_rtl``), on the one-bit stream."""
    from qonnx.core.datatype import DataType  # lazy: qonnx import after prepare_finn

    tensor = model.graph.input[0].name
    if model.get_tensor_datatype(tensor) != DataType["BIPOLAR"]:
        return model, False
    readers = model.find_consumers(tensor) or []
    for node in readers:
        if node.op_type != "MatMul" or node.input[0] != tensor:
            return model, False
        if model.get_initializer(node.input[1]) is None:
            return model, False
        wdt = model.get_tensor_datatype(node.input[1])
        if not wdt.is_integer() or wdt == DataType["BIPOLAR"] or wdt.bitwidth() < 2:
            return model, False
    if not readers:
        return model, False
    model.set_tensor_datatype(tensor, DataType["INT2"])
    return model, True


@register_step(BIPOLAR_INPUT, uses_context=True)
def step_fewerbits_bipolar_input(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """For impl_style ``"rtl"``: :func:`bipolar_input_as_int2` (an all-RTL first layer)."""
    if ctx.build.impl_style != "rtl":
        return model
    model, changed = bipolar_input_as_int2(model)
    if changed:
        ctx.info["bipolar_input_as"] = "INT2"
    return model


@register_step(PREFER_RTL, uses_context=True)
def step_fewerbits_prefer_rtl(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """Ask for the RTL implementation of every layer that has one (a preference the user set
    on a node is kept). FINN falls back to HLS, with a warning, where its RTL variant cannot
    implement the layer (e.g. MVAU in XNOR mode)."""
    from finn.custom_op.fpgadataflow.rtl import custom_op as rtl_variants  # lazy: FINN import
    from qonnx.custom_op.registry import getCustomOp

    if ctx.build.impl_style != "rtl":
        return model  # "auto": FINN's own choice
    for node in model.graph.node:
        if node.domain.startswith(HW_DOMAIN) and node.op_type + "_rtl" in rtl_variants:
            inst = getCustomOp(node)
            if inst.get_nodeattr("preferred_impl_style") == "":
                inst.set_nodeattr("preferred_impl_style", "rtl")
    return model


def route_to_rtl_lib(model: ModelWrapper, fpgapart: str | None = None) -> ModelWrapper:
    """Nodes fewerbits' RTL library implements (for ``fpgapart``) become its ops, unless the
    node prefers ``"hls"`` (then FINN's HLS layer stays the choice)."""
    from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx import after prepare_finn

    rtl_lib.register()
    for node in list(model.graph.node):
        if rtl_lib.rtl_lib_op(node, fpgapart) is None:
            continue
        if getCustomOp(node).get_nodeattr("preferred_impl_style") == "hls":
            continue
        rtl_lib.specialize(model, node, fpgapart)
    return model


@register_step(SPECIALIZE_LAYERS, impl_style="rtl")
def step_specialize_layers_rtl_lib(model: ModelWrapper, cfg) -> ModelWrapper:
    """:func:`route_to_rtl_lib`, then FINN's step_specialize_layers for all other nodes."""
    from finn.builder.build_dataflow_steps import step_specialize_layers  # lazy: FINN import

    return step_specialize_layers(route_to_rtl_lib(model, cfg._resolve_fpga_part()), cfg)


@register_step(TARGET_FPS_PARALLELIZATION, impl_style="rtl")
def step_target_fps_parallelization_rtl_lib(model: ModelWrapper, cfg) -> ModelWrapper:
    """FINN's step_target_fps_parallelization, folding the RTL library's ops by the rules of
    the FINN op they implement (:func:`fewerbits.compat.finn.build.as_finn_op_types`)."""
    from finn.builder.build_dataflow_steps import step_target_fps_parallelization  # lazy: FINN

    return finn_build.as_finn_op_types(
        model, rtl_lib.FOLDING_AS, lambda m: step_target_fps_parallelization(m, cfg)
    )


@register_step(HW_CODEGEN, impl_style="rtl")
def step_hw_codegen_with_dwc(model: ModelWrapper, cfg) -> ModelWrapper:
    """Data-width converters inserted (RTL), then FINN's step_hw_codegen."""
    from finn.builder.build_dataflow_steps import step_hw_codegen  # lazy: FINN import

    return step_hw_codegen(finn_build.insert_rtl_dwcs(model, cfg._resolve_fpga_part()), cfg)
