"""Every verification level, one module per kind of executor; importing registers them."""

from __future__ import annotations

from . import finn_graphs, netlist, onnxruntime, qonnx, rtl, vivado  # noqa: F401 - registration
