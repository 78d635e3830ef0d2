"""URAM (runtime-writeable) weights reach the layer: the deploy package carries each layer's
weight file and AXI-lite port, and the driver's pynq back end writes them at start-up.

Without a board, the pynq back end runs on the PYNQ stand-in (tests/fake_pynq) whose
"hardware" is one MVAU_rtl layer in Verilator with its weight memory EMPTY (FINN's
ram_style="ultra", runtime_writeable_weights=1 on ZCU104's part: no init file) and its
AXI-lite port behind pynq.MMIO: the weights it computes with are the ones the driver's own
code wrote. Frames are compared bit-exact with FINN's Python execution of the layer; without
the writes the layer computes with zeros.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import rtlsim_graphs as rg
from fewerbits.hw.driver import Accelerator, DriverError, rtlsim_unavailable
from fewerbits.hw.driver.settings import sha256
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture
from test_driver import with_bitfile

FAKE_PYNQ = Path(__file__).parent / "fake_pynq"
ZCU104 = "xczu7ev-ffvc1156-2-e"
#: an 80-bit weight line (PE 4 x SIMD 4 x INT5): 3 AXI-lite words hold data, FINN's file pads
#: each line to 4 words (the 4th is not stored by finn-rtllib's axilite)
MW, MH, SIMD, PE, WBITS, ABITS = 16, 8, 4, 4, 5, 4


def uram_mvau(rng):
    """One MVAU with URAM weights, as --fit sets them on UltraScale+ (hw/folding.URAM_ATTRS)."""
    from fewerbits.hw.folding import URAM_ATTRS

    w = rng.integers(-(2 ** (WBITS - 1)), 2 ** (WBITS - 1), size=(MW, MH))
    acc = int(np.ceil(np.log2(MW * (2**ABITS - 1) * 2 ** (WBITS - 1) + 1))) + 1
    return rg.mvau_model(w, f"UINT{ABITS}", f"INT{WBITS}", f"INT{acc}", SIMD, PE, **URAM_ATTRS)


def one_layer_build(tmp: Path, model) -> Path:
    """A build folder whose dataflow graph is this code-generated layer (what
    write_deploy_package reads: steps, the graphs around the partition, FINN's config)."""
    build = tmp / "build"
    (build / "intermediate_models").mkdir(parents=True)
    steps = ["step_minimize_bit_width_initial", "step_create_dataflow_partition", "step_hw_codegen"]
    for s in steps:
        model.save(str(build / "intermediate_models" / f"{s}.onnx"))
    (build / "steps.json").write_text(json.dumps({"ran": [{"step": s} for s in steps]}))
    cfg = {"synth_clk_period_ns": 10.0, "fpga_part": ZCU104, "board": "ZCU104"}
    (build / "build_config.json").write_text(json.dumps(cfg))
    return build


@pytest.fixture(scope="module")
def uram_build(tmp_path_factory):
    """(build dir, a copy of its deploy dir with a stand-in bitfile + hwh, the layer's name)."""
    from fewerbits.hw.deploy import write_deploy_package

    tmp = tmp_path_factory.mktemp("uram")
    model = rg.codegen(uram_mvau(np.random.default_rng(13)), ZCU104, tmp / "finn")
    build = one_layer_build(tmp, model)
    deploy = with_bitfile(write_deploy_package(build), tmp / "board")
    s = json.loads((deploy / "settings.json").read_text())
    hwh = deploy / "bitfile" / "finn-accel.hwh"
    ports = " ".join(e["interface"] for e in s["runtime_weights"])
    hwh.write_text(f"<stand-in hwh> idma0 odma0 {ports}")
    s["files"]["hwh"] = {"path": "bitfile/finn-accel.hwh", "sha256": sha256(hwh)}
    (deploy / "settings.json").write_text(json.dumps(s))
    return build, deploy, model.graph.node[0].name


def test_package_has_weight_file_and_port_per_layer(uram_build):
    from fewerbits.hw.driver import load_settings
    from fewerbits.hw.driver.runtime_weights import read_weight_file

    _, deploy, layer = uram_build
    (e,) = load_settings(deploy).runtime_weights
    assert e["layer"] == layer and e["path"] == f"runtime_weights/{layer}.dat"
    assert e["ram_style"] == "ultra" and e["bitstream_init"] is False  # FINN: no URAM init
    # FINN's ZynqBuild: the layer's own partition after idma0's, its stitched IP's one port
    assert (e["ip"], e["interface"]) == ("StreamingDataflowPartition_1", "s_axilite_0")
    # 8 lines (MW/SIMD x MH/PE) of 80 bits -> 4 words each; clog2(32) + 2 address bits
    depth = (MW // SIMD) * (MH // PE)
    assert e["depth"] == depth and e["words"] == depth * 4 and e["addr_width"] == 7
    assert len(read_weight_file(deploy / e["path"])) == e["words"]
    # assign_axi_addr_proc on Zynq UltraScale+: idma0's 4 KiB at 0xA0000000, then this port
    assert e["base_address"] == 0xA000_1000
    assert "runtime_weights" in (deploy / "README.md").read_text()


def _stand_in(monkeypatch):
    if rtlsim_unavailable():
        pytest.skip(rtlsim_unavailable())
    monkeypatch.syspath_prepend(str(FAKE_PYNQ))
    monkeypatch.setenv("FAKE_PYNQ_HW", "axilite-rtlsim")
    monkeypatch.setenv("FAKE_PYNQ_AXILITE_BASE", "0xB0010000")
    monkeypatch.delitem(sys.modules, "pynq", raising=False)
    import pynq

    assert pynq.__version__.endswith("stand-in")
    pynq.LOG.clear()
    return pynq


def frames(n: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**ABITS, size=(n, 3, MW)).astype(np.float32)


@pytest.mark.usefixtures("rtlsim_cache")
def test_driver_writes_uram_weights_then_frames_are_bit_exact(uram_build, monkeypatch):
    _, deploy, layer = uram_build
    pynq = _stand_in(monkeypatch)
    x = frames(6)
    ref = Accelerator(deploy, backend="python").execute(x)  # FINN's execution of the layer
    assert np.abs(ref).sum() > 0
    words = load_words(deploy)
    with Accelerator(deploy, backend="pynq") as acc:
        sim = acc.backend.overlay.hw.sim
        # every word written once, read back once, at the address the .hwh (ip_dict) gives
        assert sim.writes == [len(words)] and sim.reads == [len(words)]
        assert acc.backend.weight_ports == {layer: (0xB001_0000, "hwh")}
        assert "mmio 0xb0010000 4096" in pynq.LOG  # the 4 KiB range Vivado gives it
        assert "rtlsim frames 2" in pynq.LOG  # the flush: 16 stale words / 8 lines a frame
        y = acc.execute(x)
    assert y.dtype == ref.dtype and np.array_equal(y, ref)


def load_words(deploy: Path) -> np.ndarray:
    from fewerbits.hw.driver import load_settings
    from fewerbits.hw.driver.runtime_weights import read_weight_file

    (e,) = load_settings(deploy).runtime_weights
    return read_weight_file(deploy / e["path"])


@pytest.mark.usefixtures("rtlsim_cache")
def test_port_missing_from_the_hwh_uses_the_address_settings_json_predicts(uram_build, monkeypatch):
    _, deploy, layer = uram_build
    _stand_in(monkeypatch)
    monkeypatch.setenv("FAKE_PYNQ_HWH_PORTS", "0")
    monkeypatch.setenv("FAKE_PYNQ_AXILITE_BASE", "0xA0001000")  # where assign_axi_addr_proc puts it
    x = frames(2)
    ref = Accelerator(deploy, backend="python").execute(x)
    with Accelerator(deploy, backend="pynq") as acc:
        assert acc.backend.weight_ports == {layer: (0xA000_1000, "settings.json")}
        assert np.array_equal(acc.execute(x), ref)


@pytest.mark.usefixtures("rtlsim_cache")
def test_without_the_writes_the_layer_computes_with_zeros(uram_build, monkeypatch):
    from fewerbits.hw.driver import backends

    _, deploy, _ = uram_build
    _stand_in(monkeypatch)
    monkeypatch.setattr(backends, "load_runtime_weights", lambda *a, **k: [])
    x = frames(3)
    ref = Accelerator(deploy, backend="python").execute(x)
    with Accelerator(deploy, backend="pynq") as acc:
        assert acc.backend.overlay.hw.sim.writes == [0]
        y = acc.execute(x)
    assert not np.array_equal(y, ref) and np.all(y == 0)


@pytest.mark.usefixtures("rtlsim_cache")
def test_without_the_flush_the_first_frame_uses_stale_weights(uram_build, monkeypatch):
    """The weight streamer fetched words before the write (memstream's read-ahead): the first
    frame after the write computes with some of them, the next ones are exact. The driver's
    dummy frames exist for this."""
    from fewerbits.hw.driver.backends import PynqBackend

    _, deploy, _ = uram_build
    _stand_in(monkeypatch)
    monkeypatch.setattr(PynqBackend, "_flush", lambda self, n: None)
    x = frames(3)
    ref = Accelerator(deploy, backend="python").execute(x)
    with Accelerator(deploy, backend="pynq") as acc:
        y = acc.execute(x)
    assert not np.array_equal(y[0], ref[0]) and np.array_equal(y[1:], ref[1:])


@pytest.mark.usefixtures("rtlsim_cache")
def test_read_back_catches_a_wrong_word(uram_build):
    """verify_words on the simulated port: what the memory holds is compared word by word."""
    from fewerbits.hw.driver.backends import load_hw_graph
    from fewerbits.hw.driver.runtime_weights import verify_words, write_words
    from fewerbits.hw.rtlsim.axilite import AxiLiteSim

    if rtlsim_unavailable():
        pytest.skip(rtlsim_unavailable())
    _, deploy, layer = uram_build
    words = load_words(deploy)
    sim = AxiLiteSim(load_hw_graph(deploy / "hw" / "dataflow.onnx"))
    try:
        port = sim.port(0)
        # the memory starts empty: nothing reads back before the write
        assert not np.any(sim.read_many(0, [4 * i for i in range(len(words))]))
        write_words(port, words)
        verify_words(port, words, layer)  # passes
        wrong = words.copy()
        wrong[5] ^= 1
        with pytest.raises(DriverError, match=rf"layer {layer}: word 5 \(offset 0x14\)"):
            verify_words(port, wrong, layer)
    finally:
        sim.close()


def test_weight_file_changed_after_packaging_is_refused(uram_build, tmp_path, monkeypatch):
    _, deploy, _ = uram_build
    d = shutil.copytree(deploy, tmp_path / "d")
    f = next((d / "runtime_weights").glob("*.dat"))
    f.write_text(f.read_text().replace("0", "1", 1))
    monkeypatch.syspath_prepend(str(FAKE_PYNQ))
    monkeypatch.setenv("FAKE_PYNQ_HW", "python")
    monkeypatch.delitem(sys.modules, "pynq", raising=False)
    with pytest.raises(DriverError, match="differs from the file this package was written with"):
        Accelerator(d, backend="pynq")


def three_mvaus(rng):
    """UINT4 -> MVAU (URAM) -> Thresholding -> MVAU (weights in the bitstream) -> Thresholding
    -> MVAU (URAM): FINN's graph as a --fit build on ZCU104 could make it."""
    from fewerbits.hw.folding import URAM_ATTRS
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    def hw(op, ins, out, **attrs):
        return helper.make_node(
            op,
            ins,
            [out],
            domain="finn.custom_op.fpgadataflow",
            backend="fpgadataflow",
            preferred_impl_style="rtl",
            **attrs,
        )

    dims, nodes, inits, t = [16, 8, 8, 4], [], {}, "inp"
    for k in range(3):
        mw, mh = dims[k], dims[k + 1]
        bits = int(np.ceil(np.log2(mw * 15 * 16 + 1))) + 1
        acc = f"INT{bits}"
        inits[f"w{k}"] = (rng.integers(-16, 16, size=(mw, mh)), "INT5")
        uram = URAM_ATTRS if k != 1 else {}
        nodes.append(
            hw(
                "MVAU",
                [t, f"w{k}"],
                f"acc{k}",
                MW=mw,
                MH=mh,
                SIMD=4,
                PE=4,
                inputDataType="UINT4",
                weightDataType="INT5",
                outputDataType=acc,
                accDataType=acc,
                noActivation=1,
                binaryXnorMode=0,
                mem_mode="internal_decoupled",
                resType="dsp",
                numInputVectors=[1, 3],
                **uram,
            )
        )
        t = f"acc{k}"
        if k < 2:
            lim = 2 ** (bits - 1)
            inits[f"thr{k}"] = (np.sort(rng.integers(-lim, lim, size=(mh, 15)), axis=1), acc)
            nodes.append(
                hw(
                    "Thresholding",
                    [t, f"thr{k}"],
                    f"act{k}",
                    NumChannels=mh,
                    PE=4,
                    numSteps=15,
                    inputDataType=acc,
                    weightDataType=acc,
                    outputDataType="UINT4",
                    ActVal=0,
                    numInputVectors=[1, 3],
                )
            )
            t = f"act{k}"
    f = TensorProto.FLOAT
    g = helper.make_graph(
        nodes,
        "three",
        [helper.make_tensor_value_info("inp", f, [1, 3, 16])],
        [helper.make_tensor_value_info(t, f, [1, 3, 4])],
    )
    m = ModelWrapper(qonnx_make_model(g, producer_name="fewerbits-test"))
    m.set_tensor_datatype("inp", DataType["UINT4"])
    for name, (arr, dt) in inits.items():
        m.set_initializer(name, arr.astype(np.float32))
        m.set_tensor_datatype(name, DataType[dt])
    return m.transform(InferShapes())


def test_each_runtime_layer_gets_its_own_port_and_address(tmp_path):
    """Ports are numbered over the runtime-writeable layers only, in graph order (FINN's
    CreateStitchedIP); addresses follow assign_axi_addr_proc (4 KiB at least, aligned)."""
    from fewerbits.hw.runtime_weights import RuntimeWeightsError, write_runtime_weights
    from qonnx.custom_op.registry import getCustomOp

    model = rg.codegen(three_mvaus(np.random.default_rng(3)), ZCU104, tmp_path / "finn")
    mvaus = [n.name for n in model.graph.node if n.op_type == "MVAU_rtl"]
    entries = write_runtime_weights(model, tmp_path / "deploy", ZCU104)
    got = [
        (e["layer"], e["ip"], e["interface"], e["addr_width"], e["base_address"]) for e in entries
    ]
    assert got == [  # each URAM layer starts a partition (stitched IP) of its own
        (mvaus[0], "StreamingDataflowPartition_1", "s_axilite_0", 7, 0xA000_1000),  # 8 x 4 words
        (mvaus[2], "StreamingDataflowPartition_2", "s_axilite_0", 5, 0xA000_2000),  # a 4 KiB window
    ]
    assert sorted(p.name for p in (tmp_path / "deploy" / "runtime_weights").iterdir()) == [
        f"{mvaus[0]}.dat",
        f"{mvaus[2]}.dat",
    ]
    # Zynq-7000's peripheral base; a part FINN builds no Zynq shell for has no address
    from fewerbits.hw.runtime_weights import axilite_map

    ports = [("idma0", "s_axi_control_0", ""), *(("x", "s_axilite_0", n) for n in "abc")]
    widths = {"a": 7, "b": 14, "c": 5}
    assert axilite_map(ports, widths, "xc7z020clg400-1") == {
        "a": 0x4000_1000,
        "b": 0x4000_4000,
        "c": 0x4000_8000,
    }
    assert axilite_map(ports[:2], widths, "xcvu9p-flga2104-2-i") == {"a": None}
    # weights in URAM but no AXI-lite port (weights embedded in the layer): refused, naming it
    first = getCustomOp(model.graph.node[0])
    first.set_nodeattr("mem_mode", "internal_embedded")
    with pytest.raises(RuntimeWeightsError, match=rf"layer {mvaus[0]} .*URAM but no AXI-lite"):
        write_runtime_weights(model, tmp_path / "again", ZCU104)
    # no port but memory the bitstream initialises: its weights stay the bitstream's, and the
    # other layer is the stitched IP's only port
    first.set_nodeattr("ram_style", "block")
    (e,) = write_runtime_weights(model, tmp_path / "third", ZCU104)
    got = (e["layer"], e["ip"], e["interface"], e["base_address"])
    assert got == (mvaus[2], "StreamingDataflowPartition_2", "s_axilite_0", 0xA000_1000)


@pytest.fixture(scope="module")
def tiny_uram_build(tiny_run, tmp_path_factory):
    """The tiny net (784 -> 8 -> 10, all RTL) built for ZCU104 with both MVAUs' weights in URAM
    (FINN's attributes as --fit sets them), folded small so Verilator compiles it quickly."""
    from fewerbits.hw.build import build
    from fewerbits.hw.folding import URAM_ATTRS

    from fewerbits.core.artifacts import ExportDir
    from fewerbits.core.config import BuildConfig

    tmp = tmp_path_factory.mktemp("tiny_uram")
    fold = {
        "Defaults": {},
        "MVAU_rtl_0": {"SIMD": 16, "PE": 2, **URAM_ATTRS},
        "Thresholding_rtl_0": {"PE": 2},
        "MVAU_rtl_1": {"SIMD": 2, "PE": 2, **URAM_ATTRS},
    }
    (tmp / "uram.json").write_text(json.dumps(fold))
    cfg = BuildConfig(board="ZCU104", folding=tmp / "uram.json")
    build(ExportDir(tiny_run / "export").model, tmp / "build", cfg, progress=False)
    return tmp / "build"


@pytest.mark.usefixtures("rtlsim_cache")
def test_real_build_both_uram_layers_written_through_their_own_ports(tiny_uram_build, monkeypatch):
    """A real build: the stitched accelerator (MVAU -> width converter -> thresholds -> MVAU)
    in Verilator with both URAM weight memories empty; the driver writes each through its own
    port (each the only port of its stitched IP, listed by instance name as PYNQ does); frames
    are then bit-exact with FINN's execution of the folded graph."""
    from fewerbits.hw.driver import load_settings
    from fewerbits.hw.driver.accelerator import random_frames

    deploy = tiny_uram_build / "deploy"
    s = load_settings(deploy)
    assert [(e["layer"], e["ip"], e["interface"]) for e in s.runtime_weights] == [
        ("MVAU_rtl_0", "StreamingDataflowPartition_1", "s_axilite_0"),
        ("MVAU_rtl_1", "StreamingDataflowPartition_2", "s_axilite_0"),
    ]
    d = with_bitfile(deploy, deploy.parent / "deploy_board")
    _stand_in(monkeypatch)
    x = random_frames(s.model_in[1], (5, *s.model_in[0][1:]), seed=3)
    ref = Accelerator(d, backend="python").execute(x)
    with Accelerator(d, backend="pynq") as acc:
        sim = acc.backend.overlay.hw.sim
        assert sim.writes == [e["words"] for e in s.runtime_weights] == sim.reads
        assert acc.backend.weight_ports == {
            "MVAU_rtl_0": (0xB001_0000, "hwh"),
            "MVAU_rtl_1": (0xB002_0000, "hwh"),
        }
        y = acc.execute(x)
    assert np.array_equal(y.view(np.int32), ref.view(np.int32))


def test_finn_block_design_script_connects_and_addresses_each_port(
    tiny_uram_build, tmp_path, monkeypatch
):
    """FINN's MakeZYNQProject writes the block-design script (ip_config.tcl) of the real
    build; Vivado (which then runs it, and whose stitched IPs it needs) is stood in: the
    stitched-IP metadata CreateStitchedIP would record is set from FINN's own interface names,
    and the Vivado launch is a no-op. Each URAM layer's port is connected to the interconnect
    and addressed, in the order settings.json's addresses assume."""
    import finn.transformation.fpgadataflow.make_zynq_proj as mzp
    from fewerbits.hw.driver import load_settings
    from fewerbits.hw.runtime_weights import MIN_RANGE, zynq_partitions
    from finn.transformation.fpgadataflow.create_stitched_ip import CreateStitchedIP
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from fewerbits.compat.finn.env import prepare_finn

    build = tiny_uram_build
    prepare_finn(build)
    from fewerbits.hw.driver.backends import load_hw_graph

    entries = load_settings(build / "deploy").runtime_weights
    hw = load_hw_graph(build / "deploy" / "hw" / "dataflow.onnx")
    parted = zynq_partitions(hw, ZCU104, tmp_path / "parts")
    for sdp in parted.graph.node:  # what CreateStitchedIP + Vivado would leave behind
        path = getCustomOp(sdp).get_nodeattr("model")
        kernel = ModelWrapper(path)
        stitch = CreateStitchedIP(ZCU104, 10.0)
        for node in kernel.graph.node:
            stitch.connect_axi(node, kernel)
            (tmp_path / "ip" / node.name).mkdir(parents=True)
            getCustomOp(node).set_nodeattr("ip_path", str(tmp_path / "ip" / node.name))
        names = dict(stitch.intf_names, s_axis=[("s_axis_0", 8)], m_axis=[("m_axis_0", 8)])
        kernel.set_metadata_prop("vivado_stitch_proj", str(tmp_path / "ip"))
        kernel.set_metadata_prop("vivado_stitch_vlnv", "xilinx.com:hls:finn_design:1.0")
        kernel.set_metadata_prop("vivado_stitch_ifnames", json.dumps(names))
        kernel.save(path)
    scripts = []
    monkeypatch.setattr(mzp, "resolve_xilinx_tool", lambda name: name)
    monkeypatch.setattr(mzp, "launch_process_helper", lambda cmd, **kw: scripts.append(cmd[1]))
    with pytest.raises(Exception, match="no bitfile"):  # Vivado did not run
        parted.transform(mzp.MakeZYNQProject("ZCU104", 10.0))
    tcl = (Path(scripts[0]).parent / "ip_config.tcl").read_text().splitlines()
    assigned = [ln.split()[1] for ln in tcl if ln.startswith("assign_axi_addr_proc ")]
    ours = [f"{e['ip']}/{e['interface']}" for e in entries]
    assert [a for a in assigned if not a.startswith(("idma", "odma"))] == ours
    assert assigned[0] == "idma0/s_axi_control_0" and assigned[-1] == "odma0/s_axi_control_0"
    for port in ours:
        assert any(
            port in ln and "axi_interconnect_0/M" in ln for ln in tcl if "connect_bd_intf_net" in ln
        )
    # the script's assign_axi_addr_proc, evaluated in that order, gives settings.json's addresses
    nxt, base = 0xA000_0000, {}
    width = {f"{e['ip']}/{e['interface']}": e["addr_width"] for e in entries}
    for a in assigned:
        rng = max(MIN_RANGE, 2 ** width.get(a, 6))  # the IODMA's registers end at 0x1C
        base[a] = (nxt + rng - 1) & ~(rng - 1)
        nxt = base[a] + rng
    assert [base[p] for p in ours] == [e["base_address"] for e in entries]
    assert "set axi_peripheral_base 0xA0000000" in "\n".join(tcl)
