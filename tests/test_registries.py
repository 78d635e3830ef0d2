"""The step and level registries: names resolve, unknown names are refused in one line, and a
new level or step plugs in by registration alone."""

from __future__ import annotations

import numpy as np
import pytest
from fewerbits.hw.build import steps as S
from fewerbits.hw.build.steps import BuildError, Step, add_step, get_step

from fewerbits.core.artifacts import BuildDir, ExportDir
from fewerbits.verify import (
    Level,
    VerifyInputError,
    level_names,
    make_levels,
    register_level,
    run_ladder,
)
from fewerbits.verify import level as level_module


def test_every_planned_custom_step_is_registered():
    custom = [s for s in S.SOFTWARE_STEPS if s.startswith("step_fewerbits_")]
    assert custom
    for name in custom:
        step = get_step(name, "rtl")
        assert step.name == name and callable(step.fn)


def test_impl_style_steps_replace_finn_only_for_that_style():
    assert get_step(S.CONVERT_TO_HW, "rtl").impl_style == "rtl"
    assert get_step(S.HW_CODEGEN, "rtl").impl_style == "rtl"
    assert get_step(S.PREFER_RTL, "auto").impl_style is None


def test_unknown_step_refused_in_one_line(tmp_path):
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path)
    with pytest.raises(BuildError) as e:
        get_step("step_no_such_thing", "rtl")
    msg = str(e.value)
    assert "\n" not in msg and "step_no_such_thing" in msg and S.QONNX_TO_FINN in msg


def test_step_binding_is_declared_not_sniffed(monkeypatch):
    monkeypatch.setattr(S, "_STEPS", dict(S._STEPS))
    seen = []
    add_step(Step("step_test_ctx", lambda m, cfg, ctx: seen.append(ctx) or m, uses_context=True))
    add_step(Step("step_test_plain", lambda m, cfg: seen.append(cfg) or m))
    get_step("step_test_ctx", "rtl")("model", "cfg", "ctx")
    get_step("step_test_plain", "rtl")("model", "cfg", "ctx")
    assert seen == ["ctx", "cfg"]
    with pytest.raises(ValueError, match="registered twice"):
        add_step(Step("step_test_ctx", lambda m, cfg: m))


def test_ladder_order_and_names():
    names = level_names()
    assert names[:2] == ["qonnx", "onnxruntime"]
    assert names.index("hw_graph") < names.index("folded_hw_graph") < names.index("rtl_stitched")
    assert len(set(names)) == len(names)


def test_unknown_level_refused_in_one_line(tmp_path):
    with pytest.raises(VerifyInputError) as e:
        make_levels(ExportDir(tmp_path), None, ("no_such_level",))
    msg = str(e.value)
    assert "\n" not in msg and "no_such_level" in msg and "qonnx" in msg


def test_build_levels_skipped_without_a_build(tmp_path):
    levels = make_levels(ExportDir(tmp_path), None)
    by_name = {lv.name: lv for lv in levels}
    assert by_name["hw_graph"].available().startswith("no build folder")
    assert by_name["rtl_stitched"].section == "rtl"


def test_a_new_level_is_one_class_and_its_registration(tmp_path, monkeypatch):
    """Registered once, it is built by make_levels for every build and run by the ladder."""
    monkeypatch.setattr(level_module, "_LEVELS", dict(level_module._LEVELS))

    @register_level
    class Negated(Level):
        name = "negated"
        needs = "build"
        rank = 55

        def __init__(self, export, build):
            self.build = build

        def run(self, x):
            return -x

    names = level_names()
    assert names.index("hw_graph") < names.index("negated") < names.index("folded_hw_graph")
    levels = make_levels(ExportDir(tmp_path), BuildDir(tmp_path))
    [lv] = [lv for lv in levels if lv.name == "negated"]
    assert isinstance(lv, Negated) and lv.build.path == tmp_path
    x = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    [ok] = run_ladder(-x, x, [lv])
    [bad] = run_ladder(x, x, [lv])
    assert ok.status == "pass" and ok.bit_exact == 3
    assert bad.status == "fail" and bad.bit_exact == 0
