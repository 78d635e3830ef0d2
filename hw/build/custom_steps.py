"""This project's build steps between FINN's (registered in :mod:`.steps`).

* :func:`step_fewerbits_check_hw` names the node FINN could not convert, and why;
* :func:`step_fewerbits_drop_identity_thresholds` removes thresholds that are the identity;
* :func:`step_fewerbits_folding` searches (``--fit``) or checks (``--folding``) the folding;
* :func:`step_fewerbits_vivado_scripts` writes the Vitis HLS commands for the HLS layers;
* the exact-threshold fixes of :mod:`fewerbits.compat.finn.thresholds` (registered here).

The implementation-style steps live in :mod:`.impl_style`.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fewerbits.compat.finn import thresholds as finn_thresholds
from fewerbits.compat.finn.build import is_hw_node

from ..folding import (
    URAM_ATTRS,
    Budget,
    apply_folding,
    avoid_mvau_rtl_overflow,
    check_folding_file,
    fit_folding,
    illegal_folding,
    place_weights,
    write_fit,
)
from ..vivado import write_ipgen_script
from .steps import (
    CHECK_HW,
    DROP_IDENTITY_THRESHOLDS,
    FOLDING,
    HOST_RESHAPES,
    VIVADO_SCRIPTS,
    BuildError,
    Step,
    add_step,
    register_step,
)

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

    from .context import BuildContext

for _name, _fn in finn_thresholds.STEPS.items():
    add_step(Step(_name, _fn))

_FLOAT_ACTIVATIONS = ("Relu", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "Softmax", "HardSigmoid")


def _likely_cause(model: ModelWrapper, node) -> str:
    from qonnx.core.datatype import DataType  # lazy: qonnx import after prepare_finn

    float_in = [t for t in node.input if t and model.get_tensor_datatype(t) == DataType["FLOAT32"]]
    float_in = [t for t in float_in if model.get_initializer(t) is None]
    if node.op_type in _FLOAT_ACTIVATIONS:
        return "float activation function (use a quantized activation such as QuantReLU)"
    if float_in and node.op_type in ("MatMul", "Gemm", "Conv", "ConvTranspose"):
        return f"float activations (input {float_in[0]} is FLOAT32; quantize the activation feeding it)"
    if float_in:
        return f"float input {float_in[0]} that streamlining could not absorb (a float scale/bias or unquantized activation)"
    return f"op {node.op_type} is not supported by FINN's convert_to_hw"


def _reach(model: ModelWrapper, start, downstream: bool) -> set[str]:
    """Names of the nodes reachable from ``start`` (up- or downstream)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        n = todo.pop()
        if downstream:
            nxt = [c for t in n.output for c in model.find_consumers(t) or []]
        else:
            nxt = [model.find_producer(t) for t in n.input]
        for m in nxt:
            if m is not None and m.name not in seen:
                seen.add(m.name)
                todo.append(m)
    return seen


@register_step(CHECK_HW)
def step_fewerbits_check_hw(model: ModelWrapper, cfg) -> ModelWrapper:
    """Name the first node FINN could not convert to hardware (inside the graph), and why."""
    hw = [n for n in model.graph.node if is_hw_node(n)]
    if not hw:
        node = model.graph.node[0] if len(model.graph.node) else None
        where = f"node {node.name} ({node.op_type}): " if node is not None else ""
        cause = _likely_cause(model, node) if node is not None else "empty graph"
        raise BuildError(
            f"FINN cannot convert this model to hardware: no layer was converted; {where}{cause}"
        )
    hw_names = {n.name for n in hw}
    for node in model.graph.node:
        if is_hw_node(node):
            continue
        if _reach(model, [node], False) & hw_names and _reach(model, [node], True) & hw_names:
            raise BuildError(
                f"FINN cannot convert node {node.name} (op {node.op_type}) to hardware: "
                f"likely cause: {_likely_cause(model, node)}"
            )
    return model


def identity_threshold_nodes(model: ModelWrapper) -> list:
    """Thresholding nodes that map every integer of their input datatype to itself (e.g. the
    8-bit input quantizer of a net fed 0..255 pixels): checked exhaustively over the range."""
    from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx import after prepare_finn

    found = []
    for node in model.get_nodes_by_op_type("Thresholding"):
        inst = getCustomOp(node)
        idt, odt = inst.get_input_datatype(0), inst.get_output_datatype()
        thr = model.get_initializer(node.input[1])
        if thr is None or not idt.is_integer() or idt != odt or idt.max() - idt.min() > 1 << 16:
            continue
        x = np.arange(idt.min(), idt.max() + 1, dtype=np.float64)
        out = (x[None, :, None] >= thr[:, None, :]).sum(-1) + inst.get_nodeattr("ActVal")
        if np.array_equal(out, np.broadcast_to(x, out.shape)):
            found.append(node)
    return found


@register_step(DROP_IDENTITY_THRESHOLDS)
def step_fewerbits_drop_identity_thresholds(model: ModelWrapper, cfg) -> ModelWrapper:
    """Remove Thresholding layers that are the identity on their integer input (bit-exact by
    an exhaustive check). FINN keeps them, and with one threshold channel they cannot be
    parallelised (PE must divide NumChannels=1): the input quantizer of TFC alone would cap it
    at 784 cycles/frame."""
    outputs = {o.name for o in model.graph.output}
    for node in identity_threshold_nodes(model):
        src, dst = node.input[0], node.output[0]
        if dst in outputs:
            continue  # keep the graph's output tensor
        for other in model.graph.node:
            for k, t in enumerate(other.input):
                if t == dst:
                    other.input[k] = src
        model.graph.node.remove(node)
    return model


class HostLeadingReshapes:
    """qonnx-style pass: hardware ``Reshape`` layers fed only by software (the ``x.view()`` at
    the start of Brevitas' BNN-PYNQ MLPs) go back to ONNX Reshape nodes, so they run on the
    host with the driver's other pre-processing. A reshape is a view of row-major data: in
    hardware it moves every element once per frame and, folded at PE=1, caps TFC at 784
    cycles/frame (127,551 FPS at 100 MHz); on the host it costs nothing."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from onnx import helper  # lazy: onnx/qonnx import after prepare_finn
        from qonnx.custom_op.registry import getCustomOp

        changed = False
        for node in list(model.graph.node):
            if node.op_type != "Reshape" or not is_hw_node(node):
                continue
            if _reach(model, [node], False) & {n.name for n in model.graph.node if is_hw_node(n)}:
                continue  # fed by hardware: it stays in the accelerator
            shape_name = model.make_new_valueinfo_name()
            out_shape = np.asarray(getCustomOp(node).get_nodeattr("out_shape"), dtype=np.int64)
            model.set_initializer(shape_name, out_shape)
            new = helper.make_node(
                "Reshape", [node.input[0], shape_name], list(node.output), name=node.name
            )
            idx = list(model.graph.node).index(node)
            model.graph.node.remove(node)
            model.graph.node.insert(idx, new)
            changed = True
        return model, changed


@register_step(HOST_RESHAPES)
def step_fewerbits_host_reshapes(model: ModelWrapper, cfg) -> ModelWrapper:
    """Leading hardware Reshape layers back to the host (:class:`HostLeadingReshapes`)."""
    model, _ = HostLeadingReshapes().apply(model)
    return model


@register_step(FOLDING, uses_context=True)
def step_fewerbits_folding(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """--fit: search the folding and write DIR/folding.json (+ frontier); --folding: check the
    file's node names and values and copy it to DIR/folding.json. FINN applies it next.
    --target-fps: check that every PE/SIMD FINN's SetFolding chose divides its dimension
    (FINN does not), so an illegal folding stops the build before anything is published."""
    b = ctx.build
    if b.folding is None and b.fit is None:  # FINN's SetFolding chose (--target-fps)
        lowered = avoid_mvau_rtl_overflow(model)
        if lowered:
            ctx.info["simd_lowered"] = lowered  # compat/finn/mvau_rtl.py
        bad = illegal_folding(model)
        if bad:
            raise BuildError(
                f"--target-fps {b.target_fps}: FINN's SetFolding chose an illegal folding "
                f"({'; '.join(bad)}); use --fit or a --folding file"
            )
        if ctx.board is not None and ctx.board.urams > 0:  # weights over BRAM: URAM, as --fit
            from finn.builder.build_dataflow_steps import _minimize_bit_width  # lazy: FINN

            est_model = _minimize_bit_width(copy.deepcopy(model), cfg)
            moved = place_weights(
                est_model, ctx.part, Budget.of_board(ctx.board, 1.0), b.clock_ns, b.cost_model
            )
            if moved:
                apply_folding(model, dict.fromkeys(moved, URAM_ATTRS))
                ctx.info["uram_weights"] = moved
    if b.folding is not None:
        check_folding_file(model, Path(b.folding))
        shutil.copyfile(b.folding, ctx.out.folding)
    elif b.fit is not None:
        if ctx.board is None:
            raise BuildError(
                f"--fit needs the part's resources, and there is no resource table for --part "
                f"{ctx.part}; use --board, or --target-fps/--folding"
            )
        from finn.builder.build_dataflow_steps import _minimize_bit_width  # lazy: FINN import

        est_model = _minimize_bit_width(copy.deepcopy(model), cfg)  # widths as in the final model
        res = fit_folding(
            est_model, ctx.part, Budget.of_board(ctx.board, b.fit), b.clock_ns, b.cost_model
        )
        write_fit(ctx.out_dir, res)
        ctx.info["fit"] = {k: v for k, v in res.to_dict().items() if k != "frontier"}
    return model


@register_step(VIVADO_SCRIPTS, uses_context=True)
def step_fewerbits_vivado_scripts(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """Write DIR/vivado/ipgen.sh (the Vitis HLS command for each HLS layer's generated TCL)."""
    write_ipgen_script(model, ctx.out_dir)
    return model
