"""The driver: ``Accelerator(deploy_dir, backend).execute(batch)``.

One code path for every back end: check the batch -> host pre-processing -> fold -> pack ->
back end (the DMA) -> unpack -> unfold -> host post-processing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import hostops
from .backends import make_backend
from .datatypes import DType
from .errors import DriverError
from .packing import pack, unpack
from .settings import Settings, load_settings

_INT_KINDS = ("u", "i", "b")


def random_frames(dt: DType, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random values of datatype ``dt`` (for throughput tests)."""
    rng = np.random.default_rng(seed)
    if dt.kind == "float":
        return rng.standard_normal(shape).astype(np.float32)
    if dt.kind == "bipolar":
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    lo, hi = dt.min() / dt.scale, dt.max() / dt.scale
    return (rng.integers(int(lo), int(hi) + 1, size=shape) * dt.scale).astype(np.float32)


class Accelerator:
    """A deployed accelerator behind one of the back ends ``pynq``, ``python``, ``rtlsim``."""

    def __init__(self, deploy_dir: Path | str, backend: str = "pynq", **backend_kw) -> None:
        self.settings: Settings = load_settings(deploy_dir)
        self.backend = make_backend(backend, self.settings, **backend_kw)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one frame (without the batch dimension)."""
        return self.settings.model_in[0][1:]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.settings.model_out[0][1:]

    def check_input(self, batch: np.ndarray) -> np.ndarray:
        """The batch as float32, or DriverError naming what is wrong (shape, dtype, range)."""
        shape, dt = self.settings.model_in
        batch = np.asarray(batch)
        if batch.dtype.kind not in (*_INT_KINDS, "f"):
            raise DriverError(
                f"input dtype {batch.dtype} not accepted; pass uint8/int/float numbers"
            )
        if batch.shape == tuple(shape[1:]):
            batch = batch[None]
        if batch.ndim != len(shape) or batch.shape[1:] != tuple(shape[1:]) or batch.shape[0] < 1:
            raise DriverError(
                f"input shape {list(batch.shape)} does not match the model input "
                f"[N, {', '.join(map(str, shape[1:]))}]"
            )
        ok = dt.allowed(batch)
        if not ok.all():
            bad = np.argwhere(~ok)[0]
            raise DriverError(
                f"input value {batch[tuple(bad)].item()!r} at index {bad.tolist()} is not a {dt.name} "
                f"value (range {dt.min():g}..{dt.max():g}{', integers' if dt.is_integer else ''})"
            )
        return batch.astype(np.float32)

    def pack_input(self, x: np.ndarray) -> np.ndarray:
        """Model-input batch -> packed DMA input buffer ``uint8 (N, *shape_packed[1:])``."""
        s = self.settings
        x = hostops.apply_ops(s.pre, x)
        if not s.inp.dt.allowed(x).all():
            raise DriverError(
                f"{s.path}: host pre-processing produced values outside {s.inp.dt.name}"
            )
        folded = x.reshape(x.shape[0], *s.inp.folded[1:])
        return pack(folded, s.inp.dt)

    def unpack_output(self, packed: np.ndarray) -> np.ndarray:
        s = self.settings
        n = packed.shape[0]
        folded = unpack(packed, s.out.dt, (n, *s.out.folded[1:]))
        y = folded.reshape(n, *s.out.normal[1:])
        return hostops.apply_ops(s.post, y)

    def execute_packed(self, packed_in: np.ndarray) -> np.ndarray:
        """Packed input buffer -> packed output buffer, in chunks of at most batch.max frames."""
        s = self.settings
        outs = []
        for i in range(0, packed_in.shape[0], s.max_batch):
            chunk = packed_in[i : i + s.max_batch]
            out = np.asarray(self.backend.run(chunk))
            want = (chunk.shape[0], *s.out.packed[1:])
            if out.shape != want or out.dtype != np.uint8:
                raise DriverError(
                    f"back end {self.backend.name} returned {out.dtype} {list(out.shape)}, "
                    f"settings.json expects uint8 {list(want)}"
                )
            outs.append(out)
        return np.concatenate(outs, axis=0)

    def execute(self, batch: np.ndarray) -> np.ndarray:
        """Outputs for a batch (N, *input_shape) of uint8/float inputs."""
        x = self.check_input(batch)
        return self.unpack_output(self.execute_packed(self.pack_input(x)))

    def throughput_test(self, batch_size: int | None = None) -> dict:
        """Frames/s, latency and bytes moved for one batch of random valid frames."""
        s = self.settings
        n = int(batch_size or s.max_batch)
        frames = random_frames(s.inp.dt, (n, *s.inp.folded[1:]))
        t0 = time.perf_counter()
        packed = pack(frames, s.inp.dt)
        t_pack = time.perf_counter() - t0
        self.execute_packed(packed[:1])  # warm-up (buffers, first call)
        t0 = time.perf_counter()
        self.execute_packed(packed[:1])
        latency = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = self.execute_packed(packed)
        runtime = time.perf_counter() - t0
        t0 = time.perf_counter()
        unpack(out, s.out.dt, (n, *s.out.folded[1:]))
        t_unpack = time.perf_counter() - t0
        bytes_in, bytes_out = int(packed.nbytes), int(out.nbytes)
        return {
            "backend": self.backend.name,
            "batch_size": n,
            "runtime_ms": runtime * 1e3,
            "frames_per_s": n / runtime,
            "latency_ms": latency * 1e3,
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "in_mb_per_s": bytes_in / runtime / 1e6,
            "out_mb_per_s": bytes_out / runtime / 1e6,
            "pack_ms": t_pack * 1e3,
            "unpack_ms": t_unpack * 1e3,
            "fclk_mhz": s.fclk_mhz,
        }

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
