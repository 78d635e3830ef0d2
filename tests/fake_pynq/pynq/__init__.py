"""A stand-in for the ``pynq`` package (tests only: there is no PYNQ board here).

It implements the parts the driver uses - ``Overlay`` (IP attributes by name), ``allocate``
(buffers with ``device_address``, ``flush``, ``invalidate``), ``Clocks`` - and the hardware
behind the DMA engines, so the driver's real ``pynq`` back end code runs unchanged:

- FINN IODMA register protocol (default): writes to 0x10 (buffer address), 0x1C (batch) and
  0x00 (ap_start) on both DMAs start the "accelerator"; 0x00 then reads ap_done | ap_idle.
- AXI DMA (``FAKE_PYNQ_DMA=axi``): ``sendchannel`` / ``recvchannel`` ``transfer`` / ``wait``.

The accelerator is ``FAKE_PYNQ_HW``:
- ``python`` (default): the driver's ``python`` back end run on the buffer found at the DMA
  address (FINN unpacks, the folded hardware graph executes, FINN packs);
- ``recorded:FILE.npz``: replay of ``packed_in``/``packed_out`` recorded from the python back
  end (for a venv without FINN); an input buffer that differs from the recording raises.
- ``axilite-rtlsim``: the package's hw graph (a chain of RTL layers) in Verilator with the
  weight memories of its runtime-writeable layers empty (fewerbits.hw.rtlsim.axilite), their
  AXI-lite ports in ``Overlay.ip_dict`` (as PYNQ lists them from the .hwh, at addresses of the
  stand-in's own from ``FAKE_PYNQ_AXILITE_BASE``, 64 KiB apart; not listed with
  ``FAKE_PYNQ_HWH_PORTS=0``) and behind ``MMIO``, so the driver's weight writes reach them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__version__ = "0.0-fewerbits-test-stand-in"
_MEMORY: dict[int, np.ndarray] = {}
_NEXT = [0x1000_0000]
LOG: list[str] = []


class PynqBuffer(np.ndarray):
    """A contiguous buffer "in DDR", addressed by device_address."""

    def flush(self) -> None:
        LOG.append("flush")

    def invalidate(self) -> None:
        LOG.append("invalidate")

    def freebuffer(self) -> None:
        _MEMORY.pop(getattr(self, "device_address", -1), None)


def allocate(shape, dtype=np.uint8, **_kw) -> PynqBuffer:
    buf = np.zeros(shape, dtype=dtype).view(PynqBuffer)
    buf.device_address = _NEXT[0]
    _NEXT[0] += (buf.nbytes + 4095) // 4096 * 4096
    _MEMORY[buf.device_address] = buf
    return buf


class Clocks:
    fclk0_mhz = 100.0


#: AXI-lite windows of the overlay: (base, size, port with write(offset, v) / read(offset))
_WINDOWS: list[tuple[int, int, object]] = []


class MMIO:
    """pynq.MMIO(base, length): 32-bit reads/writes at byte offsets of a mapped window."""

    def __init__(self, base_addr: int, length: int = 4, **_kw) -> None:
        for base, size, port in _WINDOWS:
            if base <= base_addr and base_addr + length <= base + size:
                self.port, self.offset = port, base_addr - base
                LOG.append(f"mmio 0x{base_addr:x} {length}")
                return
        raise RuntimeError(f"fake pynq: nothing mapped at 0x{base_addr:x} (+{length})")

    def write(self, offset: int, value: int) -> None:
        if offset % 4 or not 0 <= int(value) < 1 << 32:
            raise ValueError(f"fake pynq: MMIO write of {value!r} at offset {offset}")
        self.port.write(self.offset + offset, int(value))

    def read(self, offset: int, length: int = 4) -> int:
        return self.port.read(self.offset + offset)


class _AxiLiteHW:
    """The accelerator in Verilator with empty URAM weight memories and their AXI-lite ports."""

    def __init__(self, deploy_dir: Path, overlay) -> None:
        from fewerbits.hw.driver.backends import load_hw_graph
        from fewerbits.hw.driver.settings import load_settings
        from fewerbits.hw.rtlsim.axilite import AxiLiteSim

        s = load_settings(deploy_dir)
        self.s, self.sim = s, AxiLiteSim(load_hw_graph(s.check_file("hw_graph")))
        if [e["layer"] for e in s.runtime_weights] != self.sim.ports:
            raise RuntimeError("fake pynq: settings.json runtime_weights != the design's ports")
        base = int(os.environ.get("FAKE_PYNQ_AXILITE_BASE", "0xB0010000"), 0)
        _WINDOWS.clear()
        for j, e in enumerate(s.runtime_weights):
            size = max(4096, 2 ** int(e["addr_width"]))
            _WINDOWS.append((base + j * 0x10000, size, self.sim.port(j)))
            # PYNQ's hwh parser keys an instance with one address range by its name, one with
            # several by "<name>/<interface>" (pynq/pl_server/hwh_parser.py _parse_ip_dict)
            alone = sum(x["ip"] == e["ip"] for x in s.runtime_weights) == 1
            key = e["ip"] if alone else f"{e['ip']}/{e['interface']}"
            if os.environ.get("FAKE_PYNQ_HWH_PORTS", "1") == "1":  # "0": a .hwh without them
                overlay.ip_dict[key] = {"phys_addr": base + j * 0x10000, "addr_range": size}

    def __call__(self, packed: np.ndarray) -> np.ndarray:
        n, i, o = packed.shape[0], self.s.inp, self.s.out
        words = np.ascontiguousarray(packed).reshape(n * i.words, i.packed[-1])
        out = self.sim.stream(words, n * o.words)
        LOG.append(f"rtlsim frames {n}")
        return out.reshape(n, *o.packed[1:])


def _hardware(deploy_dir: Path, overlay):
    spec = os.environ.get("FAKE_PYNQ_HW", "python")
    if spec == "axilite-rtlsim":
        return _AxiLiteHW(deploy_dir, overlay)
    if spec.startswith("recorded:"):
        with np.load(spec.split(":", 1)[1]) as rec:
            pin, pout = rec["packed_in"], rec["packed_out"]

        def replay(packed):
            n = packed.shape[0]
            for start in range(0, pin.shape[0] - n + 1):
                if np.array_equal(pin[start : start + n], packed):
                    return pout[start : start + n]
            raise RuntimeError("fake pynq: input buffer differs from the recorded packed input")

        return replay
    from fewerbits.hw.driver.backends import PythonBackend
    from fewerbits.hw.driver.settings import load_settings

    return PythonBackend(load_settings(deploy_dir)).run


class _Channel:
    def __init__(self, ip, kind):
        self.ip, self.kind, self.buf = ip, kind, None

    def transfer(self, buf):
        self.buf = buf
        self.ip.overlay._maybe_run_axi()

    def wait(self):
        pass


class _DMA:
    def __init__(self, overlay, name, axi):
        self.overlay, self.name, self.regs = overlay, name, {0x00: 0x4}
        if axi:
            self.sendchannel, self.recvchannel = _Channel(self, "send"), _Channel(self, "recv")

    def read(self, offset):
        return self.regs.get(offset, 0)

    def write(self, offset, value):
        self.regs[offset] = int(value)
        if offset == 0x00 and value & 0x1:
            self.regs[0x00] = 0x1
            self.overlay._maybe_run_iodma()


class Overlay:
    def __init__(self, bitfile, download=True, **_kw):
        bitfile = Path(bitfile)
        if not bitfile.is_file():
            raise OSError(f"fake pynq: bitfile {bitfile} not found")
        import json

        LOG.append(f"overlay {bitfile.name} download={download}")
        deploy = bitfile.parent.parent
        acc = json.loads((deploy / "settings.json").read_text())["accelerator"]
        axi = os.environ.get("FAKE_PYNQ_DMA") == "axi"
        self.idma_name, self.odma_name = acc["input"]["dma"], acc["output"]["dma"]
        setattr(self, self.idma_name, _DMA(self, self.idma_name, axi))
        setattr(self, self.odma_name, _DMA(self, self.odma_name, axi))
        self.ip_dict: dict[str, dict] = {}
        self.hw = _hardware(deploy, self)

    def _maybe_run_iodma(self):
        i, o = getattr(self, self.idma_name), getattr(self, self.odma_name)
        if not (i.regs[0x00] & 0x1 and o.regs[0x00] & 0x1):
            return
        n = i.regs[0x1C]
        if o.regs[0x1C] != n:
            raise RuntimeError("fake pynq: idma and odma got different batch sizes")
        ibuf, obuf = _MEMORY[i.regs[0x10]], _MEMORY[o.regs[0x10]]
        np.copyto(obuf[:n], self.hw(np.asarray(ibuf[:n])))
        LOG.append(f"iodma batch {n}")
        i.regs[0x00] = o.regs[0x00] = 0x2 | 0x4

    def _maybe_run_axi(self):
        i, o = getattr(self, self.idma_name), getattr(self, self.odma_name)
        ibuf, obuf = i.sendchannel.buf, o.recvchannel.buf
        if ibuf is None or obuf is None:
            return
        np.copyto(obuf, self.hw(np.asarray(ibuf)))
        LOG.append(f"axi batch {ibuf.shape[0]}")
        i.sendchannel.buf = o.recvchannel.buf = None
