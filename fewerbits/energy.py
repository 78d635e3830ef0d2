"""A documented per-operation / per-bit energy model for one inference ("normalized energy").

Sources (45 nm CMOS, 0.9 V; the relative costs are what matters, not the absolute node):
- M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, Fig. 1.1.9:
  8-bit int add 0.03 pJ, 32-bit int add 0.1 pJ, 8-bit int mult 0.2 pJ, 32-bit int mult 3.1 pJ,
  32-bit float add 0.9 pJ, 32-bit float mult 3.7 pJ, 64-bit read from an 8 KB SRAM 10 pJ.
- The scaling rules used for other widths are the usual first-order ones (also Horowitz 2014 and
  Moons et al., "Minimum energy quantized neural networks", Asilomar 2017): an array multiplier's
  energy grows with the product of its operand widths, an adder's linearly with its width, an
  on-chip memory read linearly with the bits read.

Per inference, with qonnx's inference-cost analysis giving MAC counts per (input, weight) datatype
pair and the weight bits:

    E = sum_MACs [ E_mul(a, w) + E_add(acc) ] + E_sram_bit * (weight bits + activation bits)

    E_mul(a, w) = 0.2 pJ * (a * w) / 64           (8x8 bit multiply = 0.2 pJ; 1x1 bit = XNOR)
    E_add(acc)  = 0.03 pJ * acc / 8               (acc = a + w + ceil(log2(fan-in)), here 32 max)
    float32 MAC = 3.7 pJ + 0.9 pJ
    E_sram_bit  = 10 pJ / 64 bit

Every weight is read once per inference (FINN keeps weights on chip, streamed once per frame),
and every activation is written and read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fewerbits.compat.qonnx.cost import FoldBipolarWeights

E_MUL_8x8_PJ = 0.2
E_ADD_8_PJ = 0.03
E_FP32_MUL_PJ = 3.7
E_FP32_ADD_PJ = 0.9
E_SRAM_PER_BIT_PJ = 10.0 / 64

SOURCES = [
    "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014",
    "B. Moons et al., Minimum energy quantized neural networks, Asilomar 2017",
]


def _bits(dtype_name: str) -> tuple[int, bool]:
    """Bit width of a qonnx datatype name and whether it is a float."""
    from qonnx.core.datatype import DataType

    if dtype_name.upper().startswith("FLOAT"):
        return 32, True
    return DataType[dtype_name].bitwidth(), False


def mac_energy_pj(in_dtype: str, w_dtype: str, fan_in: int = 1024) -> float:
    """Energy of one multiply-accumulate for the given operand datatypes."""
    a, a_float = _bits(in_dtype)
    w, w_float = _bits(w_dtype)
    if a_float or w_float:
        return E_FP32_MUL_PJ + E_FP32_ADD_PJ
    acc = min(32, a + w + math.ceil(math.log2(max(fan_in, 2))))
    return E_MUL_8x8_PJ * (a * w) / 64 + E_ADD_8_PJ * acc / 8


@dataclass
class EnergyEstimate:
    """Energy per inference, split into compute and memory."""

    compute_pj: float
    memory_pj: float
    macs: float
    weight_bits: float
    ops_by_type: dict[str, float]

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.memory_pj

    def to_dict(self) -> dict:
        return {
            "energy_pj": self.total_pj,
            "compute_pj": self.compute_pj,
            "memory_pj": self.memory_pj,
            "macs": self.macs,
            "weight_bits": self.weight_bits,
            "ops_by_type": self.ops_by_type,
        }


def estimate_from_cost(cost: dict) -> EnergyEstimate:
    """Energy from a qonnx ``inference_cost`` result's ``total_cost`` dict."""
    compute = 0.0
    macs = 0.0
    ops = {}
    for key, count in cost.items():
        if not key.startswith("op_mac_"):
            continue
        in_dt, w_dt = _split_pair(key.removeprefix("op_mac_"))
        compute += count * mac_energy_pj(in_dt, w_dt)
        macs += count
        ops[key.removeprefix("op_")] = float(count)
    weight_bits = float(cost.get("total_mem_w_bits", 0.0))
    act_bits = float(cost.get("total_mem_o_bits", 0.0))
    memory = E_SRAM_PER_BIT_PJ * (weight_bits + 2 * act_bits)
    return EnergyEstimate(compute, memory, macs, weight_bits, ops)


def _split_pair(s: str) -> tuple[str, str]:
    """'SCALEDINT<8>_INT2' -> ('SCALEDINT<8>', 'INT2'); names never contain '_' except as separator
    outside angle brackets."""
    depth = 0
    for i, ch in enumerate(s):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "_" and depth == 0:
            return s[:i], s[i + 1 :]
    raise ValueError(f"cannot split datatype pair {s!r}")


def estimate_model(model_onnx) -> EnergyEstimate:
    """Energy per inference of a (Q)ONNX model file, via qonnx's inference-cost analysis."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.inference_cost import inference_cost

    model = ModelWrapper(str(model_onnx)).transform(FoldBipolarWeights())
    cost = inference_cost(model, discount_sparsity=False)["total_cost"]
    return estimate_from_cost(cost)
