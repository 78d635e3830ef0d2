"""Step ``step_fewerbits_size_fifos`` (``--size-fifos``): after code generation, size the FIFO
between every pair of layers by simulating the stitched RTL (:func:`fewerbits.hw.rtlsim.fifo.size_fifos`,
the same as ``fewerbits fifo BUILD``), and put the depths where FINN reads them: the folding
config (``BUILD/folding.json``) and the nodes' ``inFIFODepths``/``outFIFODepths``, with FINN's own
FIFO sizing (``step_set_fifo_depths`` simulation) switched off for the Vivado steps that follow.

Skipped, with the reason in the build's info (``fifo_sizing``), when not requested or when a
layer is not RTL (HLS layers cannot be simulated here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..build.steps import SIZE_FIFOS, register_step
from . import design
from .fifo import size_fifos

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

    from ..build.context import BuildContext


def skip_reason(model: ModelWrapper, requested: bool) -> str | None:
    """None if the step sizes this model's FIFOs, else why not."""
    if not requested:
        return "not requested (--size-fifos)"
    hw = [n for n in model.graph.node if design.skip_reason(n) is None]
    other = [n for n in model.graph.node if design.skip_reason(n) is not None]
    if other:
        return f"not all layers are RTL ({other[0].name}: {design.skip_reason(other[0])})"
    if len(hw) < 2:
        return "fewer than two layers: no FIFO between layers"
    return None


@register_step(SIZE_FIFOS, uses_context=True)
def step_fewerbits_size_fifos(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """Size the inter-layer FIFOs by simulation; depths into folding.json and the model."""
    reason = skip_reason(model, ctx.build.size_fifos)
    if reason is not None:
        ctx.info["fifo_sizing"] = {"skipped": reason}
        return model
    from qonnx.custom_op.registry import getCustomOp  # lazy: FINN/qonnx after prepare_finn

    report = size_fifos(ctx.out_dir)
    nodes = {n.name: n for n in model.graph.node}
    for f in report["fifos"]:
        for name, attr in ((f["producer"], "outFIFODepths"), (f["consumer"], "inFIFODepths")):
            inst = getCustomOp(nodes[name])
            depths = list(inst.get_nodeattr(attr)) or [2]
            depths[0] = int(f["depth"])
            inst.set_nodeattr(attr, depths)
    cfg.auto_fifo_depths = False  # FINN's step_set_fifo_depths keeps these depths
    ctx.info["fifo_sizing"] = {
        "depths": [f["depth"] for f in report["fifos"]],
        "cycles_per_frame": report["cycles_per_frame"],
        "saved": report["saved"],
        "seconds": report["seconds"],
        "report": "fifo.json",
    }
    return model
