"""The build step of an open-FPGA board: the board top's bitstream (:mod:`.build`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..build.steps import BOARD_BITSTREAM, BuildError, register_step
from ..sim import RtlSimError
from ..synth.protocol import SynthError
from .build import make_bitstream

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

    from ..build.context import BuildContext


@register_step(BOARD_BITSTREAM, uses_context=True)
def step_fewerbits_board_bitstream(model: ModelWrapper, cfg, ctx: BuildContext) -> ModelWrapper:
    """Yosys -> nextpnr (timing-driven at the board clock, the board's pin file) -> bitstream
    of the UART wrapper around the stitched accelerator, into BUILD/board/ (the deployment
    package copies the bitstream); the summary goes to the build report."""
    try:
        ctx.info["board"] = make_bitstream(ctx.out_dir)
    except (SynthError, RtlSimError) as e:
        raise BuildError(f"{BOARD_BITSTREAM}: {e}") from None
    return model
