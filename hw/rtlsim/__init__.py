"""Hardware simulation without Vivado: FINN's generated RTL under a simulator back end
(:mod:`fewerbits.hw.sim`; Verilator by default).

* :mod:`.levels` -- ``rtl_nodes`` / ``rtl_stitched`` verification levels and report numbers
* :mod:`.api` -- :class:`~.api.StitchedSimulator`, the packed-stream device for the driver
* :mod:`.sim` -- node and stitched simulation; :mod:`.design` -- sources and top levels;
  :mod:`.packing` -- AXI-stream words (the driver's packing, qonnx DataTypes);
  :mod:`.flowsteps` -- FINN build steps for an all-RTL dataflow partition;
  :mod:`.verilator` -- old import path of the Verilator back end's names
"""
