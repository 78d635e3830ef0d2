"""Quantization-aware training: ``checkpoint.pt`` + ``train.json`` from a TrainConfig.

Adam with a per-step cosine learning-rate schedule, cross-entropy loss, one tqdm bar per epoch
showing loss and accuracy. The checkpoint is written (atomically) after every epoch and holds
the optimizer, scheduler and RNG state, so ``resume=True`` continues an interrupted run exactly
where it stopped: on CPU the resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from fewerbits.core import ownership
from fewerbits.core.artifacts import TrainDir
from fewerbits.core.config import TrainConfig
from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.files import sha256_json, write_atomic, write_json

from .datasets import Dataset, load_dataset
from .models import SCHEME_ARGUMENTS, ZOO, build_model, factory_arguments
from .schemes import NOT_DEPLOYABLE_HINT, Scheme, make_scheme

CHECKPOINT = TrainDir.CHECKPOINT
TRAIN_JSON = TrainDir.INFO
CHECKPOINT_FORMAT = 1
#: config fields that may differ between a checkpoint and a resumed run
RESUMABLE_CHANGES = ("epochs", "device", "data_file", "threads")


class TrainError(FewerbitsError):
    """Training that cannot start (bad device, unusable checkpoint to resume); one line."""


class TrainOptionError(TrainError, UsageError):
    """A training option out of range (exit 2)."""


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainOptionError("--device cuda: no CUDA device is available here; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise TrainOptionError(f"--device {name!r}: choose cpu or cuda")
    return torch.device(name)


def evaluate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 500, device: str = "cpu"
) -> float:
    """Top-1 accuracy on uint8 images."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch].astype(np.float32)).to(device)
            out = model(xb)
            correct += int((out.argmax(1).cpu().numpy() == y[i : i + batch]).sum())
    return correct / max(len(x), 1)


def cosine_schedule(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler:
    """lr(step) = lr0 * (1 + cos(pi * step / total)) / 2, in closed form (resume-safe)."""
    total = max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    )


def set_schedule_step(sched, opt: torch.optim.Optimizer, step: int) -> None:
    """Move a LambdaLR schedule to ``step`` (after loading an optimizer state)."""
    sched.last_epoch = step
    lrs = [base * fn(step) for base, fn in zip(sched.base_lrs, sched.lr_lambdas, strict=True)]
    for group, lr in zip(opt.param_groups, lrs, strict=True):
        group["lr"] = lr
    sched._last_lr = lrs


def stats_state(model: nn.Module) -> dict:
    """Brevitas runtime-stats quantizers keep a step counter and a stats buffer outside the
    state dict (loading a state dict ends their stats collection): save them raw, for resume."""
    state = {}
    for name, m in model.named_modules():
        if isinstance(getattr(m, "counter", None), int):
            state[name] = {
                "counter": m.counter,
                "buffers": {
                    k: b.detach().cpu().clone() for k, b in m._buffers.items() if b is not None
                },
                "params": {
                    k: p.detach().cpu().clone() for k, p in m._parameters.items() if p is not None
                },
            }
    return state


def restore_stats_state(model: nn.Module, state: dict) -> None:
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, st in state.items():
            m = modules[name]
            m.counter = st["counter"]
            for k, v in st["buffers"].items():
                m._buffers[k].copy_(v)
            for k, v in st["params"].items():
                m._parameters[k].copy_(v)


def _resolve_model_spec(spec: str) -> str:
    """User models are recorded with an absolute path so the checkpoint rebuilds anywhere."""
    if spec in ZOO or ":" not in spec:
        return spec
    path, _, func = spec.rpartition(":")
    p = Path(path)
    return f"{p.resolve()}:{func}" if p.is_file() else spec


def rebuild(checkpoint: dict) -> nn.Module:
    """Rebuild the model recorded in a checkpoint dict and load its weights (eval mode)."""
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in known})
    scheme = make_scheme(cfg.scheme, cfg.wbits, cfg.abits)
    model = build_model(
        cfg.model, scheme, tuple(checkpoint["input_shape"]), checkpoint["classes"], cfg.width
    )
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model


def read_checkpoint(path: Path) -> dict:
    """The checkpoint dict of ``path`` (a checkpoint.pt or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise TrainError(f"checkpoint {path} not found; run `fewerbits train --out DIR` first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - a corrupt file: name it in one line
        raise TrainError(f"checkpoint {path} cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt:
        raise TrainError(f"checkpoint {path} is not a fewerbits checkpoint (no config/state_dict)")
    return ckpt


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Load ``checkpoint.pt`` (a file or a directory containing it): (model in eval mode, dict)."""
    ckpt = read_checkpoint(path)
    return rebuild(ckpt), ckpt


def _check_resumable(saved: dict, cfg: TrainConfig, path: Path) -> None:
    for k, v in asdict(cfg).items():
        if k in RESUMABLE_CHANGES or k not in saved:
            continue
        if saved[k] != v:
            raise TrainError(
                f"--resume: {path} was trained with {k}={saved[k]!r}, not {v!r}; "
                f"use the same options or a new --out"
            )


def train_config_hash(cfg: TrainConfig) -> str:
    """What makes two train folders the same artifact (options --resume may change excluded)."""
    return sha256_json({k: v for k, v in asdict(cfg).items() if k not in RESUMABLE_CHANGES})


def save_torch(obj: object, path: Path) -> None:
    """torch.save, atomically; serialised in memory first, so that a full disk is an OSError
    naming the file (torch's own file writer says only "iostream error")."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def train(*args, **kwargs) -> dict:
    """Train a model; see :func:`_train`. Runs with ``cfg.threads`` CPU threads and restores
    the process's thread count afterwards."""
    cfg = args[0] if args else kwargs["cfg"]
    if cfg.threads < 1:
        raise TrainOptionError(f"--threads {cfg.threads}: must be >= 1")
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


def _train_epoch(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig,
    opt: torch.optim.Optimizer,
    sched,
    gen: torch.Generator,
    device,
    steps: int,
    desc: str,
    progress: bool,
) -> tuple[float, int, int]:
    """One epoch of shuffled mini-batches; returns (summed loss, correct, samples seen)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(len(data.x_train), generator=gen).numpy()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False, unit="step")
    total_loss, correct, seen = 0.0, 0, 0
    for step in bar:
        idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        xb = torch.from_numpy(data.x_train[idx].astype(np.float32)).to(device)
        yb = torch.from_numpy(data.y_train[idx]).to(device)
        opt.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        opt.step()
        sched.step()
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(idx)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    return total_loss, correct, seen


def check_options(cfg: TrainConfig) -> Scheme:
    """Refuse bad training options in one line (exit 2) before any work; return the scheme."""
    if cfg.epochs < 0:
        raise TrainOptionError(f"--epochs {cfg.epochs}: must be >= 0")
    if cfg.batch_size < 1:
        raise TrainOptionError(f"--batch-size {cfg.batch_size}: must be >= 1")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise TrainOptionError(
            f"--lr {cfg.lr:g}: give a learning rate > 0 (default {TrainConfig.lr:g})"
        )
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise TrainOptionError(f"--max-steps {cfg.max_steps}: must be >= 1 (or leave it out)")
    if cfg.threads < 1:
        raise TrainOptionError(f"--threads {cfg.threads}: must be >= 1")
    pick_device(cfg.device)
    return make_scheme(cfg.scheme, cfg.wbits, cfg.abits)


def _train(
    cfg: TrainConfig,
    out: Path,
    data: Dataset | None = None,
    progress: bool = True,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict, nn.Module], None] | None = None,
    force: bool = False,
) -> dict:
    """Train a model; write ``out/checkpoint.pt`` (every epoch) and ``out/train.json``.

    ``resume``: continue from ``out/checkpoint.pt`` (model, optimizer, schedule, RNG, history)
    up to ``cfg.epochs``. ``on_epoch_end(epoch, history_row, model)`` is called after each saved epoch.
    Returns the train.json dict.

    Kept as one function on purpose (~150 lines): exact resume depends on the order in which
    its state is created and restored (Brevitas scales loaded before the optimizer is built,
    then optimizer, RNG and schedule), the checkpoint closure captures all of it, and the
    owned-output publish (fewerbits/core/ownership.py) must wrap exactly that state.
    """
    out = Path(out)
    cfg = TrainConfig(**{**asdict(cfg), "model": _resolve_model_spec(cfg.model)})
    scheme = check_options(cfg)
    cfg.wbits, cfg.abits = scheme.wbits, scheme.abits  # fixed by binary/float schemes
    device = pick_device(cfg.device)
    # what is true of the model: a factory that takes no scheme argument fixes its own
    takes = factory_arguments(cfg.model)
    own_scheme = takes is not None and not set(takes) & set(SCHEME_ARGUMENTS)
    recorded = {
        "scheme": None if own_scheme else cfg.scheme,
        "wbits": None if own_scheme else scheme.wbits,
        "abits": None if own_scheme else scheme.abits,
        "deployable": None if own_scheme else scheme.deployable,
    }
    if takes is not None:
        recorded["factory_arguments"] = takes
    saved = read_checkpoint(out) if resume else None
    if saved is not None:
        _check_resumable(saved["config"], cfg, out / CHECKPOINT)
    # an interrupted first run (or --resume) publishes its last epoch's checkpoint for --resume;
    # an interrupted replacement of a finished run leaves the finished run as it was
    keep_interrupted = resume or not TrainDir(out).info.is_file()
    with ownership.owned_output(
        out,
        "train",
        train_config_hash(cfg),
        force,
        copy_previous=resume,
        publish_interrupted=keep_interrupted,
    ) as stage:
        seed_everything(cfg.seed)
        data = data or load_dataset(cfg.dataset, Path(cfg.data_file) if cfg.data_file else None)
        model = build_model(cfg.model, scheme, data.input_shape, data.classes, cfg.width).to(device)

        steps_per_epoch = (len(data.x_train) + cfg.batch_size - 1) // cfg.batch_size
        if cfg.max_steps:
            steps_per_epoch = min(steps_per_epoch, cfg.max_steps)
        if saved is not None:
            # before the optimizer is built: loading may replace Brevitas scale Parameters
            model.load_state_dict(saved["state_dict"])
            restore_stats_state(model, saved.get("quant_stats", {}))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = cosine_schedule(opt, cfg.epochs * steps_per_epoch)
        gen = torch.Generator().manual_seed(cfg.seed)
        history: list[dict] = []
        start_epoch, seconds_before = 0, 0.0
        if saved is not None:
            opt.load_state_dict(saved["optimizer"])
            gen.set_state(saved["rng"]["generator"])
            torch.set_rng_state(saved["rng"]["torch"])
            history = list(saved["history"])
            start_epoch = int(saved["epoch"])
            seconds_before = float(saved.get("train_seconds", 0.0))
            if start_epoch > cfg.epochs:
                raise TrainError(
                    f"--resume: {out / CHECKPOINT} already has {start_epoch} epochs; "
                    f"pass --epochs {start_epoch} or more"
                )
            # the schedule is closed-form in the step: continue it (stretched if --epochs grew)
            set_schedule_step(sched, opt, start_epoch * steps_per_epoch)

        t0 = time.time()

        def checkpoint(epoch: int) -> dict:
            return {
                "format": CHECKPOINT_FORMAT,
                "config": asdict(cfg),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "input_shape": list(data.input_shape),
                "classes": data.classes,
                "dataset": cfg.dataset,
                "model": cfg.model,
                "scheme": {
                    "name": recorded["scheme"],
                    "wbits": recorded["wbits"],
                    "abits": recorded["abits"],
                },
                "input_normalisation": "raw uint8 pixel values in; x / 256 inside the model"
                if cfg.model in ZOO
                else "as defined by the user model (fewerbits feeds raw uint8 pixel values)",
                "deployable": recorded["deployable"],
                "not_deployable_reason": NOT_DEPLOYABLE_HINT
                if recorded["deployable"] is False
                else None,
                "epoch": epoch,
                "optimizer": opt.state_dict(),
                "quant_stats": stats_state(model),
                "scheduler": sched.state_dict(),
                "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state()},
                "history": history,
                "train_seconds": seconds_before + time.time() - t0,
            }

        for epoch in range(start_epoch, cfg.epochs):
            t_epoch = time.time()
            desc = f"train {scheme.label} epoch {epoch + 1}/{cfg.epochs}"
            total_loss, correct, seen = _train_epoch(
                model, data, cfg, opt, sched, gen, device, steps_per_epoch, desc, progress
            )
            acc = evaluate(model, data.x_test, data.y_test, device=device)
            row = {
                "epoch": epoch + 1,
                "loss": total_loss / max(seen, 1),
                "train_accuracy": correct / max(seen, 1),
                "test_accuracy": acc,
                "lr": opt.param_groups[0]["lr"],
                "seconds": round(time.time() - t_epoch, 3),
            }
            history.append(row)
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}/{cfg.epochs}: loss {row['loss']:.4f} "
                    f"train acc {row['train_accuracy']:.4f} test acc {acc:.4f}"
                )
            save_torch(checkpoint(epoch + 1), stage / CHECKPOINT)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row, model)

        model.eval()
        final = checkpoint(max(cfg.epochs, start_epoch))
        save_torch(final, stage / CHECKPOINT)
        report = {
            "model": cfg.model,
            **{k: recorded[k] for k in ("scheme", "wbits", "abits")},
            "dataset": cfg.dataset,
            "epochs": cfg.epochs,
            "seed": cfg.seed,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "deployable": recorded["deployable"],
            **({"factory_arguments": takes} if takes is not None else {}),
            "test_accuracy": history[-1]["test_accuracy"]
            if history
            else evaluate(model, data.x_test, data.y_test, device=device),
            "train_seconds": round(final["train_seconds"], 2),
            "resumed_from_epoch": start_epoch if saved is not None else None,
            "history": history,
        }
        write_json(stage / TRAIN_JSON, report)
        return report
