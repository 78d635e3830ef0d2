"""Back ends: what sits behind the DMA. All take the packed input buffer of a batch,
``uint8 (N, *shape_packed[1:])``, and return the packed output buffer; packing and unpacking
happen once, in :mod:`.accelerator`, for every back end.

- ``pynq``: the board. pynq.Overlay + allocate; FINN's IODMA register protocol (zynq-iodma,
  what FINN builds) or AXI DMA send/recv channels when the overlay's DMA IP has them.
  Needs only numpy + pynq; pynq is imported here, lazily.
- ``python``: a software stand-in for the overlay's DMA engines and accelerator (a development
  back end; needs finn-plus and qonnx): it unpacks the buffer with FINN's own unpacking,
  executes the folded hardware graph in Python (specialized ``*_hls``/``*_rtl`` nodes mapped
  back to their base types) and packs the result with FINN's own packing.
- ``rtlsim``: fewerbits' stitched RTL simulation (``fewerbits.hw.rtlsim.api``), with any
  simulator back end of ``fewerbits.hw.sim`` (``simulator=``, default Verilator). For an
  open-FPGA board package (settings.json ``link``) it simulates the whole board top instead
  (wrapper + accelerator, the UART at bit level: ``fewerbits.hw.board.sim``) and talks to it
  with the ``serial`` back end's own code.
- ``serial``: an open-FPGA board (ULX3S, iCEBreaker) programmed with the package's bitstream,
  over its UART (pyserial, ``port=``); the framing is :mod:`.uart`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .errors import DriverError
from .finn_nodes import FPGADATAFLOW_DOMAIN, base_op_type
from .runtime_weights import load_runtime_weights
from .settings import Settings
from .uart import SerialLink, UartProtocol

# FINN IODMA (HLS, ap_ctrl_hs) registers, as FINN's zynq-iodma driver uses them
REG_CTRL, REG_ADDR, REG_BATCH = 0x00, 0x10, 0x1C
AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4


class Backend:
    """The hardware side of the DMA."""

    name = "?"

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def run(self, packed_in: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PynqBackend(Backend):
    """The PYNQ board: bitfile loaded with pynq.Overlay, buffers from pynq.allocate."""

    name = "pynq"

    def __init__(
        self,
        settings: Settings,
        download: bool = True,
        timeout_s: float = 10.0,
        verify_weights: bool = True,
    ):
        super().__init__(settings)
        try:
            import pynq
        except ImportError as e:
            raise DriverError(
                f"backend 'pynq' needs the pynq package ({e}); it is part of the PYNQ board image. "
                "Off the board use backend='python' or 'rtlsim'"
            ) from None
        self.pynq = pynq
        bitfile = settings.check_file("bitfile")
        if settings.file("hwh") is not None:
            hwh = settings.check_file("hwh").read_text(errors="replace")
            names = [("DMA", settings.inp.dma), ("DMA", settings.out.dma)]
            names += [("AXI-lite port", e["interface"]) for e in settings.runtime_weights]
            for kind, name in names:
                if name not in hwh:
                    raise DriverError(
                        f"{settings.path}: {kind} {name!r} does not appear in "
                        f"{settings.file('hwh')}; settings.json disagrees with the bitfile, "
                        "regenerate the deployment package"
                    )
        self.overlay = pynq.Overlay(str(bitfile), download=download)
        if settings.fclk_mhz and hasattr(pynq, "Clocks"):
            pynq.Clocks.fclk0_mhz = settings.fclk_mhz
        self.idma = self._ip(settings.inp.dma)
        self.odma = self._ip(settings.out.dma)
        self.axidma = hasattr(self.idma, "sendchannel")
        self.timeout_s = timeout_s
        self._bufs: dict[int, tuple] = {}
        #: layer -> (AXI-lite base address, where it came from) of the weights written
        self.weight_ports: dict[str, tuple[int, str]] = {}
        # URAM weights are not in the bitstream: write them before the first frame
        load_runtime_weights(
            settings.deploy_dir,
            settings.runtime_weights,
            self._weight_port,
            self._flush,
            verify=verify_weights,
        )

    def _weight_port(self, e: dict):
        """The AXI-lite window of a runtime-writeable layer: its address from the bitfile's
        .hwh (``overlay.ip_dict``), else the one settings.json derived from FINN's address
        assignment (checked by the read-back)."""
        ip_dict = getattr(self.overlay, "ip_dict", None) or {}
        # PYNQ's .hwh parser lists an instance with several address ranges as
        # "<instance>/<interface>", one with a single range by its name (a stitched IP's
        # AXI-lite ports are its runtime-writeable layers')
        keys = [f"{e['ip']}/{e['interface']}"]
        if sum(x["ip"] == e["ip"] for x in self.s.runtime_weights) == 1:
            keys.append(e["ip"])
        found = next((ip_dict[k] for k in keys if k in ip_dict), None)
        if found is not None:
            base, size, src = int(found["phys_addr"]), int(found["addr_range"]), "hwh"
        elif e.get("base_address") is not None:
            base, size, src = int(e["base_address"]), 2 ** int(e["addr_width"]), "settings.json"
        else:
            raise DriverError(
                f"{self.s.path}: AXI-lite port {keys[0]} of layer {e['layer']} is not in the "
                "overlay's ip_dict and settings.json has no address for it"
            )
        if size < 4 * int(e["words"]):
            raise DriverError(
                f"layer {e['layer']}: AXI-lite window {size} bytes at 0x{base:x} ({src}) is "
                f"smaller than its {e['words']} weight words"
            )
        self.weight_ports[e["layer"]] = (base, src)
        return self.pynq.MMIO(base, size)

    def _flush(self, frames: int) -> None:
        """Dummy frames: the weight streamers drop what they fetched before the write."""
        self.run(np.zeros((frames, *self.s.inp.packed[1:]), dtype=np.uint8))

    def _ip(self, name: str):
        ip = getattr(self.overlay, name, None)
        if ip is None:
            raise DriverError(
                f"{self.s.path}: DMA {name!r} not found in the overlay {self.s.file('bitfile')} "
                "(settings.json disagrees with the bitfile; regenerate the deployment package)"
            )
        return ip

    def buffers(self, n: int):
        if n not in self._bufs:
            ib = self.pynq.allocate(shape=(n, *self.s.inp.packed[1:]), dtype=np.uint8)
            ob = self.pynq.allocate(shape=(n, *self.s.out.packed[1:]), dtype=np.uint8)
            self._bufs[n] = (ib, ob)
        return self._bufs[n]

    def run(self, packed_in: np.ndarray) -> np.ndarray:
        n = packed_in.shape[0]
        ibuf, obuf = self.buffers(n)
        np.copyto(ibuf, packed_in)
        ibuf.flush()
        if self.axidma:
            self.odma.recvchannel.transfer(obuf)
            self.idma.sendchannel.transfer(ibuf)
            self.idma.sendchannel.wait()
            self.odma.recvchannel.wait()
        else:
            if not self.odma.read(REG_CTRL) & AP_IDLE:
                raise DriverError(f"output DMA {self.s.out.dma} is not idle; reload the overlay")
            for dma, buf in ((self.odma, obuf), (self.idma, ibuf)):
                dma.write(REG_ADDR, buf.device_address)
                dma.write(REG_BATCH, n)
                dma.write(REG_CTRL, AP_START)
            t0 = time.time()
            while not self.odma.read(REG_CTRL) & AP_DONE:
                if time.time() - t0 > self.timeout_s:
                    raise DriverError(
                        f"output DMA {self.s.out.dma} not done after {self.timeout_s} s (batch {n})"
                    )
        obuf.invalidate()
        return np.array(obuf, dtype=np.uint8, copy=True)

    def close(self) -> None:
        for ib, ob in self._bufs.values():
            for b in (ib, ob):
                if hasattr(b, "freebuffer"):
                    b.freebuffer()
        self._bufs.clear()


def load_hw_graph(path: Path):
    """The folded hardware graph as built (``*_hls``/``*_rtl`` nodes), FINN ops registered."""
    import finn.custom_op.fpgadataflow  # noqa: F401
    import finn.custom_op.fpgadataflow.hls  # noqa: F401 - registers the hls ops
    import finn.custom_op.fpgadataflow.rtl  # noqa: F401 - also registers the hw Reshape op
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(path))


def to_base_types(model, path: Path):
    """Map ``*_hls``/``*_rtl`` nodes back to FINN's base node types, which execute in Python
    (finn-plus 1.6.1 has no exec_mode 'python'; specialized nodes need cppsim/rtlsim)."""
    import finn.custom_op.fpgadataflow as fdf

    for node in model.graph.node:
        if not node.domain.startswith(FPGADATAFLOW_DOMAIN):
            raise DriverError(f"{path}: node {node.name} ({node.op_type}) is not a FINN hw node")
        base, domain = base_op_type(node.op_type, node.domain)
        if base not in fdf.custom_op:
            raise DriverError(f"{path}: node {node.name} ({node.op_type}) has no base type")
        node.op_type, node.domain = base, domain
    return model


def graph_streams(model) -> dict:
    """Datatypes and normal/folded shapes of the first and last node of a hw graph (FINN)."""
    from qonnx.custom_op.registry import getCustomOp

    first, last = getCustomOp(model.graph.node[0]), getCustomOp(model.graph.node[-1])
    return {
        "input": {
            "datatype": model.get_tensor_datatype(model.graph.input[0].name).name,
            "shape_normal": [int(i) for i in first.get_normal_input_shape()],
            "shape_folded": [int(i) for i in first.get_folded_input_shape()],
            "stream_width_bits": int(first.get_instream_width_padded()),
        },
        "output": {
            "datatype": model.get_tensor_datatype(model.graph.output[0].name).name,
            "shape_normal": [int(i) for i in last.get_normal_output_shape()],
            "shape_folded": [int(i) for i in last.get_folded_output_shape()],
            "stream_width_bits": int(last.get_outstream_width_padded()),
        },
    }


class PythonBackend(Backend):
    """Software stand-in for the overlay: FINN unpacks, executes the hw graph, FINN packs."""

    name = "python"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        path = settings.check_file("hw_graph")
        try:
            from finn.util.data_packing import (
                finnpy_to_packed_bytearray,
                packed_bytearray_to_finnpy,
            )
            from qonnx.core.datatype import DataType
            from qonnx.core.onnx_exec import execute_onnx
        except ImportError as e:
            raise DriverError(
                f"backend 'python' is a development back end and needs finn-plus and qonnx ({e}); "
                "on the board use backend='pynq'"
            ) from None
        self._pack, self._unpack, self._exec = (
            finnpy_to_packed_bytearray,
            packed_bytearray_to_finnpy,
            execute_onnx,
        )
        dt = settings.inp.dt
        if dt.kind == "fixed" and dt.bits in (8, 16):
            raise DriverError(
                f"backend 'python': accelerator input {dt.name} cannot be unpacked by finn-plus "
                "1.6.1's packed_bytearray_to_finnpy (its 8/16-bit fast path reads FIXED as float32)"
            )
        model = load_hw_graph(path)
        self._check(graph_streams(model), path)
        self.model = to_base_types(model, path)
        self.idt = DataType[settings.inp.dt.name]
        self.odt = DataType[settings.out.dt.name]

    def _check(self, g: dict, path: Path) -> None:
        for port, s in (("input", self.s.inp), ("output", self.s.out)):
            mine = {
                "datatype": s.dt.name,
                "shape_normal": list(s.normal),
                "shape_folded": list(s.folded),
                "stream_width_bits": s.stream_width_bits,
            }
            for k, v in g[port].items():
                if mine[k] != v:
                    raise DriverError(
                        f"{self.s.path}: accelerator.{port}.{k} is {mine[k]} but the hardware graph "
                        f"{path.name} has {v}; regenerate the deployment package"
                    )

    def run(self, packed_in: np.ndarray) -> np.ndarray:
        n = packed_in.shape[0]
        iname, oname = self.model.graph.input[0].name, self.model.graph.output[0].name
        folded = self._unpack(
            np.ascontiguousarray(packed_in),
            self.idt,
            (n, *self.s.inp.folded[1:]),
            reverse_inner=True,
            reverse_endian=True,
        )
        outs = []
        # the graph input may keep the producer's layout (e.g. NHWC) where the first node's
        # normal shape is flat; the row-major data are the same
        in_shape = self.model.get_tensor_shape(iname) or self.s.inp.normal
        for i in range(n):  # FINN's hw nodes execute one frame at a time
            x = folded[i : i + 1].reshape(in_shape)
            y = self._exec(self.model, {iname: x})[oname]
            outs.append(np.asarray(y, dtype=np.float32).reshape(self.s.out.folded))
        out = np.concatenate(outs, axis=0)
        packed = self._pack(out, self.odt, reverse_inner=True, reverse_endian=True)
        return np.ascontiguousarray(packed, dtype=np.uint8)


class RtlsimBackend(Backend):
    """fewerbits' stitched simulation of the accelerator (issue 6), with the simulator back end
    ``simulator`` (a name of ``fewerbits.hw.sim.backend_names()``; None: its default)."""

    name = "rtlsim"

    def __init__(
        self,
        settings: Settings,
        build_dir: Path | str | None = None,
        simulator: str | None = None,
    ) -> None:
        super().__init__(settings)
        reason = rtlsim_unavailable(simulator)
        if reason:
            raise DriverError(reason)
        # lazy: this package is copied into deployment packages that have numpy only;
        # fewerbits (and FINN behind it) is needed by this development back end alone
        from fewerbits.hw.rtlsim.api import StitchedSimulator

        build = Path(build_dir) if build_dir else self._find_build()
        kw = {} if simulator is None else {"simulator": simulator}
        self.board: SerialBackend | None = None
        if settings.raw.get("link"):  # a board package: simulate the whole board top
            from fewerbits.hw.board.sim import SimulatedBoard

            self.board = SerialBackend(settings, link=SimulatedBoard(build, **kw))
            return
        self.sim = StitchedSimulator(build, **kw)

    def _find_build(self) -> Path:
        cands = [self.s.deploy_dir.parent, Path(self.s.raw.get("build_dir", ""))]
        for c in cands:
            if (c / "intermediate_models").is_dir():
                return c
        raise DriverError(
            f"backend 'rtlsim' needs the build folder next to {self.s.deploy_dir} "
            "(BUILD/intermediate_models); pass build_dir="
        )

    def run(self, packed_in: np.ndarray) -> np.ndarray:
        if self.board is not None:
            return self.board.run(packed_in)
        n = packed_in.shape[0]
        i, o = self.s.inp, self.s.out
        words = np.ascontiguousarray(packed_in).reshape(n, i.words, i.packed[-1])
        out = np.asarray(self.sim.run_packed(words))
        want = (n, o.words, o.packed[-1])
        if out.shape != want or out.dtype != np.uint8:
            raise DriverError(
                f"rtlsim returned {out.dtype} {list(out.shape)}, settings.json expects uint8 {list(want)}"
            )
        return out.reshape(n, *o.packed[1:])

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


class SerialBackend(Backend):
    """An open-FPGA board over its UART: ``port`` (e.g. /dev/ttyUSB0) opened with pyserial at
    settings.json's ``link.baud``, or any other :class:`~.uart.Link` given as ``link`` (the
    rtlsim back end passes the simulated board top). Resets the board with a break and checks
    its INFO against settings.json before the first frame."""

    name = "serial"

    def __init__(
        self,
        settings: Settings,
        port: str | None = None,
        link=None,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(settings)
        spec = settings.raw.get("link")
        if not spec:
            raise DriverError(
                f"{settings.path}: backend 'serial' needs an open-FPGA board package "
                f"(settings.json has no link; board {settings.raw.get('board')!r})"
            )
        if link is None:
            if not port:
                raise DriverError("backend 'serial' needs --port (e.g. /dev/ttyUSB0)")
            settings.check_file("bitfile")
            frame = max(settings.inp.frame_bytes, settings.out.frame_bytes)
            # a whole batch each way at the line rate (10 bits a byte), twice, plus a second
            t = timeout_s or 1.0 + 2 * 10 * frame * spec["max_batch"] / spec["baud"]
            link = SerialLink(port, spec["baud"], t)
        self.link = link
        self.proto = UartProtocol(link, spec)
        self.info = self.proto.reset()

    def run(self, packed_in: np.ndarray) -> np.ndarray:
        n = packed_in.shape[0]
        out = self.proto.run(packed_in, self.s.out.frame_bytes)
        return out.reshape(n, *self.s.out.packed[1:])

    def close(self) -> None:
        self.link.close()


def rtlsim_unavailable(simulator: str | None = None) -> str | None:
    """None if the rtlsim back end can be used with ``simulator`` (None: the default one),
    else the one-line reason."""
    # lazy, as in RtlsimBackend: fewerbits is not part of a deployment package
    try:
        from fewerbits.hw.rtlsim.api import StitchedSimulator  # noqa: F401
        from fewerbits.hw.sim import DEFAULT_SIMULATOR, RtlSimError, get_backend
    except ImportError as e:
        return (
            "backend 'rtlsim' needs fewerbits' stitched Verilator simulator "
            f"(fewerbits.hw.rtlsim.api.StitchedSimulator), not importable here: {e}"
        )
    name = simulator or DEFAULT_SIMULATOR
    try:
        reason = get_backend(name).available()
    except RtlSimError as e:
        return f"backend 'rtlsim': {e}"
    return f"backend 'rtlsim' needs simulator {name!r}: {reason}" if reason else None


def backend_unavailable(name: str, simulator: str | None = None) -> str | None:
    """None if back end ``name`` can run here, else the one-line reason (no hardware is touched);
    ``simulator`` is the rtlsim back end's simulator (None: the default one)."""
    if name == "rtlsim":
        return rtlsim_unavailable(simulator)
    mods = {
        "pynq": ("pynq",),
        "python": ("finn.util.data_packing", "qonnx.core.onnx_exec"),
        "serial": ("serial",),
    }
    if name not in mods:
        return f"backend {name!r} unknown; choose one of {', '.join(BACKENDS)}"
    import importlib

    for mod in mods[name]:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            need = {
                "pynq": "the pynq package (PYNQ board image)",
                "serial": "pyserial (pip install pyserial)",
            }.get(name, "finn-plus and qonnx")
            return f"backend {name!r} needs {need}: {e}"
    return None


#: every back end by name; BACKENDS is the list the CLIs offer
BACKEND_CLASSES: dict[str, type[Backend]] = {
    cls.name: cls for cls in (PynqBackend, PythonBackend, RtlsimBackend, SerialBackend)
}
BACKENDS = tuple(BACKEND_CLASSES)


def make_backend(name: str, settings: Settings, **kw) -> Backend:
    if name not in BACKEND_CLASSES:
        raise DriverError(f"backend {name!r} unknown; choose one of {', '.join(BACKENDS)}")
    return BACKEND_CLASSES[name](settings, **kw)
