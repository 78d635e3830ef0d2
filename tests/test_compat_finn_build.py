"""Each build-flow workaround in fewerbits/compat/finn/build.py: the upstream gap is still there
(so the workaround is needed) and the workaround closes it, on the real demo build."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import rtlsim_graphs as rg
from fewerbits.hw import rtl_lib
from fewerbits.hw.build import steps as S

from fewerbits.compat.finn import build as finn_build
from fewerbits.compat.finn.env import prepare_finn
from fewerbits.core.artifacts import BuildDir


def _model(path: Path):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(path))


def _width_mismatches(model) -> list[tuple[str, str]]:
    """Neighbouring hardware layers whose stream widths differ (a DWC is needed between)."""
    from qonnx.custom_op.registry import getCustomOp

    bad = []
    for node in model.graph.node:
        for consumer in model.find_consumers(node.output[0]) or []:
            out_w = getCustomOp(node).get_outstream_width()
            in_w = getCustomOp(consumer).get_instream_width()
            if out_w != in_w:
                bad.append((node.name, consumer.name))
    return bad


def test_dwcs_missing_without_vivado_and_inserted_by_workaround(demo_run: Path):
    build = BuildDir(demo_run / "build")
    prepare_finn(build.path)
    before = _model(build.model_after(S.GENERATE_ESTIMATE_REPORTS))
    # upstream gap: FINN inserts width converters only in step_set_fifo_depths (Vivado)
    assert _width_mismatches(before), "FINN now inserts DWCs before codegen? drop insert_rtl_dwcs"
    fixed = finn_build.insert_rtl_dwcs(before, "xc7z020clg400-1")
    assert _width_mismatches(fixed) == []
    assert "StreamingDataWidthConverter_rtl" in {n.op_type for n in fixed.graph.node}
    # and the build applies it: the code-generated demo has no mismatch left
    assert _width_mismatches(_model(build.model_after(S.HW_CODEGEN))) == []


def test_absolute_paths_relocated(demo_run: Path, tmp_path):
    src = demo_run / "build"
    prepare_finn(src)
    copy = tmp_path / "moved"
    shutil.copytree(src, copy, symlinks=True)
    codegen = BuildDir(copy).model_after(S.HW_CODEGEN)
    raw = codegen.read_bytes()
    # upstream behaviour: FINN keeps absolute code-generation paths inside the model
    assert str(src.absolute()).encode() in raw, "FINN stores relative paths now? drop relocate"
    finn_build.relocate(copy, src.absolute(), copy)
    fixed = codegen.read_bytes()
    assert str(src.absolute()).encode() not in fixed and str(copy).encode() in fixed


def test_partition_parent_rebuilds_the_network(demo_run: Path, tmp_path):
    build = BuildDir(demo_run / "build")
    prepare_finn(build.path)
    partition = _model(build.model_after(S.CREATE_DATAFLOW_PARTITION))
    hw = _model(build.model_before(S.CREATE_DATAFLOW_PARTITION))
    # upstream gap: the saved model after the partition step is the accelerator alone; the
    # software nodes around it (here the float output scale) are gone
    assert all(finn_build.is_hw_node(n) for n in partition.graph.node)
    outside = [n.op_type for n in hw.graph.node if not finn_build.is_hw_node(n)]
    assert outside, "the demo has software nodes around the accelerator"
    parent = finn_build.partition_parent(hw, partition, tmp_path)
    ops = [n.op_type for n in parent.graph.node]
    assert "StreamingDataflowPartition" in ops
    assert sorted(op for op in ops if op != "StreamingDataflowPartition") == sorted(outside)


def test_set_folding_ignores_foreign_rtl_ops_and_alias_folds_them(tmp_path: Path):
    """FINN's SetFolding skips an op type it does not list (our MVAUBinary_rtl stays at
    PE=SIMD=1); presented as MVAU_rtl it is folded by FINN's MVAU rules, and keeps its type."""
    prepare_finn(tmp_path)
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    rtl_lib.register()
    model, _, _ = rg.mvau_binary(np.random.default_rng(0), thresholds=False)
    node = rtl_lib.specialize(model, model.graph.node[0])
    for a in node.attribute:
        if a.name in ("PE", "SIMD"):
            a.i = 1

    def fold(m):
        return m.transform(SetFolding(target_cycles_per_frame=1))

    def pe_simd(m):
        from qonnx.custom_op.registry import getCustomOp

        inst = getCustomOp(m.graph.node[0])
        return inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD")

    assert pe_simd(fold(copy.deepcopy(model))) == (1, 1)  # upstream gap still there
    folded = finn_build.as_finn_op_types(model, rtl_lib.FOLDING_AS, fold)
    node = folded.graph.node[0]
    assert node.op_type == "MVAUBinary_rtl" and node.name.startswith("MVAUBinary_rtl")
    assert pe_simd(folded) != (1, 1)
