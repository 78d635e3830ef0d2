"""settings.json of a deployment package: loading and consistency checks (numpy only).

Layout (written by ``fewerbits.hw.deploy``)::

    {"format": "fewerbits-deploy/1",
     "model":  {"input": {"shape", "datatype"}, "output": {"shape", "datatype"}},
     "accelerator": {"input":  {"dma", "datatype", "shape_normal", "shape_folded",
                                "shape_packed", "stream_width_bits"},
                     "output": {... same ...}},
     "host": {"pre": [ops], "post": [ops]},
     "batch": {"max": N}, "fclk_mhz": F, "platform": "zynq-iodma", "board": "...",
     "files": {"hw_graph" | "bitfile" | "hwh": {"path", "sha256"} | null},
     "runtime_weights": [{"layer", "path", "sha256", "words", "ip", "interface",
                          "addr_width", "base_address", "depth", ...}],
     "build_dir": "..."}

``runtime_weights`` lists the layers whose weights the driver writes over AXI-lite before the
first frame (URAM weights; :mod:`.runtime_weights`), in graph order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import hostops
from .datatypes import DataTypeError, DType, parse
from .errors import DriverError
from .packing import packed_bytes

SETTINGS_JSON = "settings.json"
FORMAT = "fewerbits-deploy/1"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Stream:
    """One accelerator port: what the DMA moves per frame."""

    dma: str
    dt: DType
    normal: tuple[int, ...]
    folded: tuple[int, ...]
    packed: tuple[int, ...]
    stream_width_bits: int

    @property
    def frame_bytes(self) -> int:
        return int(np.prod(self.packed[1:]))

    @property
    def words(self) -> int:
        return int(np.prod(self.folded[1:-1]))


@dataclass
class Settings:
    """A validated settings.json."""

    path: Path
    raw: dict
    model_in: tuple[tuple[int, ...], DType]
    model_out: tuple[tuple[int, ...], DType]
    inp: Stream
    out: Stream
    pre: list[dict]
    post: list[dict]
    max_batch: int
    fclk_mhz: float | None

    @property
    def runtime_weights(self) -> list[dict]:
        """Layers whose weights the driver writes at start-up (checked by load_settings)."""
        return list(self.raw.get("runtime_weights") or [])

    @property
    def deploy_dir(self) -> Path:
        return self.path.parent

    def file(self, key: str) -> Path | None:
        """Absolute path of a packaged file (``hw_graph``, ``bitfile``, ``hwh``) or None."""
        entry = (self.raw.get("files") or {}).get(key)
        return None if not entry else self.deploy_dir / entry["path"]

    def check_file(self, key: str) -> Path:
        """The packaged file, checked against the sha256 recorded in settings.json."""
        entry = (self.raw.get("files") or {}).get(key)
        if not entry:
            raise DriverError(f"{self.path}: no {key} in this deployment package")
        p = self.deploy_dir / entry["path"]
        if not p.is_file():
            raise DriverError(
                f"{self.path}: {key} file {p} is missing; copy the whole deploy/ folder"
            )
        if entry.get("sha256") and sha256(p) != entry["sha256"]:
            raise DriverError(
                f"{self.path} was written for a different {key} than {p} (sha256 differs); "
                "regenerate the deployment package from the build that produced this file"
            )
        return p


def _shape(d: dict, key: str, where: str) -> tuple[int, ...]:
    v = d.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and i > 0 for i in v):
        raise DriverError(f"{where}.{key} must be a list of positive integers, got {v!r}")
    return tuple(v)


def _stream(d: dict, where: str) -> Stream:
    try:
        dt = parse(d["datatype"])
    except (KeyError, DataTypeError) as e:
        raise DriverError(f"{where}.datatype: {e}") from None
    s = Stream(
        dma=str(d.get("dma", "")),
        dt=dt,
        normal=_shape(d, "shape_normal", where),
        folded=_shape(d, "shape_folded", where),
        packed=_shape(d, "shape_packed", where),
        stream_width_bits=int(d.get("stream_width_bits", 0)),
    )
    if int(np.prod(s.normal)) != int(np.prod(s.folded)):
        raise DriverError(
            f"{where}: shape_normal {list(s.normal)} and shape_folded {list(s.folded)} hold different numbers of values"
        )
    want_packed = (*s.folded[:-1], packed_bytes(s.folded[-1], dt))
    if s.packed != want_packed:
        raise DriverError(
            f"{where}: shape_packed {list(s.packed)} does not match shape_folded {list(s.folded)} "
            f"of {dt.name} (expected {list(want_packed)})"
        )
    if s.stream_width_bits and s.stream_width_bits != 8 * s.packed[-1]:
        raise DriverError(
            f"{where}: stream_width_bits {s.stream_width_bits} != 8 x {s.packed[-1]} packed bytes per word"
        )
    return s


def load_settings(deploy_dir: Path | str) -> Settings:
    """Read and check ``DEPLOY_DIR/settings.json`` (shapes, datatypes, host ops)."""
    path = Path(deploy_dir) / SETTINGS_JSON
    if not path.is_file():
        raise DriverError(f"{path} not found; pass a deployment package folder (BUILD/deploy)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DriverError(f"{path}: not valid JSON ({e})") from None
    if raw.get("format") != FORMAT:
        raise DriverError(f"{path}: format {raw.get('format')!r}, this driver reads {FORMAT!r}")
    acc, model = raw.get("accelerator") or {}, raw.get("model") or {}
    if "input" not in acc or "output" not in acc:
        raise DriverError(f"{path}: accelerator.input/output missing")
    inp = _stream(acc["input"], f"{path.name} accelerator.input")
    out = _stream(acc["output"], f"{path.name} accelerator.output")
    mi = (_shape(model["input"], "shape", "model.input"), parse(model["input"]["datatype"]))
    mo = (_shape(model["output"], "shape", "model.output"), parse(model["output"]["datatype"]))
    host = raw.get("host") or {}
    pre, post = list(host.get("pre", [])), list(host.get("post", []))
    # the host ops must turn the model's input shape into the accelerator's and back
    for ops, src, dst, name in ((pre, mi[0], inp.normal, "pre"), (post, out.normal, mo[0], "post")):
        try:
            got = hostops.apply_ops(ops, np.zeros(src, np.float32)).shape
        except (ValueError, KeyError) as e:
            raise DriverError(f"{path}: host.{name} ops fail on shape {list(src)}: {e}") from None
        if tuple(got) != tuple(dst):
            raise DriverError(
                f"{path}: host.{name} ops turn shape {list(src)} into {list(got)}, expected {list(dst)}"
            )
    max_batch = int((raw.get("batch") or {}).get("max", 1))
    if max_batch < 1:
        raise DriverError(f"{path}: batch.max must be >= 1")
    _check_runtime_weights(raw.get("runtime_weights"), path)
    fclk = raw.get("fclk_mhz")
    return Settings(path, raw, mi, mo, inp, out, pre, post, max_batch, fclk)


#: keys every settings.json runtime_weights entry has
RUNTIME_WEIGHT_KEYS = ("layer", "path", "words", "ip", "interface", "addr_width", "depth")


def _check_runtime_weights(entries, path: Path) -> None:
    if entries in (None, []):
        return
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DriverError(f"{path}: runtime_weights must be a list of layer entries")
    for k, e in enumerate(entries):
        missing = [key for key in RUNTIME_WEIGHT_KEYS if key not in e]
        if missing:
            raise DriverError(
                f"{path}: runtime_weights[{k}] ({e.get('layer', '?')}) lacks {', '.join(missing)}; "
                "regenerate the deployment package"
            )
        if 4 * int(e["words"]) > 2 ** int(e["addr_width"]):
            raise DriverError(
                f"{path}: runtime_weights[{k}] ({e['layer']}): {e['words']} words do not fit "
                f"its {2 ** int(e['addr_width'])}-byte AXI-lite window"
            )
