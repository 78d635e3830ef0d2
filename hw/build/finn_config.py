"""Our BuildConfig translated into FINN's DataflowBuildConfig."""

from __future__ import annotations

from pathlib import Path

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import DEFAULT_TARGET_FPS, BuildConfig

from ..boards import CODEGEN_STAND_IN_FLOW, get_board
from . import impl_style


def dataflow_config(build: BuildConfig, out_dir: Path, part: str | None = None):
    """FINN's DataflowBuildConfig for our BuildConfig (the step list is set by the runner)."""
    import finn.builder.build_dataflow_config as bc  # lazy: FINN import, after prepare_finn

    board = get_board(build.board)
    outputs = [bc.DataflowOutputType.ESTIMATE_REPORTS]
    if build.until in ("ip", "bitstream", "auto"):
        outputs.append(bc.DataflowOutputType.STITCHED_IP)
    if build.until in ("bitstream", "auto"):
        outputs += [
            bc.DataflowOutputType.BITFILE,
            bc.DataflowOutputType.PYNQ_DRIVER,
            bc.DataflowOutputType.DEPLOYMENT_PACKAGE,
        ]
    target = build.target_fps
    if target is None and build.fit is None and build.folding is None:
        target = DEFAULT_TARGET_FPS
    cfg = bc.DataflowBuildConfig(
        output_dir=str(out_dir),
        synth_clk_period_ns=float(build.clock_ns),
        board=board.name,
        fpga_part=part or build.part or board.finn_part,
        shell_flow_type=bc.ShellFlowType(board.shell_flow or CODEGEN_STAND_IN_FLOW),
        generate_outputs=outputs,
        target_fps=target,
        save_intermediate_models=False,
        verbose=False,
    )
    impl_style.configure(cfg, build)
    if build.fit is not None or build.folding is not None:
        cfg.folding_config_file = BuildDir(out_dir).folding
    return cfg
