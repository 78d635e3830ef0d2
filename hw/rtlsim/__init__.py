"""Hardware simulation without Vivado: FINN's generated RTL under Verilator.

* :mod:`.levels` -- ``rtl_nodes`` / ``rtl_stitched`` verification levels and report numbers
* :mod:`.api` -- :class:`~.api.StitchedSimulator`, the packed-stream device for the driver
* :mod:`.sim` -- node and stitched simulation; :mod:`.design` -- sources and top levels;
  :mod:`.verilator` -- compile/run with the cache; :mod:`.packing` -- AXI-stream words;
  :mod:`.flowsteps` -- FINN build steps for an all-RTL dataflow partition
"""
