"""Single-node FINN graphs (FINN's own custom ops + FINN's code generation) for RTL node tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PART_7 = "xc7z020clg400-1"  # Pynq-Z1: DSP48E1
PART_US = "xczu3eg-sbva484-1-e"  # Ultra96: DSP48E2
CLK_NS = 10.0


def _dt(name):
    from qonnx.core.datatype import DataType

    return DataType[name]


def _model(node, in_shape, out_shape, idt: str, inits: dict | None = None, odt: str | None = None):
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(in_shape))
    outp = helper.make_tensor_value_info("outp", TensorProto.FLOAT, list(out_shape))
    g = helper.make_graph([node], "single", [inp], [outp])
    m = ModelWrapper(qonnx_make_model(g, producer_name="fewerbits-test"))
    m.set_tensor_datatype("inp", _dt(idt))
    if odt:
        m.set_tensor_datatype("outp", _dt(odt))
    for name, (arr, dt) in (inits or {}).items():
        m.set_initializer(name, arr.astype(np.float32))
        m.set_tensor_datatype(name, _dt(dt))
    return m


def _smallest(value) -> str:
    from qonnx.core.datatype import DataType

    return DataType.get_smallest_possible(value).name


def _node(op, inputs, **attrs):
    from onnx import helper

    return helper.make_node(
        op,
        inputs,
        ["outp"],
        domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow",
        preferred_impl_style="rtl",
        **attrs,
    )


def thresholding(rng, signed: bool):
    c = int(rng.choice([4, 6, 8, 12]))
    pe = int(rng.choice([d for d in (1, 2, 3, 4, 6) if c % d == 0]))
    wi = int(rng.integers(4, 11))
    ob = int(rng.integers(1, 4))
    idt = f"INT{wi}" if signed else f"UINT{wi}"
    lo, hi = (-(2 ** (wi - 1)), 2 ** (wi - 1) - 1) if signed else (0, 2**wi - 1)
    steps = 2**ob - 1
    thr = np.sort(rng.integers(lo, hi + 1, size=(c, steps)), axis=1)
    actval = -(2 ** (ob - 1)) if signed and ob > 1 else 0
    odt = f"INT{ob}" if actval < 0 else f"UINT{ob}"
    node = _node(
        "Thresholding",
        ["inp", "thr"],
        NumChannels=c,
        PE=pe,
        numSteps=steps,
        inputDataType=idt,
        weightDataType=idt,
        outputDataType=odt,
        ActVal=actval,
        numInputVectors=[1, 2],
    )
    m = _model(node, (1, 2, c), (1, 2, c), idt, {"thr": (thr, idt)}, odt)
    return m, PART_7, f"C{c} PE{pe} {idt}->{odt}"


def _mvau_node(op, mw, mh, simd, pe, idt, wdt, odt, nvec, **attrs):
    """A FINN MVAU node (weights from memstream, no activation); ``attrs`` override or add
    node attributes."""
    return _node(
        op,
        ["inp", "w"],
        **{
            "MW": mw,
            "MH": mh,
            "SIMD": simd,
            "PE": pe,
            "inputDataType": idt,
            "weightDataType": wdt,
            "outputDataType": odt,
            "accDataType": odt,
            "noActivation": 1,
            "binaryXnorMode": 0,
            "mem_mode": "internal_decoupled",
            "resType": "dsp",
            "numInputVectors": nvec,
            **attrs,
        },
    )


def mvau_model(w, idt: str, wdt: str, odt: str, simd: int, pe: int, **attrs):
    """One MVAU (weights ``w`` (MW, MH), no activation: accumulator out, internal_decoupled
    weights) over 3 input vectors; ``attrs`` override or add node attributes."""
    mw, mh = w.shape
    node = _mvau_node("MVAU", mw, mh, simd, pe, idt, wdt, odt, [1, 3], **attrs)
    return _model(node, (1, 3, mw), (1, 3, mh), idt, {"w": (w, wdt)}, odt)


def mvau(rng, signed_act: bool, narrow_part: bool):
    mw = int(rng.choice([8, 12, 16, 24]))
    mh = int(rng.choice([4, 6, 8]))
    simd = int(rng.choice([d for d in (1, 2, 3, 4, 6, 8) if mw % d == 0]))
    pe = int(rng.choice([d for d in (1, 2, 3, 4) if mh % d == 0]))
    wb, ab = int(rng.integers(2, 5)), int(rng.integers(2, 6))
    wlo = -(2 ** (wb - 1)) + (1 if narrow_part else 0)
    w = rng.integers(wlo, 2 ** (wb - 1), size=(mw, mh))
    if not narrow_part:
        w[0, 0] = -(2 ** (wb - 1))  # a non-narrow weight: needs DSP48E2
    idt = f"INT{ab}" if signed_act else f"UINT{ab}"
    amax = 2 ** (ab - 1) if signed_act else 2**ab - 1
    acc_bits = int(np.ceil(np.log2(mw * amax * 2 ** (wb - 1) + 1))) + 1
    odt = f"INT{acc_bits}"
    m = mvau_model(w, idt, f"INT{wb}", odt, simd, pe)
    part = PART_7 if narrow_part else PART_US
    return m, part, f"MW{mw} MH{mh} SIMD{simd} PE{pe} {idt} x INT{wb} on {part[:7]}"


def dwc(rng):
    bits = int(rng.integers(2, 9))
    e = 24
    a, b = [int(v) for v in rng.choice([1, 2, 3, 4, 6, 12], size=2, replace=False)]
    if max(a, b) % min(a, b):
        b = a * 2
    dt = f"INT{bits}"
    node = _node(
        "StreamingDataWidthConverter",
        ["inp"],
        inShape=[1, e],
        outShape=[1, e],
        inWidth=a * bits,
        outWidth=b * bits,
        dataType=dt,
    )
    return _model(node, (1, e), (1, e), dt, odt=dt), PART_7, f"{dt} {a}->{b} elems/word"


def fmpadding(rng):
    h, w = int(rng.integers(3, 7)), int(rng.integers(3, 7))
    c = int(rng.choice([2, 4, 6]))
    simd = int(rng.choice([d for d in (1, 2, 3) if c % d == 0]))
    pad = [int(v) for v in rng.integers(0, 3, size=4)]
    dt = str(rng.choice(["UINT4", "INT6", "INT8"]))
    node = _node(
        "FMPadding",
        ["inp"],
        ImgDim=[h, w],
        Padding=pad,
        NumChannels=c,
        SIMD=simd,
        inputDataType=dt,
        numInputVectors=1,
    )
    out = (1, h + pad[0] + pad[2], w + pad[1] + pad[3], c)
    return (
        _model(node, (1, h, w, c), out, dt, odt=dt),
        PART_7,
        f"{h}x{w}x{c} pad{pad} SIMD{simd} {dt}",
    )


def swg(rng):
    k = int(rng.choice([2, 3]))
    s = int(rng.choice([1, 2]))
    ifm = int(rng.integers(k + 2, 8))
    ofm = (ifm - k) // s + 1
    c = int(rng.choice([2, 4]))
    simd = int(rng.choice([d for d in (1, 2, 4) if c % d == 0]))
    dt = str(rng.choice(["UINT4", "INT4", "UINT8"]))
    node = _node(
        "ConvolutionInputGenerator",
        ["inp"],
        ConvKernelDim=[k, k],
        IFMChannels=c,
        IFMDim=[ifm, ifm],
        OFMDim=[ofm, ofm],
        SIMD=simd,
        Stride=[s, s],
        Dilation=[1, 1],
        inputDataType=dt,
        outputDataType=dt,
    )
    m = _model(node, (1, ifm, ifm, c), (1, ofm, ofm, k * k * c), dt, odt=dt)
    return m, PART_7, f"{ifm}x{ifm}x{c} k{k} s{s} SIMD{simd} {dt}"


def fifo(rng):
    depth = int(rng.choice([2, 5, 16, 40]))
    n, e = int(rng.integers(3, 10)), int(rng.choice([1, 2, 4]))
    dt = str(rng.choice(["UINT3", "INT8", "INT5"]))
    node = _node(
        "StreamingFIFO",
        ["inp"],
        depth=depth,
        folded_shape=[1, n, e],
        normal_shape=[1, n * e],
        dataType=dt,
    )
    return _model(node, (1, n * e), (1, n * e), dt, odt=dt), PART_7, f"depth{depth} {n}x{e} {dt}"


def codegen(model, part: str, work: Path):
    """FINN's SpecializeLayers (RTL preferred) + PrepareIP (code generation) on the graph."""
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(work)
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes

    model = model.transform(SpecializeLayers(part))
    model = model.transform(GiveUniqueNodeNames())
    model = model.transform(InferDataTypes())
    model = model.transform(PrepareIP(part, CLK_NS))
    return model


@pytest.fixture(scope="session")
def rtlsim_cache(hermetic_env) -> Path:
    """The Verilator model cache of this test session (conftest's hermetic_env: fresh per run,
    so compile times count, and shared by all tests of the run)."""
    path = Path(hermetic_env["FEWERBITS_CACHE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def mvau_binary(rng, thresholds: bool, fixed: dict | None = None):
    """A binary (XNOR-popcount) MVAU as FINN's InferBinaryMatrixVectorActivation makes it:
    BINARY inputs and weights; embedded thresholds (BIPOLAR or multi-bit output) or none.
    ``fixed`` pins any of mw, mh, simd, pe, vecs (else drawn from ``rng``)."""
    f = fixed or {}
    mw = int(f.get("mw", rng.choice([8, 16, 24, 32, 64])))
    mh = int(f.get("mh", rng.choice([4, 6, 8, 12])))
    simd = int(f.get("simd", rng.choice([d for d in (1, 2, 4, 8, 16, 32) if mw % d == 0])))
    pe = int(f.get("pe", rng.choice([d for d in (1, 2, 3, 4) if mh % d == 0])))
    # FC (one vector per frame) or conv-like (1, H, W); FINN's Python execution thresholds
    # along axis 1 of a 3-D tensor, so 3-D shapes are avoided
    vecs = [1] if rng.integers(0, 2) else [1, int(rng.integers(1, 3)), int(rng.integers(1, 4))]
    vecs = list(f.get("vecs", vecs))
    w = rng.integers(0, 2, size=(mw, mh))
    inits = {"w": (w, "BINARY")}
    inputs = ["inp", "w"]
    acc_dt = f"UINT{int(np.ceil(np.log2(mw + 1)))}"
    if thresholds:
        odt = str(rng.choice(["BIPOLAR", "UINT2", "INT2", "UINT3"]))
        steps = 1 if odt == "BIPOLAR" else 2 ** int(odt[-1]) - 1
        per_channel = bool(rng.integers(0, 2))
        # thresholds spread over (and a little beyond) the popcount range [0, MW]
        thr = np.sort(rng.integers(-2, mw + 3, size=(mh if per_channel else 1, steps)), axis=1)
        thr = np.clip(thr, 0, None)  # FINN's binary MVAU asserts thresholds >= 0
        inits["thr"] = (
            thr,
            "INT32" if thr.max() > 2**15 else f"UINT{max(1, int(thr.max()).bit_length())}",
        )
        inputs.append("thr")
        actval = 0 if odt == "BIPOLAR" else int(_dt(odt).min())
    else:
        odt, steps, actval = acc_dt, 0, 0
    node = _node(
        "MVAU",
        inputs,
        MW=mw,
        MH=mh,
        SIMD=simd,
        PE=pe,
        inputDataType="BINARY",
        weightDataType="BINARY",
        outputDataType=odt,
        accDataType=acc_dt,
        ActVal=actval,
        noActivation=0 if thresholds else 1,
        binaryXnorMode=1,
        mem_mode="internal_decoupled",
        numInputVectors=vecs,
    )
    m = _model(node, (*vecs, mw), (*vecs, mh), "BINARY", inits, odt)
    m.set_tensor_datatype("w", _dt("BINARY"))
    kind = f"{steps} thresholds -> {odt}" if thresholds else f"popcount {odt}"
    return m, PART_7, f"MW{mw} MH{mh} SIMD{simd} PE{pe} vecs{vecs} {kind}"


def maxpool(rng):
    """FINN's Pool (Function=MaxPool) as InferPool makes it, fed window by window. PE equals
    Channels: then FINN's depthwise window order (C/PE, K, K, PE) is the normal (K, K, C)
    order the Python reference reads; PE < Channels is covered by the stitched CNV test."""
    k = [int(v) for v in rng.choice([2, 3], size=2)]
    c = int(rng.choice([1, 2, 3, 4, 8]))
    odims = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    dt = str(rng.choice(["BIPOLAR", "UINT2", "UINT4", "INT3", "INT8"]))
    m = _pool_model("MaxPool", k, c, odims, dt, dt)
    return m, PART_7, f"k{k} C{c} PE{c} out{odims} {dt}"


def _pool_model(function: str, k: list[int], c: int, odims: list[int], dt: str, odt: str):
    """A one-node model of FINN's Pool (``function``) with PE = Channels, fed window by window."""
    node = _node(
        "Pool",
        ["inp"],
        Channels=c,
        PE=c,
        KernelSize=k,
        Function=function,
        OutImgDims=odims,
        InputDataType=dt,
        OutputDataType=odt,
        BatchSize=1,
    )
    return _model(node, (1, *odims, k[0] * k[1] * c), (1, *odims, c), dt, odt=odt)


def label_select(rng):
    """FINN's LabelSelect (top-K indices) as InferLabelSelectLayer makes it; small value types
    make ties frequent (ONNX TopK: the lower index first)."""
    labels = int(rng.choice([4, 6, 10, 12, 16]))
    pe = int(rng.choice([d for d in (1, 2, 3, 4) if labels % d == 0]))
    k = int(rng.integers(1, min(labels, 5) + 1))
    dt = str(rng.choice(["UINT2", "INT3", "UINT8", "INT9"]))
    vecs = [1] if rng.integers(0, 2) else [1, int(rng.integers(2, 4))]
    odt = "UINT8"
    node = _node(
        "LabelSelect",
        ["inp"],
        Labels=labels,
        PE=pe,
        K=k,
        inputDataType=dt,
        outputDataType=odt,
        numInputVectors=vecs,
    )
    m = _model(node, (*vecs, labels), (*vecs, k), dt, odt=odt)
    return m, PART_7, f"Labels{labels} PE{pe} K{k} vecs{vecs} {dt}"


def _graph_ports(node, inputs: dict, outputs: dict):
    """A one-node model: ``inputs``/``outputs`` are {tensor: (shape, datatype)}."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    def vi(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    g = helper.make_graph(
        [node],
        "single",
        [vi(t, s) for t, (s, _) in inputs.items()],
        [vi(t, s) for t, (s, _) in outputs.items()],
    )
    m = ModelWrapper(qonnx_make_model(g, producer_name="fewerbits-test"))
    for t, (_, dt) in {**inputs, **outputs}.items():
        m.set_tensor_datatype(t, DataType[dt])
    return m


def duplicate_streams(rng):
    """FINN's DuplicateStreams as InferDuplicateStreamsLayer makes it (2 or 3 outputs)."""
    from onnx import helper

    ch = int(rng.choice([1, 2, 4, 6, 8]))
    pe = int(rng.choice([d for d in (1, 2, 3, 4, 8) if ch % d == 0]))
    n = int(rng.choice([2, 3]))
    dt = str(rng.choice(["UINT2", "INT4", "UINT8", "INT9", "BIPOLAR"]))
    vecs = [1, int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    outs = [f"out{i}" for i in range(n)]
    node = helper.make_node(
        "DuplicateStreams",
        ["inp"],
        outs,
        domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow",
        NumChannels=ch,
        PE=pe,
        NumOutputStreams=n,
        inputDataType=dt,
        numInputVectors=vecs,
    )
    shape = (*vecs, ch)
    m = _graph_ports(node, {"inp": (shape, dt)}, {o: (shape, dt) for o in outs})
    return m, PART_7, f"C{ch} PE{pe} x{n} {vecs} {dt}"


def add_streams(rng, signed: bool | None = None):
    """FINN's ElementwiseAdd of two streams as InferElementwiseBinaryOperation makes it (after
    minimize_bit_width: operands of different widths/signedness, the output the sum's type)."""
    from onnx import helper
    from qonnx.core.datatype import DataType

    ch = int(rng.choice([1, 2, 4, 6]))
    pe = int(rng.choice([d for d in (1, 2, 3, 6) if ch % d == 0]))
    pick = (
        ["UINT2", "UINT8", "INT4", "INT8", "UINT5"]
        if signed is None
        else (["INT4", "INT8", "INT3"] if signed else ["UINT4", "UINT8"])
    )
    a, b = (str(rng.choice(pick)) for _ in range(2))
    lo = DataType[a].min() + DataType[b].min()
    hi = DataType[a].max() + DataType[b].max()
    bits = int(max(hi, -lo - 1)).bit_length()
    odt = f"INT{bits + 1}" if lo < 0 else f"UINT{bits}"
    shape = [1, int(rng.integers(1, 4)), int(rng.integers(1, 4)), ch]
    node = helper.make_node(
        "ElementwiseAdd",
        ["in0", "in1"],
        ["outp"],
        domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow",
        lhs_shape=shape,
        rhs_shape=shape,
        out_shape=shape,
        lhs_dtype=a,
        rhs_dtype=b,
        out_dtype=odt,
        lhs_style="input",
        rhs_style="input",
        PE=pe,
    )
    m = _graph_ports(node, {"in0": (shape, a), "in1": (shape, b)}, {"outp": (shape, odt)})
    return m, PART_7, f"{shape} PE{pe} {a}+{b}->{odt}"


def mul_const(rng):
    """FINN's ElementwiseMul of a stream by one integer constant as InferElementwiseBinaryOperation
    makes it for a residual branch weight (hw/build/residual_scales.py), after
    minimize_bit_width: the constant's smallest type, the output the product's."""
    from onnx import helper
    from qonnx.core.datatype import DataType

    ch = int(rng.choice([1, 2, 4, 6]))
    pe = int(rng.choice([d for d in (1, 2, 3, 6) if ch % d == 0]))
    a = str(rng.choice(["UINT8", "INT4", "UINT3", "INT8"]))
    c = int(rng.choice([-1, 1]) * rng.integers(2, 1000))
    cdt = DataType.get_smallest_possible(c)
    signed = DataType[a].signed() or c < 0
    odt = f"{'INT' if signed else 'UINT'}{DataType[a].bitwidth() + cdt.bitwidth()}"
    shape = [1, int(rng.integers(1, 4)), int(rng.integers(1, 4)), ch]
    node = helper.make_node(
        "ElementwiseMul",
        ["in0", "weight"],
        ["outp"],
        domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow",
        lhs_shape=shape,
        rhs_shape=[1],
        out_shape=shape,
        lhs_dtype=a,
        rhs_dtype=cdt.name,
        out_dtype=odt,
        lhs_style="input",
        rhs_style="const",
        PE=pe,
    )
    m = _graph_ports(node, {"in0": (shape, a)}, {"outp": (shape, odt)})
    m.set_initializer("weight", np.array([c], dtype=np.float32))
    m.set_tensor_datatype("weight", cdt)
    return m, PART_7, f"{shape} PE{pe} {a}*{c}->{odt}"


def vvau(rng, fixed: dict | None = None, thresholds: bool = False):
    """FINN's VVAU (depthwise conv) as InferVectorVectorActivation makes it with standalone
    thresholds (noActivation=1) or, ``thresholds``, a MultiThreshold absorbed (noActivation=0:
    per-channel or shared thresholds over the accumulator range, BIPOLAR or 2..3-bit output,
    FINN's ActVal rule: negative for signed outputs): integer inputs and weights (signed or
    unsigned, 2..8 bits), kernels FINN emits (square, 1-D, 1x1), PE | channels and SIMD | kernel
    elements. A single node reads its input in FINN's depthwise stream order (C/PE, K, K, PE)
    (no window generator in front), which the Python reference then uses too. ``fixed`` pins
    any of c, k, pe, simd, dim, ib, wb, isigned, wsigned, odt (with thresholds), res_type
    (the draws stay the same)."""
    f = fixed or {}
    c = int(f.get("c", rng.choice([2, 3, 4, 6, 8])))
    k = list(f.get("k", [[3, 3], [2, 2], [5, 5], [3, 1], [1, 1]][int(rng.integers(0, 5))]))
    k2 = k[0] * k[1]
    pe = int(f.get("pe", rng.choice([d for d in range(1, c + 1) if c % d == 0])))
    simd = int(f.get("simd", rng.choice([d for d in range(1, k2 + 1) if k2 % d == 0])))
    dim = list(f.get("dim", [int(rng.integers(1, 4)), int(rng.integers(1, 4))]))
    ib, wb = int(f.get("ib", rng.integers(2, 9))), int(f.get("wb", rng.integers(2, 9)))
    isigned = bool(f.get("isigned", rng.integers(0, 2)))
    wsigned = bool(f.get("wsigned", rng.integers(0, 4)))  # mostly signed W
    idt = f"INT{ib}" if isigned else f"UINT{ib}"
    wdt = f"INT{wb}" if wsigned else f"UINT{wb}"
    wlo, whi = (-(2 ** (wb - 1)), 2 ** (wb - 1) - 1) if wsigned else (0, 2**wb - 1)
    w = rng.integers(wlo, whi + 1, size=(c, 1, *k))
    w.reshape(-1)[0] = wlo  # the extreme codes occur
    amax = 2 ** (ib - 1) if isigned else 2**ib - 1
    bound = k2 * amax * max(abs(wlo), abs(whi))
    unsigned_out = not isigned and not wsigned
    odt = (
        f"UINT{int(np.ceil(np.log2(bound + 1)))}"
        if unsigned_out
        else (f"INT{int(np.ceil(np.log2(bound + 1))) + 1}")
    )
    acc_dt, inits, inputs, actval, kind = odt, {"w": (w, wdt)}, ["inp", "w"], 0, ""
    if thresholds:
        odt = str(f.get("odt", rng.choice(["BIPOLAR", "UINT2", "INT2", "UINT3"])))
        steps = 1 if odt == "BIPOLAR" else 2 ** int(odt[-1]) - 1
        rows = c if rng.integers(0, 4) else 1
        # thresholds where random sums fall (mean +- 2 std of uniform products), a few beyond
        # any sum, some fractional (FINN compares the integer sum with them as floats)
        wmax = max(abs(wlo), abs(whi))
        mean = k2 * (amax / 2) * (whi / 2) if unsigned_out else 0.0
        std = max(1.0, np.sqrt(k2) * amax * wmax / 3)
        thr = np.round(rng.uniform(mean - 2 * std, mean + 2 * std, size=(rows, steps)))
        thr[rng.random(thr.shape) < 0.1] = bound + 1
        thr[rng.random(thr.shape) < 0.1] = -bound - 1
        thr[rng.random(thr.shape) < 0.2] += 0.5
        thr = np.sort(thr, axis=1)
        inits["thr"] = (thr, "FLOAT32")
        inputs.append("thr")
        actval = 0 if odt == "BIPOLAR" else int(_dt(odt).min())
        kind = f" {steps} thr ({rows} rows) ->"
    node = _node(
        "VVAU",
        inputs,
        PE=pe,
        SIMD=simd,
        Dim=dim,
        Channels=c,
        Kernel=k,
        inputDataType=idt,
        weightDataType=wdt,
        outputDataType=odt,
        accDataType=acc_dt,
        noActivation=0 if thresholds else 1,
        ActVal=actval,
        mem_mode="internal_decoupled",
        resType=str(f.get("res_type", rng.choice(["lut", "dsp", "auto"]))),
    )
    m = _model(node, (1, *dim, k2 * c), (1, *dim, c), idt, inits, odt)
    return m, PART_7, f"C{c} k{k} PE{pe} SIMD{simd} {dim} {idt} x {wdt} ->{kind} {odt}"


def global_acc_pool(rng, signed: bool):
    """FINN's GlobalAccPool (integer sum over H*W per channel) as InferGlobalAccPoolLayer makes
    it (NHWC, PE=1 there; any PE dividing the channels after folding)."""
    c = int(rng.choice([4, 6, 8]))
    pe = int(rng.choice([d for d in (2, 3, 4) if c % d == 0 and d < c]))  # 1 < PE < C
    h, w = int(rng.integers(1, 6)), int(rng.integers(2, 6))
    types = ["INT2", "INT4", "INT8"] if signed else ["UINT1", "UINT2", "UINT4", "UINT8"]
    dt = str(rng.choice(types))
    idt = _dt(dt)
    extreme = h * w * (idt.min() if idt.signed() else idt.max())
    odt = _smallest(extreme)  # FINN's GlobalAccPool output rule
    node = _node(
        "GlobalAccPool",
        ["inp"],
        NumChannels=c,
        PE=pe,
        inputDataType=dt,
        numInputVectors=[1, h, w],
    )
    m = _model(node, (1, h, w, c), (1, 1, 1, c), dt, odt=odt)
    return m, PART_7, f"C{c} PE{pe} {h}x{w} {dt}->{odt}"


def avgpool_trunc(rng):
    """FINN's Pool (Function=QuantAvgPool: window sum, truncating shift) as InferPool makes it
    from Brevitas' TruncAvgPool2d (FLOOR), fed window by window, PE equal to Channels."""
    k = [int(v) for v in rng.choice([2, 3], size=2)]
    c = int(rng.choice([1, 2, 3, 4]))
    odims = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    dt = str(rng.choice(["UINT2", "UINT4", "INT3", "INT8", "UINT8"]))
    odt = dt if rng.integers(0, 2) else dt[:-1] + str(max(2, int(dt[-1]) - 1))
    m = _pool_model("QuantAvgPool", k, c, odims, dt, odt)
    return m, PART_7, f"k{k} C{c} PE{c} out{odims} {dt}->{odt}"


def maxpool_converted(rng, fixed: dict | None = None):
    """A MaxPool (qonnx MaxPoolNHWC, as FINN's streamlining leaves it) through FINN's own
    conversion: InferPool (Im2Col + Pool) and InferConvInpGen (a depthwise
    ConvolutionInputGenerator), then folded: the window generator's SIMD and the pool's PE a
    divisor of the channels (FINN's folding keeps them equal). Kernel == stride (the case
    upstream FINN's InferStreamingMaxPool took) or kernel > stride, 2-D or 1-D (H = 1, kernel
    (1, k)). ``fixed`` pins any of c, pe, k, s, one_d, dt. Returns the two-node model; the
    pool is the last node."""
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from onnx import helper
    from qonnx.custom_op.registry import getCustomOp

    f = fixed or {}
    c = int(f.get("c", rng.choice([2, 4, 6, 8])))
    pe = int(f.get("pe", rng.choice([d for d in range(1, c) if c % d == 0])))
    k = int(f.get("k", rng.choice([2, 3])))
    s = int(f.get("s", k if rng.integers(0, 2) else rng.integers(1, k)))
    one_d = bool(f.get("one_d", rng.integers(0, 2)))
    dt = str(f.get("dt", rng.choice(["BIPOLAR", "UINT3", "INT4", "INT8"])))
    kh, sh = (1, 1) if one_d else (k, s)
    odim = [1 if one_d else int(rng.integers(1, 4)), int(rng.integers(1, 5))]
    idim = [(odim[0] - 1) * sh + kh, (odim[1] - 1) * s + k]
    node = helper.make_node(
        "MaxPoolNHWC",
        ["inp"],
        ["outp"],
        domain="qonnx.custom_op.general",
        kernel_shape=[kh, k],
        strides=[sh, s],
        pads=[0, 0, 0, 0],
    )
    m = _model(node, (1, *idim, c), (1, *odim, c), dt, odt=dt)
    m = m.transform(InferPool()).transform(InferConvInpGen())
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["ConvolutionInputGenerator", "Pool"], ops
    swg, pool = (getCustomOp(n) for n in m.graph.node)
    swg.set_nodeattr("SIMD", pe)
    swg.set_nodeattr("preferred_impl_style", "rtl")
    pool.set_nodeattr("PE", pe)
    desc = f"{'1-D' if one_d else '2-D'} in{idim} k{[kh, k]} s{[sh, s]} C{c} PE{pe} {dt}"
    return m, PART_7, desc


def mvau_rtl_layer(mw: int, mh: int, wdt: str, idt: str, pe: int = 1, simd: int = 1, seed=0):
    """One FINN ``MVAU_rtl`` (weights in memstream, ``noActivation``) with random ``wdt``
    weights: a layer's shape for the cost model and the folding search (no code generation)."""
    from qonnx.core.datatype import DataType

    w = DataType[wdt]
    acc = (
        f"INT{int(np.ceil(np.log2(mw * max(abs(w.min()), w.max()) * DataType[idt].max() + 1))) + 1}"
    )
    node = _mvau_node("MVAU_rtl", mw, mh, simd, pe, idt, wdt, acc, [1])
    node.domain = "finn.custom_op.fpgadataflow.rtl"
    node.name = "MVAU_rtl_0"
    weights = np.random.default_rng(seed).integers(w.min(), w.max() + 1, (mw, mh))
    return _model(node, (1, mw), (1, mh), idt, {"w": (weights, wdt)}, acc)
