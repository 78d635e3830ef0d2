"""Runtime-writeable weights: written over AXI-lite before the first frame (numpy only).

A layer whose weights FINN keeps in a memory with no bitstream initialisation (UltraRAM on
UltraScale+: ``ram_style="ultra"``, ``runtime_writeable_weights=1``) starts with an empty
weight memory. FINN's memstream (finn-rtllib ``memstream_axi`` behind ``axilite``) maps memory
line ``i`` of width W to the 32-bit words ``i * F .. i * F + F - 1`` (``F = 2**ceil(log2(W / 32))``,
least significant word first; byte address ``4 * word``); a line is stored when its last word
that holds data is written, and reads return the stored words (a line is read at its word 0, so
words are read back in order). The weight file is FINN's ``make_weight_file(...,
"decoupled_runtime")``: one 32-bit hex word a line, in that order.

What the driver does for each layer, in the order of settings.json ``runtime_weights``
(:func:`load_runtime_weights`): write every word at its offset, read all of them back and
compare (``verify``), then run dummy frames through the accelerator so the words the weight
streamer fetched before the write (its read-ahead, up to :data:`STALE_WORDS`) are consumed.
``bus`` is anything with ``write(offset, value)`` and ``read(offset)`` on 32-bit words at byte
offsets: ``pynq.MMIO`` on the board, a simulated AXI-lite port in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import DriverError
from .settings import sha256

#: words a memstream may hold before the weights are written: its output credit (finn-rtllib
#: memstream.sv FULL_CREDIT = 8) plus the output register, with margin for the layer's own
#: input register; the flush consumes at least this many words of every weight stream
STALE_WORDS = 16


class AxiLite(Protocol):
    """A 32-bit AXI-lite window: byte offsets, one word per call (``pynq.MMIO``)."""

    def write(self, offset: int, value: int) -> None: ...

    def read(self, offset: int) -> int: ...


def read_weight_file(path: Path) -> np.ndarray:
    """FINN's decoupled_runtime weight file -> uint32 words, or DriverError naming the line."""
    words = []
    for k, line in enumerate(Path(path).read_text().split(), start=1):
        try:
            v = int(line, 16)
        except ValueError:
            raise DriverError(f"{path}:{k}: {line[:20]!r} is not a hex word") from None
        if not 0 <= v < 1 << 32:
            raise DriverError(f"{path}:{k}: {line[:20]!r} does not fit in 32 bits")
        words.append(v)
    if not words:
        raise DriverError(f"{path}: no weight words")
    return np.asarray(words, dtype=np.uint32)


def write_words(bus: AxiLite, words: np.ndarray) -> None:
    """Every word at its byte offset ``4 * index``, in order (a line commits on its last word)."""
    for i, w in enumerate(np.asarray(words, dtype=np.uint32).tolist()):
        bus.write(4 * i, w)


def read_words(bus: AxiLite, n: int) -> np.ndarray:
    """The first ``n`` words, read in order."""
    return np.asarray([int(bus.read(4 * i)) & 0xFFFFFFFF for i in range(n)], dtype=np.uint32)


def verify_words(bus: AxiLite, words: np.ndarray, layer: str) -> None:
    """Read back and compare, or DriverError naming the layer and the first differing word."""
    back = read_words(bus, len(words))
    bad = np.flatnonzero(back != words)
    if bad.size:
        i = int(bad[0])
        raise DriverError(
            f"runtime weights of layer {layer}: word {i} (offset 0x{4 * i:x}) reads back "
            f"0x{int(back[i]):08x}, wrote 0x{int(words[i]):08x} ({bad.size} of {len(words)} "
            "words differ); wrong AXI-lite address or the bitfile is not this package's"
        )


def flush_frames(entries: list[dict]) -> int:
    """Dummy frames that consume :data:`STALE_WORDS` words of every layer's weight stream
    (a frame reads a layer's ``depth`` memory lines at least once)."""
    return max([1] + [-(-STALE_WORDS // max(1, int(e["depth"]))) for e in entries])


def load_runtime_weights(
    deploy_dir: Path,
    entries: list[dict],
    bus_for: Callable[[dict], AxiLite],
    run_frames: Callable[[int], object] | None = None,
    verify: bool = True,
) -> list[str]:
    """Write each layer's weight file (settings.json ``runtime_weights``) into the AXI-lite
    window ``bus_for(entry)``, verify by read-back, then ``run_frames(n)`` dummy frames to
    flush stale weights. The layers' names, in order."""
    done = []
    for e in entries:
        path = Path(deploy_dir) / e["path"]
        if not path.is_file():
            raise DriverError(f"weight file {path} is missing; copy the whole deploy/ folder")
        if e.get("sha256") and sha256(path) != e["sha256"]:
            raise DriverError(
                f"{path} differs from the file this package was written with (sha256); "
                "regenerate the deployment package"
            )
        words = read_weight_file(path)
        if len(words) != int(e["words"]):
            raise DriverError(
                f"{e['path']}: {len(words)} words, settings.json says {e['words']}; "
                "regenerate the deployment package"
            )
        bus = bus_for(e)
        write_words(bus, words)
        if verify:
            verify_words(bus, words, e["layer"])
        done.append(e["layer"])
    if entries and run_frames is not None:
        run_frames(flush_frames(entries))
    return done
